"""Transforms that swap a container or a library structure for a slower one: sets and dicts
for list scans, ``Counter``/``defaultdict`` for ``dict.get`` loops, ``deque`` for a list with
``pop(0)``, in-place list growth for concatenation, ``bisect`` for a linear scan.

Each applies only to a local the function builds itself and uses in ways the replacement
answers the same (a membership test, iteration, ``len``...), never to one that escapes (is
returned, stored, passed on), so the caller sees no difference but time."""

from __future__ import annotations

import ast
from typing import Any

from .common import (
    Names,
    expr,
    hoist,
    is_builtin_call,
    name_nodes,
    parents,
    replace_placeholder,
    sites,
    statements,
    stmts,
)
from .tallies import (
    counted_values,
    counting_loop,
    dict_of_counter_to_loop,
    drop_unused_imports,
    plain_reference,
)

_READERS = frozenset({"len", "sorted", "list", "tuple", "set", "frozenset", "min", "max", "sum",
                      "any", "all", "iter", "enumerate", "bool", "dict"})


def _use_kind(use: ast.Name, up: dict[int, ast.AST]) -> str:
    """How a Load of a local is used: ``method:NAME``, ``in``, ``iter``, ``reader``,
    ``truth``, ``subscript``, ``augsub`` (target of ``x[k] op= v``), or ``other``."""
    parent = up.get(id(use))
    if isinstance(parent, ast.Attribute):
        grand = up.get(id(parent))
        if isinstance(grand, ast.Call) and grand.func is parent:
            return f"method:{parent.attr}"
        return "other"
    if isinstance(parent, ast.Compare) and use in parent.comparators:
        op = parent.ops[parent.comparators.index(use)]
        return "in" if isinstance(op, (ast.In, ast.NotIn)) else "other"
    if isinstance(parent, (ast.For, ast.comprehension)) and parent.iter is use:
        return "iter"
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) \
            and parent.func.id in _READERS and parent.args == [use] and not parent.keywords:
        return "reader"
    if isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and parent.test is use:
        return "truth"
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return "truth"
    if isinstance(parent, ast.Subscript) and parent.value is use:
        grand = up.get(id(parent))
        if isinstance(grand, ast.AugAssign) and grand.target is parent:
            return "augsub"
        if isinstance(parent.ctx, ast.Load):
            grand_attr = grand if isinstance(grand, ast.Attribute) else None
            if grand_attr is not None and isinstance(up.get(id(grand_attr)), ast.Call):
                return f"submethod:{grand_attr.attr}"
            return "subscript"
        return "substore"
    return "other"


def local_builder(fn: ast.FunctionDef, name: str) -> tuple[list[ast.stmt], int, Any] | None:
    """The one statement ``name = <value>`` that binds a local (block, index, value), when it
    is the name's only binding and no nested scope reads the name."""
    stores = [n for n in name_nodes(fn, name) if not isinstance(n.ctx, ast.Load)]
    if len(stores) != 1 or name in {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}:
        return None
    for nested in ast.walk(fn):
        if nested is not fn and isinstance(
                nested, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) \
                and name_nodes(nested, name):
            return None
    for block, k, st in statements(fn):
        if isinstance(st, ast.Assign) and len(st.targets) == 1 \
                and isinstance(st.targets[0], ast.Name) and st.targets[0].id == name:
            return block, k, st.value
    return None


def local_uses(fn: ast.FunctionDef, name: str) -> list[tuple[ast.Name, str]]:
    """Every read of ``name`` in ``fn`` with how it is used (:func:`_use_kind`)."""
    up = parents(fn)
    return [(n, _use_kind(n, up)) for n in name_nodes(fn, name) if isinstance(n.ctx, ast.Load)]


def _assigned_names(fn: ast.FunctionDef) -> list[str]:
    seen: dict[str, None] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            seen[node.targets[0].id] = None
    return list(seen)


def set_literal_to_list(fn: ast.FunctionDef) -> bool:
    """``x in {"a", "b", ...}`` (constant set display) -> ``x in ["a", "b", ...]``."""
    changed = False
    for node in ast.walk(fn):
        if not isinstance(node, ast.Compare):
            continue
        for k, (op, comp) in enumerate(zip(node.ops, node.comparators, strict=True)):
            if (isinstance(op, (ast.In, ast.NotIn)) and isinstance(comp, ast.Set)
                    and len(comp.elts) >= 3
                    and all(isinstance(e, ast.Constant) for e in comp.elts)):
                node.comparators[k] = ast.List(elts=comp.elts, ctx=ast.Load())
                changed = True
    return changed


_SET_BUILDERS = (ast.Set, ast.SetComp)


def local_set_to_list(fn: ast.FunctionDef) -> bool:
    """A set the function builds and only tests membership in (and adds to) becomes a list:
    every ``x in s`` a linear scan. ``set(it)`` -> ``list(it)``, ``{...}`` -> ``[...]``,
    ``s.add(x)`` -> ``s.append(x)`` (duplicates do not change a membership answer)."""
    for name in _assigned_names(fn):
        found = local_builder(fn, name)
        if found is None:
            continue
        _block, _k, value = found
        if not (isinstance(value, _SET_BUILDERS) or (is_builtin_call(value, "set")
                and len(value.args) <= 1)):
            continue
        uses = local_uses(fn, name)
        kinds = {kind for _, kind in uses}
        if "in" not in kinds or not kinds <= {"in", "method:add", "truth"}:
            continue
        for use, kind in uses:
            if kind == "method:add":
                parents(fn)[id(use)].attr = "append"  # type: ignore[attr-defined]
        if isinstance(value, ast.Set):
            found[0][found[1]].value = ast.List(elts=value.elts, ctx=ast.Load())  # type: ignore[attr-defined]
        elif isinstance(value, ast.SetComp):
            found[0][found[1]].value = ast.ListComp(  # type: ignore[attr-defined]
                elt=value.elt, generators=value.generators)
        else:
            value.func.id = "list"
        return True
    return False


def local_dict_membership_to_scan(fn: ast.FunctionDef) -> bool:
    """``k in d`` for a dict the function builds -> ``k in list(d)`` (a scan of its keys)."""
    for name in _assigned_names(fn):
        found = local_builder(fn, name)
        if found is None:
            continue
        value = found[2]
        if not (isinstance(value, (ast.Dict, ast.DictComp)) or is_builtin_call(value, "dict")):
            continue
        up = parents(fn)
        changed = False
        for use, kind in local_uses(fn, name):
            if kind == "in":
                compare: Any = up[id(use)]
                index = compare.comparators.index(use)
                compare.comparators[index] = expr(f"list({name})")
                changed = True
        if changed:
            return True
    return False


def _counter_call(value: Any) -> bool:
    return (isinstance(value, ast.Call) and not value.keywords and len(value.args) <= 1
            and ((isinstance(value.func, ast.Name) and value.func.id == "Counter")
                 or (isinstance(value.func, ast.Attribute) and value.func.attr == "Counter"
                 and isinstance(value.func.value, ast.Name)
                 and value.func.value.id == "collections"))
            and not (value.args and isinstance(value.args[0], (ast.Dict, ast.DictComp,
                                                                ast.Starred))))


_READ_ONLY = {"in", "iter", "reader", "truth", "method:items", "method:keys", "method:values",
              "method:get"}


def _simple_key(e: ast.expr) -> bool:
    return isinstance(e, (ast.Name, ast.Constant)) or (
        isinstance(e, ast.Tuple) and all(isinstance(x, (ast.Name, ast.Constant)) for x in e.elts))


def _aug_sites(fn: ast.FunctionDef, name: str) -> list[tuple[list[ast.stmt], int, Any]]:
    return [(block, k, st) for block, k, st in statements(fn)
            if isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Subscript)
            and isinstance(st.target.value, ast.Name) and st.target.value.id == name]


def _aug_to_get(block: list[ast.stmt], k: int, st: Any, name: str) -> None:
    new = stmts(f"{name}[_K] = {name}.get(_K2, 0) + _V")
    new[0].targets[0].slice = st.target.slice
    replace_placeholder(new[0].value, "_K2", _copy(st.target.slice))
    if isinstance(st.op, ast.Sub):
        new[0].value.op = ast.Sub()
    replace_placeholder(new[0].value, "_V", st.value)
    block[k] = new[0]


def _copy(node: ast.AST) -> ast.AST:
    import copy

    return copy.deepcopy(node)


#: What only a ``Counter`` of mapped getters needed: imported inside the function, dropped with it.
_FAST_SIDE_IMPORTS = frozenset({"Counter", "itemgetter", "attrgetter"})


def counter_to_dict_loop(fn: ast.FunctionDef) -> bool:
    """``c = Counter(it)`` (or ``Counter()`` then ``c[k] += n``) -> a dict filled by a
    ``c.get(k, 0) + 1`` loop; only for a counter read through dict operations. A ``Counter``
    of a comprehension (``[x.k for x in xs]``) or of ``map(itemgetter(C), xs)`` /
    ``map(attrgetter("a"), xs)`` counts the value in one of application code's loop shapes
    (:mod:`.tallies`), and the function's own imports of what it no longer uses go; so does
    ``dict(Counter(...))`` of such a comprehension or ``map``, assigned or returned, whatever
    reads the dict after."""
    names = Names(fn)
    if dict_of_counter_to_loop(fn, names):
        drop_unused_imports(fn, _FAST_SIDE_IMPORTS)
        return True
    for name in _assigned_names(fn):
        found = local_builder(fn, name)
        if found is None or not _counter_call(found[2]):
            continue
        block, k, value = found
        uses = local_uses(fn, name)
        augs = _aug_sites(fn, name)
        kinds = {kind for _, kind in uses}
        if not kinds <= _READ_ONLY | {"augsub"}:
            continue
        if not all(isinstance(st.op, (ast.Add, ast.Sub)) and _simple_key(st.target.slice)
                   for _, _, st in augs):
            continue
        for aug_block, index, st in augs:
            _aug_to_get(aug_block, index, st, name)
        counted = counted_values(value.args[0], fn, names) if value.args else None
        if counted is not None:
            rescannable = plain_reference(counted[2])  # read again per key: no call
            block[k:k + 1] = counting_loop(name, *counted, names if rescannable else None)
            drop_unused_imports(fn, _FAST_SIDE_IMPORTS)
        elif value.args:
            item = names.new("item", "key", "elem")
            loop = stmts(f"{name} = {{}}\nfor {item} in _IT:\n"
                         f"    {name}[{item}] = {name}.get({item}, 0) + 1")
            loop[1].iter = value.args[0]
            block[k:k + 1] = loop
        else:
            block[k] = stmts(f"{name} = {{}}")[0]
        return True
    return False


def _defaultdict_factory(value: Any) -> str | None:
    if not (isinstance(value, ast.Call) and len(value.args) == 1 and not value.keywords):
        return None
    func = value.func
    if not ((isinstance(func, ast.Name) and func.id == "defaultdict")
            or (isinstance(func, ast.Attribute) and func.attr == "defaultdict"
            and isinstance(func.value, ast.Name) and func.value.id == "collections")):
        return None
    arg = value.args[0]
    return arg.id if isinstance(arg, ast.Name) and arg.id in ("int", "list", "set") else None


def defaultdict_to_dict(fn: ast.FunctionDef) -> bool:
    """``d = defaultdict(int|list|set)`` -> a plain dict: ``d[k] += v`` becomes
    ``d[k] = d.get(k, 0) + v``; ``d[k].append(v)`` gets an ``if k not in d: d[k] = []``."""
    for name in _assigned_names(fn):
        found = local_builder(fn, name)
        factory = _defaultdict_factory(found[2]) if found else None
        if found is None or factory is None:
            continue
        uses = local_uses(fn, name)
        kinds = {kind for _, kind in uses}
        grow = "augsub" if factory == "int" else ("submethod:append" if factory == "list"
                                                  else "submethod:add")
        extra = {"submethod:extend"} if factory == "list" else set()
        if not kinds <= _READ_ONLY | {grow} | extra or grow not in kinds:
            continue
        if factory == "int":
            augs = _aug_sites(fn, name)
            if not all(isinstance(st.op, (ast.Add, ast.Sub)) and _simple_key(st.target.slice)
                       for _, _, st in augs):
                continue
            for block, index, st in augs:
                _aug_to_get(block, index, st, name)
        elif not _guard_growth(fn, name, factory):
            continue
        found[0][found[1]] = stmts(f"{name} = {{}}")[0]
        return True
    return False


def _guard_growth(fn: ast.FunctionDef, name: str, factory: str) -> bool:
    """Put ``if k not in d: d[k] = []`` before every ``d[k].append(v)`` statement."""
    todo = []
    for block, k, st in statements(fn):
        call: Any = st.value if isinstance(st, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Subscript)
                and isinstance(call.func.value.value, ast.Name)
                and call.func.value.value.id == name):
            todo.append((block, k, call.func.value.slice))
    growth_uses = sum(1 for _, kind in local_uses(fn, name) if kind.startswith("submethod:"))
    if len(todo) != growth_uses or not all(_simple_key(key) for _, _, key in todo):
        return False  # a growth call inside an expression: no statement to guard
    init = "[]" if factory == "list" else "set()"
    for block, k, key in reversed(todo):
        guard = stmts(f"if _K not in {name}:\n    {name}[_K2] = {init}")
        replace_placeholder(guard[0].test, "_K", _copy(key))
        replace_placeholder(guard[0].body[0], "_K2", _copy(key))
        block[k:k] = guard
    return True


def _deque_call(value: Any) -> bool:
    return (isinstance(value, ast.Call) and not value.keywords and len(value.args) <= 1
            and ((isinstance(value.func, ast.Name) and value.func.id == "deque")
                 or (isinstance(value.func, ast.Attribute) and value.func.attr == "deque"
                 and isinstance(value.func.value, ast.Name)
                 and value.func.value.id == "collections")))


_DEQUE_OK = {"in", "iter", "reader", "truth", "subscript", "method:append", "method:pop",
             "method:popleft", "method:appendleft", "method:extend", "method:clear"}


def deque_to_list(fn: ast.FunctionDef) -> bool:
    """A local ``deque`` queue -> a list: ``popleft()`` -> ``pop(0)``, ``appendleft(x)`` ->
    ``insert(0, x)`` (each O(n) on a list)."""
    for name in _assigned_names(fn):
        found = local_builder(fn, name)
        if found is None or not _deque_call(found[2]):
            continue
        uses = local_uses(fn, name)
        kinds = {kind for _, kind in uses}
        if not kinds <= _DEQUE_OK or not kinds & {"method:popleft", "method:appendleft"}:
            continue
        up = parents(fn)
        for use, kind in uses:
            attr: Any = up[id(use)]
            call: Any = up[id(attr)] if kind.startswith("method:") else None
            if kind == "method:popleft":
                if call.args:
                    return False
                attr.attr = "pop"
                call.args = [ast.Constant(0)]
            elif kind == "method:appendleft":
                attr.attr = "insert"
                call.args = [ast.Constant(0), *call.args]
        value = found[2]
        found[0][found[1]].value = ast.Call(  # type: ignore[attr-defined]
            func=ast.Name("list", ast.Load()), args=value.args, keywords=[])
        return True
    return False


_LIST_OK = {"in", "iter", "reader", "truth", "subscript"}


def append_to_concat(fn: ast.FunctionDef) -> bool:
    """Growing a local list in a loop with ``append``/``extend``/``+=`` -> ``out = out +
    [x]`` (a copy of the whole list per item)."""
    for name in _assigned_names(fn):
        stores = [n for n in name_nodes(fn, name) if not isinstance(n.ctx, ast.Load)]
        found = local_builder(fn, name)
        if found is None or len(stores) != 1:
            continue
        value = found[2]
        if not (isinstance(value, (ast.List, ast.ListComp)) or is_builtin_call(value, "list")):
            continue
        kinds = {kind for _, kind in local_uses(fn, name)}
        loop_growth = []
        for loop in (n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While))):
            for st in loop.body:
                call: Any = st.value if isinstance(st, ast.Expr) else None
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr in ("append", "extend") and len(call.args) == 1
                        and not call.keywords and isinstance(call.func.value, ast.Name)
                        and call.func.value.id == name
                        and not isinstance(call.args[0], ast.Starred)):
                    loop_growth.append((loop.body, st))
        returned = any(isinstance(n, ast.Return) and isinstance(n.value, ast.Name)
                       and n.value.id == name for n in ast.walk(fn))
        allowed = _LIST_OK | {"method:append", "method:extend", "method:sort",
                              "method:reverse", "method:pop", "method:insert"}
        if not loop_growth or not kinds - {"other"} <= allowed:
            continue
        others = sum(1 for _, kind in local_uses(fn, name) if kind == "other")
        if others != (1 if returned else 0):
            continue  # the list escapes (stored, passed on): rebinding would be seen
        for body, st in loop_growth:
            call = st.value  # type: ignore[attr-defined]
            template = "[_X]" if call.func.attr == "append" else "list(_X)"
            new = stmts(f"{name} = {name} + {template}")
            replace_placeholder(new[0].value, "_X", call.args[0])
            body[body.index(st)] = new[0]
        return True
    return False


def _bisect_call(e: Any) -> str | None:
    """``bisect_left`` / ``bisect_right`` (``bisect``) for a plain two-argument call."""
    if not (isinstance(e, ast.Call) and len(e.args) == 2 and not e.keywords):
        return None
    func = e.func
    name = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        and func.value.id == "bisect" else None)
    if name not in ("bisect_left", "bisect_right", "bisect"):
        return None
    if not all(isinstance(a, (ast.Name, ast.Constant)) for a in e.args):
        return None
    return "left" if name == "bisect_left" else "right"


def bisect_to_scan(fn: ast.FunctionDef) -> bool:
    """``i = bisect_left(a, x)`` -> a linear scan from the start with the same comparisons
    (``a[i] < x`` for left, ``not x < a[i]`` for right)."""
    names = Names(fn)
    for site in list(sites(fn, lambda e: _bisect_call(e) is not None)):
        call = site[-1]
        side = _bisect_call(call)
        seq, x = call.args
        pos = names.new("pos", "i", "index")
        test = "_A[{p}] < _X" if side == "left" else "not _X < _A[{p}]"
        scan = stmts(f"{pos} = 0\nwhile {pos} < len(_A) and {test.format(p=pos)}:\n"
                     f"    {pos} += 1")
        for placeholder, node in (("_A", seq), ("_X", x)):
            for _ in range(2):
                replace_placeholder(scan[1], placeholder, _copy(node))
        hoist(site, pos, scan)
        return True
    return False
