"""Transforms that take away the set a function builds only to answer membership tests, so
each test scans a list instead, the way application code often tests against a list it was
given or de-duplicates into the list it returns:

- ``wanted = set(ids)`` ... ``x in wanted`` in a loop -> ``x in ids`` (the argument scanned
  for each item);
- ``seen = set()`` kept beside the list it guards (``if x not in seen: seen.add(x);
  out.append(x)``) -> ``if x not in out: out.append(x)`` (the result scanned for each item).

Each rewrites one site of a ``FunctionDef`` in place, returns whether it changed anything and
keeps behaviour on every input the real function accepts (the pipeline checks it by
execution, :mod:`.behaviour`): only locals with one binding, used in no nested scope, whose
every use is one the replacement answers the same."""

from __future__ import annotations

import ast
import copy
from typing import Any

from .common import (
    is_builtin_call,
    parameter_names,
    parents,
    repeated,
    repeating,
    statements,
    stores_of,
    take,
)
from .containers import local_builder, local_uses


def _tested_in_a_loop(fn: ast.FunctionDef, uses: list[ast.Name]) -> bool:
    """Whether one of ``uses`` runs once per item (inside a loop or a comprehension): the
    scan that replaces it is then repeated, which is what makes the slow side slow."""
    loops_of_fn = repeating(fn)
    return any(repeated(use, loops_of_fn) for use in uses)


#: How a list may be used and still hold the same items at every test (:func:`_use_kind`).
_READ_ONLY_USES = frozenset({"in", "iter", "reader", "truth", "subscript", "method:count",
                             "method:index", "method:copy"})


def _unchanging(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` holds the same items wherever the function reads it: a parameter
    never rebound, or a local bound once, and nothing that could change it in place."""
    if name in parameter_names(fn):
        if stores_of(fn, name):
            return False
    elif local_builder(fn, name) is None:
        return False
    for _, kind in local_uses(fn, name):
        # Any other use (returned, compared, an attribute read) cannot change it, unless it is
        # handed to a call.
        if kind not in _READ_ONLY_USES and (kind != "other" or _escapes(fn, name)):
            return False
    return True


def _escapes(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name`` is passed to a call (which might change it in place)."""
    return any(isinstance(node, ast.Call) and any(
        isinstance(a, ast.Name) and a.id == name for a in [*node.args, *(
            k.value for k in node.keywords)]) for node in ast.walk(fn))


def _base_name(e: ast.expr) -> str | None:
    """The name under a name or an attribute chain (``self.orders`` -> ``self``), else None."""
    while isinstance(e, ast.Attribute):
        e = e.value
    return e.id if isinstance(e, ast.Name) else None


def set_of_name_to_scan(fn: ast.FunctionDef) -> bool:
    """``s = set(xs)`` (or ``frozenset``) of a name the function never rebinds, or of an
    attribute of one (``self.orders``), ``s`` used only in ``in`` / ``not in`` tests, one of
    them in a loop -> the tests read ``xs`` and the set is gone: a scan of ``xs`` per test
    instead of one hash lookup."""
    up = parents(fn)
    for block, k, st in list(statements(fn)):
        if not (isinstance(st, ast.Assign) and len(st.targets) == 1
                and isinstance(st.targets[0], ast.Name)):
            continue
        name = st.targets[0].id
        value: Any = st.value
        if not (is_builtin_call(value, "set", 1) or is_builtin_call(value, "frozenset", 1)):
            continue
        source = value.args[0]
        base = _base_name(source)
        if base is None or base == name or not _unchanging(fn, base):
            continue
        if local_builder(fn, name) is None:
            continue
        uses = local_uses(fn, name)
        if not uses or any(kind != "in" for _, kind in uses):
            continue
        if not _tested_in_a_loop(fn, [use for use, _ in uses]):
            continue
        if not take():
            continue
        for use, _ in uses:
            compare: Any = up[id(use)]
            compare.comparators[compare.comparators.index(use)] = copy.deepcopy(source)
        del block[k]
        if not block:
            block.append(ast.Pass())
        return True
    return False


def plain_value(e: ast.expr) -> bool:
    """An expression evaluated twice or once gives the same value with no effect: a name, a
    constant, an attribute or constant subscript of one, a tuple of those."""
    if isinstance(e, (ast.Name, ast.Constant)):
        return True
    if isinstance(e, ast.Attribute):
        return plain_value(e.value)
    if isinstance(e, ast.Subscript):
        return plain_value(e.value) and isinstance(e.slice, (ast.Constant, ast.Name))
    if isinstance(e, ast.Tuple):
        return all(plain_value(x) for x in e.elts)
    return False


def _method_statement(st: ast.stmt, owner: str, method: str) -> ast.expr | None:
    """The argument of a statement ``owner.method(arg)``, or None."""
    if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)):
        return None
    call = st.value
    if (isinstance(call.func, ast.Attribute) and call.func.attr == method
            and isinstance(call.func.value, ast.Name) and call.func.value.id == owner
            and len(call.args) == 1 and not call.keywords
            and not isinstance(call.args[0], ast.Starred)):
        return call.args[0]
    return None


def _partner(block: list[ast.stmt], k: int, added: ast.expr) -> tuple[str, int] | None:
    """The list (name, index) that the statement next to ``block[k]`` appends ``added`` to."""
    for j in (k + 1, k - 1):
        if 0 <= j < len(block) and isinstance(block[j], ast.Expr):
            call: Any = block[j].value  # type: ignore[attr-defined]
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name)):
                continue
            argument = _method_statement(block[j], call.func.value.id, "append")
            if argument is not None and ast.dump(argument) == ast.dump(added):
                return call.func.value.id, j
    return None


def seen_set_to_list_scan(fn: ast.FunctionDef) -> bool:
    """A ``seen = set()`` that only guards the list it sits beside (every ``seen.add(x)`` next
    to an ``out.append(x)`` of the same plain value, and every ``out.append`` one of those)
    -> the membership tests scan ``out`` and the set is gone: order-keeping de-duplication
    made quadratic."""
    for name in [n.targets[0].id for _, _, n in statements(fn)
                 if isinstance(n, ast.Assign) and len(n.targets) == 1
                 and isinstance(n.targets[0], ast.Name)]:
        found = local_builder(fn, name)
        if found is None or not is_builtin_call(found[2], "set", 0):
            continue
        uses = local_uses(fn, name)
        if not uses or any(kind not in ("in", "method:add") for _, kind in uses):
            continue
        adds = [(block, k, _method_statement(st, name, "add"))
                for block, k, st in statements(fn) if _method_statement(st, name, "add")]
        if len(adds) != sum(1 for _, kind in uses if kind == "method:add"):
            continue  # an add used as a value, not a statement of its own
        partners = [_partner(block, k, added) if added is not None and plain_value(added)
                    else None for block, k, added in adds]
        if not adds or None in partners or len({p[0] for p in partners if p}) != 1:
            continue
        out = partners[0][0]  # type: ignore[index]
        out_found = local_builder(fn, out)
        if out_found is None or not (isinstance(out_found[2], ast.List)
                                     and not out_found[2].elts):
            continue
        out_uses = local_uses(fn, out)
        if sum(1 for _, kind in out_uses if kind.startswith("method:")) != len(adds) or any(
                kind.startswith("method:") and kind != "method:append" for _, kind in out_uses):
            continue
        tests = [use for use, kind in uses if kind == "in"]
        if not tests or not _tested_in_a_loop(fn, tests) or not take():
            continue
        up = parents(fn)
        for use in tests:
            compare: Any = up[id(use)]
            compare.comparators[compare.comparators.index(use)] = ast.Name(out, ast.Load())
        # Delete from the end of each block first, so that earlier indices stay right.
        for block, k, _ in sorted(adds, key=lambda a: -a[1]):
            del block[k]
        del found[0][found[1]]
        return True
    return False
