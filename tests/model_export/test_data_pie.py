"""The PIE loader: records, tests, defect flags and the 2to3 repair."""

from __future__ import annotations

import ast
import json
import warnings

import pytest

from perfrl_train.data.pie import (
    DEFAULT_PIE_DIR,
    PieFormatError,
    load_pie_pairs,
    outputs_match,
    repair_2to3,
    write_pie_jsonl,
)
from tests.conftest import needs_file

needs_pie = needs_file(DEFAULT_PIE_DIR / "test.jsonl", "PIE copy")


def test_repair_2to3_unwraps_only_whole_argument_tuples():
    src = (
        "print((a, b))\nprint((*xs))\nprint((a + b) * 2)\nprint((x))\n"
        "obj.print((1, 2))\nprint(('a,b'))\nprint((i, j), end='')\n"
        "n = int(eval(input()))\n"
    )
    fixed = repair_2to3(src)
    assert fixed.splitlines()[:7] == [
        "print(a, b)",
        "print(*xs)",
        "print((a + b) * 2)",
        "print((x))",
        "obj.print((1, 2))",
        "print(('a,b'))",
        "print((i, j), end='')",
    ]
    assert "eval(input())" in fixed
    assert "int(input())" in repair_2to3(src, undo_eval_input=True)
    ast.parse(fixed)  # print((*xs)) was a SyntaxError before


def test_outputs_match_ignores_trailing_whitespace_only():
    assert outputs_match("1 2  \n3\n\n", "1 2\n3")
    assert not outputs_match("1 2\n3", "1 2\n4")
    assert not outputs_match(" 1", "1")


def test_missing_pie_dir_gives_an_actionable_error(tmp_path):
    with pytest.raises(PieFormatError, match="test.jsonl"):
        load_pie_pairs(tmp_path)


@needs_pie
def test_loads_all_rows_with_tests_and_flags():
    pairs = load_pie_pairs()
    assert len(pairs) == 996
    assert all(p.split == "test" for p in pairs)
    assert all(p.tests and len(p.tests) == len(p.test_names) for p in pairs)
    # Figures from the PIE README: 102 runtime-suspect rows, 690 usable non-numpy pairs.
    assert sum(p.runtime_suspect for p in pairs) == 102
    assert sum(p.usable for p in pairs) == 690
    assert any(p.numpy_asymmetry for p in pairs)
    suspect = [p for p in pairs if p.suspect_tests]
    assert suspect and all(len(p.trusted_tests()) < len(p.tests) for p in suspect)
    # Every program is valid Python 3.11 after the repairs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old submissions have invalid escape sequences
        for p in pairs:
            for side in ("slow", "fast"):
                ast.parse(p.program(side))


@needs_pie
def test_pie_jsonl_is_eval_only(tmp_path):
    pairs = load_pie_pairs(limit=5)
    path = tmp_path / "pie.jsonl"
    assert write_pie_jsonl(path, pairs) == 5
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0]["problem_id"] == pairs[0].problem_id and rows[0]["tests"]
    pairs[0].split = "train"
    with pytest.raises(AssertionError, match="eval-only"):
        write_pie_jsonl(path, pairs)
