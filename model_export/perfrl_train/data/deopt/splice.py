"""The slow side as the original text with only the changed statements rewritten.

``ast.unparse`` of a whole function would drop comments and change quoting and layout on every
line, so a model trained on (unparsed slow, real fast) pairs would learn to re-format. Here
the rewritten function is laid over the original statement by statement: statements the
transforms left alone keep their original lines (with the comments before them); a compound
statement whose header is unchanged keeps its header lines and is spliced recursively; only
what changed is unparsed, at the indentation of its block.

A caller may rely on :func:`splice` returning text whose AST equals ``new`` (checked), or
raising :class:`SpliceError`.
"""

from __future__ import annotations

import ast
import difflib

from ...errors import PerfRLError

_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers")


class SpliceError(PerfRLError, ValueError):
    """The new tree cannot be laid over the original text (statements share a line...)."""


def _dump(node: ast.AST) -> str:
    return ast.dump(node)


def _header_equal(old: ast.stmt, new: ast.stmt) -> bool:
    """Same statement type and everything but the ``body`` identical."""
    if type(old) is not type(new) or not isinstance(old, (ast.For, ast.While, ast.If, ast.With,
                                                          ast.FunctionDef, ast.Try)):
        return False
    for name, value in ast.iter_fields(old):
        if name == "body":
            continue
        other = getattr(new, name)
        if isinstance(value, list):
            if len(value) != len(other) or any(
                    _dump(a) != _dump(b) if isinstance(a, ast.AST) else a != b
                    for a, b in zip(value, other, strict=True)):
                return False
        elif isinstance(value, ast.AST):
            if _dump(value) != _dump(other):
                return False
        elif value != other:
            return False
    return True


class _Splicer:
    def __init__(self, lines: list[str]):
        self.lines = lines

    def text(self, first: int, last: int) -> str:
        """Lines first..last (1-based, inclusive)."""
        return "".join(self.lines[first - 1:last])

    def indent_of(self, stmt: ast.stmt) -> str:
        line = self.lines[stmt.lineno - 1]
        return line[: len(line) - len(line.lstrip())]

    def statement(self, old: ast.stmt, new: ast.stmt, indent: str) -> str:
        """Text of ``new`` standing where ``old`` stood (its leading comments excluded)."""
        assert old.end_lineno is not None
        if _dump(old) == _dump(new):
            return self.text(old.lineno, old.end_lineno)
        body = getattr(old, "body", None)
        if _header_equal(old, new) and body and body[0].lineno > old.lineno:
            last = body[-1].end_lineno
            assert last is not None
            head = self.text(old.lineno, body[0].lineno - 1)
            inner = self.block(body, new.body, body[0].lineno, self.indent_of(body[0]))  # type: ignore[attr-defined]
            tail = self.text(last + 1, old.end_lineno)
            return head + inner + tail
        return self.unparsed(new, indent)

    @staticmethod
    def unparsed(new: ast.stmt, indent: str) -> str:
        text = ast.unparse(ast.fix_missing_locations(new))
        return "".join(indent + line if line.strip() else line
                       for line in text.splitlines(keepends=True)) + "\n"

    def block(self, old: list[ast.stmt], new: list[ast.stmt], start: int, indent: str) -> str:
        """Text of the block ``new`` where ``old`` stood, starting at line ``start``."""
        previous_end = start - 1
        leading: list[str] = []  # comment/blank lines before each old statement
        for stmt in old:
            if stmt.lineno <= previous_end:
                raise SpliceError("two statements share a line")
            leading.append(self.text(previous_end + 1, stmt.lineno - 1))
            previous_end = stmt.end_lineno or stmt.lineno
        matcher = difflib.SequenceMatcher(
            a=[_dump(s) for s in old], b=[_dump(s) for s in new], autojunk=False)
        out: list[str] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                for i in range(i1, i2):
                    out.append(leading[i] + self.statement(old[i], old[i], indent))
                continue
            olds, news = old[i1:i2], new[j1:j2]
            out.extend(leading[i1:i2])  # comments above replaced statements stay
            # A changed statement whose header is unchanged is spliced into; the statements
            # around it are a transform's insertions (a prelude) and are unparsed.
            paired = next(((a, b) for a in range(len(olds)) for b in range(len(news))
                           if _header_equal(olds[a], news[b])), None)
            if paired is not None:
                a, b = paired
                for stmt in news[:b]:
                    out.append(self.unparsed(stmt, indent))
                out.append(self.statement(olds[a], news[b], indent))
                for stmt in news[b + 1:]:
                    out.append(self.unparsed(stmt, indent))
            else:
                for stmt in news:
                    out.append(self.unparsed(stmt, indent))
        return "".join(out)


def splice(code: str, old: ast.FunctionDef, new: ast.FunctionDef) -> str:
    """``new`` (a transformed copy of ``old``, parsed from ``code``) as text that keeps every
    unchanged line of ``code``. Raises SpliceError when that cannot be done faithfully."""
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    splicer = _Splicer(lines)
    first = old.body[0]
    if first.lineno <= old.lineno:
        raise SpliceError("the body starts on the def line")
    head = splicer.text(1, first.lineno - 1)
    text = head + splicer.block(old.body, new.body, first.lineno, splicer.indent_of(first))
    try:
        back = ast.parse(text).body[0]
    except SyntaxError as exc:
        raise SpliceError(f"spliced text does not parse: {exc}") from exc
    if _dump(back) != _dump(new):
        raise SpliceError("spliced text differs from the transformed tree")
    return text
