"""AST helpers the de-optimising transforms share: fresh names, statement templates, and the
places where an expression may be computed by statements placed just before its statement.

A caller may rely on :func:`sites` yielding only expressions that are evaluated
unconditionally and exactly once when their statement runs, so :func:`hoist` (replace the
expression by a name and put the statements computing it just before) keeps behaviour.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Builtins the transforms' templates call; a function that rebinds one is never transformed.
TEMPLATE_BUILTINS = frozenset({
    "len", "range", "iter", "next", "list", "set", "dict", "tuple", "enumerate", "min", "max",
    "sum", "sorted", "isinstance", "zip", "any", "all", "map", "filter", "StopIteration",
    "ValueError", "str", "bool", "reversed",
})


_skip_left = [0]


def take() -> bool:
    """Whether a transform may rewrite the site it found: False (and one fewer to skip) while
    :func:`skipping` still has sites to pass over, so that a variant rewrites a later site."""
    if _skip_left[0] > 0:
        _skip_left[0] -= 1
        return False
    return True


@contextmanager
def skipping(count: int) -> Iterator[None]:
    """Within the block, transforms pass over their first ``count`` applicable sites."""
    _skip_left[0] = count
    try:
        yield
    finally:
        _skip_left[0] = 0


class Names:
    """Fresh identifiers that do not clash with any name in the function."""

    def __init__(self, fn: ast.AST, extra: frozenset[str] | set[str] = frozenset()):
        self.taken = (
            {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
            | {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
            | {getattr(fn, "name", "")}
            | set(extra)
        )

    def new(self, *options: str) -> str:
        for base in options:
            if base not in self.taken:
                self.taken.add(base)
                return base
        k = 2
        while f"{options[0]}{k}" in self.taken:
            k += 1
        self.taken.add(f"{options[0]}{k}")
        return f"{options[0]}{k}"


def stmts(src: str) -> list[Any]:
    """Statements of a template; typed loosely because each caller knows the node types its
    own template produces (``For``, ``Assign``...) and fills their fields."""
    return ast.parse(src).body


def expr(src: str) -> Any:
    return ast.parse(src, mode="eval").body


def parents(root: ast.AST) -> dict[int, ast.AST]:
    """id(child) -> parent for every node under root."""
    out: dict[int, ast.AST] = {}
    for node in ast.walk(root):
        for child in ast.iter_child_nodes(node):
            out[id(child)] = node
    return out


def name_nodes(root: ast.AST, name: str) -> list[ast.Name]:
    return [n for n in ast.walk(root) if isinstance(n, ast.Name) and n.id == name]


def stores_of(root: ast.AST, name: str) -> list[ast.Name]:
    return [n for n in name_nodes(root, name) if not isinstance(n.ctx, ast.Load)]


def has_nested_scope(fn: ast.AST) -> bool:
    """Nested functions, lambdas or classes (they may capture a name a transform rebinds)."""
    return any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        and n is not fn
        for n in ast.walk(fn)
    )


def comp_targets_leak(fn: ast.AST, comp: ast.AST) -> bool:
    """True when a comprehension variable is also used outside it (a loop would clobber it)."""
    targets: set[str] = set()
    for gen in getattr(comp, "generators", []):
        targets |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
    inside = {id(n) for n in ast.walk(comp)}
    outside = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and id(n) not in inside}
    return bool(targets & outside)


def loop_over(comp: Any, inner: list[ast.stmt]) -> list[ast.stmt]:
    """Nested for/if statements equivalent to the comprehension's generators around inner."""
    body = inner
    for gen in reversed(comp.generators):
        for cond in reversed(gen.ifs):
            body = [ast.If(test=cond, body=body, orelse=[])]
        body = [ast.For(target=gen.target, iter=gen.iter, body=body, orelse=[])]
    return body


def fill(stmt: ast.AST, comp: Any) -> None:
    """Put the comprehension's element expression(s) where the _E / _K placeholders are."""
    for node in ast.walk(stmt):
        for field_name, val in ast.iter_fields(node):
            if isinstance(val, ast.Name) and val.id in ("_E", "_K"):
                if isinstance(comp, ast.DictComp):
                    repl = comp.value if val.id == "_E" else comp.key
                else:
                    repl = comp.elt
                setattr(node, field_name, repl)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if isinstance(item, ast.Name) and item.id == "_E":
                        val[k] = comp.value if isinstance(comp, ast.DictComp) else comp.elt


def replace_placeholder(root: ast.AST, placeholder: str, value: ast.AST) -> None:
    """Every ``Name(placeholder)`` under root becomes ``value`` (the same node: used once)."""
    for node in ast.walk(root):
        for field_name, val in ast.iter_fields(node):
            if isinstance(val, ast.Name) and val.id == placeholder:
                setattr(node, field_name, value)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if isinstance(item, ast.Name) and item.id == placeholder:
                        val[k] = value


def is_builtin_call(value: Any, name: str, nargs: int | None = None) -> bool:
    """A call of the builtin ``name`` with plain positional arguments (``nargs`` of them)."""
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == name
        and (nargs is None or len(value.args) == nargs)
        and not value.keywords
        and not any(isinstance(a, ast.Starred) for a in value.args)
    )


def is_method_call(value: Any, attr: str, nargs: int | None = None) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == attr
        and (nargs is None or len(value.args) == nargs)
        and not value.keywords
        and not any(isinstance(a, ast.Starred) for a in value.args)
    )


OPAQUE = (
    ast.Lambda, ast.BoolOp, ast.IfExp, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom,
)
# Statement fields evaluated exactly once, before anything else in the statement runs, so a
# sub-expression of them can be computed by statements placed just before.
_ONCE_FIELDS = {
    ast.Assign: "value",
    ast.AugAssign: "value",
    ast.AnnAssign: "value",
    ast.Expr: "value",
    ast.Return: "value",
    ast.If: "test",
    ast.For: "iter",
}


def _find_in(parent: ast.AST, pred) -> tuple[ast.AST, str, int | None, ast.AST] | None:
    """First sub-expression matching pred that is evaluated unconditionally, exactly once.

    ``f(a) + g([...])`` runs f first, so hoisting the list before the statement would change
    the order of calls: the search stops at the first operand (left to right, depth first)
    that calls something or evaluates conditionally."""
    for name, val in ast.iter_fields(parent):
        children = (
            [(None, val)]
            if isinstance(val, ast.AST)
            else (list(enumerate(val)) if isinstance(val, list) else [])
        )
        for idx, child in children:
            if not isinstance(child, ast.expr):
                continue
            if pred(child):
                return parent, name, idx, child
            if isinstance(child, OPAQUE):
                return None  # conditional or repeated evaluation: hoisting would change order
            found = _find_in(child, pred)
            if found:
                return found
            if _may_have_effects(child):
                return None  # later operands run after this one's calls
    return None


def _may_have_effects(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Call, ast.NamedExpr)) for n in ast.walk(node))


def sites(fn: ast.AST, pred: Callable[[Any], bool]) -> Iterator[tuple]:
    """(block, index, statement, parent, field, list index, node) for hoistable matches."""
    for node in ast.walk(fn):
        if isinstance(node, OPAQUE) or (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node is not fn
        ):
            continue
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(node, attr, None)
            if not isinstance(block, list):
                continue
            for i, st in enumerate(block):
                field_name = _ONCE_FIELDS.get(type(st))
                value = getattr(st, field_name, None) if field_name else None
                if value is None:
                    continue
                if isinstance(st, ast.AugAssign) and not isinstance(st.target, ast.Name):
                    continue  # `x[f()] += g()` evaluates the target first
                if isinstance(st, ast.Assign) and not all(
                        isinstance(t, ast.Name) for t in st.targets):
                    continue  # `a[f()] = value`: the value runs first, but keep it simple
                if pred(value):
                    yield block, i, st, st, field_name, None, value
                    continue
                found = _find_in(value, pred) if not isinstance(value, OPAQUE) else None
                if found:
                    yield (block, i, st, *found)


def hoist(site: tuple, acc: str, prelude: list[ast.stmt]) -> None:
    """Replace the matched expression by ``acc`` and put ``prelude`` before its statement."""
    block, i, _st, parent, field_name, idx, _node = site
    ref = ast.Name(acc, ast.Load())
    if idx is None:
        setattr(parent, field_name, ref)
    else:
        getattr(parent, field_name)[idx] = ref
    block[i:i] = prelude


def statements(root: ast.AST) -> Iterator[tuple[list[ast.stmt], int, ast.stmt]]:
    """(block, index, statement) for every statement of every body, ``else`` and ``finally``
    block under ``root`` (nested definitions included), in :func:`ast.walk` order. Lazy, like
    the walk: a caller that edits a block stops asking for more."""
    for owner in ast.walk(root):
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(owner, attr, None)
            if isinstance(block, list):
                for index, statement in enumerate(block):
                    yield block, index, statement


def loops(fn: ast.AST) -> list[ast.For | ast.While]:
    return [n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While))]


def inside(node: ast.AST, container: ast.AST) -> bool:
    return any(n is node for n in ast.walk(container))


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def repeating(fn: ast.AST) -> list[ast.AST]:
    """The loops and comprehensions of ``fn``: what runs its body once per item."""
    return [*loops(fn), *(n for n in ast.walk(fn) if isinstance(n, _COMPREHENSIONS))]


def repeated(node: ast.AST, repeating: list[ast.AST]) -> bool:
    """Whether ``node`` runs once per item of one of ``repeating`` (:func:`repeating`)."""
    return any(inside(node, loop) for loop in repeating)


def parameter_names(fn: ast.FunctionDef) -> set[str]:
    """The names of ``fn``'s own parameters (not those of functions nested in it)."""
    return {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
