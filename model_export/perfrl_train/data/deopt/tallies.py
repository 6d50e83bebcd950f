"""The slow side of a ``Counter`` over a value of each item, read by a comprehension
(``Counter([r["k"] for r in xs])``) or a getter (``Counter(map(itemgetter("k"), xs))``,
``attrgetter("a")``): application code's counting loop, in one of the shapes it is
written in (three one-pass ones and, given fresh names, one that re-scans the items for each new
value), and the function-local imports that only the fast side needed taken away
(:func:`counted_values`, :func:`counting_loop`, :func:`drop_unused_imports`).

A caller may rely on the loop filling a plain dict with the same keys, counts and key order
as the ``Counter`` (a dict keeps first-insertion order, as ``Counter`` does)."""

from __future__ import annotations

import ast
import builtins
import copy
import keyword
import zlib
from typing import Any

from .common import Names, statements, stmts

#: The getters whose ``map`` a counting loop can replace, and how the item's value is spelled.
_GETTERS = {"itemgetter": "{item}[{arg}]", "attrgetter": "{item}.{attr}"}

#: The shapes a counting loop is written in (``{k}`` the counted value, ``{c}`` the dict).
_SHAPES = (
    "{c}[{k}] = {c}.get({k}, 0) + 1",
    "if {k} in {c}:\n        {c}[{k}] += 1\n    else:\n        {c}[{k}] = 1",
    "if {k} not in {c}:\n        {c}[{k}] = 0\n    {c}[{k}] += 1",
)
#: The quadratic shape: each new value counted by a scan of all the items (``{o}`` another
#: item, ``{ko}`` its value); the iterable is read once per new value, so it must be a list.
_RESCAN = "if {k} not in {c}:\n        {c}[{k}] = len([{o} for {o} in _IT if {ko} == {k}])"


def counted_values(value: Any, fn: ast.FunctionDef,
                   names: Names) -> tuple[str, str, ast.expr] | None:
    """(item name, the value's template with ``{item}``, the iterable) of a comprehension of
    one plain ``for`` and no condition (its own target as the item, unless the function uses
    that name elsewhere: then a fresh one) or of :func:`mapped_getter`'s forms; else None."""
    if isinstance(value, (ast.ListComp, ast.GeneratorExp)) and len(value.generators) == 1:
        loop = value.generators[0]
        if loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name):
            return None
        target = loop.target.id
        inside = {id(n) for n in ast.walk(value)} - {id(n) for n in ast.walk(loop.iter)}
        used_elsewhere = target in {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)} or any(
            isinstance(n, ast.Name) and n.id == target and id(n) not in inside
            for n in ast.walk(fn))
        item = names.new(*singular(loop.iter), "item", "entry") if used_elsewhere else target
        element = copy.deepcopy(value.elt)
        for node in ast.walk(element):
            if isinstance(node, ast.Name) and node.id == target:
                node.id = "__ITEM__"
        return item, ast.unparse(element).replace("__ITEM__", "{item}"), loop.iter
    mapped = mapped_getter(value)
    if mapped is None:
        return None
    return names.new(*singular(mapped[1]), "item", "entry"), *mapped


def mapped_getter(value: Any) -> tuple[str, ast.expr] | None:
    """For ``map(itemgetter(C), it)`` / ``map(attrgetter("a"), it)`` (one constant, ``a`` a
    plain attribute name): (the value's template with ``{item}``, ``it``); else None."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "map" and len(value.args) == 2 and not value.keywords):
        return None
    getter = value.args[0]
    if not (isinstance(getter, ast.Call) and isinstance(getter.func, ast.Name)
            and getter.func.id in _GETTERS and len(getter.args) == 1 and not getter.keywords
            and isinstance(getter.args[0], ast.Constant)):
        return None
    arg = getter.args[0].value
    if getter.func.id == "attrgetter":
        if not (isinstance(arg, str) and arg.isidentifier()):
            return None
        return _GETTERS["attrgetter"].replace("{attr}", arg), value.args[1]
    if not isinstance(arg, (str, int)):
        return None
    return _GETTERS["itemgetter"].replace("{arg}", repr(arg)), value.args[1]


def singular(iterable: ast.expr) -> tuple[str, ...]:
    """The name application code gives an item of ``iterable`` when it is a plural name or
    attribute (``records``, ``self.records`` -> ``record``; ``entries`` -> ``entry``); ()
    otherwise."""
    name = (iterable.id if isinstance(iterable, ast.Name)
            else iterable.attr if isinstance(iterable, ast.Attribute) else "")
    if len(name) < 4:
        return ()
    if name.endswith("ies"):
        item = name[:-3] + "y"
    elif name.endswith("s") and not name.endswith("ss"):
        item = name[:-1]
    else:
        return ()
    return () if keyword.iskeyword(item) or item in dir(builtins) else (item,)


def counting_loop(name: str, item: str, value_template: str, iterable: ast.expr,
                  names: Names | None = None) -> list[Any]:
    """``name = {}`` and a loop over ``iterable`` counting each item's value in it, in the
    shape the value picks (so the same function always gets the same shape). With ``names``
    the re-scanning shape is one of them (its other item is a fresh name): a caller passes
    them only where the iterable is read again as it was, a list (not an iterator)."""
    value = value_template.replace("{item}", item)
    shapes = _SHAPES if names is None else (*_SHAPES, _RESCAN)
    shape = shapes[zlib.crc32(value.encode()) % len(shapes)]
    if shape is _RESCAN:
        assert names is not None
        other = names.new("other", "peer", "candidate")
        body = shape.format(k=value, c=name, o=other,
                            ko=value_template.replace("{item}", other))
    else:
        body = shape.format(k=value, c=name)
    loop = stmts(f"{name} = {{}}\nfor {item} in _IT:\n    {body}")
    loop[1].iter = iterable
    for node in ast.walk(loop[1].body[0]):
        if isinstance(node, ast.comprehension):
            node.iter = copy.deepcopy(iterable)
    return loop


def drop_unused_imports(fn: ast.FunctionDef, candidates: frozenset[str]) -> None:
    """Removes from ``fn``'s own ``from ... import`` statements the names of ``candidates``
    nothing in ``fn`` reads any more (a statement left empty goes too), in place."""
    read = {node.id for node in ast.walk(fn) if isinstance(node, ast.Name)}
    for node in ast.walk(fn):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for statement in list(block):
                if isinstance(statement, ast.ImportFrom):
                    statement.names = [alias for alias in statement.names
                                       if (alias.asname or alias.name) not in candidates
                                       or (alias.asname or alias.name) in read]
                    if not statement.names:
                        block.remove(statement)
    if not fn.body:
        fn.body = [ast.Pass()]


def plain_reference(node: ast.expr) -> bool:
    """Whether ``node`` is a name or a chain of attributes of one (``xs``, ``self.log.rows``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _dict_of_counter(value: Any) -> ast.expr | None:
    """``X`` of ``dict(Counter(X))`` / ``dict(collections.Counter(X))``; else None."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "dict" and len(value.args) == 1 and not value.keywords):
        return None
    inner = value.args[0]
    if not (isinstance(inner, ast.Call) and len(inner.args) == 1 and not inner.keywords):
        return None
    func = inner.func
    named = (isinstance(func, ast.Name) and func.id == "Counter") or (
        isinstance(func, ast.Attribute) and func.attr == "Counter"
        and isinstance(func.value, ast.Name) and func.value.id == "collections")
    return inner.args[0] if named else None


def dict_of_counter_to_loop(fn: ast.FunctionDef, names: Names) -> bool:
    """The first ``c = dict(Counter(X))`` or ``return dict(Counter(X))`` whose ``X`` is
    counted by :func:`counted_values` -> ``c = {}`` and a counting loop (``return c`` after
    it, ``c`` a fresh name, for the ``return``): the same plain dict, keys in the same order,
    so every later use of it is answered the same."""
    for block, k, statement in statements(fn):
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0], ast.Name):
            name, value = statement.targets[0].id, statement.value
        elif isinstance(statement, ast.Return) and statement.value is not None:
            name, value = "", statement.value
        else:
            continue
        iterable = _dict_of_counter(value)
        if iterable is None or (name and any(isinstance(n, ast.Name) and n.id == name
                                             for n in ast.walk(iterable))):
            continue
        counted = counted_values(iterable, fn, names)
        if counted is None:
            continue
        made = name or names.new("counts", "tally", "histogram")
        # Re-reading a name or an attribute has no effect of its own: the re-scanning shape
        # may read it once per new value (a call might not give the same items twice).
        rescannable = plain_reference(counted[2])
        block[k:k + 1] = counting_loop(made, *counted, names if rescannable else None) + (
            [] if name else stmts(f"return {made}"))
        return True
    return False
