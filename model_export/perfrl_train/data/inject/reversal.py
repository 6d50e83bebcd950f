"""A comprehension run newest first (``[p.id for p in reversed(payments)]``) grown into real
functions (:func:`inject_reversed`); the de-optimiser's ``reversed_map_to_insert_front``
writes application code's loop inserting each item at the front."""

from __future__ import annotations

import ast
import random

from ..deopt.common import Names
from .text import (
    one_function,
    own_nodes,
    parses,
)


def _sequence_names(fn: ast.FunctionDef) -> set[str]:
    """Names ``fn`` takes as plain parameters or binds only to new lists: what ``reversed``
    may be given (the other bindings may be generators or sets, which it refuses)."""
    args = fn.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for node in own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.discard(node.id)
    names |= _local_lists(fn)
    return names


def _local_lists(fn: ast.FunctionDef) -> set[str]:
    """Names bound once in ``fn``, to a list display, a list comprehension or ``list(...)``."""
    bound: dict[str, list[ast.AST]] = {}
    for node in own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.setdefault(node.id, []).append(node)
    found = set()
    for node in own_nodes(fn):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and len(bound.get(node.targets[0].id, ())) == 1
                and (isinstance(node.value, (ast.List, ast.ListComp))
                     or (isinstance(node.value, ast.Call)
                         and isinstance(node.value.func, ast.Name)
                         and node.value.func.id in ("list", "sorted")))):
            found.add(node.targets[0].id)
    return found


def inject_reversed(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with one list comprehension over a parameter or a list it
    builds (``[e for x in xs]``, on one line) made to run newest first: ``reversed(xs)`` (two
    thirds) or ``xs[::-1]``. The fast form of application code's "newest first" loop that
    inserts each item at the front (``reversed_map_to_insert_front`` writes that slow side).
    None where nothing fits, or the function rebinds ``reversed``."""
    fn = one_function(code)
    if fn is None or "reversed" in Names(fn).taken:
        return None
    sequences = _sequence_names(fn)
    lines = code.split("\n")
    found = [node for node in own_nodes(fn)
             if isinstance(node, ast.ListComp) and node.lineno == node.end_lineno
             and len(node.generators) == 1 and not node.generators[0].is_async
             and isinstance(node.generators[0].iter, ast.Name)
             and node.generators[0].iter.id in sequences]
    if not found:
        return None
    comp = rng.choice(sorted(found, key=lambda node: (node.lineno, node.col_offset)))
    iterable = comp.generators[0].iter
    name = iterable.id  # type: ignore[attr-defined]
    backwards = f"reversed({name})" if rng.random() < 2 / 3 else f"{name}[::-1]"
    # Columns are UTF-8 byte offsets.
    line = lines[iterable.lineno - 1].encode()
    lines[iterable.lineno - 1] = (line[:iterable.col_offset] + backwards.encode()
                                  + line[iterable.end_col_offset:]).decode()
    grown = "\n".join(lines)
    return grown if parses(grown) else None
