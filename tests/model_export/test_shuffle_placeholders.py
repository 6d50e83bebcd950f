"""Shuffled placeholder numbers: one renaming for both sides, only the input's names."""

from __future__ import annotations

import json
import random

from perfrl.sources.identifiers import rename_identifiers
from perfrl_train.data.shuffle_placeholders import (
    main,
    placeholders,
    shuffle_rows,
    shuffled_row,
)

SLOW = (
    "def v0(v1, v2):\n"
    '    "s0"\n'
    "    v3 = []\n"
    "    for v4 in v1.v2:\n"
    "        if v4 not in list(v2.keys()):\n"
    "            v3.append(v4)  # v1 stays in a comment\n"
    '    return v3, "v2"\n'
)
FAST = (
    "def v0(v1, v2):\n"
    '    "s0"\n'
    "    v5 = set(v2)\n"
    "    v3 = [v4 for v4 in v1.v2 if v4 not in v5]\n"
    '    return v3, "v2"\n'
)


def test_placeholders_are_names_in_order_without_attributes_or_v0():
    assert placeholders(SLOW) == ["v1", "v2", "v3", "v4"]
    assert placeholders(FAST) == ["v1", "v2", "v5", "v3", "v4"]


def test_a_shuffled_row_renames_both_sides_with_one_permutation():
    renamed = [shuffled_row({"slow": SLOW, "fast": FAST, "id": "x"}, random.Random(seed))
               for seed in range(20)]
    assert all(r is not None for r in renamed)
    changed = [r for r in renamed if r is not None and r.get("placeholders") == "shuffled"]
    assert changed, "no seed of 20 moved a name"
    for row in changed:
        slow_names = placeholders(row["slow"])
        assert sorted(slow_names) == ["v1", "v2", "v3", "v4"]
        # The mapping the row used, read back from the slow side, undoes both sides.
        back = {new: old for old, new in zip(["v1", "v2", "v3", "v4"], slow_names, strict=True)}
        assert rename_identifiers(row["slow"], back) == SLOW
        assert rename_identifiers(row["fast"], back) == FAST
        # What is not a NAME token of the input stays: the new name, attributes, strings,
        # comments, the function's own name.
        for kept in ("v5 = set(", ".v2", '"v2"', "# v1 stays", "def v0("):
            assert kept in row["fast"] or kept in row["slow"]
        assert row["id"] == "x"


def test_a_row_that_does_not_tokenize_is_not_renamed():
    assert shuffled_row({"slow": "def v0(v1:\n", "fast": "x\n"}, random.Random(0)) is None
    rows = list(shuffle_rows([{"slow": "def v0(v1:\n", "fast": "x\n"}], share=1.0))
    assert rows == [{"slow": "def v0(v1:\n", "fast": "x\n"}]


def test_shuffle_rows_is_reproducible_and_honours_the_share():
    rows = [{"slow": SLOW, "fast": FAST, "id": str(k)} for k in range(200)]
    first = list(shuffle_rows(rows, share=0.5, seed=3))
    assert first == list(shuffle_rows(rows, share=0.5, seed=3))
    shuffled = sum(r.get("placeholders") == "shuffled" for r in first)
    assert 60 < shuffled < 100  # half drawn, of which 23 in 24 permutations move a name
    assert list(shuffle_rows(rows, share=0.0)) == rows


def test_the_command_renames_training_rows_and_keeps_validation(tmp_path, capsys):
    data = tmp_path / "mix"
    data.mkdir()
    rows = [{"slow": SLOW, "fast": FAST, "id": str(k)} for k in range(10)]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (data / "valid.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert main(["--data", str(data), "--out", str(tmp_path / "out"), "--share", "1"]) == 0
    out = [json.loads(line) for line in (tmp_path / "out/train.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert any(r["slow"] != SLOW for r in out)
    assert (tmp_path / "out/valid.jsonl").read_text() == (data / "valid.jsonl").read_text()
    assert "of 10 training rows renamed" in capsys.readouterr().out
