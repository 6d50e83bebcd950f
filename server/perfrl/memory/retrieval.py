"""The nearest stored rewrite of a function: examples for a "retrieval-v1" model.

A function is compared with the slow side of stored pairs by its identifier-abstracted tokens
(docstrings and annotations left out, :func:`perfrl.sources.abstraction.abstract`, every
placeholder then read as one generic name or string, so ``total``/``acc`` and ``v3``/``v0``
look alike): their 1- to 3-grams are ranked with BM25 (Robertson's k1/b weighting: rare
shapes such as ``. append (`` after a ``for`` count more than a colon). Pairs whose slow side
is a near-duplicate of the query (Jaccard similarity of their trigram sets, numbers read as
one, at least :data:`NEAR_DUPLICATE`) are never returned: an
example must teach by analogy, not by giving the answer, at training as at serving time.

Pairs come from the project's memory (rewrites verified faster here,
:func:`perfrl.memory.store.verified_pairs`) and, optionally, from a shipped index (a JSON lines
file of ``{"slow", "fast"}`` rows, the model's ``retrieval_index_file``). The training side
(:mod:`perfrl_train.data.retrieval_pairs`) uses the same :class:`PairIndex`, so a model sees
the same kind of neighbour in training as in use. Nothing here runs code.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import math
import re
import textwrap
import tokenize
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfrl.memory.store import project_db, verified_pairs

#: Jaccard similarity of trigram sets from which two functions count as the same one.
NEAR_DUPLICATE = 0.9
#: BM25 parameters (the usual ones).
K1, B = 1.2, 0.75
#: n-gram lengths compared.
NGRAMS = (1, 2, 3)
_PLACEHOLDER_NAME = re.compile(r"v\d+$")
_PLACEHOLDER_STRING = re.compile(r"[\"']s\d+[\"']$")
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass(frozen=True)
class StoredPair:
    """A slow function and its faster rewrite; ``origin`` says where it comes from."""

    slow: str
    fast: str
    origin: str = ""


@dataclass(frozen=True)
class Neighbour:
    pair: StoredPair
    score: float


class _Shape(ast.NodeTransformer):
    """Drops what does not change what code does: docstrings and type annotations."""

    def _body(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        node.body = body or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        self.generic_visit(node)
        return self._body(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.generic_visit(node)
        return self._body(node)

    def visit_arg(self, node):
        node.annotation = None
        return node

    def visit_AnnAssign(self, node):
        if node.value is None:
            return ast.Pass()
        return ast.copy_location(ast.Assign([node.target], node.value), node)


def code_shape(source: str) -> str:
    """``source`` dedented, without docstrings and annotations, in ``ast.unparse``'s layout
    (as written when it does not parse)."""
    text = textwrap.dedent(source)
    try:
        return ast.unparse(ast.fix_missing_locations(_Shape().visit(ast.parse(text))))
    except (SyntaxError, ValueError, RecursionError):
        return text


def abstract_tokens(source: str) -> list[str]:
    """The tokens of :func:`code_shape` of ``source`` with its own names and strings
    abstracted, each placeholder as ``ID`` or ``STR`` (layout tokens as
    ``INDENT``/``DEDENT``/``NEWLINE``); ``[]`` for text that does not tokenize. Text already
    abstracted (``v0``, ``"s0"``) reads the same."""
    from perfrl.sources.abstraction import abstract

    text = code_shape(source)
    try:
        text = abstract(text)[0]
    except ValueError:
        pass  # already written with placeholders: read as it is
    except (tokenize.TokenError, SyntaxError):
        return []
    out = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in _SKIPPED:
                continue
            if token.type == tokenize.NAME and _PLACEHOLDER_NAME.match(token.string) \
                    and not keyword.iskeyword(token.string):
                out.append("ID")
            elif token.type == tokenize.STRING and _PLACEHOLDER_STRING.match(token.string):
                out.append("STR")
            elif token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE):
                out.append(tokenize.tok_name[token.type])
            else:
                out.append(token.string)
    except (tokenize.TokenError, SyntaxError):
        return []
    return out


def shape_features(source: str) -> Counter[str]:
    """Counts of the 1- to 3-grams of :func:`abstract_tokens`."""
    return _ngrams(abstract_tokens(source))


def _ngrams(tokens: list[str]) -> Counter[str]:
    return Counter(" ".join(tokens[i:i + n]) for n in NGRAMS for i in range(len(tokens) - n + 1))


def duplicate_key(source: str) -> set[str]:
    """The trigrams :func:`is_near_duplicate` compares: those of :func:`abstract_tokens` with
    every number read as ``NUM`` too (copies of one template that differ in a constant are
    copies)."""
    return _duplicate_key(abstract_tokens(source))


def _duplicate_key(tokens: list[str]) -> set[str]:
    tokens = ["NUM" if t[:1].isdigit() or t[:2].replace(".", "").isdigit() else t
              for t in tokens]
    return {" ".join(tokens[i:i + 3]) for i in range(len(tokens) - 2)}


def is_near_duplicate(a: set[str], b: set[str]) -> bool:
    """Whether two :func:`duplicate_key` sets are the same function for retrieval's purpose."""
    return jaccard(a, b) >= NEAR_DUPLICATE


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class PairIndex:
    """BM25 over the slow sides of ``pairs``. :meth:`nearest` never returns a pair whose slow
    side is a near-duplicate of the query, and ranks equal scores by position in ``pairs``
    (earlier first: callers put the pairs they trust more first)."""

    def __init__(self, pairs: Sequence[StoredPair]) -> None:
        import numpy as np

        self.pairs = list(pairs)
        tokens = [abstract_tokens(p.slow) for p in self.pairs]
        features = [_ngrams(t) for t in tokens]
        self._duplicate_keys = [_duplicate_key(t) for t in tokens]
        lengths = [sum(f.values()) for f in features]
        average = (sum(lengths) / len(lengths)) if lengths else 0.0
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for index, counts in enumerate(features):
            norm = K1 * (1 - B + B * lengths[index] / (average or 1.0))
            for term, count in counts.items():
                docs, weights = postings[term]
                docs.append(index)
                weights.append(count * (K1 + 1) / (count + norm))
        n = len(self.pairs)
        # Per term: the pairs holding it and their BM25 weights, idf included, so that a
        # query's score is one vector addition per term.
        self._postings = {}
        for term, (docs, weights) in postings.items():
            idf = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            self._postings[term] = (np.asarray(docs, dtype=np.int64),
                                    np.asarray(weights, dtype=np.float64) * idf)

    def __len__(self) -> int:
        return len(self.pairs)

    def nearest(self, source: str, k: int = 1, skip: Iterable[int] = ()) -> list[Neighbour]:
        """The ``k`` best pairs for the function ``source``, best first (score > 0 only);
        indices in ``skip`` (the query's own row, in training) are left out."""
        import numpy as np

        query_tokens = abstract_tokens(source)
        if not query_tokens or not self.pairs:
            return []
        query_key = _duplicate_key(query_tokens)
        scores = np.zeros(len(self.pairs))
        for term in _ngrams(query_tokens):
            found = self._postings.get(term)
            if found is not None:
                scores[found[0]] += found[1]
        skipped = set(skip)
        # Stable sort on the negated scores: equal scores keep the pairs' order.
        order = np.argsort(-scores, kind="stable")
        out: list[Neighbour] = []
        for index in order.tolist():
            if scores[index] <= 0:
                break
            if index in skipped or is_near_duplicate(query_key, self._duplicate_keys[index]):
                continue
            out.append(Neighbour(self.pairs[index], float(scores[index])))
            if len(out) >= k:
                break
        return out


def project_pairs(project_root: Path) -> list[StoredPair]:
    """The rewrites verified faster on this project (its memory), newest first."""
    return [StoredPair(slow, fast, f"verified on {function}")
            for slow, fast, function in verified_pairs(project_db(project_root))]


def read_pair_index(path: Path) -> list[StoredPair]:
    """The rows of a JSON lines file of ``{"slow", "fast"[, "id"]}`` objects; rows without both
    strings are skipped, and a missing or unreadable file gives no pairs."""
    pairs = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("slow"), str) \
                and isinstance(row.get("fast"), str):
            pairs.append(StoredPair(row["slow"], row["fast"], str(row.get("id", ""))))
    return pairs


def nearest_pair(source: str, project_root: Path, shipped: Path | None = None
                 ) -> StoredPair | None:
    """The stored pair nearest to the function ``source``: the project's verified rewrites
    first, then the shipped index's pairs (at equal score the project's win)."""
    pairs = project_pairs(project_root)
    if shipped is not None:
        pairs += read_pair_index(shipped)
    found = PairIndex(pairs).nearest(source, k=1)
    return found[0].pair if found else None
