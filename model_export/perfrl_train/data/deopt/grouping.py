"""The slow side of grouping in one pass (``groups = {}`` and a loop of
``groups.setdefault(key, []).append(value)``): application code's group-by as a scan of all
the items per key, after a list of the keys de-duplicated by ``in`` (:func:`group_to_rescan`).

A caller may rely on the rewrite filling the same dict: the same keys in the same order (first
appearance), each with the same list of values in item order, and the loop's variable left
bound to the last item, as before. Keys are matched with ``==`` where the dict matched them by
hash and ``==``: the same for every key type that keeps Python's rule (equal keys hash alike).
"""

from __future__ import annotations

import ast
import copy
import zlib
from typing import Any

from .common import Names, name_nodes, statements, stmts
from .tallies import plain_reference

#: How the per-key scan is written (``{keys}``/``{key}`` the de-duplicated keys and one of
#: them, ``{d}`` the dict, ``{x}`` the loop's variable, ``{k}``/``{v}`` the key and the value
#: of ``{x}``): a filtered comprehension, or a nested loop appending.
_SCANS = (
    "{d} = {{}}\nfor {key} in {keys}:\n    {d}[{key}] = [{v} for {x} in _IT if {k} == {key}]",
    "{d} = {{}}\nfor {key} in {keys}:\n    {d}[{key}] = []\n    for {x} in _IT:\n"
    "        if {k} == {key}:\n            {d}[{key}].append({v})",
)


def _grouped_append(statement: Any, name: str) -> tuple[ast.expr, ast.expr] | None:
    """(key, value) of the statement ``name.setdefault(key, []).append(value)``; else None."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    append = statement.value
    if not (isinstance(append.func, ast.Attribute) and append.func.attr == "append"
            and len(append.args) == 1 and not append.keywords):
        return None
    made = append.func.value
    if not (isinstance(made, ast.Call) and isinstance(made.func, ast.Attribute)
            and made.func.attr == "setdefault" and isinstance(made.func.value, ast.Name)
            and made.func.value.id == name and len(made.args) == 2 and not made.keywords):
        return None
    key, empty = made.args
    if not (isinstance(empty, ast.List) and not empty.elts):
        return None
    return key, append.args[0]


def _is_empty_dict(value: Any) -> bool:
    return (isinstance(value, ast.Dict) and not value.keys) or (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
        and value.func.id == "dict" and not value.args and not value.keywords)


def _key_word(key: ast.expr) -> str:
    """What application code calls one key: ``author`` of ``book.author`` or
    ``book["author"]``; ``key`` otherwise."""
    word = ""
    if isinstance(key, ast.Attribute):
        word = key.attr
    elif isinstance(key, ast.Subscript) and isinstance(key.slice, ast.Constant) \
            and isinstance(key.slice.value, str):
        word = key.slice.value
    return word if word.isidentifier() and word.islower() else "key"


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def group_to_rescan(fn: ast.FunctionDef) -> bool:
    """The first ``d = {}`` followed at once by ``for x in xs:`` whose whole body is
    ``d.setdefault(k, []).append(v)`` (``xs`` a name or an attribute chain of one, ``k`` and
    ``v`` not reading ``d``) -> a list of the keys in first-appearance order (``if k not in
    keys: keys.append(k)``) and, for each key, a scan of every item for its values."""
    names = Names(fn)
    for block, index, statement in statements(fn):
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and _is_empty_dict(statement.value) and index + 1 < len(block)):
            continue
        name = statement.targets[0].id
        loop = block[index + 1]
        if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
                and not loop.orelse and len(loop.body) == 1 and plain_reference(loop.iter)
                and not name_nodes(loop.iter, name) and not name_nodes(loop.iter, loop.target.id)):
            continue
        found = _grouped_append(loop.body[0], name)
        if found is None:
            continue
        key, value = found
        if (name_nodes(key, name) or name_nodes(value, name)
                or not name_nodes(key, loop.target.id)):
            continue
        word = _key_word(key)
        keys = names.new(_plural(word), "keys", "seen_keys")
        one = names.new(word, "key", "value_key")
        k, v, x = ast.unparse(key), ast.unparse(value), loop.target.id
        collect = stmts(f"{keys} = []\nfor {x} in _IT:\n    if {k} not in {keys}:\n"
                        f"        {keys}.append({k})")
        scan_shape = _SCANS[zlib.crc32(k.encode()) % len(_SCANS)]
        scan = stmts(scan_shape.format(d=name, key=one, keys=keys, x=x, k=k, v=v))
        collect[1].iter = loop.iter
        for node in ast.walk(scan[1]):
            if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Name) \
                    and node.iter.id == "_IT":
                node.iter = copy.deepcopy(loop.iter)
        block[index:index + 2] = collect + scan
        return True
    return False
