"""Tallies of a value a loop reads, ``Counter([record["status"] for record in records])``, grown
into real functions (:func:`inject_counter`) as the fast form of application code's counting
loops; the de-optimiser's ``counter_to_dict_loop`` writes that slow side (a dict filled one
item at a time: ``if k in counts: counts[k] += 1`` / ``else: counts[k] = 1`` and its kin)."""

from __future__ import annotations

import ast
import random

from perfrl.sources.abstraction import bound_names

from ..deopt.common import Names
from .text import (
    body_start,
    indent_of,
    loop_sites,
    one_function,
    parses,
    starts_its_line,
    with_lines_before,
)

#: Names of the grown tally (drawn per function).
COUNT_NAMES = ("counts", "tally", "histogram", "frequencies", "occurrences", "per_key")
#: Names the grown lines call; a function that binds one of them itself is not grown.
_GROWN_NAMES = frozenset({"Counter", "dict"})


def plain_iterable(node: ast.expr) -> bool:
    """A name or an attribute of one (``orders``, ``self.orders``): read twice, the same."""
    if isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def keyed_value(value: str, item: str) -> bool:
    """Whether ``value`` is an attribute or a constant subscript of ``item`` (the item itself
    is not counted: ``Counter(xs)`` of a mapping copies its counts, which a loop does not)."""
    node = ast.parse(value, mode="eval").body
    return isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.value, ast.Name) \
        and node.value.id == item


def inject_counter(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with a tally of a value a loop ``for x in xs:`` already reads
    (an attribute or a constant subscript of ``x``; ``xs`` a name or an attribute of one)
    made before the loop with ``collections.Counter`` over a list comprehension of it, its
    import at the top of the body: returned as a plain dict (``return dict(Counter(...))``,
    or named first) in place of the loop and all after it (half the loops in the function's
    own body), else read in the loop to skip the items whose value repeats (``if
    counts.get(x.sku, 0) > 1: continue``). None where nothing fits (no such loop over a
    name, or the function binds a name the grown lines need)."""
    fn = one_function(code)
    if fn is None or bound_names(fn) & _GROWN_NAMES:
        return None
    lines = code.split("\n")
    start = body_start(fn)
    if not starts_its_line(lines, start) or start.lineno == fn.lineno:
        return None
    found = []
    for loop, values in loop_sites(code, fn):
        if (plain_iterable(loop.iter) and isinstance(loop.target, ast.Name)
                and starts_its_line(lines, loop)):
            found += [(loop, value) for value in values if keyed_value(value, loop.target.id)]
    if not found:
        return None
    loop, value = rng.choice(found)
    items = ast.get_source_segment(code, loop.iter)
    item = loop.target.id  # type: ignore[attr-defined]
    name = rng.choice([n for n in COUNT_NAMES if n not in Names(fn).taken] or ["counts_made"])
    # A list comprehension, not a generator or map(attrgetter(...)): measured, Counter of a
    # list is the fastest of the three (1.4x a .get loop), and it needs no string the loop
    # does not have (the model writes only the strings it reads).
    tally = f"Counter([{value} for {item} in {items}])"
    indent = indent_of(lines[loop.lineno - 1])
    top = indent_of(lines[start.lineno - 1])
    imports = [f"{top}from collections import Counter"]
    if loop in fn.body and rng.random() < 1 / 2:
        end = [""] if code.endswith("\n") else []
        # The plain dict application code returns (a Counter would answer a missing key
        # with 0 where the loop's dict raises): returned at once, or named first.
        returned = ([f"{indent}return dict({tally})"] if rng.random() < 1 / 2 else
                    [f"{indent}{name} = dict({tally})", f"{indent}return {name}"])
        cut = [*lines[:loop.lineno - 1], *returned, *end]
        grown = "\n".join(with_lines_before(cut, {start.lineno - 1: imports}))
    else:
        body_indent = indent_of(lines[loop.body[0].lineno - 1])
        if not starts_its_line(lines, loop.body[0]):
            return None
        inserts = {loop.lineno - 1: [f"{indent}{name} = {tally}"],
                   loop.body[0].lineno - 1: [f"{body_indent}if {name}.get({value}, 0) > 1:",
                                             f"{body_indent}    continue"]}
        inserts.setdefault(start.lineno - 1, [])
        inserts[start.lineno - 1] = imports + inserts[start.lineno - 1]
        grown = "\n".join(with_lines_before(lines, inserts))
    return grown if parses(grown) else None
