"""Outputs that return nothing where the function returns a value are dropped before the
verifier; everything the rule does not cover is left to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.lost_result import LOST_RESULT, loses_result
from perfrl.sources.model import select_clean


def fn(code: str):
    [function] = ast.parse(code).body
    assert isinstance(function, ast.FunctionDef)
    return function


NAMES = ("def names(products):\n    out = []\n    for p in products:\n"
         "        out.append(p['name'])\n    return out\n")
#: What the region rewrites of shelf_names did: the loop, then the old increment where the
#: return was.
LOST = ("def names(products):\n    out = []\n    for i in range(len(products)):\n"
        "        out.append(products[i]['name'])\n    i = i + 1\n")


def test_a_rewrite_that_dropped_the_return_is_caught_and_really_returns_none() -> None:
    assert loses_result(fn(LOST), fn(NAMES))
    namespace: dict = {}
    exec(LOST, namespace)  # noqa: S102 - test code
    assert namespace["names"]([{"name": "a"}]) is None


@pytest.mark.parametrize("output", [
    NAMES,
    "def names(products):\n    return [p['name'] for p in products]\n",
    # A value returned on one path only still may pass: the verifier decides.
    "def names(products):\n    if products:\n        return [p['name'] for p in products]\n",
    "def names(products):\n    yield from (p['name'] for p in products)\n",
])
def test_a_rewrite_returning_a_value_somewhere_is_left_to_the_verifier(output: str) -> None:
    assert not loses_result(fn(output), fn(NAMES))


@pytest.mark.parametrize("original", [
    "def log(items):\n    for item in items:\n        print(item)\n",
    "def log(items):\n    for item in items:\n        print(item)\n    return None\n",
    "def log(items):\n    yield from items\n    return 3\n",          # a generator
    "def log(items):\n    def inner():\n        return 1\n    print(inner)\n",  # nested only
])
def test_no_check_where_the_original_returns_nothing_of_its_own(original: str) -> None:
    assert not loses_result(fn("def log(items):\n    print(items)\n"), fn(original))


def test_a_value_returned_only_by_a_nested_function_or_lambda_is_not_the_result() -> None:
    output = "def names(products):\n    key = lambda p: p['name']\n    print(key)\n"
    assert loses_result(fn(output), fn(NAMES))


def test_the_model_source_drops_it_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(NAMES)
    target = locate_function("mod.py::names", tmp_path)
    original = original_candidate(target)
    outputs = [GeneratedSequence(LOST, [], -0.1),
               GeneratedSequence("def names(products):\n    return [p['name'] for p in "
                                 "products]\n", [], -0.2)]
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
    assert [c.label for c in kept] == ["sample 1"]
    assert dropped == {LOST_RESULT: 1}
