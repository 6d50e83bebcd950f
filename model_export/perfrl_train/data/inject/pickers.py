"""Application code's pickers, ``sorted(xs, key=...)[0]``, grown into real functions as their
fast form, ``min``/``max`` after an empty guard (:func:`inject_empty_guard`); the
de-optimiser's ``min_to_sorted_index`` writes the slow side."""

from __future__ import annotations

import ast
import random
from collections.abc import Sequence

from ..deopt.common import Names, sites
from ..deopt.lookups import is_min_max_of_name
from .text import (
    header_end,
    indent_of,
    loop_sites,
    one_function,
    parses,
    simple_parameters,
    starts_its_line,
    tested_values,
    with_lines_before,
    with_parameter,
)


def _min_max_statements(lines: list[str], fn: ast.FunctionDef) -> list[tuple[ast.stmt, str]]:
    """Statements of ``fn``, each alone at the start of its line, that read ``min(xs)`` /
    ``max(xs, key=...)`` of a plain name once, before anything else of theirs runs (outside
    any lambda, comprehension or conditional part): (statement, the name)."""
    found = []
    for site in sites(fn, is_min_max_of_name):
        statement, node = site[2], site[-1]
        if starts_its_line(lines, statement):
            found.append((statement, node.args[0].id))
    return found


#: Names of the extreme item a grown ``min``/``max`` picks (drawn per function).
EXTREME_NAMES = {"min": ("lowest", "smallest", "first_ranked", "least"),
                 "max": ("highest", "largest", "top", "greatest")}
# Bare: the model reads strings as placeholders, and a message the slow side lacks would be
# a string the rewrite invents (the verifier compares an exception by its type).
_EMPTY_GUARD = "raise IndexError"


def _key_values(code: str, item: str, body: Sequence[ast.AST]) -> list[str]:
    """What a key may read of ``item``, as ``code`` spells it: the attributes and constant
    subscripts the loop reads of it, and its methods the loop calls with nothing or constants
    (``item.lower()``, ``item.get("k")``)."""
    values = [value for value in tested_values(code, ast.Name(id=item), body) if value != item]
    for part in body:
        for node in ast.walk(part):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == item
                    and not node.keywords
                    and all(isinstance(arg, ast.Constant) for arg in node.args)):
                values.append(ast.get_source_segment(code, node) or "")
    return [v for v in dict.fromkeys(values) if v and "\n" not in v]


def _extreme_loop_sites(code: str, lines: list[str],
                        fn: ast.FunctionDef) -> list[tuple[ast.For, list[str]]]:
    """``for x in xs:`` loops over a plain name with a plain target, alone on their line,
    that read something of ``x``, with the keys that may pick the extreme item of ``xs``
    before the loop. (A loop reading nothing of its item has no key to copy: a generic one,
    ``len(x)`` or ``str(x)``, taught a model to invent keys instead of copying them.)"""
    found = []
    for loop, _ in loop_sites(code, fn):
        if (isinstance(loop.iter, ast.Name) and isinstance(loop.target, ast.Name)
                and starts_its_line(lines, loop)):
            keys = _key_values(code, loop.target.id, loop.body)
            if keys:
                found.append((loop, keys))
    return found


#: Names of a flag asking a function for only the extreme item (drawn per function).
FLAG_NAMES = ("only_extreme", "pick_one", "first_only", "best_only", "single")


def _extreme_call(which: str, items: str, item: str, keys: list[str],
                  rng: random.Random) -> str:
    """``min(items, key=lambda item: key)``, ``key`` one of ``keys``, the values the loop
    reads of the item. (The held-out pickers all have a key, and a model shown keyless ones
    mostly dropped or invented it instead of copying it.)"""
    return f"{which}({items}, key=lambda {item}: {rng.choice(keys)})"


def _grow_extreme_before_loop(code: str, lines: list[str], fn: ast.FunctionDef,
                              rng: random.Random) -> str | None:
    """The extreme item of a loop's list picked before the loop, after the empty guard:
    for a loop in the function's own body, returned in place of the loop and all after it
    (half the sites); else returned at once when a new ``bool`` flag asks for it (where a
    parameter can be added) or kept and skipped in the loop, as far as they fit."""
    sites_found = _extreme_loop_sites(code, lines, fn)
    if not sites_found:
        return None
    loop, keys = rng.choice(sites_found)
    items, item = loop.iter.id, loop.target.id  # type: ignore[attr-defined]
    which = rng.choice(("min", "max"))
    call = _extreme_call(which, items, item, keys, rng)
    taken = Names(fn).taken
    indent = indent_of(lines[loop.lineno - 1])
    header = header_end(lines, fn) if simple_parameters(fn) else None
    flags = [name for name in FLAG_NAMES if name not in taken]
    form = rng.random()
    if loop in fn.body and form < 1 / 2:
        # The function cut at the loop, returning the extreme item: the shape of application
        # code's one-statement pickers (``return sorted(xs, key=...)[0]``) with real set-up.
        end = [""] if code.endswith("\n") else []
        return "\n".join([*lines[:loop.lineno - 1], f"{indent}if not {items}:",
                          f"{indent}    {_EMPTY_GUARD}", f"{indent}return {call}", *end])
    if header is not None and flags and form < 3 / 4:
        flag = rng.choice(flags)
        grown = [*lines[:loop.lineno - 1],
                 f"{indent}if {flag}:", f"{indent}    if not {items}:",
                 f"{indent}        {_EMPTY_GUARD}", f"{indent}    return {call}",
                 *lines[loop.lineno - 1:]]
        with_parameter(grown, header, fn, f"{flag}: bool")
        return "\n".join(grown)
    free = [name for name in EXTREME_NAMES[which] if name not in taken]
    if not free:
        return None
    extreme = rng.choice(free)
    body_indent = indent_of(lines[loop.body[0].lineno - 1])
    inserts = {loop.lineno - 1: [f"{indent}if not {items}:", f"{indent}    {_EMPTY_GUARD}",
                                 f"{indent}{extreme} = {call}"],
               loop.body[0].lineno - 1: [f"{body_indent}if {item} is {extreme}:",
                                         f"{body_indent}    continue"]}
    return "\n".join(with_lines_before(lines, inserts))


def inject_empty_guard(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with ``if not xs: raise IndexError`` before a statement that
    reads ``min(xs, key=...)`` / ``max(xs, ...)``: the fast form of application code's
    ``sorted(xs, key=...)[0]``, which fails on an empty list with that IndexError
    (``min_to_sorted_index`` writes that slow side). A function without such a statement
    but with a loop ``for x in xs:`` gets one before the loop, the guard before it,
    and the extreme item skipped in the loop (``lowest = min(xs, key=lambda x: x.price)``;
    ``if x is lowest: continue``), returned at once when a new last parameter asks for it
    (``if only_extreme: ... return min(xs, key=...)``) or returned in place of the loop and
    all after it, ``key`` a value the loop already reads of the item (an attribute, a constant
    subscript, a method called with constants). None where nothing fits (no such loop), or the
    function rebinds ``IndexError``."""
    fn = one_function(code)
    if fn is None or "IndexError" in Names(fn).taken:
        return None
    lines = code.split("\n")
    found = _min_max_statements(lines, fn)
    if found:
        statement, name = rng.choice(found)
        indent = indent_of(lines[statement.lineno - 1])
        lines[statement.lineno - 1:statement.lineno - 1] = [f"{indent}if not {name}:",
                                                            f"{indent}    {_EMPTY_GUARD}"]
        grown: str | None = "\n".join(lines)
    else:
        grown = _grow_extreme_before_loop(code, lines, fn, rng)
    return grown if grown is not None and parses(grown) else None
