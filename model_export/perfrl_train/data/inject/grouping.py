"""Group-bys of the items a loop reads, ``groups.setdefault(book.author, []).append(book)``,
grown into real functions (:func:`inject_group`) as the fast form of application code's
grouping by a scan per key; the de-optimiser's ``group_to_rescan`` writes that slow side (the
keys de-duplicated in a list, then every item scanned again for each key)."""

from __future__ import annotations

import ast
import random

from perfrl.sources.abstraction import bound_names

from ..deopt.common import Names
from .counting import keyed_value, plain_iterable
from .text import indent_of, loop_sites, one_function, parses, starts_its_line

#: Names of the grown dict (drawn per function).
GROUP_NAMES = ("grouped", "groups", "by_key", "buckets", "index", "per_key")
#: The methods the grown lines call. Binding a local of such a name would not clash (they are
#: attributes), but the twenty-first session's data (607 functions) was grown skipping those
#: functions (one): kept so that the recipe gives the same rows.
_GROWN_NAMES = frozenset({"setdefault", "append"})


def inject_group(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with a loop ``for x in xs:`` of its own body (``xs`` a name or
    an attribute of one) that reads a value of its item (an attribute or a constant subscript
    of ``x``) replaced, with all that follows it, by a one-pass group-by on that value: ``d =
    {}``, ``for x in xs: d.setdefault(x.k, []).append(v)``, ``return d``, where ``v`` is the
    item itself or another value the loop reads of it. None where nothing fits."""
    fn = one_function(code)
    if fn is None or bound_names(fn) & _GROWN_NAMES:
        return None
    lines = code.split("\n")
    found = []
    for loop, values in loop_sites(code, fn):
        if (loop in fn.body and plain_iterable(loop.iter) and isinstance(loop.target, ast.Name)
                and starts_its_line(lines, loop)):
            item = loop.target.id
            keyed = [value for value in values if keyed_value(value, item)]
            found += [(loop, key, keyed) for key in keyed]
    if not found:
        return None
    loop, key, keyed = rng.choice(found)
    item = loop.target.id  # type: ignore[attr-defined]
    others = [value for value in keyed if value != key]
    value = rng.choice(others) if others and rng.random() < 1 / 2 else item
    items = ast.get_source_segment(code, loop.iter)
    name = rng.choice([n for n in GROUP_NAMES if n not in Names(fn).taken] or ["grouped_made"])
    indent = indent_of(lines[loop.lineno - 1])
    end = [""] if code.endswith("\n") else []
    grown_lines = [*lines[:loop.lineno - 1],
                   f"{indent}{name} = {{}}",
                   f"{indent}for {item} in {items}:",
                   f"{indent}    {name}.setdefault({key}, []).append({value})",
                   f"{indent}return {name}", *end]
    grown = "\n".join(grown_lines)
    return grown if parses(grown) else None
