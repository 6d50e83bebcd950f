"""The held-out set (benchmarks/heldout) stays out of the training data.

The training data is not in the repository (no training-input list ships with the model), so
this checks what the data builders produce: every synthetic idiom of every catalogue (200
pairs, seed 0: each idiom several times, with other names, constants and inputs) and every
de-optimised standard-library pair the de-optimiser can write (all functions it extracts, every
single transform: a superset of what ``build_deoptimized_pairs`` keeps after execution). Both
sides of each pair are compared with every function of the held-out projects (their code and
the hand-written rewrites), two ways:

- normalised AST with identifiers and strings abstracted as the model reads them
  (``perfrl.sources.abstraction.abstract``, as ``perfrl_train.data.abstract`` does for
  training): an equal text is a renamed copy;
- token-set similarity (Jaccard) over the function's tokens with names kept, and over
  trigrams of its abstracted tokens (structure without names): over 0.8 is a near-duplicate.

A held-out function that collides fails the test with both texts shown; rewrite the held-out
function (not the generators) so the set stays unseen.
"""

from __future__ import annotations

import ast
import io
import random
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

from perfrl.sources.abstraction import abstract

REPO = Path(__file__).resolve().parents[2]
HELDOUT = REPO / "benchmarks" / "heldout"
PROJECTS = ("invoicing", "logscan", "circulation")
SIMILARITY_LIMIT = 0.8


@dataclass
class Fn:
    origin: str
    text: str  # docstring-free, unparsed: formatting and comments gone
    abstracted: str
    names: frozenset[str]
    trigrams: frozenset[tuple[str, ...]]


def _tokens(code: str) -> list[str]:
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type not in skip]


def _without_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef):
    body = node.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:] or [ast.Pass()]
    node.body = body
    node.decorator_list = []
    return node


def _fn(origin: str, node) -> Fn | None:
    text = ast.unparse(_without_docstring(node))
    try:
        abstracted, _ = abstract(text)
    except (ValueError, SyntaxError, tokenize.TokenError):
        return None
    plain = _tokens(text)
    abstract_tokens = _tokens(abstracted)
    return Fn(origin, text, abstracted, frozenset(plain),
              frozenset(zip(abstract_tokens, abstract_tokens[1:], abstract_tokens[2:])))


def functions_of(code: str, origin: str) -> list[Fn]:
    """Every function and method defined in ``code`` (nested ones included)."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            fn = _fn(f"{origin}::{node.name}", node)
            if fn is not None:
                out.append(fn)
    return out


def heldout_functions() -> list[Fn]:
    out = []
    for project in PROJECTS:
        root = HELDOUT / project
        for path in sorted(root.rglob("*.py")):
            if "tests" in path.relative_to(root).parts:
                continue
            out += functions_of(path.read_text(encoding="utf-8"), str(path.relative_to(HELDOUT)))
    return out


def _substantial(fn: Fn) -> bool:
    """Functions with a real body: a one-line accessor or ``__init__`` says nothing of reuse."""
    return len(fn.trigrams) >= 12


@pytest.fixture(scope="module")
def training_functions() -> list[Fn]:
    from perfrl_train.data.deopt import deoptimize_source
    from perfrl_train.data.deoptimize import TRANSFORMS, deoptimize, extract_candidates
    from perfrl_train.data.generator import generate_pairs
    from perfrl_train.data.idioms import CATALOGUES
    from perfrl_train.data.inject import (
        inject_counter,
        inject_dict_guard,
        inject_empty_guard,
        inject_group,
        inject_list_guard,
        inject_reversed,
        inject_seen_set,
    )

    out: list[Fn] = []
    for pair in generate_pairs(200, 0, catalogues=sorted(CATALOGUES)):
        out += functions_of(pair.slow, f"synthetic {pair.idiom} slow")
        out += functions_of(pair.fast, f"synthetic {pair.idiom} fast")
    for candidate in extract_candidates():
        origin = f"stdlib {candidate.module}.{candidate.name}"
        out += functions_of(ast.unparse(candidate.node), origin + " fast")
        for name in TRANSFORMS:
            slow = deoptimize(candidate.node, name)
            if slow is not None:
                out += functions_of(slow, f"{origin} slow ({name})")
        # Grown by an idiom (perfrl_train.data.inject), and that idiom undone.
        for grow, undo in ((inject_list_guard, "set_of_name_to_scan"),
                           (inject_seen_set, "seen_set_to_list_scan"),
                           (inject_empty_guard, "min_to_sorted_index"),
                           (inject_reversed, "reversed_map_to_insert_front"),
                           (inject_dict_guard, "dict_membership_to_keys_list"),
                           (inject_counter, "counter_to_dict_loop"),
                           (inject_group, "group_to_rescan")):
            grown = grow(ast.unparse(candidate.node), random.Random(0))
            made = deoptimize_source(grown, [undo]) if grown is not None else None
            if grown is not None and made is not None:
                out += functions_of(grown, f"{origin} grown ({undo})")
                out += functions_of(made[0], f"{origin} grown, slow ({undo})")
    assert len(out) > 400, "the data builders produced almost nothing: the check would be empty"
    return out


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def collisions(heldout: list[Fn], training: list[Fn]) -> list[str]:
    """Why each held-out function that is (nearly) a training function collides."""
    found = []
    by_abstracted = {fn.abstracted: fn for fn in training}
    for fn in heldout:
        twin = by_abstracted.get(fn.abstracted)
        if twin is not None:
            found.append(f"{fn.origin} is, abstracted, the same as {twin.origin}:\n{fn.text}\n"
                         f"---\n{twin.text}")
            continue
        if not _substantial(fn):
            continue
        for other in training:
            names = _jaccard(fn.names, other.names)
            shape = _jaccard(fn.trigrams, other.trigrams)
            if names > SIMILARITY_LIMIT or shape > SIMILARITY_LIMIT:
                found.append(f"{fn.origin} is close to {other.origin} (token sets {names:.2f}, "
                             f"abstracted trigrams {shape:.2f}):\n{fn.text}\n---\n{other.text}")
                break
    return found


def test_the_heldout_set_is_large_enough_to_check():
    heldout = heldout_functions()
    assert len([fn for fn in heldout if "/candidates/" in fn.origin]) >= 30
    assert len(heldout) >= 70


def test_no_heldout_function_appears_in_the_training_data(training_functions):
    found = collisions(heldout_functions(), training_functions)
    assert not found, "held-out functions found in the training data:\n\n" + "\n\n".join(found)


def test_the_check_catches_a_renamed_training_function(training_functions):
    """A training function with its names changed, planted among the held-out ones, is found
    (the check above can fail)."""
    template = next(fn for fn in training_functions
                    if fn.origin.startswith("synthetic") and _substantial(fn))
    tree = ast.parse(template.text)
    renamed = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            node.id = renamed.setdefault(node.id, f"order_field_{len(renamed)}")
        elif isinstance(node, ast.arg):
            node.arg = renamed.setdefault(node.arg, f"order_field_{len(renamed)}")
    planted = functions_of(ast.unparse(tree), "planted")
    assert planted[0].text != template.text
    assert collisions(planted, training_functions)


def test_the_check_catches_a_near_copy_with_one_statement_added(training_functions):
    template = next(fn for fn in training_functions
                    if fn.origin.startswith("stdlib") and _substantial(fn)
                    and len(fn.trigrams) > 60)
    tree = ast.parse(template.text)
    function = tree.body[0]
    function.body.insert(0, ast.parse("audit_count = 0").body[0])
    planted = functions_of(ast.unparse(tree), "planted")
    assert planted[0].abstracted != template.abstracted
    assert collisions(planted, training_functions)


@pytest.mark.parametrize("module, name", [("catalog", "unknown_skus"),
                                          ("reports", "shelf_names"),
                                          ("reports", "sku_labels")])
def test_the_example_functions_shown_with_the_model_are_not_training_inputs(
        training_functions, module, name):
    """The editor tests show the shipped model's verified rewrite of the example project's
    ``catalog.unknown_skus`` (two loops and a comprehension before a membership scan of a list;
    ``reports.shelf_names``, a `while` loop indexing the list, and ``reports.sku_labels``, a
    `+=` loop, were the earlier ones): no training function is the same once abstracted or
    close to it (``missing_skus`` and ``unique_tags`` are the example functions that do come
    from the catalogue)."""
    source = REPO / "examples" / "inventory" / "inventory" / f"{module}.py"
    example = [fn for fn in functions_of(source.read_text(encoding="utf-8"), "example")
               if fn.origin.endswith(f"::{name}")]
    assert example, f"{name} is gone from the example project: update the editor tests"
    found = collisions(example, training_functions)
    assert not found, "\n\n".join(found)
