"""While loops nothing in them can end are dropped before the verifier; every loop that
could end is left to it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.endless_loops import ENDLESS_LOOP, endless_loop
from perfrl.sources.model import select_clean


def fn(code: str):
    [function] = ast.parse(code).body
    assert isinstance(function, ast.FunctionDef)
    return function


#: What the shipped model wrote for the example's shelf_names in 7 outputs of 8 jobs: the
#: increment gone.
STUCK = ("def shelf_names(products):\n    names = []\n    i = 0\n"
         "    while i < len(products):\n        if products[i]['active']:\n"
         "            names.append(products[i]['name'])\n    return names\n")


def test_the_loop_without_its_increment_is_caught_and_really_never_ends() -> None:
    assert endless_loop(fn(STUCK)) == 4
    namespace: dict = {}
    exec(STUCK, namespace)  # noqa: S102 - test code
    turns = 0

    def tracer(frame, event, arg):
        # Entered, the loop runs on: stopped after many turns in the function.
        nonlocal turns
        if event == "line" and frame.f_code.co_name == "shelf_names":
            turns += 1
            if turns > 10_000:
                raise TimeoutError
        return tracer

    sys.settrace(tracer)
    try:
        with pytest.raises(TimeoutError):
            namespace["shelf_names"]([{"active": False, "name": "a"}])
    finally:
        sys.settrace(None)
    assert namespace["shelf_names"]([]) == []  # not entered: it ends (dead code)


@pytest.mark.parametrize("body", [
    "        i += 1\n",                                   # the increment
    "        products.pop()\n",                          # the list shrinks
    "        if products[i]['x']:\n            break\n",  # a way out
    "        return names\n",
    "        del products[0]\n",
    "        shrink(products)\n",                        # a call may change it
    "        rows.pop()\n",                              # through another name
])
def test_a_loop_that_could_end_is_left_to_the_verifier(body: str) -> None:
    code = ("def f(products, shrink):\n    names = []\n    rows = products\n    i = 0\n"
            "    while i < len(products):\n        names.append(i)\n" + body
            + "    return names\n")
    assert endless_loop(fn(code)) is None


@pytest.mark.parametrize("code", [
    # A global may change in any call.
    "def f():\n    while COUNT < 3:\n        bump()\n",
    # A closure may change it.
    "def f():\n    n = 0\n    def step():\n        nonlocal n\n        n += 1\n"
    "    while n < 3:\n        step()\n",
    # `while True:` and conditions the rule does not read (calls, attributes).
    "def f(q):\n    while True:\n        q.get()\n",
    "def f(q):\n    while not q.empty():\n        print(1)\n",
    "def f(node):\n    while node.next:\n        print(1)\n",
])
def test_what_the_rule_cannot_follow_is_left_alone(code: str) -> None:
    assert endless_loop(fn(code)) is None


def test_the_model_source_drops_it_and_says_why(tmp_path: Path) -> None:
    original = ("def shelf_names(products):\n    names = []\n    i = 0\n"
                "    while i < len(products):\n        if products[i]['active']:\n"
                "            names.append(products[i]['name'])\n        i = i + 1\n"
                "    return names\n")
    (tmp_path / "mod.py").write_text(original)
    target = locate_function("mod.py::shelf_names", tmp_path)
    clean = original_candidate(target)
    outputs = [GeneratedSequence(STUCK, [], -0.1),
               GeneratedSequence("def shelf_names(products):\n    return [p['name'] for p in "
                                 "products if p['active']]\n", [], -0.2)]
    kept, dropped = select_clean(outputs, target, clean, DistinctCandidates(clean))
    assert [c.label for c in kept] == ["sample 1"]
    assert dropped == {ENDLESS_LOOP: 1}


def test_storing_the_index_in_a_list_the_function_made_changes_nothing() -> None:
    # The other form the model wrote: the index appended, the increment gone.
    stuck = ("def f(products):\n    names = []\n    i = 0\n    while i < len(products):\n"
             "        names.append(i)\n    return names\n")
    assert endless_loop(fn(stuck)) == 4
    # A list that came from outside may be anything: its append might change its argument.
    given = ("def f(products, names):\n    i = 0\n    while i < len(products):\n"
             "        names.append(products)\n    return names\n")
    assert endless_loop(fn(given)) is None
    # Nor when the list the function made is also bound to something else.
    rebound = ("def f(products, other):\n    names = []\n    names = other\n    i = 0\n"
               "    while i < len(products):\n        names.append(products)\n    return names\n")
    assert endless_loop(fn(rebound)) is None
