"""Transforms that undo a lookup saved once: a hoisted ``len``, a local alias of a bound
method, a compiled regular expression, a tuple argument of ``startswith``, and ``min``/``max``
(an O(n) scan) replaced by sorting."""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from typing import Any

from .common import (
    Names,
    expr,
    hoist,
    is_builtin_call,
    name_nodes,
    parents,
    sites,
    stmts,
    stores_of,
    take,
)
from .loops import _mutated_in


def _single_assignments(fn: ast.FunctionDef) -> Iterator[tuple[list[ast.stmt], int, Any]]:
    """(block, index, statement) for every ``name = value`` statement, nested defs excluded."""
    for owner in ast.walk(fn):
        if owner is not fn and isinstance(owner, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.ClassDef, ast.Lambda)):
            continue
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(owner, attr, None)
            if not isinstance(block, list):
                continue
            for k, st in enumerate(block):
                if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                        and isinstance(st.targets[0], ast.Name):
                    yield block, k, st


def _read_in_loop(fn: ast.FunctionDef, name: str, not_in: ast.stmt) -> bool:
    for loop in (n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While))):
        if any(n is not_in for n in ast.walk(loop)):
            continue
        parts = [*loop.body, *( [loop.test] if isinstance(loop, ast.While) else [])]
        if any(name_nodes(p, name) for p in parts):
            return True
    return False


def _in_nested_scope(fn: ast.FunctionDef, name: str) -> bool:
    return any(nested is not fn and isinstance(nested, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                        ast.Lambda, ast.ClassDef))
               and name_nodes(nested, name) for nested in ast.walk(fn))


def _inline(fn: ast.FunctionDef, name: str, make) -> None:
    up = parents(fn)
    for use in name_nodes(fn, name):
        parent = up[id(use)]
        for field_name, val in ast.iter_fields(parent):
            if val is use:
                setattr(parent, field_name, make())
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if item is use:
                        val[k] = make()


def _after(block: list[ast.stmt], k: int) -> ast.Module:
    return ast.Module(body=block[k + 1:], type_ignores=[])


def _all_uses_after(fn: ast.FunctionDef, name: str, block: list[ast.stmt], k: int) -> bool:
    """Every read of ``name`` comes after statement k of its block (and there is one)."""
    later = len(name_nodes(_after(block, k), name))
    reads = [n for n in name_nodes(fn, name) if isinstance(n.ctx, ast.Load)]
    return bool(reads) and later == len(reads)


def hoisted_len_to_loop(fn: ast.FunctionDef) -> bool:
    """``n = len(seq)`` bound once before a loop -> ``len(seq)`` recomputed at every use
    (only while seq cannot change size between: never rebound, mutated or passed on)."""
    for block, k, st in list(_single_assignments(fn)):
        name = st.targets[0].id
        value: Any = st.value
        if not (is_builtin_call(value, "len", 1) and isinstance(value.args[0], ast.Name)):
            continue
        seq = value.args[0].id
        rest = _after(block, k)
        if len(stores_of(fn, name)) != 1 or stores_of(rest, seq) or _mutated_in(rest, seq) \
                or _in_nested_scope(fn, name) or not _all_uses_after(fn, name, block, k) \
                or not _read_in_loop(fn, name, st):
            continue
        del block[k]
        _inline(fn, name, lambda seq=seq: expr(f"len({seq})"))
        return True
    return False


def _attribute_chain(value: ast.expr) -> str | None:
    """The root name of ``a.b.c`` (attributes of a name only), else None."""
    while isinstance(value, ast.Attribute):
        value = value.value
    return value.id if isinstance(value, ast.Name) else None


def hoisted_attribute_to_loop(fn: ast.FunctionDef) -> bool:
    """``limit = self.limit`` read in a loop -> ``self.limit`` looked up at every read (only
    when nothing after it assigns that attribute or rebinds its root)."""
    for block, k, st in list(_single_assignments(fn)):
        name = st.targets[0].id
        value: Any = st.value
        root = _attribute_chain(value)
        if root is None or not isinstance(value, ast.Attribute):
            continue
        rest = _after(block, k)
        dump = ast.dump(value)
        attribute_stored = any(isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Load)
                               and n.attr == value.attr for n in ast.walk(rest))
        up = parents(fn)
        called = any(isinstance(up[id(u)], ast.Call) and up[id(u)].func is u  # type: ignore[attr-defined]
                     for u in name_nodes(fn, name))
        if called or attribute_stored or len(stores_of(fn, name)) != 1 or stores_of(rest, root) \
                or name == root or _in_nested_scope(fn, name) \
                or not _all_uses_after(fn, name, block, k) or not _read_in_loop(fn, name, st) \
                or not take():
            continue  # a called alias is alias_to_attribute's
        del block[k]
        _inline(fn, name, lambda dump=dump, value=value: copy.deepcopy(value))
        return True
    return False


def alias_to_attribute(fn: ast.FunctionDef) -> bool:
    """``append = out.append`` (a local alias of a bound method or module function, called in
    a loop) -> ``out.append(...)`` looked up at every call."""
    for block, k, st in list(_single_assignments(fn)):
        name = st.targets[0].id
        value: Any = st.value
        if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)):
            continue
        owner = value.value.id
        if len(stores_of(fn, name)) != 1 or stores_of(_after(block, k), owner) \
                or name == owner or _in_nested_scope(fn, name) \
                or not _all_uses_after(fn, name, block, k) or not _read_in_loop(fn, name, st):
            continue
        up = parents(fn)
        if not all(isinstance(up[id(u)], ast.Call) and up[id(u)].func is u  # type: ignore[attr-defined]
                   for u in name_nodes(fn, name) if isinstance(u.ctx, ast.Load)):
            continue  # used as a value (passed on, compared): the alias is part of behaviour
        if not take():
            continue
        del block[k]
        _inline(fn, name, lambda value=value: copy.deepcopy(value))
        return True
    return False


_REGEX_METHODS = {"match": 1, "search": 1, "fullmatch": 1, "findall": 1, "finditer": 1,
                  "split": (1, 2), "sub": (2, 3), "subn": (2, 3)}


def _steady(e: ast.expr, later: ast.AST) -> bool:
    """An expression that reads the same wherever it is copied to in ``later``: constants,
    names not rebound there, attributes of such names (``re.I``), ``|`` of those."""
    if isinstance(e, ast.Constant):
        return True
    if isinstance(e, ast.Name):
        return not stores_of(later, e.id)
    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name):
        return not stores_of(later, e.value.id)
    if isinstance(e, ast.BinOp) and isinstance(e.op, ast.BitOr):
        return _steady(e.left, later) and _steady(e.right, later)
    return False


def regex_compile_to_call(fn: ast.FunctionDef) -> bool:
    """``pat = re.compile(p, flags)`` then ``pat.match(s)`` in a loop -> ``re.match(p, s,
    flags=flags)`` at every use (the module's pattern-cache lookup on each call)."""
    if stores_of(fn, "re"):
        return False
    for block, k, st in list(_single_assignments(fn)):
        name = st.targets[0].id
        value: Any = st.value
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and value.func.attr == "compile" and isinstance(value.func.value, ast.Name)
                and value.func.value.id == "re" and 1 <= len(value.args) <= 2
                and not value.keywords
                and all(_steady(a, _after(block, k)) for a in value.args)):
            continue
        if len(stores_of(fn, name)) != 1 or _in_nested_scope(fn, name) \
                or not _all_uses_after(fn, name, block, k):
            continue
        up = parents(fn)
        calls = []
        for use in name_nodes(fn, name):
            if not isinstance(use.ctx, ast.Load):
                continue
            attr = up[id(use)]
            call = up.get(id(attr))
            if not (isinstance(attr, ast.Attribute) and attr.attr in _REGEX_METHODS
                    and isinstance(call, ast.Call) and call.func is attr and not call.keywords
                    and not any(isinstance(a, ast.Starred) for a in call.args)):
                break
            arity = _REGEX_METHODS[attr.attr]
            allowed = arity if isinstance(arity, tuple) else (arity,)
            if len(call.args) not in allowed:
                break
            calls.append((call, attr.attr))
        else:
            if not calls:
                continue
            for call, method in calls:
                call.func = ast.Attribute(ast.Name("re", ast.Load()), method, ast.Load())
                call.args = [copy.deepcopy(value.args[0]), *call.args]
                if len(value.args) == 2:
                    call.keywords = [ast.keyword("flags", copy.deepcopy(value.args[1]))]
            del block[k]
            return True
    return False


def startswith_tuple_to_or(fn: ast.FunctionDef) -> bool:
    """``s.startswith(("a", "b"))`` (also ``endswith``) -> ``s.startswith("a") or
    s.startswith("b")``: one method call per prefix."""
    up = parents(fn)
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith") and len(node.args) == 1
                and not node.keywords and isinstance(node.args[0], ast.Tuple)
                and len(node.args[0].elts) >= 2
                and all(isinstance(e, ast.Constant) for e in node.args[0].elts)
                and isinstance(node.func.value, ast.Name)) or not take():
            continue
        chain = ast.BoolOp(op=ast.Or(), values=[
            ast.Call(func=copy.deepcopy(node.func), args=[e], keywords=[])
            for e in node.args[0].elts])
        parent = up[id(node)]
        for field_name, val in ast.iter_fields(parent):
            if val is node:
                setattr(parent, field_name, chain)
            elif isinstance(val, list):
                for k, item in enumerate(val):
                    if item is node:
                        val[k] = chain
        return True
    return False


def min_to_sorted(fn: ast.FunctionDef) -> bool:
    """``m = min(xs)`` -> ``ordered = sorted(xs)`` (an empty one raising the same ValueError)
    and ``ordered[0]``; ``max`` sorts with ``reverse=True`` (a stable sort: the same element
    among equals): O(n log n) for an O(n) scan."""
    names = Names(fn)

    def is_min_max(e: Any) -> bool:
        return (isinstance(e, ast.Call) and isinstance(e.func, ast.Name)
                and e.func.id in ("min", "max") and len(e.args) == 1
                and not isinstance(e.args[0], ast.Starred)
                and all(k.arg == "key" for k in e.keywords))

    for site in list(sites(fn, is_min_max)):
        node = site[-1]
        if not take():
            continue
        which = node.func.id
        ordered = names.new("ordered", "ranked")
        keywords = list(node.keywords)
        if which == "max":
            keywords.append(ast.keyword("reverse", ast.Constant(True)))
        prelude = stmts(f"{ordered} = sorted(_X)\nif not {ordered}:\n"
                        f"    raise ValueError('{which}() arg is an empty sequence')")
        prelude[0].value = ast.Call(func=ast.Name("sorted", ast.Load()), args=node.args,
                                    keywords=keywords)
        hoist(site, ordered, prelude)
        first = ast.Subscript(value=ast.Name(ordered, ast.Load()), slice=ast.Constant(0),
                              ctx=ast.Load())
        _replace_name_ref(site, first)
        return True
    return False


def is_min_max_of_name(e: Any) -> bool:
    """``min(xs)`` / ``max(xs, key=...)`` of a plain name, ``key`` the only keyword."""
    return (isinstance(e, ast.Call) and isinstance(e.func, ast.Name)
            and e.func.id in ("min", "max") and len(e.args) == 1
            and isinstance(e.args[0], ast.Name) and all(k.arg == "key" for k in e.keywords))


def _index_error_guard(statement: ast.stmt, name: str) -> bool:
    """``if not name: raise IndexError`` (or ``IndexError(...)``) and nothing else."""
    return (isinstance(statement, ast.If) and not statement.orelse
            and isinstance(statement.test, ast.UnaryOp) and isinstance(statement.test.op, ast.Not)
            and isinstance(statement.test.operand, ast.Name) and statement.test.operand.id == name
            and len(statement.body) == 1 and isinstance(statement.body[0], ast.Raise)
            and _names_index_error(statement.body[0].exc))


def _names_index_error(exc: ast.expr | None) -> bool:
    """``IndexError`` or ``IndexError(...)``."""
    if isinstance(exc, ast.Call):
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "IndexError"


def min_to_sorted_index(fn: ast.FunctionDef) -> bool:
    """``if not xs: raise IndexError`` right before a statement reading ``min(xs,
    key=k)`` -> the guard dropped and ``sorted(xs, key=k)[0]`` in the call's place (``max``:
    ``reverse=True``, a stable sort keeping the first of equals): application code's spelling,
    which fails on an empty list with that same IndexError. Only where the guard is there (the
    real code's ``min`` raises ValueError on an empty list; :mod:`..inject` grows the guard)."""
    for site in list(sites(fn, is_min_max_of_name)):
        block, index, node = site[0], site[1], site[-1]
        name = node.args[0].id
        if index == 0 or not _index_error_guard(block[index - 1], name) or not take():
            continue
        keywords = list(node.keywords)
        if node.func.id == "max":
            keywords.append(ast.keyword("reverse", ast.Constant(True)))
        ordered = ast.Call(func=ast.Name("sorted", ast.Load()), args=node.args,
                           keywords=keywords)
        _replace_name_ref(site, ast.Subscript(value=ordered, slice=ast.Constant(0),
                                              ctx=ast.Load()))
        del block[index - 1]
        return True
    return False


def _replace_name_ref(site: tuple, value: ast.expr) -> None:
    """Put ``value`` where :func:`hoist` left its name."""
    _block, _i, _st, parent, field_name, idx, _node = site
    if idx is None:
        setattr(parent, field_name, value)
    else:
        getattr(parent, field_name)[idx] = value
