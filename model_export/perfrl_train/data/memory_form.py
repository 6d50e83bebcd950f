"""A function from the memory of verdicts, written as a model reads its input.

The memory (:mod:`perfrl.memory.store`) keeps functions as the user wrote them, with their
``path::qualname`` relative to the project. Training rows built from it
(:mod:`perfrl_train.adapt`, :mod:`perfrl_train.data.feedback_pairs`) must show the model the
text the server would show it for that function: dedented, and for an abstracting model
(``identifiers-v1`` / ``identifiers-v2``) with placeholders for the function's own names and,
as written, the names the server keeps for that model
(:func:`perfrl.sources.abstraction.names_kept_for`, read from the function's module in the
project, as it is now). Without the module (no project given, the file gone or not Python any
more), an ``identifiers-v2`` model keeps the names the function reads without binding them
(:func:`perfrl.sources.abstraction.free_names`: what it reads from its module), a v1 model
none.
"""

from __future__ import annotations

import ast
import textwrap
import tokenize
from pathlib import Path

from perfrl.sources.abstraction import Abstraction, abstract, free_names, names_kept_for


def dedented(text: str) -> str:
    """``text`` dedented, without blank lines around it, ending in one newline."""
    return textwrap.dedent(text).strip("\n") + "\n"


def names_kept(mode: str, project: Path | None, function: str, text: str) -> frozenset[str]:
    """The names a model of input abstraction ``mode`` reads as written in ``text`` (the
    dedented function ``function``, ``path::qualname`` of ``project``); see the module doc."""
    if mode == "none":
        return frozenset()
    module = None
    if project is not None:
        try:
            module = ast.parse((project / function.split("::")[0]).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            module = None
    if module is not None:
        return names_kept_for(mode, module, text)
    return free_names(text) if mode == "identifiers-v2" else frozenset()


def in_model_form(source: str, mode: str, project: Path | None = None, function: str = ""
                  ) -> tuple[str, Abstraction | None] | None:
    """``source`` as a model of input abstraction ``mode`` reads it, and the table that writes
    other text (its rewrite, a failed candidate) in the same placeholders (None for "none");
    None when the model cannot read it (it does not tokenize)."""
    text = dedented(source)
    if mode == "none":
        return text, None
    try:
        return abstract(text, names_kept(mode, project, function, text))
    except (ValueError, SyntaxError, tokenize.TokenError):
        return None
