"""Transforms into the quadratic forms application code writes by hand, where the real
function does the linear thing: a reversal by inserting each item at the front, a string
extended by ``s = s + a + b`` (the first ``+`` copies the whole string; ``s += a + b`` grows
it in place), a dict's membership test against a list of its keys rebuilt for each test, a
loop over items taken from the front of a list copy (``queue.pop(0)``).

Each rewrites one site of a ``FunctionDef`` in place, returns whether it changed anything and
keeps behaviour on every input the real function accepts (the pipeline checks it by
execution, :mod:`.behaviour`)."""

from __future__ import annotations

import ast
from typing import Any

from .common import (
    Names,
    comp_targets_leak,
    fill,
    hoist,
    is_builtin_call,
    is_method_call,
    loop_over,
    parameter_names,
    parents,
    repeated,
    repeating,
    sites,
    statements,
    stmts,
    stores_of,
    take,
)

_LIST_BUILDERS = ("list", "sorted")
def _bound_values(fn: ast.FunctionDef, name: str) -> list[ast.expr] | None:
    """The values ``name`` is bound to in ``fn`` ([] when it is not bound there), or None
    when a binding is anything but a plain ``name = value`` (a loop target, ``+=``, ...)."""
    up = parents(fn)
    values = []
    for store in stores_of(fn, name):
        owner = up.get(id(store))
        if not (isinstance(owner, ast.Assign) and owner.targets == [store]):
            return None
        values.append(owner.value)
    return values


def _always_a_list(fn: ast.FunctionDef, name: str) -> bool:
    """Whether every binding of ``name`` in ``fn`` makes it a new list (a display, a list
    comprehension, ``list(...)`` or ``sorted(...)``); a parameter is never known to be one."""
    if name in parameter_names(fn):
        return False
    values = _bound_values(fn, name)
    if not values:
        return False
    return all(isinstance(value, (ast.List, ast.ListComp))
               or any(is_builtin_call(value, b) for b in _LIST_BUILDERS) for value in values)


def _is_full_reverse_slice(node: Any) -> bool:
    return (isinstance(node, ast.Slice) and node.lower is None and node.upper is None
            and isinstance(node.step, ast.UnaryOp) and isinstance(node.step.op, ast.USub)
            and isinstance(node.step.operand, ast.Constant) and node.step.operand.value == 1)


def reversed_to_insert_front(fn: ast.FunctionDef) -> bool:
    """``list(reversed(xs))``, or ``xs[::-1]`` for a list the function builds -> a loop
    inserting each item at the front of a new list (each insert moves every item so far)."""
    names = Names(fn)

    def reversed_source(e: Any) -> ast.expr | None:
        if is_builtin_call(e, "list", 1) and is_builtin_call(e.args[0], "reversed", 1):
            return e.args[0].args[0]
        if (isinstance(e, ast.Subscript) and _is_full_reverse_slice(e.slice)
                and isinstance(e.value, ast.Name) and _always_a_list(fn, e.value.id)):
            return e.value
        return None

    for site in list(sites(fn, lambda e: reversed_source(e) is not None)):
        if not take():
            continue
        source = reversed_source(site[-1])
        acc, item = names.new("reversed_items", "backwards"), names.new("item", "entry")
        prelude = stmts(f"{acc} = []\nfor {item} in _IT:\n    {acc}.insert(0, {item})\n")
        prelude[1].iter = source
        hoist(site, acc, prelude)
        return True
    return False


def _reversed_iterable(iterable: ast.expr) -> ast.expr | None:
    """``xs`` of ``reversed(xs)`` or ``xs[::-1]`` (a name or attribute), else None."""
    if is_builtin_call(iterable, "reversed", 1):
        return iterable.args[0]  # type: ignore[attr-defined]
    if (isinstance(iterable, ast.Subscript) and _is_full_reverse_slice(iterable.slice)
            and isinstance(iterable.value, (ast.Name, ast.Attribute))):
        return iterable.value
    return None


def reversed_map_to_insert_front(fn: ast.FunctionDef) -> bool:
    """``[e for x in reversed(xs) if c]`` (or ``xs[::-1]``) -> a loop over ``xs`` inserting
    each ``e`` at the front of a new list: application code's "newest first" (each insert
    moves every item so far). ``e`` and ``c`` then run oldest first: the same values for the
    pure element expressions real comprehensions mostly have (the behaviour check by
    execution measures the rest); not where they assign (``:=``) or yield."""
    names = Names(fn)

    def fits(e: Any) -> bool:
        if not (isinstance(e, ast.ListComp) and len(e.generators) == 1
                and not e.generators[0].is_async
                and _reversed_iterable(e.generators[0].iter) is not None):
            return False
        parts = [e.elt, *e.generators[0].ifs]
        return not any(isinstance(n, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await))
                       for part in parts for n in ast.walk(part))

    for site in list(sites(fn, fits)):
        comp = site[-1]
        if comp_targets_leak(fn, comp) or not take():
            continue
        acc = names.new("reversed_items", "newest_first", "backwards")
        comp.generators[0].iter = _reversed_iterable(comp.generators[0].iter)
        body = stmts(f"{acc}.insert(0, _E)")
        fill(body[0], comp)
        hoist(site, acc, stmts(f"{acc} = []") + loop_over(comp, body))
        return True
    return False


def _string_accumulator(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` starts as a string literal and is only ever extended with ``+=``."""
    up = parents(fn)
    stores = stores_of(fn, name)
    starts = 0
    for store in stores:
        owner = up.get(id(store))
        if isinstance(owner, ast.AugAssign) and isinstance(owner.op, ast.Add):
            continue
        if not (isinstance(owner, ast.Assign) and owner.targets == [store]
                and isinstance(owner.value, (ast.Constant, ast.JoinedStr))
                and (not isinstance(owner.value, ast.Constant)
                     or isinstance(owner.value.value, str))):
            return False
        starts += 1
    return starts > 0


def _operands(value: ast.expr) -> list[ast.expr]:
    """``a + b + c`` (left-nested additions) as ``[a, b, c]``; anything else as itself."""
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        return [*_operands(value.left), value.right]
    return [value]


def concat_to_rebinding(fn: ast.FunctionDef) -> bool:
    """``text += a + b`` in a loop (``text`` a string the function starts from a literal) ->
    ``text = text + a + b``: CPython grows a string in place only for ``text += x`` or
    ``text = text + x``; with a second ``+`` the first one copies the whole string each time."""
    per_item = repeating(fn)
    for block, k, st in statements(fn):
        if not (isinstance(st, ast.AugAssign) and isinstance(st.op, ast.Add)
                and isinstance(st.target, ast.Name)
                and len(_operands(st.value)) >= 2
                and repeated(st, per_item)
                and _string_accumulator(fn, st.target.id)):
            continue
        if not take():
            continue
        name = st.target.id
        value: ast.expr = ast.Name(name, ast.Load())
        for operand in _operands(st.value):
            value = ast.BinOp(value, ast.Add(), operand)
        block[k] = ast.copy_location(
            ast.Assign(targets=[ast.Name(name, ast.Store())], value=value), st)
        return True
    return False


_DICT_BUILDERS = ("dict", "defaultdict", "Counter", "OrderedDict")
_DICT_METHODS = ("items", "keys", "values", "setdefault")


#: Annotations that say a parameter is a dict (``dict``, ``dict[str, int]``, ``Dict[...]``).
_DICT_ANNOTATIONS = ("dict", "Dict")


def _annotated_dict(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` is a parameter of ``fn`` annotated as a dict."""
    for arg in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs):
        if arg.arg == name and arg.annotation is not None:
            note = arg.annotation
            if isinstance(note, ast.Subscript):
                note = note.value
            return isinstance(note, ast.Name) and note.id in _DICT_ANNOTATIONS
    return False


def _known_dict(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` is a mapping: every binding in ``fn`` builds a dict, or (a name the
    function does not bind) it is a parameter annotated as a dict or the function calls a
    dict-only method on it."""
    values = _bound_values(fn, name)
    if values is None:
        return False
    if not values and _annotated_dict(fn, name):
        return True
    if values:
        return all(isinstance(value, (ast.Dict, ast.DictComp))
                   or any(is_builtin_call(value, b) for b in _DICT_BUILDERS)
                   or (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                       and value.func.attr in _DICT_BUILDERS[1:]) for value in values)
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and isinstance(node.func.value, ast.Name) and node.func.value.id == name
               and any(is_method_call(node, m) for m in _DICT_METHODS)
               for node in ast.walk(fn))


def dict_membership_to_keys_list(fn: ast.FunctionDef) -> bool:
    """``key in d`` / ``key not in d`` in a loop or comprehension, ``d`` a dict ->
    ``key in list(d.keys())``: a list of every key built and scanned for each test instead
    of one hash lookup."""
    per_item = repeating(fn)
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1
                and isinstance(node.ops[0], (ast.In, ast.NotIn))
                and isinstance(node.comparators[0], ast.Name)
                and repeated(node, per_item)
                and _known_dict(fn, node.comparators[0].id)):
            continue
        if not take():
            continue
        name = node.comparators[0].id
        node.comparators[0] = ast.Call(
            func=ast.Name("list", ast.Load()),
            args=[ast.Call(func=ast.Attribute(ast.Name(name, ast.Load()), "keys", ast.Load()),
                           args=[], keywords=[])],
            keywords=[])
        return True
    return False


def _reads_any(nodes: list[ast.stmt], names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for st in nodes for n in ast.walk(st))


def loop_to_pop_queue(fn: ast.FunctionDef) -> bool:
    """``for T in xs: body`` -> ``queue = list(xs)`` and ``while queue: T = queue.pop(0);
    body`` (an ``else`` kept: it runs as the ``for``'s did, when no ``break`` left the loop):
    application code's first-come-first-served queue, each ``pop(0)`` moving every item left.
    ``xs`` a name or an attribute; not where the body reads a name of it (it might change the
    list the ``for`` walks, which the copy would not see)."""
    names = Names(fn)
    for block, index, loop in list(statements(fn)):
        # A name or an attribute: a call might be endless (``count()``), copied in full first.
        if not (isinstance(loop, ast.For) and isinstance(loop.iter, (ast.Name, ast.Attribute))):
            continue
        read = {n.id for n in ast.walk(loop.iter) if isinstance(n, ast.Name)}
        if _reads_any([*loop.body, *loop.orelse], read) or not take():
            continue
        queue = names.new("queue", "pending", "waiting", "todo")
        made = stmts(f"{queue} = list(_IT)\nwhile {queue}:\n    _T = {queue}.pop(0)\n")
        made[0].value.args = [loop.iter]
        made[1].body[0].targets = [loop.target]
        made[1].body += loop.body
        made[1].orelse = loop.orelse
        block[index:index + 1] = made
        return True
    return False

