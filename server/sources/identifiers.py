"""Renaming identifiers in source text without touching anything else.

Used to give a model's output the target's names back (:mod:`server.sources.model`) and to
make renamed copies of training pairs (``model_export.data.augment``). A caller may rely on
comments, strings, layout and attribute names (``obj.old``) staying exactly as they were; only
NAME tokens spelled like a key of the mapping change. Names inside f-strings are part of a
STRING token before Python 3.12 and are not renamed: callers keep such names out of the mapping.
"""

from __future__ import annotations

import io
import tokenize


def rename_identifiers(code: str, mapping: dict[str, str]) -> str:
    """``code`` with every identifier token in ``mapping`` renamed, except attribute names."""
    if not mapping:
        return code
    lines = code.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string in mapping and not (
            previous is not None and previous.type == tokenize.OP and previous.string == "."
        ):
            edits.append((*token.start, token.string))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    # Right to left, so earlier columns on the same line stay valid.
    for row, col, old in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + mapping[old] + line[col + len(old):]
    return "".join(lines)
