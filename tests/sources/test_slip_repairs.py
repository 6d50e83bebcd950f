"""The model's two copying slips, mended: each repair runs and computes what the model meant
(executed on inputs), and nothing is mended where the evidence is missing."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.model import select_clean
from perfrl.sources.slip_repairs import DEAD_LOOP_INCREMENT, RANGE_OVER_SEQUENCE
from perfrl.sources.slip_repairs import repair_slips as repair_parsed
from tests.conftest import drain

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory"
#: The example project's reports.shelf_names, as written there.
SHELF_NAMES = locate_function("inventory/reports.py::shelf_names", EXAMPLE).source

#: What EDITR6 writes for most seeds: the idea right, the copy wrong in one or both places.
BOTH_SLIPS = '''def shelf_names(products):
    """The names of the active products for the shelf labels, in catalog order."""
    names = []
    for i in range(products):  # by index
        if products[i]["active"]:
            names.append(products[i]["name"])
        i = i + 1
    return names
'''

MENDED = '''def shelf_names(products):
    """The names of the active products for the shelf labels, in catalog order."""
    names = []
    for i in range(len(products)):  # by index
        if products[i]["active"]:
            names.append(products[i]["name"])
    return names
'''

PRODUCTS = [
    [],
    [{"active": True, "name": "a"}],
    [{"active": False, "name": "a"}, {"active": True, "name": "b"},
     {"active": True, "name": "c"}],
]


def repair_slips(code: str, original: str) -> tuple[str, list[str]]:
    """The repair on texts, as the model source calls it on its parsed candidates."""
    [function] = ast.parse(code).body
    [original_function] = ast.parse(original).body
    assert isinstance(function, ast.FunctionDef)
    assert isinstance(original_function, ast.FunctionDef)
    return repair_parsed(code, function, original_function)


def run(code: str, name: str, *args):
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)  # noqa: S102 - test code
    return namespace[name](*args)


def test_both_slips_mended_in_place_and_the_result_behaves_as_the_original() -> None:
    with pytest.raises(TypeError):
        run(BOTH_SLIPS, "shelf_names", PRODUCTS[1])
    code, repairs = repair_slips(BOTH_SLIPS, SHELF_NAMES)
    assert code == MENDED  # the comment and the layout kept
    assert sorted(repairs) == sorted([RANGE_OVER_SEQUENCE, DEAD_LOOP_INCREMENT])
    for products in PRODUCTS:
        assert run(code, "shelf_names", products) == run(SHELF_NAMES, "shelf_names", products)


@pytest.mark.parametrize("increment", ["i += 1", "i = i + 1"])
def test_a_dead_increment_goes_and_the_function_computes_the_same(increment: str) -> None:
    candidate = ("def evens(xs):\n    out = []\n    for i in range(len(xs)):\n"
                 "        if i % 2 == 0:\n            out.append(xs[i])\n"
                 f"        {increment}  # left over\n    return out\n")
    code, repairs = repair_slips(candidate, "def evens(xs):\n    return xs[::2]\n")
    assert repairs == [DEAD_LOOP_INCREMENT]
    assert increment not in code
    for xs in ([], [1], [1, 2, 3, 4, 5]):
        assert run(code, "evens", xs) == run(candidate, "evens", xs)


@pytest.mark.parametrize("reader", [
    "    return out, i\n",                       # read after the loop
    "    print(i)\n    return out\n",
])
def test_an_increment_read_after_the_loop_stays(reader: str) -> None:
    candidate = ("def f(xs):\n    out = []\n    for i in range(len(xs)):\n"
                 "        out.append(xs[i])\n        i += 1\n" + reader)
    assert repair_slips(candidate, "def f(xs):\n    pass\n") == (candidate, [])


def test_an_increment_under_a_global_or_in_an_else_loop_stays() -> None:
    declared = ("def f(xs):\n    global i\n    for i in range(len(xs)):\n"
                "        print(xs[i])\n        i += 1\n")
    with_else = ("def f(xs):\n    for i in range(len(xs)):\n        print(xs[i])\n"
                 "        i += 1\n    else:\n        pass\n")
    alone = "def f(xs):\n    for i in range(len(xs)):\n        i += 1\n"
    shared_line = "def f(xs):\n    for i in range(len(xs)):\n        print(i); i += 1\n"
    for candidate in (declared, with_else, alone, shared_line):
        assert repair_slips(candidate, "def f(xs):\n    pass\n") == (candidate, [])


def test_range_is_mended_only_for_a_name_the_original_measures_and_never_counts_with() -> None:
    # n is a number in the original (a range bound): range(n) is right.
    original = ("def f(items, n):\n    out = []\n    i = 0\n    while i < len(items) and i < n:\n"
                "        out.append(items[i])\n        i += 1\n    return out\n")
    candidate = "def f(items, n):\n    return [items[i] for i in range(n)]\n"
    assert repair_slips(candidate, original) == (candidate, [])
    # items is used in arithmetic in the original: no evidence it is a sequence only.
    counted = "def g(items):\n    return len(items) + items * 2\n"
    assert repair_slips("def g(items):\n    return list(range(items))\n", counted)[1] == []
    # The candidate binds the name itself: its own number.
    own = "def h(items):\n    items = len(items)\n    return list(range(items))\n"
    assert repair_slips(own, "def h(items):\n    return list(range(len(items)))\n")[1] == []
    # The two-argument form: the stop is mended, the start left alone.
    two = "def k(items):\n    return [items[i] for i in range(1, items)]\n"
    code, repairs = repair_slips(two, "def k(items):\n    return items[1:len(items)]\n")
    assert repairs == [RANGE_OVER_SEQUENCE] and "range(1, len(items))" in code
    assert run(code, "k", [5, 6, 7]) == [6, 7]


def test_the_model_source_selection_mends_and_counts_and_can_be_told_not_to(
    tmp_path: Path,
) -> None:
    (tmp_path / "reports.py").write_text(SHELF_NAMES)
    target = locate_function("reports.py::shelf_names", tmp_path)
    original = original_candidate(target)
    outputs = [GeneratedSequence(BOTH_SLIPS, [], -0.1), GeneratedSequence(MENDED, [], -0.2)]
    repaired: Counter[str] = Counter()
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original),
                                 repaired=repaired)
    # The mended output is the second one's code: one candidate, the other a duplicate.
    assert [c.code.strip() for c in kept] == [MENDED.strip()]
    assert kept[0].label == "greedy"
    assert sum(dropped.values()) == 1
    assert repaired == Counter({RANGE_OVER_SEQUENCE: 1, DEAD_LOOP_INCREMENT: 1})
    kept, _ = select_clean(outputs, target, original, DistinctCandidates(original))
    assert "range(products)" in kept[0].code  # unmended without the counter


@pytest.mark.slow
def test_the_shipped_model_slips_on_the_example_and_the_source_mends_it() -> None:
    # The real model on the example's shelf_names, seed 2 (a seed whose outputs, as written,
    # hold no verified rewrite: docs/model.md, "Slip mending").
    from perfrl.model_contract import default_model_dir
    from perfrl.sources.model import ModelCandidateSource

    target = locate_function("inventory/reports.py::shelf_names", EXAMPLE)

    def job(mend: bool) -> tuple[list[str], str]:
        source = ModelCandidateSource(default_model_dir(), num_candidates=16, seed=2,
                                      mend_slips=mend)
        candidates, note = drain(source.generate(target, 16))
        return [candidate.code for candidate in candidates], note or ""

    written, written_note = job(mend=False)
    assert any("range(products)" in code for code in written), written
    assert "mended" not in written_note
    mended, note = job(mend=True)
    assert "mended: range over a sequence" in note, note
    assert not any("range(products)" in code for code in mended), mended
    assert any("range(len(products))" in code for code in mended), mended
