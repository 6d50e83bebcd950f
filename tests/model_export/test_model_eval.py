"""Evaluation harness and CLI: real engine / sandbox runs with known-good and known-bad code."""

from __future__ import annotations

import json

import pytest

from perfrl_train.cli import build_parser, main
from perfrl_train.data.pie import DEFAULT_PIE_DIR
from perfrl_train.evaluate import EvalConfig, evaluate_pie, evaluate_synthetic, render_markdown
from tests.conftest import needs_file, require_module

PIE_DIR = DEFAULT_PIE_DIR


@pytest.mark.parametrize("command", ["sft", "rrhf", "export", "eval"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "--" in capsys.readouterr().out


def test_repeatable_model_option_collects_all_models():
    args = build_parser().parse_args(["eval", "--model", "a=/x", "--model", "b=/y", "--out", "o"])
    assert args.model == ["a=/x", "b=/y"]


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    require_module("torch")  # the export sub-command exists only with the training extra
    code = main(["export", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "config.json is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_synthetic_eval_counts_engine_verdicts(tmp_path):
    from perfrl_train.data import generate_pairs

    pair = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    # A "model" that returns the reference rewrite greedily, then broken code.
    figures = evaluate_synthetic(lambda source, n: [pair.fast, "def (", ""][:n], [pair],
                                 EvalConfig(samples=3), tmp_path / "w", log=lambda *_: None)
    assert figures["best@1"] == pytest.approx({
        "n": 1, "parse_pct": 100.0, "signature_pct": 100.0, "pass_pct": 100.0,
        "faster_pct": 100.0,
        "mean_speedup_verified": figures["best@1"]["mean_speedup_verified"],
        "median_speedup_verified": figures["best@1"]["median_speedup_verified"]})
    assert figures["best@1"]["mean_speedup_verified"] > 1.1
    assert figures["engine_calls"] == 1  # unparsable / empty code never reaches the engine


@pytest.mark.slow
@needs_file(PIE_DIR / "test.jsonl", "PIE data")
def test_pie_eval_runs_programs_in_the_sandbox(tmp_path):
    from perfrl_train.data.pie import load_pie_pairs
    from perfrl_train.data.pie_split import load_pie_split

    # A "model" that answers a program with the PIE reference rewrite of it when it knows one.
    faster = {p.program("slow"): p.program("fast") for p in load_pie_pairs(PIE_DIR) if p.usable}
    cfg = EvalConfig(pie_dir=PIE_DIR, pie_limit=1, pie_tests=2, pie_repeats=2, samples=2)
    figures = evaluate_pie(lambda source, n: [faster.get(source, source),
                                              "print('wrong answer')\n"][:n], cfg,
                           tmp_path / "pie", log=lambda *_: None)
    assert figures["best@1"]["n"] == 1
    assert figures["best@1"]["correct_pct"] == 100.0  # the reference fast program is correct
    problem = figures["problems"][0]
    assert problem["greedy"]["correct"] and problem["greedy"]["speedup"] > 0
    assert problem["problem"] in load_pie_split().eval  # the evaluation third only
    assert figures["problems_evaluated"] == "eval" and "evaluation third" in figures["notes"][0]
    assert figures["excluded_numpy_import_asymmetry"] >= 0
    # The pair's own fast program is judged like a candidate, on the scaled input too when
    # there is one (the solutions agreed on it), so it is correct either way.
    assert figures["reference"]["correct_pct"] == 100.0 and problem["reference"]["correct"]
    if problem["scaled_factor"] is not None:
        assert "1 of 1 problems timed on a larger input" in " ".join(figures["notes"])
    else:
        assert "0 of 1 problems timed on a larger input" in " ".join(figures["notes"])


def test_markdown_table_is_side_by_side():
    synth = {"n": 2, "parse_pct": 50.0, "pass_pct": 50.0, "faster_pct": 0.0,
             "mean_speedup_verified": None, "median_speedup_verified": None}
    report = {"models": {"sft": {"synthetic": {"best@1": synth, "best@8": synth}},
                         "sft+rrhf": {"synthetic": {"best@1": {**synth, "faster_pct": 50.0,
                                                               "mean_speedup_verified": 2.0},
                                                    "best@8": synth}}}}
    md = render_markdown(report, 8)
    assert "| metric | sft | sft+rrhf |" in md
    assert "| synthetic best@1: verified faster | 0.0% | 50.0% |" in md
    assert "| synthetic best@1: mean speedup (verified) | - | 2.00x |" in md
    json.dumps(report)


def test_a_function_the_model_cannot_read_gets_empty_candidates_not_an_error():
    # The shipped model reads abstracted code; a variable already named like a placeholder
    # makes the abstraction ambiguous. The server's model source refuses such a function
    # with a reason; the evaluation scores it as no usable candidate and goes on.
    from perfrl.model_contract import default_model_dir
    from perfrl_train.evaluate import load_generator

    generate, kind = load_generator(default_model_dir(), EvalConfig(max_new_tokens=8))
    assert kind.startswith("onnx, guarded decoding")
    assert generate("def f(v1):\n    return v1 + 1\n", 3) == ["", "", ""]
    assert len(generate("def f(xs):\n    return sum(xs)\n", 2)) == 2


@pytest.mark.train
def test_an_edit_checkpoint_is_scored_on_the_code_its_scripts_make(tiny_work, tmp_path):
    """A PyTorch checkpoint trained to write "edit-v1" scripts is prompted with numbered lines
    and its outputs are applied to the source, as the server applies an exported edit model's:
    this tiny model writes whole functions, which are no script, so nothing usable comes back
    (before, its raw outputs were scored as if they were rewrites)."""
    import shutil

    from perfrl_train.evaluate import load_generator
    from perfrl_train.testing import tiny_checkpoint

    ckpt = tmp_path / "edit-ckpt"
    shutil.copytree(tiny_checkpoint(tiny_work), ckpt)
    meta_file = ckpt / "perfrl_train.json"
    meta = json.loads(meta_file.read_text())
    source = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return out\n"
    plain, kind = load_generator(ckpt, EvalConfig(max_new_tokens=24))
    assert kind == "pytorch checkpoint"
    assert any(text.strip() for text in plain(source, 3))
    meta["config"]["output_format"] = "edit-v1"
    meta_file.write_text(json.dumps(meta))
    edits, _ = load_generator(ckpt, EvalConfig(max_new_tokens=24))
    assert edits(source, 3) == ["", "", ""]
