"""String literals an abstracting model can write: a per-row check of its outputs.

A model that reads identifier-abstracted input (:mod:`perfrl.sources.abstraction`) sees every
string literal of the function as a placeholder, ``"s0"``, ``"s1"`` ..., and maps its output's
placeholders back to the original strings; no other string can be mapped back (an output with
an invented one is dropped). Measured on the held-out projects, once the line structure was
guarded (:mod:`perfrl.inference.indent_guard`), a string was where a lost row fled: a quote
opened (``v3", v4:v2.startswith(_(_(``), and everything after it up to the length cap was
string text no guard reads. A :class:`StringGuard` follows each row's text and refuses a token
that would

- open a string with ``'``, or with ``"`` where the text inside could not become one of the
  input's placeholders (``s`` then the digits of a placeholder the input has);
- close a string that is not such a placeholder, or end a line or the output inside one.

``#`` comments are text it skips (a quote in a comment is no string).

A caller may rely on: an output whose strings are all ``"sN"`` placeholders of the input, each
on one line, being accepted token by token whatever the cut into tokens.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from perfrl.inference.token_flags import tokens_with_any

_STRUCTURAL = frozenset("'\"#\n")


@dataclass
class StringState:
    """One row: inside a comment, or inside a string (and the text written in it so far)."""

    comment: bool = False
    inside: bool = False
    body: str = ""

    def copy(self) -> StringState:
        return StringState(self.comment, self.inside, self.body)


class StringGuard:
    """Placeholder strings ``"sN"`` for the numbers ``placeholders`` over one vocabulary's
    token texts."""

    def __init__(self, token_texts: Sequence[str], eos_id: int,
                 placeholders: Collection[int]) -> None:
        self._texts = token_texts
        self._eos_id = eos_id
        bodies = {f"s{number}" for number in placeholders}
        self._bodies = frozenset(bodies)
        #: Every text a placeholder's body can start with ("" included).
        self._starts = frozenset(body[:cut] for body in bodies for cut in range(len(body) + 1))
        self._structural = tokens_with_any(token_texts, _STRUCTURAL)

    def _feed(self, state: StringState, text: str) -> bool:
        for char in text:
            if state.comment:
                state.comment = char != "\n"
            elif state.inside:
                if char == '"':
                    if state.body not in self._bodies:
                        return False
                    state.inside, state.body = False, ""
                elif state.body + char in self._starts:
                    state.body += char
                else:
                    return False
            elif char == "#":
                state.comment = True
            elif char == "'":
                return False
            elif char == '"':
                state.inside = True
        return True

    # -- the guard protocol -------------------------------------------------------------------

    def start(self, prefix_tokens: Sequence[int] = ()) -> StringState:
        """The state after ``prefix_tokens`` (assumed valid: a forced start)."""
        state = StringState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def accepts(self, state: StringState, token: int) -> bool:
        if token == self._eos_id:
            return not state.inside
        if not (state.inside or self._structural[token]):
            return True
        return self._feed(state.copy(), self._texts[token])

    def advance(self, state: StringState, token: int) -> None:
        """Move ``state`` past ``token`` (accepted, or forced: followed without judging)."""
        if token == self._eos_id or not (state.inside or self._structural[token]):
            return
        if not self._feed(state, self._texts[token]):
            state.comment, state.inside, state.body = False, False, ""  # forced: start afresh
