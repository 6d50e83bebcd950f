"""Indentation and statements an edit's lines can have: a per-row check for "edit-v2" outputs.

Two thirds of the edit scripts the shipped model draws that make no function that parses fail
on indentation (measured on the held-out projects: "unexpected indent", "expected an indented
block after 'for'", "unindent does not match"): a hunk line deeper than any block allows, a
block opener with nothing under it, a hunk whose last line leaves the input's next line
stranded. An :class:`IndentGuard` follows each row's script over the input function's lines
(:mod:`perfrl.edit_script`: a header ``@A-B`` replaces input lines ``A`` to ``B``) and refuses
a token that would

- start a hunk line (code, or a reference ``<indent>=N``) at an indentation Python's block
  structure cannot take there: deeper than the line before when that line does not open a
  block, not deeper when it does, or between two open levels;
- end a hunk (the next header, the end of output) where the input's line after it could not
  follow: below a block opener, or at an indentation no open block has;
- indent with a tab where the input indents with spaces only (Python's ``TabError``);
- start a comment line of its own (not a reference to one of the input's): comments make no
  code faster, and the model, kept from garbage at odd indentations, wrote it as comments
  (``# nonlocal``, ``# type:7``). Python would accept them; this rule is the one exception to
  the promise below;
- close a bracket another kind opened or none did, or end a line inside a one-line string;
- make a line that can no longer end as a statement (``v2.extend(v4.is) +``, ``n = = ``:
  :func:`perfrl.inference.statement_syntax.line_prefix_viable`), or end one that is none
  (``for x in xs`` without its colon: :func:`~perfrl.inference.statement_syntax.statement_parses`);
- end a hunk, or the output, with a bracket or a string left open, unless the input's line
  after the hunk is inside one too.

Where the structure is not known it accepts: inside brackets, strings and after a backslash
(continuation lines), a hunk whose header does not parse or that starts inside a bracket of the
input. Decoding then takes the best (greedy) or draws again among the tokens
it accepts (:func:`perfrl.inference.decoding.sample_or_greedy`), as for the other guards.

A caller may rely on: every script whose application parses (hunks in order, each line of code
or reference indented as Python needs where it lands, no comment line of its own, no hunk
leaving open a bracket or string that the input's lines after it would close) being accepted
token by token whatever the cut into tokens, provided the input's lines parse; the judgement
needing nothing but the text written and the input's lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from perfrl.inference.bracket_guard import LexState, feed_text
from perfrl.inference.statement_syntax import line_prefix_viable, statement_parses
from perfrl.inference.token_flags import tokens_with_any

_NEWLINE = frozenset("\n")
_HEADER = re.compile(r"@(\d+)-(\d+)[ \t]*$")
_REFERENCE = re.compile(r"=(\d+)[ \t]*$")

# Where a row stands in its current line: collecting indentation, writing a header, writing
# a line whose indentation was judged (or need not be).
_INDENT, _HEADER_LINE, _BODY = range(3)


@dataclass
class Blocks:
    """Python's indentation stack at a line boundary: the open levels (widths), whether the
    line before opened a block (the next must be deeper), and whether the text is inside a
    continuation (brackets, a string, after a backslash: indentation does not count)."""

    levels: list[int] = field(default_factory=lambda: [0])
    opened: bool = False
    lex: LexState = field(default_factory=LexState)
    backslash: bool = False

    def copy(self) -> Blocks:
        return Blocks(list(self.levels), self.opened, self.lex.copy(), self.backslash)

    @property
    def continuing(self) -> bool:
        return self.backslash or bool(self.lex.brackets) or bool(self.lex.quote)

    def fits(self, width: int) -> bool:
        """Whether a logical line may start at ``width`` here."""
        if self.opened:
            return width > self.levels[-1]
        return width in self.levels

    def start_line(self, width: int) -> None:
        """Enter a logical line at ``width`` (one that fits)."""
        if self.opened:
            self.levels.append(width)
        else:
            while self.levels and self.levels[-1] > width:
                self.levels.pop()
        self.opened = False


def _code_part(line: str) -> str:
    """``line`` without a trailing comment (a ``#`` outside strings), right-stripped."""
    lex = LexState()
    for index, char in enumerate(line):
        if char == "#" and not lex.quote:
            return line[:index].rstrip()
        feed_text(lex, char)
    return line.rstrip()


def _end_line(blocks: Blocks, line: str, logical_start: bool) -> None:
    """Close a physical line of text ``line`` (indentation included) in ``blocks``."""
    code = _code_part(line)
    feed_text(blocks.lex, line.lstrip() if logical_start else line)
    blocks.lex.comment = False
    blocks.backslash = code.endswith("\\") and not blocks.lex.quote
    if not blocks.continuing and code.strip():
        blocks.opened = code.endswith(":")


@dataclass
class IndentState:
    """One row: where it is in its line, the line so far, the blocks around it, the hunk."""

    place: int = _INDENT
    line: str = ""
    blocks: Blocks | None = None  # None: the current hunk is not judged
    hunk_first: int = 0
    hunk_last: int = 0
    judged_line: bool = False
    #: Whether the current hunk has written a line yet.
    written: bool = False
    #: The physical lines so far of a judged logical line that continues (brackets, a string,
    #: a backslash), each with its newline; "" when none does.
    logical: str = ""
    #: The brackets and strings of the judged logical line so far (None: none is judged).
    lex: LexState | None = None

    def copy(self) -> IndentState:
        return IndentState(self.place, self.line,
                           None if self.blocks is None else self.blocks.copy(),
                           self.hunk_first, self.hunk_last, self.judged_line, self.written,
                           self.logical, None if self.lex is None else self.lex.copy())


class IndentGuard:
    """Indentation of "edit-v2" scripts over one input function's ``lines`` (as
    :func:`perfrl.edit_script.code_lines` counts them) and one vocabulary's token texts."""

    def __init__(self, token_texts: Sequence[str], eos_id: int, lines: Sequence[str]) -> None:
        self._texts = token_texts
        self._eos_id = eos_id
        self._lines = list(lines)
        # The blocks before each input line (index k: before line k + 1), and, for each line,
        # whether it opens a block when written alone (what a reference to it does).
        self._before: list[Blocks] = []
        self._opens: list[bool] = []
        blocks = Blocks()
        for number, line in enumerate(self._lines, 1):
            self._before.append(blocks.copy())
            self._follow(blocks, number, number + 1)
            self._opens.append(_code_part(line).endswith(":"))
        self._before.append(blocks.copy())
        #: Tokens that end a line (within a line, a token is judged by the line's text alone).
        self._newline = tokens_with_any(token_texts, _NEWLINE)
        # An input indented with spaces only takes no tab in an indentation: Python refuses a
        # mix whose meaning depends on the tab size (TabError), and a tab-only blank line is
        # no use to anyone.
        #: The input's comment lines (a reference to one stands at any indentation).
        self._comments = frozenset(number for number, line in enumerate(self._lines, 1)
                                   if line.lstrip().startswith("#"))
        self._tabs = any("\t" in line[:len(line) - len(line.lstrip())] for line in self._lines)

    def _follow(self, blocks: Blocks, first: int, end: int) -> None:
        """Move ``blocks`` over the input's lines ``first`` to ``end - 1`` as written."""
        for line in self._lines[first - 1:end - 1]:
            starts = not blocks.continuing
            width = len(line) - len(line.lstrip())
            if starts and line.strip() and not line.lstrip().startswith("#"):
                if not blocks.fits(width):
                    blocks.opened = False  # an input that does not parse: judged loosely
                blocks.start_line(width)
            _end_line(blocks, line, starts)

    # -- the hunks ----------------------------------------------------------------------------

    def _open_hunk(self, state: IndentState, header: str) -> None:
        match = _HEADER.match(header)
        ended, state.blocks = state.blocks, None
        state.logical, state.lex = "", None
        if match is None:
            return
        first, last = int(match.group(1)), int(match.group(2))
        if not 1 <= first <= last <= len(self._lines) or first <= state.hunk_last:
            state.hunk_last = len(self._lines)  # out of order: the script's own check refuses
            return
        # The blocks before the hunk: the last hunk's, carried over the input's lines between
        # (a hunk before may have changed them); the input's own where nothing was judged.
        if ended is not None:
            before = ended
            self._follow(before, state.hunk_last + 1, first)
        else:
            before = self._before[first - 1].copy()
        state.hunk_first, state.hunk_last = first, last
        state.blocks = None if before.continuing else before

    def _hunk_can_end(self, state: IndentState) -> bool:
        """Whether the input's line after the hunk can follow what the hunk wrote."""
        blocks = state.blocks
        if blocks is None:
            return True
        following = self._before[state.hunk_last]
        if following.continuing:
            return True  # the hunk cut a statement of the input: not judged
        if blocks.continuing:
            return False  # a bracket or a string left open, or a backslash, before code
        for line in self._lines[state.hunk_last:]:
            if line.strip() and not line.lstrip().startswith("#"):
                return blocks.fits(len(line) - len(line.lstrip()))
        return not blocks.opened  # the function ends: no block may be left empty

    # -- characters ---------------------------------------------------------------------------

    def _first_char(self, state: IndentState, char: str, judge: bool) -> bool:
        """The first character of a line after its indentation ``state.line``."""
        width = len(state.line)
        if char == "@" and width == 0:
            if judge and not self._hunk_can_end(state):
                return False
            state.place, state.written = _HEADER_LINE, False
            return True
        state.place = _BODY
        blocks = state.blocks
        placed = blocks is not None and not blocks.continuing
        if char == "#" and placed and judge:
            return False  # a comment of the model's own: see the module doc
        state.judged_line = placed and char != "#"
        if state.judged_line:
            assert blocks is not None
            # Column 0 after the first line would end the function (only a hunk rewriting
            # the `def` line itself may start there).
            outside = width == 0 and (state.hunk_first > 1 or state.written)
            if char == "=":
                # A reference: judged when its number is known (a comment of the input may
                # stand anywhere); here only whether some line could be named at this width.
                if judge and (outside or not blocks.fits(width)) and not self._comments:
                    return False
                return True
            if judge and (outside or not blocks.fits(width)):
                return False
            blocks.start_line(width)
            state.lex = blocks.lex.copy()
        state.written = True
        return True

    def _reference_ends(self, state: IndentState, blocks: Blocks, width: int, number: int,
                        judge: bool) -> bool:
        """Close a reference to input line ``number`` written at ``width``."""
        if not 1 <= number <= len(self._lines) or number in self._comments:
            return True  # a comment stands anywhere; a bad number is the script's own check
        outside = width == 0 and (state.hunk_first > 1 or state.written)
        if judge and (outside or not blocks.fits(width)):
            return False
        blocks.start_line(width)
        state.written = True
        if self._before[number].continuing:
            state.blocks = None  # a line that opens a bracket: the rest is not judged
        else:
            blocks.opened = self._opens[number - 1]
        return True

    def _line_ends(self, state: IndentState, judge: bool = True) -> bool:
        """Close the current line; False when ``judge`` and it may not end here."""
        line, place = state.line, state.place
        state.place, state.line = _INDENT, ""
        if place == _HEADER_LINE:
            self._open_hunk(state, line)
            return True
        blocks = state.blocks
        if blocks is None or not line.strip():
            return True
        reference = _REFERENCE.match(line.lstrip()) if state.judged_line else None
        if reference is not None:
            return self._reference_ends(state, blocks, len(line) - len(line.lstrip()),
                                        int(reference.group(1)), judge)
        _end_line(blocks, line, state.judged_line)
        if not (state.judged_line or state.logical):
            return True  # a continuation of a line that was not judged
        if blocks.continuing:
            state.logical += line + "\n"
            return True
        statement, state.logical, state.lex = state.logical + line, "", None
        return not judge or statement_parses(statement, blocks.opened)

    def _lexes(self, state: IndentState, char: str, judge: bool) -> bool:
        """Follow ``char`` in the judged line's brackets and strings; False when ``judge``
        and it cannot parse there (a bracket closing none open or another kind, a line end
        inside a one-line string)."""
        if state.lex is None or feed_text(state.lex, char):
            return True
        if judge:
            return False
        state.lex = None  # forced: the rest of the line is not judged
        return True

    def _feed(self, state: IndentState, text: str, judge: bool = True) -> bool:
        for char in text:
            if char == "\n":
                if not self._lexes(state, char, judge):
                    return False
                if state.place == _INDENT and state.line.strip() == "" and state.line:
                    state.line = ""  # a blank line: nothing to judge
                if not self._line_ends(state, judge):
                    return False
            elif state.place == _INDENT and char in " \t":
                if char == "\t" and judge and not self._tabs:
                    return False
                state.line += char
            elif state.place == _INDENT:
                if not (self._first_char(state, char, judge) and self._lexes(state, char, judge)):
                    return False
                state.line += char
            else:
                if not self._lexes(state, char, judge):
                    return False
                state.line += char
        return True

    # -- the guard protocol -------------------------------------------------------------------

    def start(self, prefix_tokens: Sequence[int] = ()) -> IndentState:
        """The state after ``prefix_tokens`` (assumed valid: a forced header)."""
        state = IndentState()
        for token in prefix_tokens:
            self.advance(state, token)
        return state

    def accepts(self, state: IndentState, token: int) -> bool:
        if token == self._eos_id:  # the output ends: so do its last line and hunk
            ended = state.copy()
            # The last line ends too (a last header opens its empty, deleting hunk).
            return self._line_ends(ended) and self._hunk_can_end(ended)
        text = self._texts[token]
        if state.place != _INDENT and not self._newline[token]:
            # Within a line: only whether it can still end as a statement (which also says
            # whether its brackets match), with no copy of the state: the common case.
            return (state.lex is None or state.place != _BODY
                    or line_prefix_viable(state.logical + state.line + text))
        after = state.copy()
        if not self._feed(after, text):
            return False
        return (after.lex is None or after.place != _BODY
                or line_prefix_viable(after.logical + after.line))

    def advance(self, state: IndentState, token: int) -> None:
        """Move ``state`` past ``token`` (accepted, or forced: followed without judging)."""
        if token != self._eos_id:
            self._feed(state, self._texts[token], judge=False)
