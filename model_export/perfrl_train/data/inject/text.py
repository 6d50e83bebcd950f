"""Where and how a grown idiom is written into one real function's text: its header, its
loops and comprehensions with the values they read, lines inserted before others, a parameter
added. Shared by the idiom modules of :mod:`perfrl_train.data.inject`.

Every function here leaves the text it is not asked to change byte for byte as it was (the
grown code must stay real code)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence


def header_end(lines: list[str], fn: ast.FunctionDef) -> tuple[int, int] | None:
    """(line index, column) of the ``)`` closing the parameter list, where the whole header
    is the first line; None for a header spread over several lines."""
    first = lines[fn.lineno - 1]
    body_line = fn.body[0].lineno - 1
    if body_line == fn.lineno - 1:  # `def f(x): return x`
        return None
    stripped = first.rstrip()
    if not stripped.endswith(":"):
        return None
    # The `)` before a return annotation or the colon: the last `)` before `->`, else the last.
    arrow = stripped.find("->")
    head = stripped if arrow < 0 else stripped[:arrow]
    close = head.rfind(")")
    return (fn.lineno - 1, close) if close > 0 else None


def simple_parameters(fn: ast.FunctionDef) -> bool:
    """Positional parameters only, none with a default (a new one can follow them)."""
    args = fn.args
    return not (args.defaults or args.vararg or args.kwarg or args.kwonlyargs
                or args.posonlyargs)


def own_nodes(fn: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``fn`` outside nested functions, classes and lambdas."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                      ast.Lambda)):
                stack.append(child)


def tested_values(code: str, target: ast.expr, body: Sequence[ast.AST]) -> list[str]:
    """Values a loop over ``target`` already reads that a guard may test: its names, and the
    attributes (not methods called) and constant subscripts of them read in ``body``, as
    ``code`` spells them."""
    names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    values = list(names)
    called = {id(node.func) for part in body for node in ast.walk(part)
              if isinstance(node, ast.Call)}
    for part in body:
        for node in ast.walk(part):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in names and isinstance(node.ctx, ast.Load)
                    and id(node) not in called):
                values.append(ast.get_source_segment(code, node) or "")
            elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                  and node.value.id in names and isinstance(node.ctx, ast.Load)
                  and isinstance(node.slice, ast.Constant)
                  and isinstance(node.slice.value, (str, int))):
                values.append(ast.get_source_segment(code, node) or "")
    # A value spelled over several lines cannot go into a one-line guard.
    return [v for v in dict.fromkeys(values) if v and "\n" not in v]


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def starts_its_line(lines: list[str], node: ast.stmt) -> bool:
    """Whether ``node`` is the first thing on its line (a grown line can go before it)."""
    return node.col_offset == len(indent_of(lines[node.lineno - 1]))


def with_lines_before(lines: list[str], inserts: dict[int, list[str]]) -> list[str]:
    """``lines`` with ``inserts[k]`` put before line index ``k``."""
    edited = []
    for index, line in enumerate(lines):
        edited += inserts.get(index, [])
        edited.append(line)
    return edited


def with_parameter(lines: list[str], header: tuple[int, int], fn: ast.FunctionDef,
                    parameter: str) -> None:
    """Appends ``parameter`` (``name: annotation``) to the one-line header at ``header``
    (:func:`header_end`), in place."""
    line_index, close = header
    head = lines[line_index]
    separator = ", " if fn.args.args else ""
    lines[line_index] = f"{head[:close]}{separator}{parameter}{head[close:]}"


def loop_sites(code: str, fn: ast.FunctionDef) -> list[tuple[ast.For, list[str]]]:
    """``for`` loops whose body starts on its own line, with the values a guard may test."""
    sites = []
    for node in own_nodes(fn):
        if isinstance(node, ast.For) and node.body[0].lineno > node.lineno:
            values = tested_values(code, node.target, node.body)
            if values:
                sites.append((node, values))
    return sorted(sites, key=lambda site: site[0].lineno)


def comprehension_sites(code: str, fn: ast.FunctionDef) -> list[tuple[ast.expr, list[str]]]:
    """One-line list and set comprehensions of one ``for``, with the values a test may read."""
    sites = []
    for node in own_nodes(fn):
        if (isinstance(node, (ast.ListComp, ast.SetComp))
                and node.lineno == node.end_lineno and len(node.generators) == 1
                and not node.generators[0].is_async):
            values = tested_values(code, node.generators[0].target, [node.elt])
            if values:
                sites.append((node, values))
    return sorted(sites, key=lambda site: (site[0].lineno, site[0].col_offset))


def body_start(fn: ast.FunctionDef) -> ast.stmt:
    """The first statement after the docstring (where the set is made for a nested loop)."""
    body = fn.body
    if (len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        return body[1]
    return body[0]


def one_function(code: str) -> ast.FunctionDef | None:
    """The function ``code`` defines, when it parses and is one plain ``def``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    return tree.body[0]


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True
