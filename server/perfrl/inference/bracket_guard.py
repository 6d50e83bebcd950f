"""Brackets and string quotes that balance: a per-row check of Python's lexical structure.

Most of what a small model writes that does not parse is structural: a ``)`` that closes
nothing, ``}`` where ``(`` is open, a quote that opens a string which never ends
(``v2"])``), an end of output with a bracket still open. :class:`BracketGuard` follows each
row's text through its tokens (open brackets, whether it is inside a string or a comment) and
says whether a token may come next; decoding draws again among the tokens it accepts
(:func:`perfrl.inference.decoding.sample_or_greedy`).

It knows only brackets, single-line strings delimited by ``'`` or ``"`` (a backslash escapes
the next character), triple-quoted strings and ``#`` comments: enough to refuse what can never
parse, never enough to refuse what could (f-string internals, for instance, are just string
text).

A caller may rely on: a Python text being accepted token by token whatever the cut into
tokens, a triple quote's opening cut after its first or second quote included;
:meth:`BracketGuard.can_end` being true exactly when no bracket or string is left open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
_STRUCTURAL = frozenset("()[]{}'\"#\\\n")


@dataclass
class LexState:
    """Where one row's text stands: open brackets, the quote of an open string ("" when
    none; three characters for a triple-quoted one), inside a comment, after a backslash."""

    brackets: list[str] = field(default_factory=list)
    quote: str = ""
    comment: bool = False
    escaped: bool = False
    #: The last characters, to recognise a triple quote split over tokens.
    tail: str = ""
    #: Whether the open one-line string has any text yet.
    body: bool = False
    #: The quote of an empty string that just closed: the same quote next opens a
    #: triple-quoted string (``""`` + ``"``, as Python reads ``"""``), whatever the cut.
    empty_closed: str = ""

    def copy(self) -> LexState:
        return LexState(list(self.brackets), self.quote, self.comment, self.escaped, self.tail,
                        self.body, self.empty_closed)


def feed_text(state: LexState, text: str) -> bool:
    """Advance ``state`` over ``text``; False (state then undefined) when it cannot parse."""
    index = 0
    while index < len(text):
        char = text[index]
        empty_closed, state.empty_closed = state.empty_closed, ""
        if state.comment:
            if char == "\n":
                state.comment = False
        elif state.quote:
            if state.escaped:
                state.escaped = False
            elif char == "\\":
                state.escaped = True
            elif len(state.quote) == 3:
                if text.startswith(state.quote, index):
                    state.quote = ""
                    index += 3
                    continue
                # A closing triple quote split over tokens: the tail holds its start.
                if char == state.quote[0] and (state.tail + char).endswith(state.quote):
                    state.quote = ""
            elif char == state.quote:
                state.quote = ""
                state.empty_closed = "" if state.body else char
            elif char == "\n":
                return False  # a single-quoted string cannot span lines
            state.body = True
        elif char == "#":
            state.comment = True
        elif char in "'\"":
            if empty_closed == char:
                state.quote = char * 3  # the third quote of an opening cut after two
                state.tail = ""
                index += 1
                continue
            if text.startswith(char * 3, index):
                state.quote = char * 3
                index += 3
                state.tail = ""
                continue
            state.quote = char
            state.body = False
        elif char in _OPENERS:
            state.brackets.append(_OPENERS[char])
        elif char in _CLOSERS:
            if not state.brackets or state.brackets[-1] != char:
                return False
            state.brackets.pop()
        state.tail = (state.tail + char)[-2:]
        index += 1
    return True


class BracketGuard:
    """Per-token structure of one vocabulary; states are per row (:class:`LexState`)."""

    def __init__(self, token_texts: list[str], eos_id: int) -> None:
        self.texts = token_texts
        self.eos_id = eos_id
        #: Tokens whose text can change the state (the others never need a look).
        self.structural = np.array(
            [any(c in _STRUCTURAL for c in text) for text in token_texts], dtype=bool
        )

    def start(self, prefix_tokens: Sequence[int] = ()) -> LexState:
        """The state after ``prefix_tokens`` (assumed valid)."""
        state = LexState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def can_end(self, state: LexState) -> bool:
        return not state.brackets and not state.quote

    def accepts(self, state: LexState, token: int) -> bool:
        """Whether ``token`` may follow ``state`` (the end of sequence: when it can end)."""
        if token == self.eos_id:
            return self.can_end(state)
        if not self.structural[token] and not (state.quote or state.comment):
            return True
        return feed_text(state.copy(), self.texts[token])

    def advance(self, state: LexState, token: int) -> None:
        """Move ``state`` past ``token`` (one it accepted)."""
        if token == self.eos_id:
            return
        if self.structural[token] or state.quote or state.comment:
            feed_text(state, self.texts[token])
        else:
            state.tail = (state.tail + self.texts[token])[-2:]
