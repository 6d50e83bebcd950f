"""The "edit-v1" output format: the model writes only the lines it changes.

A model whose spec says ``output_format: "edit-v1"`` reads its function with numbered lines
(:func:`number_lines`: ``"3|    for v4 in v1:"``) and writes an *edit script*: one or more
hunks, in the order of the lines they replace, each a header line ``@A-B`` (replace the
input's lines ``A`` to ``B``, counted from 1, both included) followed by the new lines, as
many as needed (none deletes the lines). An insertion is written as the replacement of the
line before it (that line, then the new ones), so every hunk replaces at least one line and
one pair of functions has exactly one script (:func:`make_edit_script`).

The "edit-v2" format is edit-v1 with *line references*: a hunk line written ``<indent>=N``
(spaces, ``=``, a line number of the input) stands for input line ``N`` re-indented to
``<indent>``. :func:`make_edit_script` with ``line_refs=True`` writes every new line that is
some input line's text (re-indented or not) as such a reference, so moving an invariant out
of a loop is ``@3-5`` / ``    =5`` / ``    =3`` / ``        =4``: the model names lines instead
of typing them again, where a small model garbles long lines (no Python line starts with
``=``, so a reference is never code).

Why: a whole-function output must copy every unchanged line, which a small model does badly
(it drifts, repeats itself, or drops a parameter); an edit names the lines it keeps by
number and writes 20-60 tokens instead of a function's 200 (the approach of Supersonic,
arXiv 2309.14846, with line numbers in place of a diff's context lines).

This module is part of the model contract (:mod:`perfrl.model_contract`): training writes
scripts with :func:`make_edit_script`, the server applies the model's with
:func:`apply_edit_script`. It imports nothing heavy.

A caller may rely on: ``apply_edit_script(slow, make_edit_script(slow, fast))`` having the
lines of ``fast`` for any two texts, except blank lines that end a hunk (a model's output is
stripped of trailing newlines, so a script never ends a hunk with one), and on
:func:`apply_edit_script` either returning the edited text or raising
:class:`EditScriptError` saying what is wrong with the script.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The separator between a line's number and its text in the model's input.
NUMBER_SEPARATOR = "|"
#: How every script starts (its first header): what decoding forces first.
SCRIPT_START = "@"
_HEADER = re.compile(r"@(\d+)-(\d+)[ \t]*$")
#: An "edit-v2" hunk line that stands for an input line: its new indentation, its number.
_LINE_REF = re.compile(r"([ \t]*)=(\d+)[ \t]*$")


#: Why a script cannot be applied: the message of its :class:`EditScriptError`, one of these
#: few (the model source counts dropped outputs by reason).
NO_HEADER = "edit without a line '@A-B'"
NO_HEADER_FIRST = "edit with text before its first '@A-B' line"
NOT_ITS_LINES = "edit of lines the function does not have"
OUT_OF_ORDER = "edits out of order or overlapping"


class EditScriptError(ValueError):
    """An edit script that cannot be applied; its message is one of the reasons above."""


@dataclass(frozen=True)
class Hunk:
    """Replace the input's lines ``first`` to ``last`` (1-based, inclusive) by ``lines``."""

    first: int
    last: int
    lines: tuple[str, ...]


def code_lines(code: str) -> list[str]:
    """The lines of ``code`` as the format counts them (no leading or trailing blank lines)."""
    return code.strip("\n").split("\n")


def number_lines(code: str) -> str:
    """``code`` with each line prefixed by its number and ``|`` (what an edit model reads)."""
    return "\n".join(f"{n}{NUMBER_SEPARATOR}{line}"
                     for n, line in enumerate(code_lines(code), 1)) + "\n"


def format_hunks(hunks: list[Hunk]) -> str:
    """The script text of ``hunks`` (each header, then its lines)."""
    out: list[str] = []
    for hunk in hunks:
        out.append(f"@{hunk.first}-{hunk.last}")
        out.extend(hunk.lines)
    return "\n".join(out) + "\n"


def make_edit_script(slow: str, fast: str, widen_to: Sequence[tuple[int, int]] = (),
                     line_refs: bool = False) -> str:
    """The one edit script that turns ``slow`` into ``fast`` ("" when their lines are equal).

    Hunks come from :class:`difflib.SequenceMatcher` over whole lines; an insertion becomes
    the replacement of the line before it, and hunks that then touch or overlap merge.
    ``widen_to``: line ranges of ``slow`` (1-based, inclusive; the server's proposed sites,
    :mod:`perfrl.sources.edit_sites`) that a hunk touching them grows to cover whole, as a
    script written after a forced site header does. ``line_refs`` ("edit-v2"): a new line
    whose text (indentation aside) is an input line's is written as a reference to it."""
    a, b = code_lines(slow), code_lines(fast)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    ranges: list[tuple[int, int]] = []  # a[i1:i2] changes
    for tag, i1, i2, _, _ in opcodes:
        if tag == "equal":
            continue
        if i1 == i2:  # insertion: take the line before it along (the line after at the top)
            i1, i2 = (i1 - 1, i2) if i1 > 0 else (i1, i2 + 1)
        ranges.append((i1, i2))
    if not ranges:
        return ""
    changed = list(ranges)
    for first, last in widen_to:
        window = (first - 1, last)
        if any(i1 < window[1] and window[0] < i2 for i1, i2 in changed):
            ranges.append(window)
    merged: list[list[int]] = []
    for i1, i2 in sorted(ranges):
        if merged and i1 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], i2)
        else:
            merged.append([i1, i2])
    hunks = [Hunk(i1 + 1, i2, tuple(_without_trailing_blanks(
        b[_fast_index(opcodes, i1, start=True):_fast_index(opcodes, i2, start=False)])))
        for i1, i2 in merged]
    if line_refs:
        hunks = [_with_line_refs(hunk, a) for hunk in hunks]
    return format_hunks(hunks)


def _with_line_refs(hunk: Hunk, slow_lines: list[str]) -> Hunk:
    """``hunk`` with each line that is an input line's text written ``<indent>=N``: the input
    line of that text nearest the hunk's first line (the earlier of two as near), so one pair
    of functions still has one script."""
    where: dict[str, list[int]] = {}
    for number, line in enumerate(slow_lines, 1):
        if line.strip():
            where.setdefault(line.strip(), []).append(number)
    written = []
    for line in hunk.lines:
        numbers = where.get(line.strip())
        if not numbers:
            written.append(line)
            continue
        nearest = min(numbers, key=lambda n: (abs(n - hunk.first), n))
        written.append(f"{line[:len(line) - len(line.lstrip())]}={nearest}")
    return Hunk(hunk.first, hunk.last, tuple(written))


def _fast_index(opcodes: list, i: int, start: bool) -> int:
    """The line of ``fast`` at the boundary before line ``i`` of ``slow`` (0-based; a hunk's
    boundary is never inside a changed block): lines inserted at that point go with the hunk
    that ends there, so a start maps before them and an end after them."""
    found: list[int] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal" and i1 <= i <= i2:
            found.append(j1 + (i - i1))
        elif i == i1 == i2:  # an insertion at this point: before it or after it
            found += [j1, j2]
        elif i == i1 and tag != "equal":
            found.append(j1)
        elif i == i2 and tag != "equal":
            found.append(j2)
    return min(found) if start else max(found)


def parse_edit_script(script: str) -> list[Hunk]:
    """The hunks of ``script``. Raises EditScriptError when it has none, or text before its
    first header."""
    hunks: list[Hunk] = []
    header: tuple[int, int] | None = None
    lines: list[str] = []
    all_lines = script.strip("\n").split("\n")
    if not any(_HEADER.match(line) for line in all_lines):
        raise EditScriptError(NO_HEADER)
    for line in all_lines:
        match = _HEADER.match(line)
        if match:
            if header is not None:
                hunks.append(Hunk(header[0], header[1], tuple(_without_trailing_blanks(lines))))
            header, lines = (int(match.group(1)), int(match.group(2))), []
        elif header is None:
            raise EditScriptError(NO_HEADER_FIRST)
        else:
            lines.append(line)
    assert header is not None  # a header was found above
    hunks.append(Hunk(header[0], header[1], tuple(_without_trailing_blanks(lines))))
    return hunks


def _without_trailing_blanks(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def apply_edit_script(slow: str, script: str, line_refs: bool = False) -> str:
    """``slow`` with the hunks of ``script`` applied, ending with one newline.

    Raises EditScriptError for a script without hunks or with text before the first, a hunk
    whose lines are not in ``slow`` (``@0-2``, ``@5-3``, past the last line) or hunks out of
    order or overlapping. ``line_refs`` ("edit-v2"): a hunk line ``<indent>=N`` is input line
    ``N`` re-indented (a reference past the last line raises too)."""
    a = code_lines(slow)
    out: list[str] = []
    done = 0  # lines of ``a`` already copied or replaced
    for hunk in parse_edit_script(script):
        if not 1 <= hunk.first <= hunk.last <= len(a):
            raise EditScriptError(NOT_ITS_LINES)
        if hunk.first <= done:
            raise EditScriptError(OUT_OF_ORDER)
        out.extend(a[done:hunk.first - 1])
        out.extend(_resolved(hunk.lines, a) if line_refs else hunk.lines)
        done = hunk.last
    out.extend(a[done:])
    return "\n".join(out) + "\n"


def _resolved(lines: Sequence[str], slow_lines: list[str]) -> list[str]:
    """``lines`` with each reference ``<indent>=N`` replaced by input line N, re-indented."""
    out = []
    for line in lines:
        ref = _LINE_REF.match(line)
        if ref is None:
            out.append(line)
            continue
        number = int(ref.group(2))
        if not 1 <= number <= len(slow_lines):
            raise EditScriptError(NOT_ITS_LINES)
        out.append(ref.group(1) + slow_lines[number - 1].lstrip())
    return out
