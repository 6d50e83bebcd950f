"""Line references that name a line once: a per-row check for "edit-v2" outputs.

An "edit-v2" script (:mod:`perfrl.edit_script`) may write a hunk line as ``<indent>=N``: input
line ``N`` re-indented. A barely trained model repeats the reference it just wrote
(``    =3`` six times over, then ``=7`` six times: the line numbers of a loop it meant to walk
through), and the repetition stop cannot see it (each repeat is three tokens, shorter than
any period worth stopping). A :class:`LineRefGuard` follows the line each row is writing and
refuses a token that would

- end a reference (newline, end of output) naming a line the input does not have, or one the
  script already named;
- write a digit no such line number starts with (so a row never corners itself with ``=3``
  used and ``=31`` past the end: it may only write a number it can finish);
- start a line with ``=`` and go on with anything but digits (such a line is neither a
  reference nor Python).

Decoding then takes the best (greedy) or draws again among the tokens it accepts
(:func:`perfrl.inference.decoding.sample_or_greedy`, as for the other guards).

A caller may rely on: a script whose references name distinct lines of the input, each
written ``<indent>=N`` on a line of its own, being accepted token by token whatever the cut
into tokens; every other line passing untouched (a reference is recognised only at a line's
start, after its indentation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from perfrl.inference.token_flags import tokens_with_any

_NEWLINE = frozenset("\n")

# What the line written so far is: only indentation, a reference being written, or anything
# else (code, a hunk header).
_INDENT, _REF, _OTHER = range(3)


@dataclass
class LineRefState:
    """One row: the kind of its current line, the reference's digits, the lines named."""

    kind: int = _INDENT
    digits: str = ""
    named: set[int] = field(default_factory=set)

    def copy(self) -> LineRefState:
        return LineRefState(self.kind, self.digits, set(self.named))


class LineRefGuard:
    """References to ``line_count`` input lines over one vocabulary's token texts."""

    def __init__(self, token_texts: Sequence[str], eos_id: int, line_count: int) -> None:
        self._texts = token_texts
        self._eos_id = eos_id
        self._line_count = line_count
        #: Tokens that end a line: the only ones that matter inside a line of code.
        self._newline = tokens_with_any(token_texts, _NEWLINE)

    def _finishable(self, digits: str, named: set[int]) -> bool:
        """Whether some line not yet named has a number starting with ``digits``."""
        if digits.startswith("0"):
            return False
        return any(str(n).startswith(digits) for n in range(1, self._line_count + 1)
                   if n not in named)

    def _line_ends(self, state: LineRefState, judge: bool = True) -> bool:
        """Close the current line; False when ``judge`` and it is a reference that may not
        end here."""
        if state.kind == _REF:
            number = int(state.digits) if state.digits else 0
            if judge and (not 1 <= number <= self._line_count or number in state.named):
                return False
            state.named.add(number)
        state.kind, state.digits = _INDENT, ""
        return True

    def _feed(self, state: LineRefState, text: str, judge: bool = True) -> bool:
        """Advance ``state`` over ``text``; False (state then undefined) when ``judge`` and
        refused (without ``judge``: followed as written, a forced prefix)."""
        for char in text:
            if char == "\n":
                if not self._line_ends(state, judge):
                    return False
            elif state.kind == _INDENT:
                if char == "=":
                    state.kind = _REF
                    if judge and not self._finishable("", state.named):
                        return False
                elif char not in " \t":
                    state.kind = _OTHER
            elif state.kind == _REF:
                if judge and (not char.isdigit()
                              or not self._finishable(state.digits + char, state.named)):
                    return False
                state.digits += char if char.isdigit() else ""
        return True

    def start(self, prefix_tokens: Sequence[int] = ()) -> LineRefState:
        """The state after ``prefix_tokens`` (assumed valid: a forced header)."""
        state = LineRefState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def accepts(self, state: LineRefState, token: int) -> bool:
        if token == self._eos_id:  # the output ends: so does its last line
            return self._line_ends(state.copy())
        if state.kind == _OTHER and not self._newline[token]:
            return True
        return self._feed(state.copy(), self._texts[token])

    def advance(self, state: LineRefState, token: int) -> None:
        """Move ``state`` past ``token`` (accepted, or forced: followed without judging)."""
        if token != self._eos_id:
            self._feed(state, self._texts[token], judge=False)
