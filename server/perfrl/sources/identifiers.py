"""Renaming identifiers in source text without touching anything else.

Used to give a model's output the target's names back (:mod:`perfrl.sources.model`) and to
make renamed copies of training pairs (``perfrl_train.data.augment``). A caller may rely on
comments, strings, layout and attribute names (``obj.old``) staying exactly as they were; only
NAME tokens spelled like a key of the mapping change. Names inside f-strings are part of a
STRING token before Python 3.12 and are not renamed: callers keep such names out of the mapping.
"""

from __future__ import annotations

import io
import tokenize


def replace_token_spans(code: str, edits: list[tuple[tuple, tuple, str]]) -> str:
    """``code`` with each ``(start, end, text)`` token span replaced by ``text``; positions are
    tokenize's (row from 1, column); spans may cross lines and must not overlap."""
    if not edits:
        return code
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1]

    pieces = []
    cursor = 0
    for start, end, text in sorted(edits, key=lambda e: offset(e[0])):
        pieces.append(code[cursor : offset(start)])
        pieces.append(text)
        cursor = offset(end)
    pieces.append(code[cursor:])
    return "".join(pieces)


def rename_identifiers(code: str, mapping: dict[str, str]) -> str:
    """``code`` with every identifier token in ``mapping`` renamed, except attribute names."""
    if not mapping:
        return code
    edits: list[tuple[tuple, tuple, str]] = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string in mapping and not (
            previous is not None and previous.type == tokenize.OP and previous.string == "."
        ):
            edits.append((token.start, token.end, mapping[token.string]))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    return replace_token_spans(code, edits)
