"""Hand-written candidates: each file the user names is one rewrite of the target function.

A file may hold just the function (a Markdown code block or some prose around it is fine:
the verifier normalizes it), or a whole module, in which case the ``def`` with the target's
name is taken from it: at the top level for a function, inside the class of the same name
for a method (following the whole class path first, ``Outer.Inner.method``). Only that
``def`` is used: module-level imports of the file are not carried over, so a rewrite that
needs an import must do it inside the function body.

A caller may rely on every readable file yielding exactly one candidate (label: the path as
given), in the order given, and on problems with files (missing, unreadable, no such
function) raising :class:`CandidateSourceError` after the good files have been yielded.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

from perfrl.engine.candidate_check import normalize_candidate
from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.locate import split_lines
from perfrl.engine.types import Candidate, FunctionTarget

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _defs_in(body: list[ast.stmt], name: str) -> list[_FunctionNode]:
    return [s for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and s.name == name]


def _classes_in(body: list[ast.stmt], name: str) -> list[ast.ClassDef]:
    return [s for s in body if isinstance(s, ast.ClassDef) and s.name == name]


def _find_definition(tree: ast.Module, qualname: str) -> _FunctionNode | None:
    """The ``def`` that stands for ``qualname`` in a module-shaped candidate file."""
    *classes, name = qualname.split(".")
    # The full class path, as in the user's file.
    body: list[ast.stmt] | None = tree.body
    for class_name in classes:
        found = _classes_in(body, class_name) if body is not None else []
        body = found[-1].body if found else None
    if body is not None and (defs := _defs_in(body, name)):
        return defs[-1]
    # A class of the method's own class name anywhere (the file may flatten nesting).
    if classes:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ClassDef)
                and node.name == classes[-1]
                and (defs := _defs_in(node.body, name))
            ):
                return defs[-1]
    # The method written as a plain module-level function.
    defs = _defs_in(tree.body, name)
    return defs[-1] if defs else None


def extract_candidate(text: str, target: FunctionTarget) -> str | None:
    """The candidate code in a file's text, dedented; None when the file is a module that
    does not define the target's function. Text that does not parse is returned as it is
    (normalized): the verifier reports it as invalid, which is what the user should see."""
    code = normalize_candidate(text)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    if len(tree.body) == 1 and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return code
    node = _find_definition(tree, target.qualname)
    if node is None:
        return None
    lines = split_lines(code)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return normalize_candidate("".join(lines[start - 1:node.end_lineno]))


class FileCandidateSource:
    """Candidates read from files; ``label`` is the path as the user gave it."""

    name = "file"

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]

    def generate(self, target: FunctionTarget, limit: int) -> Iterator[Candidate]:
        problems: list[str] = []
        produced = 0
        for path in self.paths:
            if produced >= limit:
                break
            try:
                text = path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                problems.append(f"candidate file {path} does not exist")
                continue
            except IsADirectoryError:
                problems.append(f"candidate file {path} is a folder, not a file")
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"cannot read candidate file {path}: {exc}")
                continue
            code = extract_candidate(text, target)
            if code is None:
                problems.append(
                    f"candidate file {path} does not define {target.qualname} (or a def named "
                    f"{target.name}); put the rewritten function in it"
                )
                continue
            produced += 1
            yield Candidate(source="file", label=str(path), code=code)
        if problems:
            raise CandidateSourceError("; ".join(problems))
