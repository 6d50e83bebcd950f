"""Whole words: a per-row check that every word an output spells is one it may use.

The vocabulary mask (:mod:`perfrl.inference.output_vocabulary`) judges each token alone, so a
row can still spell a word no input has out of allowed pieces: ``get`` + ``_keys``,
``count`` + ``_b``, ``get_type`` + ``_type`` + ``_type``... On the held-out projects those are
a small model's commonest failure (`'list' object has no attribute 'get_keys'`). A
:class:`WordGuard` follows the word a row is in the middle of and refuses a token that would
make it something no allowed word starts with, or end it where it is not an allowed word;
decoding then takes the best (greedy) or draws again among the tokens it accepts
(:func:`perfrl.inference.decoding.sample_or_greedy`, as for the bracket guard).

Words are ``\\w+`` runs; a run that starts with a digit is a number (``12``, ``1e5``, ``0x1f``)
and always passes; the end of sequence ends the last word like any non-word character (a
word cut by the length limit, where the model chose no end, is left as it is).

A caller may rely on: a text made only of allowed words, numbers and non-word characters
being accepted token by token, whatever the cut into tokens (so the model's input, re-encoded,
is never refused); :class:`GuardPair` accepting exactly what both of its guards accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from perfrl.inference.output_vocabulary import TokenWords


class RowGuard(Protocol):
    """What decoding asks of a guard: a state per row, which tokens may come next."""

    def start(self, prefix_tokens: Sequence[int] = ()) -> Any: ...

    def accepts(self, state: Any, token: int) -> bool: ...

    def advance(self, state: Any, token: int) -> None: ...


@dataclass
class WordState:
    """The word a row is in the middle of ("" after a non-word character)."""

    partial: str = ""


class WordGuard:
    """Allowed words for one prompt over one vocabulary's :class:`TokenWords`."""

    def __init__(self, token_words: TokenWords, words: Iterable[str], eos_id: int) -> None:
        self._runs = token_words.runs
        self._eos_id = eos_id
        self._whole = frozenset(words)
        self._prefixes = {w[:i] for w in self._whole for i in range(1, len(w) + 1)}

    def _complete(self, word: str) -> bool:
        return not word or word[0].isdigit() or word in self._whole

    def _started(self, word: str) -> bool:
        return word[0].isdigit() or word in self._prefixes

    def _after(self, partial: str, token: int, judge: bool = True) -> str | None:
        """The word left open after ``token``, or None when ``judge`` and the token spells a
        word that is not allowed."""
        runs = self._runs[token]
        if not runs:  # no word character: whatever word was open ends here
            return "" if not judge or self._complete(partial) else None
        word = partial
        for piece, bounded_before, bounded_after in runs:
            if bounded_before:  # a non-word character inside the token ends the open word
                if judge and not self._complete(word):
                    return None
                word = piece
            else:
                word += piece
            if bounded_after:
                if judge and not self._complete(word):
                    return None
                word = ""
        if judge and word and not self._started(word):
            return None
        return word

    def start(self, prefix_tokens: Sequence[int] = ()) -> WordState:
        """The state after ``prefix_tokens`` (assumed valid)."""
        state = WordState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def accepts(self, state: WordState, token: int) -> bool:
        if token == self._eos_id:  # the output ends: so does its last word
            return self._complete(state.partial)
        return self._after(state.partial, token) is not None

    def advance(self, state: WordState, token: int) -> None:
        """Move ``state`` past ``token`` (accepted, or forced: followed without judging)."""
        if token == self._eos_id:
            return
        state.partial = self._after(state.partial, token, judge=False) or ""


class GuardPair:
    """Two guards as one: a token is accepted when both accept it."""

    def __init__(self, first: RowGuard, second: RowGuard) -> None:
        self._first = first
        self._second = second

    def start(self, prefix_tokens: Sequence[int] = ()) -> tuple[Any, Any]:
        return self._first.start(prefix_tokens), self._second.start(prefix_tokens)

    def accepts(self, state: tuple[Any, Any], token: int) -> bool:
        return self._first.accepts(state[0], token) and self._second.accepts(state[1], token)

    def advance(self, state: tuple[Any, Any], token: int) -> None:
        self._first.advance(state[0], token)
        self._second.advance(state[1], token)
