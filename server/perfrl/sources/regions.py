"""Regions of a long function that the model can rewrite one at a time.

A small model rewrites a 6-line function much better than a 60-line one, and most slow code
is a loop with the few statements around it. A :class:`Region` is such a span of one block:
the statements just before a loop that set up the variables it uses (``out = []``,
``total = 0``), the loop, an assignment right after it that passes on what the loop built
(``args = out``, ``text = "".join(parts)``) and a ``return`` right after those.

The model reads a region as a function of its own (:func:`region_function`: parameters are
the names the region reads from before it, and a final ``return`` gives back the names the
rest of the function reads after it), its rewrite is turned back into statements
(:func:`region_statements`) and put in place of the region (:func:`splice_region`), so the
whole function stays one candidate for the verifier.

A caller may rely on:

- regions in source order, not overlapping, each a list of whole statements of one block;
- :func:`splice_region` changing only the region's lines: every other byte of the function
  stays as it was, and the statements are indented like the region's first line;
- :func:`region_statements` returning ``None`` for a rewrite it cannot turn back into the
  region's statements (no function, a ``return`` of something else when the region gives
  back several names...); it reads the rewrite's parsed ``def`` and never parses text.
"""

from __future__ import annotations

import ast
import builtins
import textwrap
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_BUILTINS = frozenset(dir(builtins))
_NESTED_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
#: A loop plus at most this many setup statements before it.
MAX_SETUP_STATEMENTS = 4


@dataclass(frozen=True)
class Region:
    """Lines ``start_line``..``end_line`` (1-based, inclusive, of the function's source).

    ``source`` is the region's text dedented; ``indent`` the indentation it had; ``reads``
    the names it takes from before it; ``gives`` the names the function reads after it
    (empty when the region ends with ``return``); ``returns`` whether it does;
    ``annotations`` the enclosing function's annotation of each of ``reads`` that is one of
    its parameters (``(name, annotation source)``), so the model knows a list from a dict;
    ``imports`` the function's own imports of names the region reads (``(name, statement
    importing only it)``): they open the region's function instead of being parameters, so
    that the model reads ``re.match`` as it is written, as it reads a module's imports."""

    start_line: int
    end_line: int
    indent: str
    source: str
    reads: tuple[str, ...]
    gives: tuple[str, ...]
    returns: bool
    annotations: tuple[tuple[str, str], ...] = ()
    imports: tuple[tuple[str, str], ...] = ()

    @property
    def imported(self) -> frozenset[str]:
        """The names :attr:`imports` bind."""
        return frozenset(name for name, _ in self.imports)


def _names(nodes: Sequence[ast.AST], ctx: type) -> set[str]:
    return {
        n.id
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)
    }


def _unparse_statements(body: list[ast.stmt]) -> str:
    """``body`` unparsed as the lines of one block (no trailing newline)."""
    # ast.unparse traverses a list of nodes at runtime; typeshed types its argument as AST.
    return ast.unparse(body)  # type: ignore[arg-type]


def _bound(nodes: list[ast.stmt]) -> set[str]:
    """Names bound by ``nodes`` (stores, and nested definitions and imports)."""
    bound = _names(nodes, ast.Store)
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in n.names)
    return bound


def _imports_of(statements: list[ast.stmt], names: set[str]) -> dict[str, str]:
    """For each of ``names`` that an import among ``statements`` binds: that import, as one
    statement importing only it (``from re import match``, ``import os.path``)."""
    found: dict[str, str] = {}
    for statement in statements:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        for alias in statement.names:
            bound = (alias.asname or alias.name).split(".")[0]
            if bound in names:
                single = (ast.Import(names=[alias]) if isinstance(statement, ast.Import) else
                          ast.ImportFrom(module=statement.module, names=[alias],
                                         level=statement.level))
                found[bound] = ast.unparse(single)
    return found


def _in_reading_order(span: list[ast.stmt], names: set[str]) -> list[str]:
    """``names`` in the order the region first reads them (line, then column).

    Why not sorted: the model reads names as placeholders numbered by first appearance, and a
    region's parameters come first. In reading order the numbers follow the code's shape
    (the list a loop scans is the first name it reads), as a function's own parameters
    mostly do; sorted by spelling, they follow the user's vocabulary (``customer_ids`` before
    ``self``), which the model cannot see through the placeholders and can only guess."""
    reads = sorted((node for statement in span for node in ast.walk(statement)
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and node.id in names),
                   key=lambda node: (node.lineno, node.col_offset))
    return list(dict.fromkeys(node.id for node in reads))


def statement_blocks(function: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list of ``function`` (bodies, ``else`` branches, ``finally`` blocks,
    exception handlers, ``match`` cases), each once, outer blocks before inner ones; nothing
    inside a nested ``def``, ``class`` or ``lambda`` (``ast.walk`` would still descend into
    them after the nested definition itself is skipped)."""
    pending = deque([function])
    while pending:
        node = pending.popleft()
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block
        pending.extend(
            child for child in ast.iter_child_nodes(node)
            if not isinstance(child, _NESTED_DEFINITIONS)
        )


def _is_setup(statement: ast.stmt, loop_reads: set[str]) -> bool:
    if not isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return False
    targets = _names([statement], ast.Store)
    return bool(targets) and targets <= loop_reads


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    """The parameters whose annotation is their value's type (not ``*args``/``**kwargs``,
    annotated by their items' type)."""
    args = function.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def _is_result(statement: ast.stmt, span: list[ast.stmt]) -> bool:
    """Whether ``statement`` (right after a loop) only passes on what the span built: one name
    assigned from an expression of names the span binds (``args = result``,
    ``text = "".join(parts)``, ``total = sum(counts)``), and builtins."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)):
        return False
    reads = _names([statement.value], ast.Load)
    return bool(reads & _bound(span)) and reads <= _bound(span) | _BUILTINS


def extract_regions(function_source: str) -> list[Region]:
    """The loop regions of the (dedented) function in ``function_source``, outermost loops
    only, in source order. Empty when it does not parse or holds no function."""
    try:
        tree = ast.parse(function_source)
    except (SyntaxError, ValueError):
        return []
    function = next(
        (n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None
    )
    if function is None:
        return []
    lines = function_source.splitlines(keepends=True)
    regions: list[Region] = []
    taken: list[tuple[int, int]] = []
    for block in statement_blocks(function):
        for index, statement in enumerate(block):
            if not isinstance(statement, (ast.For, ast.While, ast.AsyncFor)):
                continue
            loop_reads = _names([statement], ast.Load) | {
                n.target.id for n in ast.walk(statement)
                if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
            }
            first = index
            while (
                first > 0
                and index - first < MAX_SETUP_STATEMENTS
                and _is_setup(block[first - 1], loop_reads)
            ):
                first -= 1
            last = index
            if index + 1 < len(block) and _is_result(block[index + 1], block[first : index + 1]):
                last = index + 1  # ``args = result``, ``text = "".join(parts)``
            if last + 1 < len(block) and isinstance(block[last + 1], ast.Return):
                last += 1
            span = block[first : last + 1]
            # Parsed source: every statement has its end line.
            start, end = span[0].lineno, span[-1].end_lineno or span[-1].lineno
            if span[0].col_offset != len(lines[start - 1]) - len(lines[start - 1].lstrip()):
                continue  # shares its line with something else (``if x: for ...``)
            if any(s <= end and start <= e for s, e in taken):
                continue  # inside a loop already taken (an outer loop comes first)
            after = [
                node for node in ast.walk(function)
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                and node.lineno > end
            ]
            bound_here = _bound(span)
            bound_before = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
            statements_before = [n for n in ast.walk(function) if isinstance(n, ast.stmt)
                                 and n.end_lineno is not None and n.end_lineno < start]
            bound_before |= _bound(statements_before)
            # The region's own loop variables are bound before they are read.
            own_targets = {
                n.id for loop in ast.walk(statement)
                if isinstance(loop, (ast.For, ast.AsyncFor, ast.comprehension))
                for n in ast.walk(loop.target) if isinstance(n, ast.Name)
            }
            reads = _in_reading_order(
                span, (_names(span, ast.Load) & bound_before) - _BUILTINS - own_targets)
            # Names only an import of the function binds (not also a parameter or a store).
            others = _bound([s for s in statements_before
                             if not isinstance(s, (ast.Import, ast.ImportFrom))])
            others |= {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
            imports = _imports_of(statements_before, set(reads) - others)
            reads = [name for name in reads if name not in imports]
            returns = isinstance(span[-1], ast.Return)
            # A later loop that binds the same name again (``for order in ...`` twice) does not
            # read this region's value of it.
            rebound_after = {
                n.id for loop in ast.walk(function)
                if isinstance(loop, (ast.For, ast.AsyncFor, ast.comprehension))
                and getattr(loop, "lineno", end + 1) > end
                for n in ast.walk(loop.target) if isinstance(n, ast.Name)
            }
            gives = () if returns else tuple(
                sorted(({n.id for n in after} & bound_here) - rebound_after)
            )
            text = "".join(lines[start - 1 : end])
            indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
            annotated = {a.arg: ast.unparse(a.annotation) for a in _parameters(function)
                         if a.annotation is not None and a.arg in reads}
            regions.append(
                Region(start, end, indent, textwrap.dedent(text), tuple(reads), gives, returns,
                       tuple(sorted(annotated.items())), tuple(imports.items()))
            )
            taken.append((start, end))
    regions.sort(key=lambda r: r.start_line)
    return regions


def region_function(region: Region, name: str) -> str:
    """The region as a function ``name`` the model can read: parameters ``reads`` (annotated
    as the enclosing function annotates them), body the region, and ``return <gives>`` when
    the rest of the function needs its results; the region's ``imports`` open the body."""
    body = "".join(f"{statement}\n" for _, statement in region.imports) + region.source
    if region.gives:
        body += "return " + ", ".join(region.gives) + "\n"
    annotations = dict(region.annotations)
    parameters = [f"{n}: {annotations[n]}" if n in annotations else n for n in region.reads]
    return f"def {name}({', '.join(parameters)}):\n" + textwrap.indent(body, "    ")


def region_statements(
    region: Region, rewritten_function: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> str | None:
    """The statements to put in place of ``region``, from the model's rewrite of
    :func:`region_function` (its parsed ``def``, as the engine's cleaning gives it:
    ``CleanCandidate.function``), dedented; None when they cannot be recovered (no function)."""
    function = rewritten_function
    if function is None or not function.body:
        return None
    body = list(function.body)
    if (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
        and not region.source.lstrip().startswith(('"', "'"))
    ):
        body = body[1:]  # a docstring the model added to the wrapper
    # The imports region_function put before the region's lines (the function keeps its own).
    opening = {statement for _, statement in region.imports}
    while body and isinstance(body[0], (ast.Import, ast.ImportFrom)) and \
            ast.unparse(body[0]) in opening:
        opening.discard(ast.unparse(body[0]))
        body = body[1:]
    if not body:
        return None
    if not region.returns:
        last = body[-1]
        if not isinstance(last, ast.Return) or last.value is None:
            return None if region.gives else _unparse_statements(body) + "\n"
        if not region.gives:
            return None
        given = ", ".join(region.gives)
        value = ast.unparse(last.value)
        if value == given or value == f"({given})":
            body = body[:-1]
            if not body:
                return None
            return _unparse_statements(body) + "\n"
        # The rewrite returns the result directly: bind it to the names the region gives.
        return _unparse_statements(body[:-1]) + ("\n" if body[:-1] else "") + f"{given} = {value}\n"
    return _unparse_statements(body) + "\n"


def splice_region(function_source: str, region: Region, rewritten: str) -> str:
    """``function_source`` with the region's lines replaced by the statements ``rewritten``
    (dedented), indented like the region; every other line is kept byte for byte."""
    lines = function_source.splitlines(keepends=True)
    new = textwrap.indent(textwrap.dedent(rewritten).rstrip("\n") + "\n", region.indent,
                          lambda line: True)
    # Blank lines inside the rewrite stay blank (no trailing indentation).
    new = "".join(line if line.strip() else "\n" for line in new.splitlines(keepends=True))
    return "".join(lines[: region.start_line - 1]) + new + "".join(lines[region.end_line :])
