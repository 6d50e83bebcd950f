"""Two copying slips of the model, mended in its output before the verifier sees it.

When the model turns an index ``while`` loop into a ``for`` loop it sometimes gets the idea
right and one detail of the copy wrong (measured on the example's ``reports.shelf_names``:
most unusable outputs were one of these two):

- ``range(items)`` where the input's bound was ``len(items)``: the ``len(`` dropped, a
  ``TypeError`` for any sequence. Mended to ``range(len(items))`` when the original function
  takes ``len(items)`` and never uses ``items`` as a number (``range(items)``, arithmetic or a
  comparison with it), so the name cannot be an ``int``.
- the ``while`` loop's ``i += 1`` (or ``i = i + 1``) left as the last statement of the new
  ``for i in ...:`` body: slower, never wrong inside the loop, but it changes ``i`` after the
  loop. Removed only when nothing outside that loop's body reads ``i`` (nor declares it
  ``global``/``nonlocal``), so the function computes the same thing without it.

A caller may rely on: :func:`repair_slips` changes nothing else (the text is edited in place:
comments and layout kept), returns the code unchanged with no repairs when neither slip is
there, and names each repair it made. The verifier still judges
the mended output like any other; a repair only saves an output that would otherwise be
dropped or measured slower for a detail the model evidently did not mean.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from perfrl.engine.candidate_text import FunctionNode

RANGE_OVER_SEQUENCE = "range over a sequence"
DEAD_LOOP_INCREMENT = "leftover loop increment"

_NUMERIC_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Div, ast.Pow)


@dataclass(frozen=True)
class _Edit:
    """Replace the text between two (line, column) positions (lines 1-based, columns in
    characters of the line) with ``text``."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


def _lengths_taken(function: ast.AST) -> set[str]:
    """Names the function passes to ``len()``."""
    return {node.args[0].id for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "len" and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)}


def _used_as_numbers(function: ast.AST) -> set[str]:
    """Names the function uses as a number somewhere: a bound of ``range()``, an operand of
    arithmetic or an order comparison (evidence that the name is not a sequence)."""
    found: set[str] = set()
    for node in ast.walk(function):
        operands: list[ast.expr] = []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "range":
            operands = list(node.args)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _NUMERIC_OPS):
            operands = [node.left, node.right]
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, _NUMERIC_OPS):
            operands = [node.target, node.value]
        elif isinstance(node, ast.Compare) and any(
                isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in node.ops):
            operands = [node.left, *node.comparators]
        found |= {o.id for o in operands if isinstance(o, ast.Name)}
    return found


def _range_edits(candidate: ast.AST, original: ast.AST) -> list[_Edit]:
    # Not a name the candidate binds itself (``n = len(items)`` then ``range(n)`` is right).
    bound = {node.id for node in ast.walk(candidate)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    sequences = _lengths_taken(original) - _used_as_numbers(original) - bound
    edits = []
    for node in ast.walk(candidate):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "range" and 1 <= len(node.args) <= 3 and not node.keywords):
            continue
        # range(stop) or range(start, stop[, step]): the stop is the argument that was a len().
        stop = node.args[0] if len(node.args) == 1 else node.args[1]
        if isinstance(stop, ast.Name) and stop.id in sequences:
            edits.append(_Edit((stop.lineno, stop.col_offset),
                               (stop.end_lineno or stop.lineno, stop.end_col_offset or 0),
                               f"len({stop.id})"))
    return edits


def _increments(statement: ast.stmt, name: str) -> bool:
    """Whether ``statement`` is ``name += 1`` or ``name = name + 1``."""
    one = ast.Constant(value=1)
    if isinstance(statement, ast.AugAssign):
        return (isinstance(statement.target, ast.Name) and statement.target.id == name
                and isinstance(statement.op, ast.Add)
                and ast.dump(statement.value) == ast.dump(one))
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
        return (isinstance(target, ast.Name) and target.id == name
                and isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)
                and isinstance(value.left, ast.Name) and value.left.id == name
                and ast.dump(value.right) == ast.dump(one))
    return False


def _reads_outside(function: ast.AST, loop: ast.For, name: str) -> bool:
    """Whether anything but ``loop``'s body reads ``name`` (or may: a global or nonlocal
    declaration, a nested scope, ``locals()``/``vars()``)."""
    inside = {id(node) for statement in loop.body for node in ast.walk(statement)}
    for node in ast.walk(function):
        if id(node) in inside:
            continue
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("locals", "vars"):
            return True
    # A closure in the body may read the name after the loop.
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
               for statement in loop.body for node in ast.walk(statement))


def _increment_edits(candidate: FunctionNode, lines: list[str]) -> list[_Edit]:
    edits = []
    for loop in ast.walk(candidate):
        if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
                and len(loop.body) > 1 and not loop.orelse):
            continue
        last = loop.body[-1]
        name = loop.target.id
        if not _increments(last, name) or _reads_outside(candidate, loop, name):
            continue
        end_line = last.end_lineno or last.lineno
        before = lines[last.lineno - 1][:last.col_offset]
        after = lines[end_line - 1][last.end_col_offset or 0:]
        # Only a statement alone on its lines (no `x = 1; i += 1`): its lines go.
        if before.strip() or (after.strip() and not after.strip().startswith("#")):
            continue
        edits.append(_Edit((last.lineno, 0), (end_line + 1, 0), ""))
    return edits


def _apply(lines: list[str], edits: list[_Edit]) -> str:
    """``lines`` (each ending in a newline) with ``edits`` made, last first so that earlier
    positions stay valid; positions past the last line mean its end."""
    text = "".join(lines)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(position: tuple[int, int]) -> int:
        line, column = position
        return offsets[min(line - 1, len(lines))] + column

    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:at(edit.start)] + edit.text + text[at(edit.end):]
    return text


def repair_slips(
    code: str, function: FunctionNode, original: FunctionNode
) -> tuple[str, list[str]]:
    """``code`` (a candidate's text; ``function``: its ``def`` as parsed from that text, so
    that positions match) with the two slips mended, judged against ``original`` (the target's
    parsed function), and the repairs made (:data:`RANGE_OVER_SEQUENCE`,
    :data:`DEAD_LOOP_INCREMENT`, once per place). Nothing is parsed here: the caller cleans
    (parses) the mended text as it does every candidate text."""
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    range_edits = _range_edits(function, original)
    increment_edits = _increment_edits(function, lines)
    if not range_edits and not increment_edits:
        return code, []
    repaired = _apply(lines, range_edits + increment_edits)
    if not code.endswith("\n"):
        repaired = repaired.rstrip("\n")
    return repaired, ([RANGE_OVER_SEQUENCE] * len(range_edits)
                      + [DEAD_LOOP_INCREMENT] * len(increment_edits))
