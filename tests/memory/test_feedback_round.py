"""The feedback round (short-term memory): the second-round prompt built from a real failed
verdict (the engine's, on the example project), and the engine running a second round only
for a model whose spec says it was trained for one, and saying so in the report."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.candidate_text import DistinctCandidates, original_candidate
from perfrl.engine.feedback_round import best_failed, second_round
from perfrl.engine.locate import locate_function
from perfrl.engine.optimize import optimize_function
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Verdict
from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.model_contract import (
    MAX_FEEDBACK_CHARS,
    SPEC_FILE,
    FailedAttempt,
    build_prompt,
    default_model_dir,
    feedback_reason,
    load_model_spec,
    split_prompt,
)
from perfrl.sources.abstraction import model_input
from perfrl.sources.files import FileCandidateSource
from perfrl.sources.model import ModelCandidateSource
from perfrl.sources.prompts import model_prompt
from tests.conftest import whole_function_model

pytestmark = pytest.mark.timeout(900)

#: Wrong on purpose: it drops the upper-casing, so the project's tests fail.
WRONG_ACTIVE_SKUS = '''\
def active_skus(products):
    return [product["sku"] for product in products if product["active"]]
'''


def _feedback_model(tmp_path: Path) -> Path:
    """A copy of the shipped model, declared a whole-function model, whose spec declares the
    feedback-v1 second round."""
    from perfrl_train.data.feedback_pairs import main

    model_dir = whole_function_model(tmp_path / "feedback-model")
    assert main(["--declare", str(model_dir)]) == 0
    return model_dir


def test_declaring_a_feedback_model_checks_the_contract_first(tmp_path, capsys):
    from perfrl_train.data.feedback_pairs import main

    assert main(["--declare", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    edit_model = tmp_path / "edit-model"
    shutil.copytree(default_model_dir(), edit_model)
    data = json.loads((edit_model / SPEC_FILE).read_text())
    (edit_model / SPEC_FILE).write_text(json.dumps({**data, "output_format": "edit-v1"}))
    assert main(["--declare", str(edit_model)]) == 2
    assert "reads only the plain prompt" in capsys.readouterr().err
    # Nothing written: the spec is still the edit model's, not a broken one.
    assert json.loads((edit_model / SPEC_FILE).read_text()).get("feedback_format", "none") == "none"
    whole_function_model(tmp_path / "feedback")
    assert main(["--declare", str(tmp_path / "feedback")]) == 0
    assert load_model_spec(tmp_path / "feedback").feedback_format == "feedback-v1"


def _settings(tmp_path: Path) -> EngineSettings:
    return EngineSettings(interpreter=sys.executable, cache_dir=tmp_path / "baselines")


def test_the_second_round_prompt_from_a_real_failed_verdict(example_project, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    target = locate_function("inventory/catalog.py::active_skus", project_root=example_project)
    wrong = tmp_path / "active_skus.py"
    wrong.write_text(WRONG_ACTIVE_SKUS)
    report = optimize_function(target, [FileCandidateSource([wrong])], _settings(tmp_path))
    failed = best_failed(report.candidates)
    assert failed is not None and failed.verdict is Verdict.FAILED_TESTS
    assert "test_active_skus" in failed.reason

    model = OnnxSeq2SeqModel.load(_feedback_model(tmp_path))
    text, table = model_input(target.source, model.spec.input_abstraction)
    attempt = FailedAttempt(failed.candidate.code, failed.verdict.value, failed.reason)
    prompt = model_prompt(model, target, text, table, attempt)
    parts = split_prompt(prompt, model.spec)
    assert parts.function_source == text
    assert parts.failed is not None and parts.failed.verdict == "failed_tests"
    # One table for the target, the failed candidate and its verdict: the function is v0 and
    # the products parameter v1 in all three.
    assert text.startswith("def v0(v1):")
    assert parts.failed.code.startswith("def v0(v1):\n    return [")
    assert "active_skus" not in parts.failed.code and "products" not in prompt
    # The failing test's message is there, short: what differed.
    assert "'sk-00001' != 'SK-00001'" in parts.failed.reason, parts.failed.reason
    assert len(parts.failed.reason) <= MAX_FEEDBACK_CHARS
    assert not model.encode_prompt(prompt).truncated


def test_no_second_round_for_a_model_not_trained_for_it_or_after_a_success(tmp_path,
                                                                           example_project):
    shipped = ModelCandidateSource(default_model_dir())
    assert not shipped.supports_retry()
    target = locate_function("inventory/catalog.py::active_skus", project_root=example_project)
    trained = ModelCandidateSource(_feedback_model(tmp_path))
    assert trained.supports_retry()
    assert second_round(target, [shipped], [], 2,
                        DistinctCandidates(original_candidate(target))) is None


SLOW_PROJECT_CODE = textwrap.dedent('''\
    def bump(x):
        """One more."""
        return x + 1
''')


@pytest.mark.slow
def test_the_engine_runs_a_second_round_and_the_report_says_so(tmp_path, monkeypatch):
    """Nothing can make ``x + 1`` faster, so every first-round candidate fails and the model
    that declares feedback-v1 is asked again."""
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "calc.py").write_text(SLOW_PROJECT_CODE)
    (project / "tests" / "test_calc.py").write_text(
        "from app.calc import bump\n\n\ndef test_bump():\n    assert bump(1) == 2\n")
    target = locate_function("app/calc.py::bump", project_root=project)
    wrong = tmp_path / "bump.py"
    wrong.write_text("def bump(x):\n    return x + 2\n")
    model = ModelCandidateSource(_feedback_model(tmp_path), num_candidates=2, seed=3)
    report = optimize_function(target, [FileCandidateSource([wrong]), model],
                               _settings(tmp_path), candidates_per_source=2)
    assert report.best is None
    (note,) = [n for n in report.notes if "second round" in n]
    assert note.startswith("model: second round on the best failed candidate (")
    # The round was built on the failure closest to an offered rewrite.
    first_round = [c for c in report.candidates if not c.candidate.label.startswith("round 2")]
    closest = best_failed(first_round)
    assert closest is not None
    assert f"({closest.candidate.source}: {closest.candidate.label}, {closest.verdict.value})" \
        in note, note
    # What the round gave is verified like the first round's and counted in the note (the
    # model may only repeat itself, or give nothing usable: a warning says so).
    round_two = [c for c in report.candidates if c.candidate.label.startswith("round 2")]
    assert f"gave {len(round_two)} new candidate(s)" in note, note
    assert all(c.verdict is not Verdict.FASTER for c in round_two)


def test_the_setting_reaches_the_engine_from_the_editor_and_the_command_line():
    from perfrl.cli.main import _settings_from_args, build_parser
    from perfrl.lsp.config import parse_settings

    settings, problems = parse_settings({"feedbackRound": False})
    assert problems == [] and settings.engine_settings().feedback_round is False
    settings, problems = parse_settings({"feedbackRound": "yes"})
    assert settings.feedback_round is True  # the default, one home: EngineSettings
    assert "perfrl.feedbackRound must be true or false" in problems[0].message
    for flag, expected in (([], True), (["--no-feedback-round"], False)):
        args = build_parser().parse_args(["optimize", "m.py::f", *flag])
        assert _settings_from_args(args).feedback_round is expected


def test_training_rows_for_the_second_round_come_from_real_verdicts_in_the_memory(
        example_project, tmp_path, monkeypatch):
    """A function whose wrong candidate failed the project's tests and whose right one was
    verified faster (a real engine run) gives one feedback-v1 row: that failure shown, the
    faster rewrite as the answer; abstracted with one table for a placeholder model."""
    from perfrl.memory.store import project_db
    from perfrl_train.data.feedback_pairs import failed_of, main

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    target = locate_function("inventory/catalog.py::missing_skus", project_root=example_project)
    wrong = tmp_path / "wrong" / "missing_skus.py"
    right = tmp_path / "right" / "missing_skus.py"
    wrong.parent.mkdir()
    right.parent.mkdir()
    # Wrong on purpose: the condition is inverted.
    wrong.write_text('def missing_skus(wanted, products):\n'
                     '    carried = {product["sku"] for product in products}\n'
                     '    return [sku for sku in wanted if sku in carried]\n')
    right.write_text('def missing_skus(wanted, products):\n'
                     '    carried = {product["sku"] for product in products}\n'
                     '    return [sku for sku in wanted if sku not in carried]\n')
    report = optimize_function(target, [FileCandidateSource([wrong, right])],
                               _settings(tmp_path))
    assert [c.verdict for c in report.candidates] == [Verdict.FAILED_TESTS, Verdict.FASTER]
    out = tmp_path / "feedback.jsonl"
    assert main(["--project", str(example_project), "--out", str(out),
                 "--input-abstraction", "identifiers-v1"]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    failed = failed_of(row)
    assert failed is not None and failed.verdict == "failed_tests"
    assert "test_missing_skus" in failed.reason and "failed" in failed.reason
    # One table: the function, its parameters and the new set are the same placeholders in
    # the slow side, the failed candidate and the answer.
    assert row["slow"].startswith("def v0(v1, v2):")
    assert failed.code.startswith("def v0(v1, v2):\n    v3 = {")
    assert row["fast"] == failed.code.replace(" in v3]", " not in v3]")
    parts = split_prompt(build_prompt(row["slow"], failed=failed))
    assert parts.failed == FailedAttempt(failed.code, "failed_tests",
                                         feedback_reason("failed_tests", failed.reason)
                                         .removeprefix("failed_tests: "))
    assert project_db(example_project).is_file()


def test_rrhf_failures_become_feedback_rows(tmp_path):
    import json

    from perfrl_train.data.feedback_pairs import main, rrhf_feedback_rows

    slow = "def v0(v1):\n    v2 = []\n    for v3 in v1:\n        v2.append(v3)\n    return v2\n"
    fast = "def v0(v1):\n    return list(v1)\n"
    pairs = tmp_path / "train.jsonl"
    pairs.write_text(json.dumps({"id": "p1", "slow": slow, "fast": fast}) + "\n"
                     + json.dumps({"id": "p2", "slow": slow, "fast": fast}) + "\n")
    wrong = "def v0(v1):\n    return v1\n"
    rewards = tmp_path / "rewards.jsonl"
    records = [
        # p1: a sample failed its tests, another crashed, the reference is faster.
        {"pair": "p1", "rewards": [2.5, 1.0, 1.0, 0.0],
         "verdicts": ["faster", "crashed", "failed_tests", "invalid"],
         "texts": [fast, "def v0(v1):\n    return v4\n", wrong, "def ("],
         "reasons": ["", "NameError: v4", "test_copy: assert v2 is not v1", "no compile"]},
        # p2: nothing was verified faster: no lesson.
        {"pair": "p2", "rewards": [1.3, 1.0], "verdicts": ["not_faster", "failed_tests"],
         "texts": [fast, wrong], "reasons": ["1.02x", "assert"]},
        # A run from before texts were logged.
        {"pair": "p1", "rewards": [2.5], "verdicts": ["faster"]},
    ]
    rewards.write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = rrhf_feedback_rows(rewards, pairs)
    assert len(rows) == 1
    row = rows[0]
    assert (row["slow"], row["fast"]) == (slow, fast)
    # The failure closest to being offered: failed tests before a crash.
    assert row["meta"]["feedback"] == {"code": wrong, "verdict": "failed_tests",
                                       "reason": "test_copy: assert v2 is not v1"}
    out = tmp_path / "feedback.jsonl"
    assert main(["--rrhf-rewards", str(rewards), "--pairs", str(pairs), "--out", str(out)]) == 0
    assert [json.loads(line) for line in out.open()] == rows
    assert main(["--rrhf-rewards", str(rewards), "--out", str(out)]) == 2
