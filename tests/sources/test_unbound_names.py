"""Outputs that read a name nothing defines are dropped before the verifier; no others."""

from __future__ import annotations

import ast

import pytest

from perfrl.sources.unbound_names import (
    function_names,
    module_names,
    scope_bindings,
    unbound_names,
)

MODULE = '''import re
from collections import Counter as Tally

LIMIT = 10
for _index in range(2):
    LAST = _index
if True:
    FLAG = 1


def helper(x):
    global LATER
    LATER = x
    return x


def median_by_path(records):
    paths = []
    for record in records:
        if record["path"] not in paths:
            paths.append(record["path"])
    return paths


def slowest(records):
    return sorted(records, key=lambda record: record["ms"])[0]


def outer(items):
    seen = set()

    def inner(item):
        return item in seen

    return [i for i in items if inner(i)]
'''


def _function(code: str):
    return ast.parse(code).body[0]


ORIGINAL = _function(
    "def median_by_path(records):\n    paths = []\n"
    "    for record in records:\n        if record['path'] not in paths:\n"
    "            paths.append(record['path'])\n    return paths\n")


@pytest.mark.parametrize("body, unbound", [
    # A name no code anywhere defines: the model's training-data habit.
    ("    new_0 = [r for r in records]\n    return new_1\n", ["new_1"]),
    # A local of the original whose binding line the rewrite dropped: NameError.
    ("    for record in records:\n        paths.append(record['path'])\n    return paths\n",
     ["paths"]),
    # Module-level names of every kind, builtins, and names the rewrite binds itself.
    ("    seen = {LIMIT, LAST, FLAG, LATER, Tally, re, helper, len}\n    return list(seen)\n",
     []),
    ("    return [p for p in dict.fromkeys(r['path'] for r in records)]\n", []),
    ("    return sorted(records, key=lambda item: item['ms'])\n", []),
])
def test_only_names_nothing_could_define_are_unbound(body, unbound):
    output = _function("def median_by_path(records):\n" + body)
    assert unbound_names(output, ORIGINAL, module_names(MODULE)) == unbound


def test_a_closure_may_read_its_enclosing_functions_locals():
    known = module_names(MODULE)
    assert "seen" in known  # ``outer`` holds a nested function: its locals count as visible
    output = _function("def inner(item):\n    return item in seen or item in items\n")
    assert unbound_names(output, _function("def inner(item):\n    return item in seen\n"),
                         known) == []


def test_a_region_rewrite_may_read_what_the_whole_function_binds():
    known = module_names(MODULE) | function_names(_function(
        "def f(config):\n    limit = config.limit\n    return limit\n"))
    output = _function("def region(rows):\n    return rows[:limit]\n")
    assert unbound_names(output, _function("def region(rows):\n    return rows\n"), known) == []


def test_a_region_rewrite_must_bind_what_only_its_region_binds():
    # The held-out ``largest_payment``: a region rewrite reading the while loop's ``i`` that
    # its own lines no longer bind (``for largest in range(...)``) is a certain NameError.
    whole = _function("def largest(payments):\n    best = 0\n    i = 0\n"
                      "    while i < len(payments):\n        best = max(best, payments[i])\n"
                      "        i += 1\n    return best\n")
    region = _function("def region(payments):\n    best = 0\n    i = 0\n"
                       "    while i < len(payments):\n        best = max(best, payments[i])\n"
                       "        i += 1\n    return best\n")
    output = _function("def region(payments):\n    best = 0\n"
                       "    for best in range(len(payments)):\n"
                       "        best = max(best, payments[i])\n    return best\n")
    lines_2_to_7 = (2, 7)
    assert "i" not in function_names(whole, lines_2_to_7)
    assert unbound_names(output, region, module_names(MODULE) | function_names(
        whole, lines_2_to_7)) == ["i"]
    # Bound before the region too: visible (a rewrite may read it).
    assert "i" in function_names(whole, (4, 7)) and "best" in function_names(whole, (4, 7))
    # Without the region's lines, every binding of the function counts, as before.
    assert "i" in function_names(whole)


@pytest.mark.parametrize("module", [
    "from os.path import *\n",
    "globals()['made'] = 1\n",
    "def __getattr__(name):\n    return name\n",
    "def broken(:\n",
])
def test_no_check_where_the_module_can_bind_names_no_statement_shows(module):
    assert module_names(module) is None
    output = _function("def f(x):\n    return made + x\n")
    assert unbound_names(output, None, module_names(module)) == []


def test_a_lambdas_or_comprehensions_own_names_are_not_visible_outside_them():
    # ``record`` is the lambda's parameter: a rewrite reading it outside fails (the held-out
    # ``slowest_request`` drew five such candidates before this rule knew scopes).
    original = _function("def slowest(records):\n"
                         "    return sorted(records, key=lambda record: record['ms'])[0]\n")
    output = _function("def slowest(records):\n"
                       "    best = {r['ms'] for r in record}\n    return best\n")
    known = module_names(MODULE)
    assert "record" not in known and "seen" in known
    assert unbound_names(output, original, known) == ["record"]
    assert "record" not in function_names(original)
    comprehension = _function("def f(rows):\n    out = [row for row in rows if (n := row)]\n"
                              "    return out, n\n")
    assert scope_bindings(comprehension) == {"rows", "out", "n"}
