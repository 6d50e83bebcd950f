"""Outputs reading an attribute their annotated parameter's type does not have are dropped
before the verifier; what the rule cannot be sure of is left to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.locate import locate_function
from perfrl.inference.onnx_seq2seq import GeneratedSequence
from perfrl.sources.missing_attributes import MISSING_ATTRIBUTE, missing_attributes
from perfrl.sources.model import select_clean


def fn(code: str):
    [function] = ast.parse(code).body
    assert isinstance(function, ast.FunctionDef)
    return function


ORIGINAL = ("def totals(records: list[dict], label: str) -> dict:\n    out = {}\n"
            "    for record in records:\n        out[record['k']] = label.upper()\n"
            "    return out\n")


def test_a_list_read_as_a_dict_is_caught_and_really_fails() -> None:
    output = ("def totals(records: list[dict], label: str) -> dict:\n"
              "    return {k: label for k, v in records.items()}\n")
    assert missing_attributes(fn(output), fn(ORIGINAL)) == ["records.items"]
    namespace: dict = {}
    exec(output, namespace)  # noqa: S102 - test code
    with pytest.raises(AttributeError):
        namespace["totals"]([{"k": 1}], "x")


@pytest.mark.parametrize("output", [
    # Attributes the types have.
    "def totals(records: list[dict], label: str) -> dict:\n    records.sort()\n"
    "    return {label.strip(): records.count(1)}\n",
    # Rebound: the name is no longer the parameter.
    "def totals(records: list[dict], label: str) -> dict:\n    records = dict(records)\n"
    "    return records.items()\n",
    "def totals(records: list[dict], label: str) -> dict:\n"
    "    return [records.items() for records in ({},)]\n",
    "def totals(records: list[dict], label: str) -> dict:\n"
    "    f = lambda records: records.items()\n    return f({})\n",
    # Not annotated as a builtin container: nothing is known.
    "def totals(records, label: str) -> dict:\n    return records.items()\n",
])
def test_what_the_rule_cannot_be_sure_of_is_left_to_the_verifier(output: str) -> None:
    assert missing_attributes(fn(output), fn(ORIGINAL)) == []


def test_an_attribute_the_original_reads_itself_is_allowed() -> None:
    # The annotation does not tell the whole truth (a list subclass with .items): the
    # original's own use stands.
    original = ("def f(rows: list[dict]) -> list:\n    out = []\n"
                "    for key in rows.items():\n        out.append(key)\n    return out\n")
    output = "def f(rows: list[dict]) -> list:\n    return list(rows.items())\n"
    assert missing_attributes(fn(output), fn(original)) == []


def test_the_model_source_drops_it_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(ORIGINAL)
    target = locate_function("mod.py::totals", tmp_path)
    original = original_candidate(target)
    outputs = [
        GeneratedSequence("def totals(records: list[dict], label: str) -> dict:\n"
                          "    return dict(records.items())\n", [], -0.1),
        GeneratedSequence("def totals(records: list[dict], label: str) -> dict:\n"
                          "    return {r['k']: label.upper() for r in records}\n", [], -0.2),
    ]
    kept, dropped = select_clean(outputs, target, original, DistinctCandidates(original))
    assert [c.label for c in kept] == ["sample 1"]
    assert dropped == {MISSING_ATTRIBUTE: 1}
