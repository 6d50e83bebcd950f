"""Which tokens of a vocabulary hold any of some characters, computed once per vocabulary.

The guards (:mod:`perfrl.inference.indent_guard`, :mod:`perfrl.inference.string_guard`,
:mod:`perfrl.inference.line_ref_guard`) skip the tokens that cannot change what they follow;
they are built for every group of outputs of every round, and a scan of a 32k-token vocabulary
costs tens of milliseconds each time.

A caller may rely on: the answer for a given token list and character set being the same list
object for as long as that token list lives (do not modify either).
"""

from __future__ import annotations

from collections.abc import Sequence

# (id of the token texts, characters) -> (the token texts, flags); the texts are kept so that
# an id reused by a new list is never mistaken for the old one.
_CACHE: dict[tuple[int, frozenset[str]], tuple[Sequence[str], list[bool]]] = {}
_MAX_ENTRIES = 32


def tokens_with_any(token_texts: Sequence[str], chars: frozenset[str]) -> list[bool]:
    """For each token text, whether it holds any of ``chars``."""
    key = (id(token_texts), chars)
    found = _CACHE.get(key)
    if found is not None and found[0] is token_texts:
        return found[1]
    flags = [not chars.isdisjoint(text) for text in token_texts]
    if len(_CACHE) >= _MAX_ENTRIES:
        _CACHE.clear()
    _CACHE[key] = (token_texts, flags)
    return flags
