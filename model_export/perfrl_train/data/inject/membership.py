"""Membership idioms grown into real functions: a list given to the function tested through
its set made once (:func:`inject_list_guard`), order-keeping de-duplication through a set kept
beside the list (:func:`inject_seen_set`), a dict given to the function tested directly
(:func:`inject_dict_guard`). The de-optimiser's ``set_of_name_to_scan``,
``seen_set_to_list_scan`` and ``dict_membership_to_keys_list`` write their slow sides."""

from __future__ import annotations

import ast
import random

from ..deopt.common import Names
from ..deopt.containers import local_builder, local_uses
from ..deopt.membership import plain_value
from .text import (
    body_start,
    comprehension_sites,
    header_end,
    indent_of,
    loop_sites,
    one_function,
    own_nodes,
    parses,
    simple_parameters,
    with_lines_before,
    with_parameter,
)

#: Names a function may be given a list of values to test against (drawn per function).
LIST_NAMES = ("wanted", "allowed", "excluded", "selected", "skip", "keep", "ignored",
              "blocklist", "names", "keys", "codes", "ids", "only", "accepted", "known",
              "targets", "whitelist", "included", "chosen", "filters")
#: How the set's name is made from the list's (drawn per function).
SET_SUFFIXES = ("_set", "_lookup", "_index")


def inject_list_guard(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with a list parameter whose set is made once and tested in a
    loop or comprehension (see the module docstring), or None where no site fits: a header
    over several lines, parameters with defaults or ``*``, no loop reading a value to test,
    or a name already taken."""
    fn = one_function(code)
    if fn is None or not simple_parameters(fn):
        return None
    lines = code.split("\n")
    header = header_end(lines, fn)
    if header is None:
        return None
    taken = Names(fn).taken
    free = [name for name in LIST_NAMES if name not in taken]
    if not free:
        return None
    listed = rng.choice(free)
    set_name = listed + rng.choice(SET_SUFFIXES)
    if set_name in taken:
        return None
    loops, comprehensions = loop_sites(code, fn), comprehension_sites(code, fn)
    if not loops and not comprehensions:
        return None
    use_loop = bool(loops) and (not comprehensions or rng.random() < 0.75)
    if use_loop:
        loop, values = rng.choice(loops)
        value = rng.choice(values)
        test = rng.choice(("not in", "in"))
        first = loop.body[0]
        body_indent = indent_of(lines[first.lineno - 1])
        guard = [f"{body_indent}if {value} {test} {set_name}:", f"{body_indent}    continue"]
        at_top = loop in fn.body
        anchor = loop if at_top else body_start(fn)
        # A decorator-less statement's own line; a loop's set goes right before it, a nested
        # loop's at the top of the function (made once per call, as a hoisted set would be).
        inserts = {anchor.lineno - 1: [f"{indent_of(lines[anchor.lineno - 1])}{set_name} = "
                                       f"set({listed})"],
                   first.lineno - 1: guard}
        lines = with_lines_before(lines, inserts)
    else:
        comp, values = rng.choice(comprehensions)
        value = rng.choice(values)
        row = lines[comp.lineno - 1]
        if comp.end_col_offset is None:
            return None
        close = comp.end_col_offset - 1  # the comprehension's closing bracket
        lines[comp.lineno - 1] = f"{row[:close]} if {value} in {set_name}{row[close:]}"
        body_first = body_start(fn)
        index = body_first.lineno - 1
        lines.insert(index, f"{indent_of(lines[index])}{set_name} = set({listed})")
    with_parameter(lines, header, fn, f"{listed}: list[str]")
    grown = "\n".join(lines)
    return grown if parses(grown) else None


#: Names of the set a de-duplicating loop keeps beside its list (drawn per function).
SEEN_NAMES = ("seen", "done", "visited", "added", "known", "already", "taken")


def _empty_lists(fn: ast.FunctionDef) -> dict[str, ast.Assign]:
    """Locals bound once, by ``name = []`` in the function's own body, never read by a nested
    scope, whose only method called is one ``append``: what a seen set may sit beside."""
    found = {}
    for statement in fn.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and isinstance(statement.value, ast.List) and not statement.value.elts):
            name = statement.targets[0].id
            methods = [kind for _, kind in local_uses(fn, name) if kind.startswith("method:")]
            if local_builder(fn, name) is not None and methods == ["method:append"]:
                found[name] = statement
    return found


def _alone_on_its_line(code: str, lines: list[str], statement: ast.stmt) -> bool:
    """Whether ``statement`` has its line to itself (a comment after it may stay)."""
    text = ast.get_source_segment(code, statement) or ""
    rest = lines[statement.lineno - 1].strip()
    if not text or not rest.startswith(text):
        return False
    after = rest[len(text):].strip()
    return not after or after.startswith("#")


def inject_seen_set(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) whose loop appends a plain value to a list it built empty, with
    that append guarded by a set kept beside the list (see the module docstring), or None
    where no such append is on a line of its own."""
    fn = one_function(code)
    if fn is None:
        return None
    lists = _empty_lists(fn)
    lines = code.split("\n")
    sites = []
    for loop in own_nodes(fn):
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        for node in ast.walk(loop):
            if not isinstance(node, ast.Expr):
                continue
            call = node.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name) and call.func.value.id in lists
                    and call.func.attr == "append" and len(call.args) == 1
                    and not call.keywords and plain_value(call.args[0])
                    and node.lineno == node.end_lineno
                    and lists[call.func.value.id].lineno < loop.lineno
                    and _alone_on_its_line(code, lines, node)):
                sites.append((node, call.func.value.id, call.args[0]))
    if not sites:
        return None
    taken = Names(fn).taken
    statement, out, value = rng.choice(sites)
    options = [name for name in SEEN_NAMES if name not in taken]
    options += [f"seen_{out}"] if f"seen_{out}" not in taken else []
    if not options:
        return None
    seen = rng.choice(options)
    spelled = ast.get_source_segment(code, value)
    row = lines[statement.lineno - 1]
    indent = indent_of(row)
    lines[statement.lineno - 1:statement.lineno] = [
        f"{indent}if {spelled} not in {seen}:", f"{indent}    {seen}.add({spelled})",
        f"{indent}    {row.strip()}"]
    made = lists[out]
    lines.insert(made.lineno, f"{indent_of(lines[made.lineno - 1])}{seen} = set()")
    grown = "\n".join(lines)
    return grown if parses(grown) else None


#: Names a function may be given a dict to look values up in (drawn per function).
DICT_NAMES = ("codes", "aliases", "prices", "labels", "rates", "limits", "lookup", "mapping",
              "renames", "overrides", "defaults", "weights", "by_key", "table")


def inject_dict_guard(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with a new last parameter ``P: dict[str, str]`` tested in a
    loop that reads a value ``E``: ``if E not in P: continue`` or ``if E in P: continue`` at
    the top of its body, or, for a loop variable, ``E = P[E] if E in P else E`` (a third of
    the sites each, as far as they fit). The fast form of application code's ``E in
    list(P.keys())`` (``dict_membership_to_keys_list`` writes that slow side). None where no
    site fits (as for :func:`inject_list_guard`)."""
    fn = one_function(code)
    if fn is None or not simple_parameters(fn):
        return None
    lines = code.split("\n")
    header = header_end(lines, fn)
    loops = loop_sites(code, fn)
    free = [name for name in DICT_NAMES if name not in Names(fn).taken]
    if header is None or not loops or not free:
        return None
    mapping = rng.choice(free)
    loop, values = rng.choice(loops)
    value = rng.choice(values)
    first = loop.body[0]
    indent = indent_of(lines[first.lineno - 1])
    form = rng.random()
    if isinstance(loop.target, ast.Name) and value == loop.target.id and form < 1 / 3:
        test = [f"{indent}{value} = {mapping}[{value}] if {value} in {mapping} else {value}"]
    else:
        test = [f"{indent}if {value} {rng.choice(('not in', 'in'))} {mapping}:",
                f"{indent}    continue"]
    lines = with_lines_before(lines, {first.lineno - 1: test})
    with_parameter(lines, header, fn, f"{mapping}: dict[str, str]")
    grown = "\n".join(lines)
    return grown if parses(grown) else None
