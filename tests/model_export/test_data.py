"""Synthetic pairs, execution checks, splits, build CLI and materialised projects.

Every behavioural check runs the generated code for real, in subprocesses.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from perfrl_train.data import (
    ALL_IDIOMS,
    CodePair,
    ProjectError,
    SplitLeakError,
    assign_splits,
    generate_pairs,
    materialize_project,
    read_jsonl,
    verify_pairs,
    write_jsonl,
)
from perfrl_train.data.executor import CallJob, run_calls
from perfrl_train.data.idioms import CATALOGUES
from perfrl_train.data.inputs import all_inputs, expand_call
from perfrl_train.data.pairs import PairFormatError
from perfrl_train.data.splits import assert_disjoint_groups, assert_no_pie_in_training
from tests.conftest import project_pytest_env


def _single_def(src: str) -> ast.FunctionDef:
    tree = ast.parse(src)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), src
    return tree.body[0]


def test_default_catalogue_is_core_and_the_others_are_opt_in():
    """A recipe that did not ask for the records or keyed catalogue gets the same pairs as
    before they existed (the shipped model's data, held-out idioms included, must stay
    reproducible)."""
    assert set(CATALOGUES) == {"core", "records", "keyed"}
    assert set().union(*CATALOGUES.values()) == set(ALL_IDIOMS)
    default = {p.idiom for p in generate_pairs(len(ALL_IDIOMS) * 2, seed=3)}
    assert default == set(CATALOGUES["core"])
    every = {p.idiom for p in generate_pairs(len(ALL_IDIOMS) * 2, seed=3,
                                              catalogues=["core", "records", "keyed"])}
    assert every == set(ALL_IDIOMS)
    assert len(CATALOGUES["records"]) >= 8 and len(CATALOGUES["keyed"]) == 3
    with pytest.raises(KeyError, match="unknown idiom catalogue 'nope'"):
        generate_pairs(3, seed=0, catalogues=["nope"])


def test_records_pairs_read_keys_from_the_rows_they_are_given():
    """Record idioms index rows by keys drawn per pair; the inputs carry exactly those keys."""
    for name in CATALOGUES["records"]:
        for pair in generate_pairs(4, seed=2, idioms=[name]):
            keys = set(re.findall(r'\[("[a-z_]+")\]', pair.slow))
            assert keys, pair.slow
            tables = [a for call in pair.inputs for a in ast.literal_eval(call)
                      if isinstance(a, list) and a and isinstance(a[0], dict)]
            assert tables, (name, pair.inputs)
            for row in (row for table in tables for row in table):
                assert {k.strip('"') for k in keys} <= set(row), (name, keys, row)


def test_catalogue_has_at_least_25_idioms():
    assert len(ALL_IDIOMS) >= 25
    assert len({i.category for i in ALL_IDIOMS.values()}) >= 4


@pytest.mark.parametrize("name", sorted(ALL_IDIOMS))
def test_every_idiom_yields_well_formed_pairs(name):
    pairs = generate_pairs(6, seed=11, idioms=[name])
    assert len(pairs) == 6
    for p in pairs:
        slow, fast = _single_def(p.slow), _single_def(p.fast)
        assert slow.name == fast.name == p.entry
        assert ast.dump(slow.args) == ast.dump(fast.args)
        assert p.slow != p.fast
        assert p.idiom == name and p.origin == "synthetic"
        for src in p.inputs:
            assert isinstance(ast.literal_eval(src), tuple)
        assert p.meta["bench_inputs"]
    # Benchmark specs expand to literal argument tuples (checked on one pair: they are big).
    bench = [ast.literal_eval(expand_call(c)) for c in pairs[0].meta["bench_inputs"]]
    n_args = len(ast.literal_eval(pairs[0].inputs[0]))
    assert all(isinstance(b, tuple) and len(b) == n_args for b in bench)
    # Identifiers and decoration vary across pairs of one idiom.
    assert len({p.entry for p in pairs} | {p.slow for p in pairs}) > len(pairs)


def test_generation_is_deterministic_and_diverse():
    a = generate_pairs(120, seed=3)
    b = generate_pairs(120, seed=3)
    c = generate_pairs(120, seed=4)
    assert [p.to_json() for p in a] == [p.to_json() for p in b]
    assert [p.slow for p in a] != [p.slow for p in c]
    assert len({p.slow for p in a}) == len(a)
    assert len({p.id for p in a}) == len(a)


def test_unknown_idiom_is_reported_with_the_known_ones():
    with pytest.raises(KeyError, match="quadratic_membership"):
        generate_pairs(3, seed=0, idioms=["no_such_idiom"])


def test_both_sides_agree_on_small_inputs_for_every_idiom():
    pairs = generate_pairs(len(ALL_IDIOMS) * 4, seed=5, idioms=sorted(ALL_IDIOMS))
    report = verify_pairs(pairs)
    assert report.dropped == []
    assert {p.idiom for p in report.kept} == set(ALL_IDIOMS)
    for p in report.kept:
        assert len(p.meta["expected"]) == len(p.inputs)


def test_verify_drops_a_fast_side_that_changes_behaviour():
    good = generate_pairs(1, seed=0, idioms=["manual_sum"])[0]
    bad = CodePair.from_json({**good.to_json(), "id": "bad"})
    bad.fast = bad.fast.replace("return sum(", "return 1 + sum(")
    report = verify_pairs([good, bad])
    assert [p.id for p in report.kept] == [good.id]
    assert report.dropped[0][0].id == "bad" and "differs" in report.dropped[0][1]


def test_executor_reports_exceptions_timeouts_and_non_literals():
    src = (
        "def f(x):\n    if x == 0:\n        raise KeyError(x)\n"
        "    if x == 1:\n        while True:\n            pass\n"
        "    if x == 2:\n        return object()\n    return [x]\n"
    )
    out = run_calls([CallJob(src, "f", ["(0,)", "(1,)", "(2,)", "(3,)"])], call_timeout_s=0.3)[0]
    assert out[0].exc_type == "KeyError"
    assert not out[1].ok and "timeout" in out[1].error
    assert out[2].ok and not out[2].literal
    assert out[3].value() == [3]


def test_most_idioms_declare_a_real_speedup():
    """Each idiom declares the speedup its fast side must show; whether it does is measured by
    ``benchmarks/bench_idioms.py`` (a timing, so a benchmark, never a test)."""
    # 0 means "no reliable gain on 3.11": such idioms teach style, not speed.
    assert all(i.min_speedup == 0 or i.min_speedup >= 1.1 for i in ALL_IDIOMS.values())
    assert sum(i.min_speedup >= 2 for i in ALL_IDIOMS.values()) >= 25


def test_splits_hold_out_whole_idioms_and_are_deterministic():
    pairs = generate_pairs(len(ALL_IDIOMS) * 3, seed=1)
    assign_splits(pairs, seed=9)
    by_split = {s: {p.idiom for p in pairs if p.split == s} for s in ("train", "valid", "test")}
    assert by_split["train"] and by_split["valid"] and by_split["test"]
    assert not (by_split["train"] & by_split["test"])
    assert not (by_split["train"] & by_split["valid"])
    assert not (by_split["valid"] & by_split["test"])
    again = generate_pairs(len(ALL_IDIOMS) * 3, seed=1)
    assign_splits(again, seed=9)
    assert [p.split for p in pairs] == [p.split for p in again]


def test_pie_pairs_can_never_be_training_data():
    pie = CodePair(
        id="pie-1",
        origin="pie",
        idiom="p00001",
        slow="def f():\n    pass\n",
        fast="def f():\n    return None\n",
        entry="f",
        inputs=["()"],
        split="train",
    )
    with pytest.raises(SplitLeakError):
        assert_no_pie_in_training([pie])
    assign_splits([pie], seed=0)
    assert pie.split == "test"
    mixed = generate_pairs(2, seed=0, idioms=["manual_sum"])
    mixed[1].split = "valid" if mixed[0].split != "valid" else "train"
    with pytest.raises(SplitLeakError):
        assert_disjoint_groups(mixed)


def test_jsonl_round_trip_and_bad_rows(tmp_path):
    pairs = generate_pairs(30, seed=2)
    path = tmp_path / "p.jsonl"
    assert write_jsonl(path, pairs) == 30
    assert [p.to_json() for p in read_jsonl(path)] == [p.to_json() for p in pairs]
    path.write_text(json.dumps({"id": "x", "origin": "web"}) + "\n")
    with pytest.raises(PairFormatError, match="p.jsonl:1"):
        read_jsonl(path)


def test_build_cli_writes_splits_and_stats(tmp_path):
    out = tmp_path / "data"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfrl_train.data.build",
            "--out",
            str(out),
            "--n-synthetic",
            "400",
            "--seed",
            "3",
            "--no-deoptimize",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    splits = {s: read_jsonl(out / f"{s}.jsonl") for s in ("train", "valid", "test")}
    assert sum(len(v) for v in splits.values()) == 400 == sum(stats["counts"].values())
    idioms = {s: {p.idiom for p in v} for s, v in splits.items()}
    assert not (idioms["train"] & idioms["test"]) and not (idioms["train"] & idioms["valid"])
    assert all(p.split == s for s, v in splits.items() for p in v)
    assert all("expected" in p.meta for v in splits.values() for p in v)
    assert stats["idioms_per_split"]["test"] == sorted(idioms["test"])


def test_build_cli_rejects_bad_arguments(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfrl_train.data.build",
            "--out",
            str(tmp_path),
            "--n-synthetic",
            "-1",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2 and "--n-synthetic" in proc.stderr


def _pytest(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        env=project_pytest_env(),
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["quadratic_membership", "string_concat_loop", "fib_recursive_memo"]
)
def test_materialized_project_passes_for_both_sides(tmp_path, name):
    pair = generate_pairs(1, seed=4, idioms=[name])[0]
    for side in ("slow", "fast"):
        module, qualname = materialize_project(pair, tmp_path / side, side)
        assert module.is_file() and qualname == pair.entry
        defs = [
            n.name for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef)
        ]
        assert defs == [qualname]
        proc = _pytest(tmp_path / side)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"{len(all_inputs(pair))} passed" in proc.stdout
    # The embedded expectations really test the function: a wrong body fails.
    broken = CodePair.from_json({**pair.to_json(), "id": "broken"})
    broken.fast = f"def {pair.entry}(*args):\n    return None\n"
    materialize_project(
        broken, tmp_path / "broken", "fast", expected=[repr(1)] * len(all_inputs(pair))
    )
    assert _pytest(tmp_path / "broken").returncode == 1


def test_materialize_refuses_bad_side_and_non_empty_dir(tmp_path):
    pair = generate_pairs(1, seed=0, idioms=["manual_sum"])[0]
    with pytest.raises(ProjectError, match="side"):
        materialize_project(pair, tmp_path / "x", "medium")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "f").write_text("")
    with pytest.raises(ProjectError, match="not empty"):
        materialize_project(pair, tmp_path / "y", "fast")
