"""Which tokens of a model's vocabulary may appear in its output for one prompt.

A rewrite of a function needs few words: the names of its input (placeholders, attribute
names, imported modules...), a few fresh placeholders, Python's keywords and builtins and the
common standard-library names an idiom reaches for. Everything else a small model writes
(invented variable names, fragments of training templates) can only break the rewrite, so
decoding may forbid it (:class:`perfrl.inference.decoding.OutputConstraints`).

A byte-level BPE cuts words into pieces, so a token is judged by the word pieces it holds and
where they sit: a piece with a word boundary on both sides (``Ġreturn``, ``(self``) must be an
allowed word, one that starts a word (``Ġres``) a prefix of one, one that ends a word
(``ult)``) a suffix, and one without a boundary a substring. Pieces made only of digits are
always allowed (numbers, placeholder numbers), and so is every token without a word piece
(operators, brackets, whitespace, newlines). The check is per token, not per row: a sequence
of allowed pieces can still spell a word that is not allowed; the mask removes most of what
cannot be right at the cost of one array lookup per step.

A caller may rely on:

- :meth:`VocabularyPieces.allowed_mask` returning a boolean array over the whole vocabulary,
  true for the end-of-sequence token and false for the other special tokens;
- every token of a text made only of allowed words, spaces, digits and punctuation being
  allowed (so the model's own input, re-encoded, never hits the mask);
- building the pieces once per tokenizer (tens of milliseconds) and a mask per prompt
  (milliseconds).
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from perfrl.inference.bracket_guard import BracketGuard

_WORD_RUN = re.compile(r"\w+")
# Piece kinds: whether a word boundary lies before and after the piece inside the token.
_WHOLE, _STARTS, _ENDS, _INNER = 0, 1, 2, 3

_COMMON_STDLIB_TEXT = """
    collections Counter defaultdict deque OrderedDict namedtuple ChainMap most_common
    popleft appendleft maxlen elements subtract
    itertools accumulate chain from_iterable combinations groupby islice product repeat
    starmap takewhile dropwhile zip_longest count cycle pairwise permutations tee compress
    functools lru_cache cache reduce partial cached_property wraps total_ordering cmp_to_key
    operator itemgetter attrgetter methodcaller add mul truediv sub neg
    bisect bisect_left bisect_right insort insort_left insort_right
    heapq heappush heappop heapify nlargest nsmallest heappushpop heapreplace merge
    math fsum prod sqrt isqrt gcd lcm floor ceil inf log exp comb factorial isclose
    statistics fmean mean median mode
    re compile match search fullmatch findall finditer sub subn split escape IGNORECASE
    string ascii_lowercase ascii_uppercase ascii_letters digits punctuation whitespace
    array dataclasses dataclass field
    append extend insert pop remove clear copy index count sort reverse
    add discard update intersection union difference symmetric_difference issubset
    issuperset isdisjoint
    get items keys values setdefault fromkeys popitem
    join split rsplit splitlines strip lstrip rstrip startswith endswith lower upper
    casefold title capitalize replace find rfind format isdigit isalpha isalnum isspace
    isupper islower encode decode partition rpartition zfill ljust rjust center translate
    maketrans removeprefix removesuffix expandtabs
    key reverse default start end sep maxsplit
    self cls args kwargs
"""
#: Standard-library modules and names the rewrites of common slow idioms use (and the
#: methods of the builtin containers and strings).
COMMON_STDLIB_NAMES = frozenset(_COMMON_STDLIB_TEXT.split())


@lru_cache(maxsize=1)
def python_words() -> frozenset[str]:
    """Keywords (soft ones too), builtins and :data:`COMMON_STDLIB_NAMES`."""
    return frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(
        dir(builtins)
    ) | COMMON_STDLIB_NAMES


def words_of(text: str) -> set[str]:
    """Every word (``\\w+`` run) of ``text``."""
    return set(_WORD_RUN.findall(text))


class TokenWords:
    """Each token's word runs, in order: ``(run, bounded_before, bounded_after)``, where a
    bound is a non-word character inside the token on that side of the run (a run without
    one continues, or is continued by, the neighbouring token's word)."""

    def __init__(self, token_texts: list[str]) -> None:
        self.runs: list[tuple[tuple[str, bool, bool], ...]] = [
            tuple(
                (match.group(), match.start() > 0, match.end() < len(text))
                for match in _WORD_RUN.finditer(text)
            )
            for text in token_texts
        ]


class VocabularyPieces:
    """The word pieces of every token of one tokenizer, indexed for per-prompt masks.

    ``token_texts[i]`` is token ``i`` decoded on its own; ``special_ids`` the special tokens
    (never allowed, except ``eos_id``)."""

    def __init__(self, token_texts: list[str], special_ids: Iterable[int], eos_id: int) -> None:
        self.size = len(token_texts)
        self.eos_id = eos_id
        #: The same vocabulary's brackets and quotes (built here: one pass over the texts).
        self.guard = BracketGuard(token_texts, eos_id)
        self.special_ids = np.array(sorted(set(special_ids)), dtype=np.intp)
        piece_index: dict[tuple[int, str], int] = {}
        owners: list[int] = []  # token of each (token, piece) entry
        entries: list[int] = []  # piece index of each entry
        self.partial_char = np.zeros(self.size, dtype=bool)
        for token_id, text in enumerate(token_texts):
            if "\ufffd" in text:  # a piece of a multi-byte character
                self.partial_char[token_id] = True
            for match in _WORD_RUN.finditer(text):
                start, end = match.span()
                bounded_before = start > 0  # a space or punctuation inside the token
                bounded_after = end < len(text)
                kind = (
                    _WHOLE if bounded_before and bounded_after
                    else _STARTS if bounded_before
                    else _ENDS if bounded_after
                    else _INNER
                )
                key = (kind, match.group())
                entries.append(piece_index.setdefault(key, len(piece_index)))
                owners.append(token_id)
        self.pieces = list(piece_index)
        #: The same tokens' word runs in order (for :mod:`perfrl.inference.word_guard`).
        self.token_words = TokenWords(token_texts)
        self.entry_piece = np.array(entries, dtype=np.intp)
        self.entry_owner = np.array(owners, dtype=np.intp)

    @classmethod
    def from_tokenizer(cls, tokenizer, eos_id: int) -> VocabularyPieces:
        """Pieces of a ``tokenizers.Tokenizer`` (special tokens as it marks them)."""
        size = tokenizer.get_vocab_size()
        texts = tokenizer.decode_batch([[i] for i in range(size)], skip_special_tokens=False)
        special = [
            token_id
            for token_id, token in tokenizer.get_added_tokens_decoder().items()
            if token.special
        ]
        return cls(texts, special, eos_id)

    def allowed_mask(self, words: Iterable[str], allow_non_ascii: bool = False) -> np.ndarray:
        """Tokens whose every word piece fits ``words`` (see the module doc)."""
        whole = set(words)
        prefixes = {w[:i] for w in whole for i in range(1, len(w) + 1)}
        suffixes = {w[i:] for w in whole for i in range(len(w))}
        inner = {w[i:j] for w in whole for i in range(len(w)) for j in range(i + 1, len(w) + 1)}
        sets = {_WHOLE: whole, _STARTS: prefixes, _ENDS: suffixes, _INNER: inner}
        fits = np.fromiter(
            (piece.isdigit() or piece in sets[kind] for kind, piece in self.pieces),
            dtype=bool,
            count=len(self.pieces),
        )
        misfits = np.bincount(
            self.entry_owner[~fits[self.entry_piece]], minlength=self.size
        )
        allowed = misfits == 0
        if not allow_non_ascii:
            allowed &= ~self.partial_char
        allowed[self.special_ids] = False
        allowed[self.eos_id] = True
        return allowed
