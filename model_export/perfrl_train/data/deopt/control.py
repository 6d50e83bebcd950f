"""Transforms on control flow: a loop that returns as soon as it finds its answer -> one that
runs to the end with a flag, a loop-invariant assignment moved into the loop it serves, and
``list.extend`` -> an ``append`` loop."""

from __future__ import annotations

import ast
from typing import Any

from perfrl.sources.regions import statement_blocks

from .common import Names, name_nodes, replace_placeholder, stmts, stores_of, take
from .loops import _mutated_in

_FRESH_ITERABLES = frozenset({"range", "enumerate", "zip", "reversed", "sorted"})
_VIEW_METHODS = frozenset({"items", "keys", "values"})


def _finite_iterable(e: ast.expr) -> bool:
    """An iterable whose full iteration has no side effect: a name, an attribute, a builtin
    that makes a fresh iterator of such, a dict view."""
    if isinstance(e, (ast.Name, ast.Attribute, ast.Tuple, ast.List)):
        return True
    if isinstance(e, ast.Call) and not e.keywords:
        if isinstance(e.func, ast.Name) and e.func.id in _FRESH_ITERABLES:
            return all(_finite_iterable(a) or isinstance(a, ast.Constant) for a in e.args)
        if isinstance(e.func, ast.Attribute) and e.func.attr in _VIEW_METHODS and not e.args:
            return isinstance(e.func.value, (ast.Name, ast.Attribute))
    return False


def early_exit_to_flag(fn: ast.FunctionDef) -> bool:
    """``for x in xs: if test: return value`` -> the loop runs to its end behind a flag and
    the value is returned after it (every remaining item is still visited)."""
    if any(isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await)) for n in ast.walk(fn)):
        return False
    names = Names(fn)
    for block in statement_blocks(fn):
        for k, node in enumerate(block):
            if not (isinstance(node, ast.For) and not node.orelse and len(node.body) == 1
                    and _finite_iterable(node.iter)):
                continue
            test = node.body[0]
            if not (isinstance(test, ast.If) and not test.orelse and len(test.body) == 1
                    and isinstance(test.body[0], ast.Return)):
                continue
            if any(isinstance(n, ast.NamedExpr) for n in ast.walk(test)) or not take():
                continue
            found, result = names.new("found"), names.new("result", "answer")
            value = test.body[0].value or ast.Constant(None)
            new = stmts(
                f"{found} = False\n"
                f"for _T in _IT:\n"
                f"    if not {found} and _C:\n"
                f"        {found} = True\n"
                f"        {result} = _V\n"
                f"if {found}:\n"
                f"    return {result}\n"
            )
            new[1].target, new[1].iter = node.target, node.iter
            replace_placeholder(new[1].body[0].test, "_C", test.test)
            replace_placeholder(new[1].body[0].body[1], "_V", value)
            block[k:k + 1] = new
            return True
    return False


def extend_to_append_loop(fn: ast.FunctionDef) -> bool:
    """``out.extend(items)`` (a statement) -> ``for item in items: out.append(item)``."""
    names = Names(fn)
    for block in statement_blocks(fn):
        for k, st in enumerate(block):
            call: Any = st.value if isinstance(st, ast.Expr) else None
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "extend" and len(call.args) == 1
                    and not call.keywords and isinstance(call.func.value, ast.Name)
                    and not isinstance(call.args[0], ast.Starred)):
                continue
            target = call.func.value.id
            if name_nodes(call.args[0], target) or not take():
                continue  # extending a list by itself: a loop would never end
            item = names.new("item", "elem", "value")
            loop = stmts(f"for {item} in _IT:\n    {target}.append({item})")
            loop[0].iter = call.args[0]
            block[k] = loop[0]
            return True
    return False


_PURE_CALLS = frozenset({"len", "str", "int", "float", "abs", "tuple", "frozenset", "set",
                         "sorted", "list", "dict", "min", "max", "sum", "repr", "bool"})


def _pure(e: ast.expr) -> bool:
    """An expression without side effects (reads, arithmetic, a few builtins)."""
    for node in ast.walk(e):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _PURE_CALLS):
                return False
        elif isinstance(node, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.Lambda,
                               ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                               ast.JoinedStr)):
            return False
    return True


def invariant_into_loop(fn: ast.FunctionDef) -> bool:
    """``name = <pure expression>`` before a loop that alone reads it -> the assignment moved
    to the top of the loop body, recomputed on every iteration (e.g. ``allowed = set(xs)``)."""
    for block in statement_blocks(fn):
        for k, st in enumerate(block):
            if not (isinstance(st, ast.Assign) and len(st.targets) == 1
                    and isinstance(st.targets[0], ast.Name) and _pure(st.value)
                    and not isinstance(st.value, (ast.Constant, ast.Name))):
                continue
            name = st.targets[0].id
            loop = next((s for s in block[k + 1:] if isinstance(s, (ast.For, ast.While))), None)
            if loop is None or len(stores_of(fn, name)) != 1:
                continue
            reads = [n for n in name_nodes(fn, name) if isinstance(n.ctx, ast.Load)]
            in_body = sum(len(name_nodes(s, name)) for s in loop.body)
            if not reads or in_body != len(reads):
                continue  # read before, after, or in the loop header
            between = block[k + 1:block.index(loop)]
            inputs = {n.id for n in ast.walk(st.value) if isinstance(n, ast.Name)}
            attrs = {n.attr for n in ast.walk(st.value) if isinstance(n, ast.Attribute)}
            scope = ast.Module(body=[*between, loop], type_ignores=[])
            if any(stores_of(scope, n) or _mutated_in(scope, n) for n in inputs | {name}):
                continue
            if any(isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Load)
                   and n.attr in attrs for n in ast.walk(scope)):
                continue
            if any(isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name))
                   for n in ast.walk(scope)) and attrs:
                continue  # a method call in the loop could change an attribute it reads
            if not take():
                continue
            del block[k]
            loop.body.insert(0, st)
            return True
    return False
