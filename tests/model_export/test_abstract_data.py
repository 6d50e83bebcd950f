"""perfrl_train.data.abstract: training pairs in placeholder names, as abstraction models read."""

from __future__ import annotations

import re

from perfrl.sources.abstraction import Abstraction, concretize
from perfrl_train.data import generate_pairs
from perfrl_train.data.abstract import main
from perfrl_train.data.pairs import read_jsonl, write_jsonl


def test_pairs_are_abstracted_by_one_table_deduplicated_and_weighted(tmp_path):
    pairs = generate_pairs(8, seed=4, idioms=["records_missing_keys", "manual_sum"])
    originals = {p.id: p for p in pairs}
    source = tmp_path / "pairs.jsonl"
    write_jsonl(source, pairs + pairs)  # every pair twice: kept once, then weighted by :3
    assert main(["--out", str(tmp_path / "out"), "--train", f"{source}:3"]) == 0
    rows = read_jsonl(tmp_path / "out" / "train.jsonl")
    distinct = {(r.slow, r.fast) for r in rows}
    assert len(rows) == 3 * len(distinct) and 0 < len(distinct) <= len(pairs)
    for row in rows:
        assert not re.search(r"\bdef (?!v0\b)", row.slow), row.slow  # the name is a placeholder
        table = Abstraction(**row.meta["abstraction"])
        original = originals[row.id]
        assert concretize(row.slow, table) == original.slow
        assert concretize(row.fast, table) == original.fast


def test_a_missing_file_is_refused(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "out"), "--train", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_concrete_view_runs_the_original_and_maps_outputs_back():
    from perfrl_train.data.abstract import abstract_pair, concrete_view

    original = generate_pairs(2, seed=4, idioms=["manual_sum"])[0]
    abstracted = abstract_pair(original)
    concrete, table = concrete_view(abstracted)
    assert (concrete.slow, concrete.fast, concrete.entry) == (
        original.slow, original.fast, original.entry)
    assert "abstraction" not in concrete.meta and concrete.inputs == original.inputs
    # An output with a placeholder the table lacks gets a fresh name, never a clash.
    assert concretize("def v0(v1):\n    v99 = 1\n    return v99\n", table).count("new_0") == 2
    # A pair that is not abstracted is its own view.
    assert concrete_view(original) == (original, None)
