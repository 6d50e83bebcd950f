"""PIE's problem-disjoint split: no problem on both sides, evaluation on the third, no training."""

from __future__ import annotations

import json

import pytest

from perfrl_train.data.pie import DEFAULT_PIE_DIR, PieProgramPair, load_pie_pairs
from perfrl_train.data.pie_split import (
    PIE_SPLIT_FILE,
    PieSplit,
    PieSplitError,
    load_pie_split,
    main,
    make_pie_split,
    refuse_pie_rows,
)
from perfrl_train.evaluate import _pie_problems, render_markdown
from tests.conftest import needs_file, require_module

needs_pie = needs_file(DEFAULT_PIE_DIR / "test.jsonl", "PIE copy")


def test_the_committed_split_never_puts_a_problem_on_both_sides():
    raw = json.loads(PIE_SPLIT_FILE.read_text())
    train, evaluation = raw["train"], raw["eval"]
    assert not set(train) & set(evaluation)
    assert len(set(train)) == len(train) and len(set(evaluation)) == len(evaluation)
    assert train == sorted(train) and evaluation == sorted(evaluation)
    total = len(train) + len(evaluation)
    assert total == 211  # the problems of PIE's Python test split (README of the copy)
    assert len(evaluation) == round(total / 3)
    assert raw["counts"] == {"train": len(train), "eval": len(evaluation)}
    # The file is what the documented recipe makes from its own problem ids.
    assert make_pie_split(train + evaluation, raw["seed"]) == load_pie_split()


def test_the_split_is_a_pure_function_of_the_ids_and_the_seed():
    ids = [f"p{n:05d}" for n in range(30)]
    first = make_pie_split(ids, 0)
    assert first == make_pie_split(list(reversed(ids)) + ids[:3], 0)  # order, duplicates
    assert len(first.eval) == 10 and len(first.train) == 20
    assert first.eval | first.train == set(ids)
    assert make_pie_split(ids, 1) != first
    with pytest.raises(PieSplitError, match="both parts"):
        PieSplit(train=frozenset({"p00001", "p00002"}), eval=frozenset({"p00002"}))


def test_a_broken_split_file_is_reported(tmp_path):
    bad = tmp_path / "split.json"
    bad.write_text('{"train": ["p00001"], "eval": ["p00001"]}')
    with pytest.raises(PieSplitError, match="both parts"):
        load_pie_split(bad)
    with pytest.raises(PieSplitError, match="is missing"):
        load_pie_split(tmp_path / "none.json")


@needs_pie
def test_the_committed_split_covers_exactly_the_pie_copy(capsys):
    assert main(["--pie-dir", str(DEFAULT_PIE_DIR), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    split = load_pie_split()
    problems = {p.problem_id for p in load_pie_pairs(DEFAULT_PIE_DIR)}
    assert split.train | split.eval == problems


def _pair(problem_id: str) -> PieProgramPair:
    return PieProgramPair(id=f"{problem_id}_x", problem_id=problem_id, slow="", fast="",
                          slow_clean="", fast_clean="", tests=[], test_names=[])


def test_pie_evaluation_takes_the_evaluation_third_by_default():
    split = load_pie_split()
    pairs = [_pair(pid) for pid in sorted(split.train)[:5] + sorted(split.eval)[:5]]
    chosen, note = _pie_problems(pairs, "eval")
    assert [p.problem_id for p in chosen] == sorted(split.eval)[:5]
    assert "evaluation third only" in note and "never trained on" in note
    everything, note_all = _pie_problems(pairs, "all")
    assert everything == pairs and "all of them" in note_all


def test_the_report_says_which_pie_problems_it_counts():
    figures = {"n": 1, "correct_pct": 100.0, "optimized_pct": 0.0,
               "mean_speedup_correct": 1.0}
    pie = {"best@1": figures, "best@8": figures, "problems_evaluated": "eval",
           "excluded_numpy_import_asymmetry": 0, "notes": ["PIE problems: the evaluation third"]}
    md = render_markdown({"models": {"m": {"kind": "onnx", "pie": pie}}}, 8)
    assert "| PIE eval third best@1: correct | 100.0% |" in md
    assert "PIE problems: the evaluation third" in md


def test_training_commands_refuse_pie_rows(tmp_path, capsys):
    require_module("torch")
    from perfrl_train.cli import main as cli

    rows = [{"id": "a", "slow": "def f(): pass", "fast": "def f(): return None"},
            {"id": "p02690_1", "problem_id": "p02690", "slow": "print(1)", "fast": "print(1)"}]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = cli(["sft", "--out", str(tmp_path / "ck"), "--data", str(data), "--from-config",
                "tiny", "--max-steps", "1", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "row 2 is a PIE program pair" in err and "evaluation only" in err
    assert not (tmp_path / "ck").exists()
    refuse_pie_rows([{"origin": "synthetic", "problem_id": "not-pie"}], "x")  # others pass
    with pytest.raises(PieSplitError):
        refuse_pie_rows([{"origin": "pie"}], "x")


def test_an_unknown_pie_problem_set_is_an_input_error(tmp_path, capsys):
    from perfrl_train.cli import main as cli

    code = cli(["eval", "--model", f"m={tmp_path}", "--pie-dir", str(tmp_path), "--out",
                str(tmp_path / "o"), "--pie-problems", "train"])
    assert code == 2
    assert "--pie-problems must be 'eval' or 'all', not 'train'" in capsys.readouterr().err
