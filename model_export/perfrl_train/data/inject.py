"""Real functions grown by one fast idiom the mined corpus rarely holds, so that the
de-optimiser has something to undo inside real loop bodies.

The de-optimiser (:mod:`.deopt`) can only take away an optimisation a real function already
has. One slow idiom of application code, a membership test against a list the function was
given, made once per item of a loop (``if order.customer_id in customer_ids``), comes from
``set_of_name_to_scan``, which needs ``s = set(xs)`` and a test of ``s`` in a loop: 9 rows of a
13,395-row training mix had it, all of them short, and the model rewrote the idiom only where
the loop held nothing else. :func:`inject_list_guard` writes that fast idiom into a real
function's loop (or comprehension): a new parameter ``P: list[str]``, its set made once
(``P_set = set(P)``) and a test of a value the loop already reads (the loop variable, one of
its attributes or constant subscripts) against the set: ``if E not in P_set: continue`` or
``if E in P_set: continue`` at the top of the loop body, or ``if E in P_set`` added to a
comprehension. The surrounding real code is left byte for byte as it was; ``real_pairs
--only set_of_name_to_scan`` then writes the slow side.

The second idiom, order-keeping de-duplication (``seen_set_to_list_scan``: 2 rows of that mix),
is grown the same way by :func:`inject_seen_set`: where a loop appends a plain value to a list
the function built empty (``out.append(item.sku)``), the append is guarded by a set kept beside
the list (``seen = set()`` after ``out = []``; ``if E not in seen: seen.add(E); out.append(E)``);
the de-optimiser's slow side then scans ``out``.

The third, ``min``/``max`` for application code's ``sorted(xs, key=...)[0]``
(``min_to_sorted_index``), is grown by :func:`inject_empty_guard`: ``if not xs: raise
IndexError`` before a statement reading ``min(xs, key=...)`` (what ``sorted(xs)[0]`` raises on
an empty list, so both sides fail alike), or, where the function has no such statement, the
extreme item of a loop's list picked before the loop (``lowest = min(orders, key=lambda order:
order.total)``, the key a value the loop reads of the item, or its length or text where it
reads none: application code's pickers always have a key) and skipped in it (``if order is
lowest: continue``), returned before the loop when a new ``bool`` parameter asks for only it,
or returned in place of the loop and the rest of the function.

The fourth, a comprehension run newest first (``[p.id for p in reversed(payments)]``) for
application code's loop inserting each item at the front (``reversed_map_to_insert_front``),
is grown by :func:`inject_reversed`: one comprehension over a parameter or a list the
function builds is given ``reversed(xs)`` or ``xs[::-1]`` to iterate.

    python -m perfrl_train.data.inject --corpus corpus.jsonl --out injected.jsonl \
        [--idiom list-guard|seen-set|empty-guard|reversed]

A caller may rely on: every row written is a corpus row (:mod:`.corpus`'s fields, its
``package``/``licence``/``kept`` unchanged, ``id`` ending ``:inject``, ``:inject-seen``,
``:inject-empty`` or ``:inject-reversed``) whose code parses; a list guard's has exactly one
more parameter than the original (annotated ``list[str]``, after the others) and
``set_of_name_to_scan`` removes its set again; a seen set's has the original's parameters and
``seen_set_to_list_scan`` removes its set again; an empty guard's has the original's parameters
(or one more, a ``bool`` flag, last) and ``min_to_sorted_index`` removes it again; a reversed
one's differs from the original in one comprehension's iterable and
``reversed_map_to_insert_front`` undoes it. The slow and fast sides of such a pair behave the
same on every input whose tested values are hashable (the set raises ``TypeError`` on an
unhashable one, the scan does not; the values real loops test are mostly strings, numbers and
objects) and, for the empty guard, that are lists or other sequences.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .deopt.common import Names, sites
from .deopt.containers import local_builder, local_uses
from .deopt.lookups import is_min_max_of_name
from .deopt.membership import plain_value

#: Names a function may be given a list of values to test against (drawn per function).
LIST_NAMES = ("wanted", "allowed", "excluded", "selected", "skip", "keep", "ignored",
              "blocklist", "names", "keys", "codes", "ids", "only", "accepted", "known",
              "targets", "whitelist", "included", "chosen", "filters")
#: How the set's name is made from the list's (drawn per function).
SET_SUFFIXES = ("_set", "_lookup", "_index")


def _header_end(lines: list[str], fn: ast.FunctionDef) -> tuple[int, int] | None:
    """(line index, column) of the ``)`` closing the parameter list, where the whole header
    is the first line; None for a header spread over several lines."""
    first = lines[fn.lineno - 1]
    body_line = fn.body[0].lineno - 1
    if body_line == fn.lineno - 1:  # `def f(x): return x`
        return None
    stripped = first.rstrip()
    if not stripped.endswith(":"):
        return None
    # The `)` before a return annotation or the colon: the last `)` before `->`, else the last.
    arrow = stripped.find("->")
    head = stripped if arrow < 0 else stripped[:arrow]
    close = head.rfind(")")
    return (fn.lineno - 1, close) if close > 0 else None


def _simple_parameters(fn: ast.FunctionDef) -> bool:
    """Positional parameters only, none with a default (a new one can follow them)."""
    args = fn.args
    return not (args.defaults or args.vararg or args.kwarg or args.kwonlyargs
                or args.posonlyargs)


def _own_nodes(fn: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``fn`` outside nested functions, classes and lambdas."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                      ast.Lambda)):
                stack.append(child)


def _tested_values(code: str, target: ast.expr, body: Sequence[ast.AST]) -> list[str]:
    """Values a loop over ``target`` already reads that a guard may test: its names, and the
    attributes (not methods called) and constant subscripts of them read in ``body``, as
    ``code`` spells them."""
    names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    values = list(names)
    called = {id(node.func) for part in body for node in ast.walk(part)
              if isinstance(node, ast.Call)}
    for part in body:
        for node in ast.walk(part):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in names and isinstance(node.ctx, ast.Load)
                    and id(node) not in called):
                values.append(ast.get_source_segment(code, node) or "")
            elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                  and node.value.id in names and isinstance(node.ctx, ast.Load)
                  and isinstance(node.slice, ast.Constant)
                  and isinstance(node.slice.value, (str, int))):
                values.append(ast.get_source_segment(code, node) or "")
    # A value spelled over several lines cannot go into a one-line guard.
    return [v for v in dict.fromkeys(values) if v and "\n" not in v]


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _starts_its_line(lines: list[str], node: ast.stmt) -> bool:
    """Whether ``node`` is the first thing on its line (a grown line can go before it)."""
    return node.col_offset == len(_indent_of(lines[node.lineno - 1]))


def _with_lines_before(lines: list[str], inserts: dict[int, list[str]]) -> list[str]:
    """``lines`` with ``inserts[k]`` put before line index ``k``."""
    edited = []
    for index, line in enumerate(lines):
        edited += inserts.get(index, [])
        edited.append(line)
    return edited


def _with_parameter(lines: list[str], header: tuple[int, int], fn: ast.FunctionDef,
                    parameter: str) -> None:
    """Appends ``parameter`` (``name: annotation``) to the one-line header at ``header``
    (:func:`_header_end`), in place."""
    line_index, close = header
    head = lines[line_index]
    separator = ", " if fn.args.args else ""
    lines[line_index] = f"{head[:close]}{separator}{parameter}{head[close:]}"


def _loop_sites(code: str, fn: ast.FunctionDef) -> list[tuple[ast.For, list[str]]]:
    """``for`` loops whose body starts on its own line, with the values a guard may test."""
    sites = []
    for node in _own_nodes(fn):
        if isinstance(node, ast.For) and node.body[0].lineno > node.lineno:
            values = _tested_values(code, node.target, node.body)
            if values:
                sites.append((node, values))
    return sorted(sites, key=lambda site: site[0].lineno)


def _comprehension_sites(code: str, fn: ast.FunctionDef) -> list[tuple[ast.expr, list[str]]]:
    """One-line list and set comprehensions of one ``for``, with the values a test may read."""
    sites = []
    for node in _own_nodes(fn):
        if (isinstance(node, (ast.ListComp, ast.SetComp))
                and node.lineno == node.end_lineno and len(node.generators) == 1
                and not node.generators[0].is_async):
            values = _tested_values(code, node.generators[0].target, [node.elt])
            if values:
                sites.append((node, values))
    return sorted(sites, key=lambda site: (site[0].lineno, site[0].col_offset))


def _body_start(fn: ast.FunctionDef) -> ast.stmt:
    """The first statement after the docstring (where the set is made for a nested loop)."""
    body = fn.body
    if (len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        return body[1]
    return body[0]


def _one_function(code: str) -> ast.FunctionDef | None:
    """The function ``code`` defines, when it parses and is one plain ``def``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    return tree.body[0]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def inject_list_guard(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with a list parameter whose set is made once and tested in a
    loop or comprehension (see the module docstring), or None where no site fits: a header
    over several lines, parameters with defaults or ``*``, no loop reading a value to test,
    or a name already taken."""
    fn = _one_function(code)
    if fn is None or not _simple_parameters(fn):
        return None
    lines = code.split("\n")
    header = _header_end(lines, fn)
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
    loops, comprehensions = _loop_sites(code, fn), _comprehension_sites(code, fn)
    if not loops and not comprehensions:
        return None
    use_loop = bool(loops) and (not comprehensions or rng.random() < 0.75)
    if use_loop:
        loop, values = rng.choice(loops)
        value = rng.choice(values)
        test = rng.choice(("not in", "in"))
        first = loop.body[0]
        body_indent = _indent_of(lines[first.lineno - 1])
        guard = [f"{body_indent}if {value} {test} {set_name}:", f"{body_indent}    continue"]
        at_top = loop in fn.body
        anchor = loop if at_top else _body_start(fn)
        # A decorator-less statement's own line; a loop's set goes right before it, a nested
        # loop's at the top of the function (made once per call, as a hoisted set would be).
        inserts = {anchor.lineno - 1: [f"{_indent_of(lines[anchor.lineno - 1])}{set_name} = "
                                       f"set({listed})"],
                   first.lineno - 1: guard}
        lines = _with_lines_before(lines, inserts)
    else:
        comp, values = rng.choice(comprehensions)
        value = rng.choice(values)
        row = lines[comp.lineno - 1]
        if comp.end_col_offset is None:
            return None
        close = comp.end_col_offset - 1  # the comprehension's closing bracket
        lines[comp.lineno - 1] = f"{row[:close]} if {value} in {set_name}{row[close:]}"
        body_first = _body_start(fn)
        index = body_first.lineno - 1
        lines.insert(index, f"{_indent_of(lines[index])}{set_name} = set({listed})")
    _with_parameter(lines, header, fn, f"{listed}: list[str]")
    grown = "\n".join(lines)
    return grown if _parses(grown) else None


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
    fn = _one_function(code)
    if fn is None:
        return None
    lists = _empty_lists(fn)
    lines = code.split("\n")
    sites = []
    for loop in _own_nodes(fn):
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
    indent = _indent_of(row)
    lines[statement.lineno - 1:statement.lineno] = [
        f"{indent}if {spelled} not in {seen}:", f"{indent}    {seen}.add({spelled})",
        f"{indent}    {row.strip()}"]
    made = lists[out]
    lines.insert(made.lineno, f"{_indent_of(lines[made.lineno - 1])}{seen} = set()")
    grown = "\n".join(lines)
    return grown if _parses(grown) else None


def _min_max_statements(lines: list[str], fn: ast.FunctionDef) -> list[tuple[ast.stmt, str]]:
    """Statements of ``fn``, each alone at the start of its line, that read ``min(xs)`` /
    ``max(xs, key=...)`` of a plain name once, before anything else of theirs runs (outside
    any lambda, comprehension or conditional part): (statement, the name)."""
    found = []
    for site in sites(fn, is_min_max_of_name):
        statement, node = site[2], site[-1]
        if _starts_its_line(lines, statement):
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
    values = [value for value in _tested_values(code, ast.Name(id=item), body) if value != item]
    for part in body:
        for node in ast.walk(part):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == item
                    and not node.keywords
                    and all(isinstance(arg, ast.Constant) for arg in node.args)):
                values.append(ast.get_source_segment(code, node) or "")
    return [v for v in dict.fromkeys(values) if v and "\n" not in v]


#: Keys for an item the loop reads nothing of (drawn per function): application code's
#: pickers always have one, so the grown code does too.
_ITEM_KEYS = ("len({item})", "str({item})", "{item}[0]", "{item}[-1]", "repr({item})")


def _extreme_loop_sites(code: str, lines: list[str],
                        fn: ast.FunctionDef) -> list[tuple[ast.For, list[str]]]:
    """``for x in xs:`` loops over a plain name with a plain target, alone on their line,
    with the keys that may pick the extreme item of ``xs`` before the loop."""
    return [(loop, _key_values(code, loop.target.id, loop.body))
            for loop, _ in _loop_sites(code, fn)
            if isinstance(loop.iter, ast.Name) and isinstance(loop.target, ast.Name)
            and _starts_its_line(lines, loop)]


#: Names of a flag asking a function for only the extreme item (drawn per function).
FLAG_NAMES = ("only_extreme", "pick_one", "first_only", "best_only", "single")


def _extreme_call(which: str, items: str, item: str, keys: list[str],
                  rng: random.Random) -> str:
    """``min(items, key=lambda item: key)``: the key a value the loop reads of the item, or,
    where it reads none, one of :data:`_ITEM_KEYS`. (The held-out pickers all have a key, and
    a model shown keyless ones mostly drops or invents it instead of copying it.)"""
    key = rng.choice(keys) if keys else rng.choice(_ITEM_KEYS).format(item=item)
    return f"{which}({items}, key=lambda {item}: {key})"


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
    indent = _indent_of(lines[loop.lineno - 1])
    header = _header_end(lines, fn) if _simple_parameters(fn) else None
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
        _with_parameter(grown, header, fn, f"{flag}: bool")
        return "\n".join(grown)
    free = [name for name in EXTREME_NAMES[which] if name not in taken]
    if not free:
        return None
    extreme = rng.choice(free)
    body_indent = _indent_of(lines[loop.body[0].lineno - 1])
    inserts = {loop.lineno - 1: [f"{indent}if not {items}:", f"{indent}    {_EMPTY_GUARD}",
                                 f"{indent}{extreme} = {call}"],
               loop.body[0].lineno - 1: [f"{body_indent}if {item} is {extreme}:",
                                         f"{body_indent}    continue"]}
    return "\n".join(_with_lines_before(lines, inserts))


def inject_empty_guard(code: str, rng: random.Random) -> str | None:
    """``code`` (one function) with ``if not xs: raise IndexError`` before a statement that
    reads ``min(xs, key=...)`` / ``max(xs, ...)``: the fast form of application code's
    ``sorted(xs, key=...)[0]``, which fails on an empty list with that IndexError
    (``min_to_sorted_index`` writes that slow side). A function without such a statement
    but with a loop ``for x in xs:`` gets one before the loop, the guard before it,
    and the extreme item skipped in the loop (``lowest = min(xs, key=lambda x: x.price)``;
    ``if x is lowest: continue``), returned at once when a new last parameter asks for it
    (``if only_extreme: ... return min(xs, key=...)``) or returned in place of the loop and
    all after it, ``key`` a value the loop already reads of the item (its length or text
    where it reads none). None where nothing fits, or the
    function rebinds ``IndexError``."""
    fn = _one_function(code)
    if fn is None or "IndexError" in Names(fn).taken:
        return None
    lines = code.split("\n")
    found = _min_max_statements(lines, fn)
    if found:
        statement, name = rng.choice(found)
        indent = _indent_of(lines[statement.lineno - 1])
        lines[statement.lineno - 1:statement.lineno - 1] = [f"{indent}if not {name}:",
                                                            f"{indent}    {_EMPTY_GUARD}"]
        grown: str | None = "\n".join(lines)
    else:
        grown = _grow_extreme_before_loop(code, lines, fn, rng)
    return grown if grown is not None and _parses(grown) else None


def _sequence_names(fn: ast.FunctionDef) -> set[str]:
    """Names ``fn`` takes as plain parameters or binds only to new lists: what ``reversed``
    may be given (the other bindings may be generators or sets, which it refuses)."""
    args = fn.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for node in _own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.discard(node.id)
    names |= _local_lists(fn)
    return names


def _local_lists(fn: ast.FunctionDef) -> set[str]:
    """Names bound once in ``fn``, to a list display, a list comprehension or ``list(...)``."""
    bound: dict[str, list[ast.AST]] = {}
    for node in _own_nodes(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.setdefault(node.id, []).append(node)
    found = set()
    for node in _own_nodes(fn):
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
    fn = _one_function(code)
    if fn is None or "reversed" in Names(fn).taken:
        return None
    sequences = _sequence_names(fn)
    lines = code.split("\n")
    found = [node for node in _own_nodes(fn)
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
    return grown if _parses(grown) else None


#: The idioms a corpus can be grown by: the function, and the suffix of the grown rows' ids.
IDIOMS = {"list-guard": (inject_list_guard, "inject"),
          "seen-set": (inject_seen_set, "inject-seen"),
          "empty-guard": (inject_empty_guard, "inject-empty"),
          "reversed": (inject_reversed, "inject-reversed")}


def injected_rows(rows: Iterator[dict], seed: int = 0,
                  idiom: str = "list-guard") -> Iterator[dict]:
    """One grown copy of each corpus row that has a site for ``idiom`` (:data:`IDIOMS`), as a
    corpus row (``id`` + the idiom's suffix: ``:inject``, ``:inject-seen`` ...)."""
    grow, suffix = IDIOMS[idiom]
    for row in rows:
        rng = random.Random(f"{seed}:{row['id']}")
        grown = grow(row["code"], rng)
        if grown is None:
            continue
        yield {**row, "id": f"{row['id']}:{suffix}", "code": grown, "abstract": ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus JSONL (corpus.py)")
    parser.add_argument("--out", type=Path, required=True, help="grown corpus JSONL to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of each function's choices")
    parser.add_argument("--idiom", choices=sorted(IDIOMS), default="list-guard",
                        help="the fast idiom to grow the functions by")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"inject: corpus {args.corpus} does not exist", file=sys.stderr)
        return 2
    from .real_pairs import iter_corpus

    grown = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in injected_rows(iter_corpus(args.corpus), args.seed, args.idiom):
            grown += 1
            out.write(json.dumps(row) + "\n")
    print(f"inject: {grown} functions grown -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
