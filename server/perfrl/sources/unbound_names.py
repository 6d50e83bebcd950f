"""Outputs that read a name nothing defines: certain ``NameError``, dropped before the verifier.

A small model often writes a name it has seen in training (``new_0``, ``paths``) or uses a
local before the line that binds it was kept. Such a rewrite cannot pass a test that reaches
the line, and costs a sandboxed test run to find out; dropped early, it is drawn again.

The rule is deliberately narrow, so that it never drops a rewrite that could run: a name is
*unbound* when the rewrite reads it, binds it nowhere in the function, the original function
does not read it without binding it too (a name the original reads from outside, the rewrite
may read; a local of the original, the rewrite must bind itself), it is no builtin, and
the target's module binds it nowhere a function can see it from: not at module level (an
assignment, a loop or ``with`` target, an import, a ``def`` or ``class``, under any ``if`` or
``try``), not by a ``global`` statement anywhere, and not as a local of any function that
holds a nested function (the target may be a closure). Scopes count: a lambda's parameters
and a comprehension's targets belong to the lambda or the comprehension, so a rewrite reading
``record`` where the original only had ``lambda record: record["ms"]`` is unbound. A module
that can bind names no statement shows (``from x import *``, ``globals()``,
``__builtins__``, a module ``__getattr__``) gets no check at all.

A caller may rely on: :func:`module_names` returning ``None`` (meaning: do not check) for a
module that does not parse or binds names dynamically; :func:`unbound_names` returning the
unbound names sorted, empty when the output is fine or ``known`` is ``None``.
"""

from __future__ import annotations

import ast
import builtins
import functools

from perfrl.engine.candidate_text import FunctionNode
from perfrl.engine.locate import parse_module
from perfrl.sources.abstraction import bound_names

_BUILTINS = frozenset(dir(builtins)) | {"__class__", "__name__", "__file__", "__doc__"}
#: Nodes whose names are their own (a comprehension's targets, a lambda's parameters...).
_OWN_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
               ast.SetComp, ast.DictComp, ast.GeneratorExp)
#: Text in a module that can bind names without a statement that shows them.
_DYNAMIC_BINDING = ("import *", "globals(", "__builtins__", "__getattr__", "locals(", "vars(")


@functools.lru_cache(maxsize=8)
def module_names(file_text: str) -> frozenset[str] | None:
    """The names a function of this module can read without binding them itself (see the
    module's rule), or ``None`` when no check should be made. Cached by text: one job asks
    for each region and round, and the module is parsed once."""
    if any(marker in file_text for marker in _DYNAMIC_BINDING):
        return None
    try:
        tree = parse_module(file_text)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:  # module level: every statement outside a def or class body
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        for child in ast.walk(node):
            if child is not node and isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                pending.append(child)
        names |= _bindings_outside_definitions(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for statement in node.body for inner in ast.walk(statement)
        ):
            names |= scope_bindings(node)
    return frozenset(names)


def scope_bindings(function: FunctionNode, skip: tuple[int, int] | None = None) -> set[str]:
    """The names ``function``'s own scope binds: its parameters and what its body binds
    outside nested functions, lambdas, classes and comprehensions (whose names are their own:
    ``lambda record: record["ms"]`` binds ``record`` for the lambda only); an assignment
    expression in a comprehension binds in the function's scope. ``skip``: (first, last)
    lines of the function's source whose statements do not count."""
    arguments = function.args
    names = {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}
    names.update(a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None)
    for statement in function.body:
        names |= _bindings_outside_definitions(statement, skip)
    return names


def _within(node: ast.AST, lines: tuple[int, int] | None) -> bool:
    """Whether ``node`` is a statement lying wholly within ``lines`` (first, last)."""
    return (lines is not None and isinstance(node, ast.stmt)
            and lines[0] <= node.lineno and (node.end_lineno or node.lineno) <= lines[1])


def _bindings_outside_definitions(node: ast.AST, skip: tuple[int, int] | None = None) -> set[str]:
    """Names ``node`` binds, not counting what the definitions inside it bind, nor the
    statements within the ``skip`` lines."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if _within(current, skip):
            continue
        if current is not node and isinstance(current, _OWN_SCOPES):
            if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(current.name)  # a nested definition binds its name here
            elif not isinstance(current, ast.Lambda):  # a comprehension's := binds out here
                found.update(
                    inner.target.id for inner in ast.walk(current)
                    if isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name)
                )
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, (ast.Store, ast.Del)):
            found.add(current.id)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in current.names)
        elif isinstance(current, ast.ExceptHandler) and current.name:
            found.add(current.name)
        elif isinstance(current, (ast.MatchAs, ast.MatchStar)) and current.name:
            found.add(current.name)
        stack.extend(ast.iter_child_nodes(current))
    return found


def _reads(function: FunctionNode) -> set[str]:
    return {
        node.id for node in ast.walk(function)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def function_names(
    function: FunctionNode | None, region: tuple[int, int] | None = None
) -> frozenset[str]:
    """What a rewrite of one of ``function``'s regions (``region``: its first and last lines
    of the function's source) may read beyond the region's own function (which does not show
    what the rest of the function binds): the names its own scope binds outside the region
    and the names it reads from outside; not a lambda's or a comprehension's own names, and
    not a local only the region binds (its loop variable: the rewrite replaces the lines
    that bound it, so it must bind it itself)."""
    if function is None:
        return frozenset()
    return frozenset(scope_bindings(function, region)
                     | (_reads(function) - bound_names(function)))


def unbound_names(
    output: FunctionNode, original: FunctionNode | None, known: frozenset[str] | None
) -> list[str]:
    """The names ``output`` reads that nothing defines (see the module's rule); ``known`` is
    :func:`module_names` of the target's module."""
    if known is None:
        return []
    free = _reads(output) - bound_names(output) - _BUILTINS - known
    if original is not None:
        # What the original reads without binding it is visible somehow (it runs): a
        # closure's variable, a name a test injects. What it binds itself is a local that
        # the rewrite must bind too.
        free -= _reads(original) - bound_names(original)
    return sorted(free)
