"""Transforms that turn a builtin's C loop, a comprehension or a direct iteration into a
slower Python loop. Each takes a function's AST, rewrites at most one site (or one kind of
site) in place and returns whether it changed anything."""

from __future__ import annotations

import ast
import zlib
from typing import Any

from .common import (
    Names,
    comp_targets_leak,
    expr,
    fill,
    has_nested_scope,
    hoist,
    is_builtin_call,
    loop_over,
    name_nodes,
    replace_placeholder,
    sites,
    statements,
    stmts,
    stores_of,
    take,
)


def _comprehension_to_loop(fn: ast.FunctionDef, kind: type, init: str, add: str) -> bool:
    names = Names(fn)
    for site in list(sites(fn, lambda e: isinstance(e, kind))):
        value = site[-1]
        if any(g.is_async for g in value.generators) or comp_targets_leak(fn, value) \
                or not take():
            continue
        acc = names.new("result", "acc", "out", "collected")
        body = stmts(add.format(acc=acc))
        fill(body[0], value)
        hoist(site, acc, stmts(f"{acc} = {init}") + loop_over(value, body))
        return True
    return False


def listcomp_to_loop(fn: ast.FunctionDef) -> bool:
    """``[e for x in it if c]`` -> an ``append`` loop before the statement using it."""
    return _comprehension_to_loop(fn, ast.ListComp, "[]", "{acc}.append(_E)")


def setcomp_to_loop(fn: ast.FunctionDef) -> bool:
    """``{e for x in it}`` -> an ``add`` loop."""
    return _comprehension_to_loop(fn, ast.SetComp, "set()", "{acc}.add(_E)")


def dictcomp_to_loop(fn: ast.FunctionDef) -> bool:
    """``{k: v for x in it}`` -> a ``d[k] = v`` loop."""
    return _comprehension_to_loop(fn, ast.DictComp, "{}", "{acc}[_K] = _E")


def _plain_iterable(arg: ast.expr) -> bool:
    # A generator argument is left alone: sum(genexpr) runs as fast as the loop would.
    return not isinstance(arg, (ast.GeneratorExp, ast.Starred))


def sum_to_loop(fn: ast.FunctionDef) -> bool:
    """``sum(it)`` (a sequence or iterator, not a generator expression) -> a ``+=`` loop."""
    names = Names(fn)
    for site in list(sites(fn, lambda e: is_builtin_call(e, "sum", 1)
                           and _plain_iterable(e.args[0]))):
        if not take():
            continue
        acc, item = names.new("total", "acc"), names.new("value", "item", "elem")
        loop = stmts(f"{acc} = 0\nfor {item} in _IT:\n    {acc} += {item}")
        loop[1].iter = site[-1].args[0]
        hoist(site, acc, loop)
        return True
    return False


def minmax_to_loop(fn: ast.FunctionDef) -> bool:
    """``max(it)`` / ``min(it)`` (one plain iterable) -> an explicit scan, same errors."""
    names = Names(fn)
    for site in list(sites(fn, lambda e: (is_builtin_call(e, "max", 1)
                                          or is_builtin_call(e, "min", 1))
                           and _plain_iterable(e.args[0]))):
        value = site[-1]
        if not take():
            continue
        which = value.func.id
        it, best, item = names.new("it"), names.new("best"), names.new("value", "item")
        op = ">" if which == "max" else "<"
        prelude = stmts(
            f"{it} = iter(_ARG)\n"
            f"try:\n    {best} = next({it})\n"
            f"except StopIteration:\n"
            f"    raise ValueError('{which}() arg is an empty sequence') from None\n"
            f"for {item} in {it}:\n    if {item} {op} {best}:\n        {best} = {item}\n"
        )
        prelude[0].value.args[0] = value.args[0]
        hoist(site, best, prelude)
        return True
    return False


def join_to_concat(fn: ast.FunctionDef) -> bool:
    """``"sep".join(parts)`` -> a ``+=`` loop building the string."""
    names = Names(fn)

    def is_join(e: Any) -> bool:
        return (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Attribute)
            and e.func.attr == "join"
            and isinstance(e.func.value, ast.Constant)
            and isinstance(e.func.value.value, str)
            and len(e.args) == 1
            and not e.keywords
            and not isinstance(e.args[0], ast.Starred)
        )

    for site in list(sites(fn, is_join)):
        value = site[-1]
        if not take():
            continue
        sep = value.func.value.value
        acc, part = names.new("text", "acc", "result"), names.new("part", "piece")
        if sep:
            first = names.new("first")
            loop = stmts(
                f"{first} = True\n"
                f"for {part} in _IT:\n"
                f"    if not {first}:\n        {acc} += {sep!r}\n"
                f"    {first} = False\n"
                f"    {acc} += {part}\n"
            )
            loop[1].iter = value.args[0]
        else:
            loop = stmts(f"for {part} in _IT:\n    {acc} += {part}\n")
            loop[0].iter = value.args[0]
        hoist(site, acc, stmts(f"{acc} = ''") + loop)
        return True
    return False


def _names_stored_in(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for s in nodes for n in ast.walk(s)
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}


_SEQUENCE_CALLS = frozenset({"list", "tuple", "sorted", "str"})
_SEQUENCE_METHODS = frozenset({"split", "rsplit", "splitlines", "strip", "lower", "upper",
                               "replace", "join", "readlines"})


def known_sequence(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` holds an indexable sequence: every binding is a list/tuple/string
    display, comprehension or a call known to return one, or (a parameter) the function
    itself indexes it or takes its ``len``. A set, dict or iterator would make an index loop
    fail where direct iteration works."""
    from .common import parents

    stores = [n for n in name_nodes(fn, name) if not isinstance(n.ctx, ast.Load)]
    up = parents(fn)
    if stores:
        for store in stores:
            owner = up.get(id(store))
            if not (isinstance(owner, ast.Assign) and owner.targets == [store]):
                return False
            value: Any = owner.value
            if isinstance(value, (ast.List, ast.Tuple, ast.ListComp, ast.JoinedStr)) or (
                    isinstance(value, ast.Constant) and isinstance(value.value, (str, bytes))):
                continue
            if isinstance(value, ast.Call) and (
                    (isinstance(value.func, ast.Name) and value.func.id in _SEQUENCE_CALLS)
                    or (isinstance(value.func, ast.Attribute)
                    and value.func.attr in _SEQUENCE_METHODS)):
                continue
            return False
        return True
    for use in name_nodes(fn, name):
        parent = up.get(id(use))
        if isinstance(parent, ast.Subscript) and parent.value is use \
                and not isinstance(parent.slice, ast.Slice):
            return True
        if is_builtin_call(parent, "len", 1):
            return True
    return False


def enumerate_to_range_len(fn: ast.FunctionDef) -> bool:
    """``for i, x in enumerate(seq):`` -> ``for i in range(len(seq)): x = seq[i]`` (seq a
    known sequence: :func:`known_sequence`)."""
    for node in ast.walk(fn):
        if not (isinstance(node, ast.For) and is_builtin_call(node.iter, "enumerate", 1)):
            continue
        call: Any = node.iter
        target: Any = node.target
        if not (isinstance(call.args[0], ast.Name) and isinstance(target, ast.Tuple)
                and len(target.elts) == 2 and isinstance(target.elts[0], ast.Name)):
            continue
        seq = call.args[0].id
        if seq in _names_stored_in(node.body) | {target.elts[0].id} or _mutated_in(node, seq) \
                or not known_sequence(fn, seq) or not take():
            continue
        index: Any = target.elts[0]
        item = target.elts[1]
        node.target = index
        node.iter = expr(f"range(len({seq}))")
        assign = stmts(f"_T = {seq}[{index.id}]")
        assign[0].targets = [item]
        node.body[0:0] = assign
        return True
    return False


_NON_MUTATING = frozenset({
    "count", "index", "get", "keys", "values", "items", "startswith", "endswith", "find",
    "rfind", "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "join",
    "format", "replace", "copy", "isdigit", "isalpha", "isspace", "encode", "decode",
    "partition", "rpartition", "splitlines", "casefold", "title",
})


def _mutated_in(root: ast.AST, name: str) -> bool:
    """Whether ``name`` may change size or content under ``root``: a method call other than a
    known read-only one, an item store or delete, an augmented assignment, or being passed to a
    call (the callee may mutate it)."""
    from .common import parents

    up = parents(root)
    for use in name_nodes(root, name):
        parent = up.get(id(use))
        if not isinstance(use.ctx, ast.Load):
            return True
        if isinstance(parent, ast.Attribute):
            grand = up.get(id(parent))
            if isinstance(grand, ast.Call) and grand.func is parent \
                    and parent.attr not in _NON_MUTATING:
                return True
            if not isinstance(grand, ast.Call) and parent.attr not in _NON_MUTATING:
                continue
        elif isinstance(parent, ast.Subscript) and not isinstance(parent.ctx, ast.Load):
            return True
        elif isinstance(parent, ast.AugAssign):
            return True
        elif isinstance(parent, ast.Call) and use in parent.args and not (
                isinstance(parent.func, ast.Name) and parent.func.id in _READING_BUILTINS):
            return True
        elif isinstance(parent, ast.keyword):
            return True
    return False


_READING_BUILTINS = frozenset({
    "len", "sorted", "list", "tuple", "set", "frozenset", "min", "max", "sum", "any", "all",
    "iter", "enumerate", "zip", "reversed", "str", "repr", "bool", "isinstance", "dict",
    "hash", "id", "type", "print",
})


def zip_to_index_loop(fn: ast.FunctionDef) -> bool:
    """``for a, b in zip(xs, ys):`` (sequences named by the function) -> an index loop."""
    names = Names(fn)
    for node in ast.walk(fn):
        if not (isinstance(node, ast.For) and is_builtin_call(node.iter, "zip")):
            continue
        call: Any = node.iter
        target: Any = node.target
        if not (2 <= len(call.args) <= 3 and all(isinstance(a, ast.Name) for a in call.args)
                and isinstance(target, ast.Tuple) and len(target.elts) == len(call.args)):
            continue
        seqs = [a.id for a in call.args]
        if set(seqs) & _names_stored_in(node.body) or any(_mutated_in(node, s) for s in seqs) \
                or not all(known_sequence(fn, s) for s in seqs):
            continue
        index = names.new("i", "idx", "k")
        lens = ", ".join(f"len({s})" for s in seqs)
        node.iter = expr(f"range(min({lens}))")
        assigns = []
        for elt, seq in zip(target.elts, seqs, strict=True):
            assign = stmts(f"_T = {seq}[{index}]")
            assign[0].targets = [elt]
            assigns.extend(assign)
        node.target = ast.Name(index, ast.Store())
        node.body[0:0] = assigns
        return True
    return False


def items_to_key_lookup(fn: ast.FunctionDef) -> bool:
    """``for k, v in d.items():`` -> ``for k in d: v = d[k]`` (a second lookup per key)."""
    for node in ast.walk(fn):
        if not isinstance(node, ast.For):
            continue
        call: Any = node.iter
        target: Any = node.target
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "items" and not call.args and not call.keywords
                and isinstance(call.func.value, ast.Name)
                and isinstance(target, ast.Tuple) and len(target.elts) == 2
                and isinstance(target.elts[0], ast.Name)):
            continue
        mapping = call.func.value.id
        key = target.elts[0].id
        if {mapping, key} & _names_stored_in(node.body) or key == mapping or not take():
            continue
        assign = stmts(f"_T = {mapping}[{key}]")
        assign[0].targets = [target.elts[1]]
        node.target = target.elts[0]
        node.iter = ast.Name(mapping, ast.Load())
        node.body[0:0] = assign
        return True
    return False


def _simple_bound(e: ast.expr | None, body: list[ast.stmt]) -> bool:
    """A range bound that reads the same on every iteration of ``body``."""
    if e is None:
        return True
    if isinstance(e, ast.Constant) and type(e.value) is int:
        return True
    if isinstance(e, ast.Name):
        return e.id not in _names_stored_in(body)
    if is_builtin_call(e, "len", 1) and isinstance(e.args[0], ast.Name):  # type: ignore[attr-defined]
        seq = e.args[0].id  # type: ignore[attr-defined]
        wrapper = ast.Module(body=body, type_ignores=[])
        return seq not in _names_stored_in(body) and not _mutated_in(wrapper, seq)
    return False


def while_increment(fn: ast.FunctionDef, i: str) -> str:
    """The statement that steps ``i`` in a written-out loop: ``i += 1`` or ``i = i + 1``, both
    as real slow code has them, chosen by a stable hash of the function (the same function
    always gets the same form; about half of all functions get each)."""
    if zlib.crc32(ast.dump(fn).encode()) % 2:
        return f"{i} = {i} + 1"
    return f"{i} += 1"


def range_to_while(fn: ast.FunctionDef) -> bool:
    """``for i in range(a, b):`` -> ``i = a`` / ``while i < b: ...; i += 1`` (or
    ``i = i + 1``: :func:`while_increment`; only when the body never continues, never rebinds
    i, and i is not read after the loop)."""
    if has_nested_scope(fn):
        return False
    for block, k, node in statements(fn):
        if not (isinstance(node, ast.For) and is_builtin_call(node.iter, "range")
                and 1 <= len(node.iter.args) <= 2  # type: ignore[attr-defined]
                and isinstance(node.target, ast.Name)):
            continue
        call: Any = node.iter
        start = call.args[0] if len(call.args) == 2 else ast.Constant(0)
        stop = call.args[-1]
        i = node.target.id
        if (any(isinstance(n, (ast.Continue, ast.Try)) for s in node.body
                for n in ast.walk(s))
                or i in _names_stored_in(node.body)
                or not (_simple_bound(start, node.body) and _simple_bound(stop, node.body))
                or len(name_nodes(fn, i)) != len(name_nodes(node, i))
                or len(stores_of(fn, i)) != 1):
            continue
        loop = stmts(f"{i} = _START\nwhile {i} < _STOP:\n    pass\n")
        replace_placeholder(loop[0], "_START", start)
        replace_placeholder(loop[1], "_STOP", stop)
        loop[1].body = [*node.body, *stmts(while_increment(fn, i))]
        loop[1].orelse = node.orelse
        block[k:k + 1] = loop
        return True
    return False


def slice_iteration_to_index(fn: ast.FunctionDef) -> bool:
    """``for v in seq[a:b]:`` (constant non-negative bounds) -> an index loop over seq."""
    names = Names(fn)
    for node in ast.walk(fn):
        if not (isinstance(node, ast.For) and isinstance(node.iter, ast.Subscript)
                and isinstance(node.iter.value, ast.Name)
                and isinstance(node.iter.slice, ast.Slice)):
            continue
        sl = node.iter.slice
        bounds = (sl.lower, sl.upper)
        if sl.step is not None or not all(
                b is None or (isinstance(b, ast.Constant) and type(b.value) is int
                              and b.value >= 0) for b in bounds) or bounds == (None, None):
            continue
        seq = node.iter.value.id
        if seq in _names_stored_in(node.body) or _mutated_in(node, seq):
            continue
        index = names.new("i", "idx", "k")
        lower_bound: Any = sl.lower
        lower = lower_bound.value if lower_bound is not None else 0
        stop = f"len({seq})" if sl.upper is None else \
            f"min({sl.upper.value}, len({seq}))"  # type: ignore[attr-defined]
        assign = stmts(f"_T = {seq}[{index}]")
        assign[0].targets = [node.target]
        node.target = ast.Name(index, ast.Store())
        node.iter = expr(f"range({lower}, {stop})")
        node.body[0:0] = assign
        return True
    return False


def _to_loop_call(e: Any) -> bool:
    """``list(map(f, it))``, ``list(filter(f, it))``, or ``list(it)`` / ``set(it)``."""
    if not (is_builtin_call(e, "list", 1) or is_builtin_call(e, "set", 1)):
        return False
    arg = e.args[0]
    return not isinstance(arg, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp))


def _stable_callable(e: ast.expr) -> bool:
    """A name or attribute chain (``str.strip``, ``self.conv``), safe to evaluate per item;
    ``None`` too (``filter(None, it)``)."""
    while isinstance(e, ast.Attribute):
        e = e.value
    return isinstance(e, ast.Name) or (isinstance(e, ast.Constant) and e.value is None)


def builtin_collect_to_loop(fn: ast.FunctionDef) -> bool:
    """``list(it)`` / ``set(it)`` / ``list(map(f, it))`` / ``list(filter(f, it))`` -> an
    explicit loop that appends (adds) one item at a time."""
    names = Names(fn)
    for site in list(sites(fn, _to_loop_call)):
        call = site[-1]
        if not take():
            continue
        arg = call.args[0]
        acc, item = names.new("result", "acc", "items"), names.new("item", "elem", "value")
        add = "append" if call.func.id == "list" else "add"
        init = "[]" if add == "append" else "set()"
        if is_builtin_call(arg, "map", 2) and _stable_callable(arg.args[0]):
            loop = stmts(f"for {item} in _IT:\n    {acc}.{add}(_F({item}))")
            replace_placeholder(loop[0], "_F", arg.args[0])
            loop[0].iter = arg.args[1]
        elif is_builtin_call(arg, "filter", 2) and _stable_callable(arg.args[0]):
            if isinstance(arg.args[0], ast.Constant) and arg.args[0].value is None:
                loop = stmts(f"for {item} in _IT:\n    if {item}:\n        {acc}.{add}({item})")
            else:
                loop = stmts(f"for {item} in _IT:\n    if _F({item}):\n"
                             f"        {acc}.{add}({item})")
                replace_placeholder(loop[0], "_F", arg.args[0])
            loop[0].iter = arg.args[1]
        else:
            loop = stmts(f"for {item} in _IT:\n    {acc}.{add}({item})")
            loop[0].iter = arg
        hoist(site, acc, stmts(f"{acc} = {init}") + loop)
        return True
    return False
