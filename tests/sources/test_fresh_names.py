"""Variables a model rewrite introduces get names that say what they hold
(perfrl.sources.fresh_names), and the renamed rewrite does what it did."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfrl.engine.locate import locate_function
from perfrl.sources.fresh_names import name_fresh_variables as _name_fresh_variables


def name_fresh_variables(code: str, original_source: str) -> str:
    """The renaming as the model source calls it, on the parses of both texts."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the model source only names candidates that parse
    return _name_fresh_variables(code, tree, ast.parse(original_source))


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory"
#: The example project's catalog.unknown_skus, as the user wrote it.
UNKNOWN_SKUS = locate_function("inventory/catalog.py::unknown_skus", EXAMPLE).source

#: What the shipped model's region rewrite of it gives, once placeholders are mapped back.
MODEL_REWRITE = UNKNOWN_SKUS.replace(
    "    unknown = []\n", "    new_0 = set(carried)\n    unknown = []\n").replace(
    "if sku not in carried:", "if sku not in new_0:")


def _call(code: str, *args):
    namespace: dict = {}
    exec(compile(code, "<rewrite>", "exec"), namespace)  # noqa: S102 - test data written above
    function = next(v for k, v in namespace.items() if callable(v) and not k.startswith("__"))
    return function(*args)


def test_the_set_the_model_makes_is_named_after_the_list_it_holds():
    named = name_fresh_variables(MODEL_REWRITE, UNKNOWN_SKUS)
    assert "carried_set = set(carried)" in named and "if sku not in carried_set:" in named
    assert "new_0" not in named
    orders = [{"sku": s} for s in ("a", "zz", "b", "zz")]
    products = [{"sku": "a"}, {"sku": "b"}]
    assert _call(named, orders, products) == _call(UNKNOWN_SKUS, orders, products) == [
        "zz", "zz"]


@pytest.mark.parametrize("binding, expected", [
    ("new_0 = set(rows)", "rows_set"),
    ("new_0 = frozenset(self.rows)", "rows_set"),
    ("new_0 = {row['sku'] for row in rows}", "sku_set"),
    ("new_0 = {row.sku: row for row in rows}", "by_sku"),
    ("new_0 = sorted(rows)", "sorted_rows"),
    ("new_0 = len(rows)", "rows_count"),
    ("new_0 = Counter(rows)", "rows_counts"),
    ("new_0 = re.compile('a+')", "pattern"),
    ("new_0 = rows.append", "rows_append"),
    ("for new_0 in rows: pass", "row"),
    ("for new_0 in range(len(rows)): pass", "index"),
    ("for new_0 in table.values(): pass", "value"),
    ("total = [new_0 * 2 for new_0 in prices]", "price"),
])
def test_each_rule_names_what_the_binding_holds(binding, expected):
    original = "def f(rows, table, prices, self):\n    return rows\n"
    code = f"def f(rows, table, prices, self):\n    {binding}\n    return new_0\n"
    named = name_fresh_variables(code, original)
    assert f"return {expected}\n" in named, named
    assert "new_0" not in named


@pytest.mark.parametrize("binding", [
    "new_0 = rows[0] + 1",  # no rule knows what this is: an honest placeholder stays
    "new_0, new_1 = rows",  # a tuple target
    "for new_0 in zip(rows, rows): pass",
    "for new_0 in ss: pass",  # too short a plural to take apart
])
def test_a_binding_no_rule_knows_keeps_its_placeholder(binding):
    code = f"def f(rows, ss):\n    {binding}\n    return new_0\n"
    assert name_fresh_variables(code, "def f(rows, ss):\n    return rows\n") == code


def test_a_name_already_used_gets_a_number_and_nothing_else_changes():
    original = "def f(rows, row, row_2):\n    return [row, row_2]\n"
    code = ("def f(rows, row, row_2):\n    out = []\n    for new_0 in rows:\n"
            "        out.append(new_0)\n    return out + [row, row_2, rows.new_0]\n")
    named = name_fresh_variables(code, original)
    # The attribute ``rows.new_0`` is another object's name: left alone.
    assert named == code.replace("new_0 in", "row_3 in").replace("append(new_0)",
                                                                   "append(row_3)")


def test_a_builtin_is_never_shadowed():
    code = "def f(ranges):\n    for new_0 in ranges:\n        print(new_0)\n"
    named = name_fresh_variables(code, "def f(ranges):\n    pass\n")
    assert "for range_2 in ranges:" in named  # not `range`, which the function may call


def test_the_users_own_new_0_is_never_renamed():
    original = "def f(rows):\n    new_0 = set(rows)\n    return len(new_0)\n"
    code = "def f(rows):\n    new_0 = set(rows)\n    return len(new_0) + 0\n"
    assert name_fresh_variables(code, original) == code


def test_without_the_original_every_new_name_is_still_checked_against_the_rewrite():
    code = "def f(rows, rows_set):\n    new_0 = set(rows)\n    return new_0 - rows_set\n"
    named = _name_fresh_variables(code, ast.parse(code), None)
    assert "rows_set_2 = set(rows)" in named and "return rows_set_2 - rows_set" in named


def test_a_variable_spelled_like_a_keyword_argument_keeps_its_name():
    code = ("def f(rows):\n    new_0 = set(rows)\n"
            "    return dict(new_0=len(new_0))\n")
    assert name_fresh_variables(code, "def f(rows):\n    pass\n") == code


def test_a_rewrite_reaching_its_variable_by_spelling_does_what_it_did():
    """Hostile or merely introspective: the variable read back through ``locals()`` and
    ``eval``. Renaming it would turn a working rewrite into a failing one (or the reverse);
    it keeps its name, so the text verified and applied behaves as the model wrote it."""
    code = ("def f(rows):\n    new_0 = set(rows)\n"
            "    return len(locals()['new_0']) + len(eval('new_0'))\n")
    named = name_fresh_variables(code, "def f(rows):\n    return 0\n")
    assert named == code
    assert _call(named, [1, 2, 2]) == 4
