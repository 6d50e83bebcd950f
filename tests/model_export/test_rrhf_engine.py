"""The reward through the real verification engine (pytest subprocesses, sandbox, benchmark)."""

from __future__ import annotations

import pytest

from perfrl_train.data import generate_pairs
from perfrl_train.reward import EngineReward, RewardBudgetExhausted


@pytest.mark.slow
def test_engine_reward_ranks_fast_above_broken_and_caches(tmp_path):
    pair = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    engine = EngineReward(tmp_path / "rw", max_engine_calls=2)
    assert engine.usable(pair)
    fast = engine.reward(pair, pair.fast)
    assert fast.verdict == "faster" and fast.reward >= 2.0 and fast.engine_call
    broken = engine.reward(pair, pair.fast.replace("return ", "return None or 0 * ", 1))
    assert broken.verdict in {"failed_tests", "not_equivalent", "crashed"} and broken.reward == 1.0
    assert broken.reason  # what a feedback-v1 row shows the model
    # No engine call for: the same text again, the original, and code that does not parse.
    again = engine.reward(pair, pair.fast)
    assert again.cached and again.reward == fast.reward
    assert engine.reward(pair, pair.slow).reward == 1.3
    assert engine.reward(pair, "def (").reward == 0.0
    assert engine.stats.engine_calls == 2
    with pytest.raises(RewardBudgetExhausted):
        engine.reward(pair, pair.fast + "\n# a different text\n")


@pytest.mark.slow
def test_train_rrhf_runs_steps_and_writes_a_chained_checkpoint(tmp_path, tiny_work):
    import json

    from perfrl_train.rrhf import RRHFConfig, train_rrhf
    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

    ckpt = tiny_checkpoint(tiny_work)
    result = train_rrhf(RRHFConfig(checkpoint=ckpt, data=tiny_pairs_dir(tiny_work / "tiny-data"),
                                   out=tmp_path / "rrhf", samples=1, max_new_tokens=32,
                                   max_source_length=192, max_steps=2, warmup_steps=1,
                                   max_engine_calls=10, threads=1, progress=False),
                        log=lambda *_: None)
    assert result.steps == 2 and 1 <= result.engine_calls <= 10
    rows = [json.loads(line) for line in (tmp_path / "rrhf" / "rewards.jsonl").open()]
    assert len(rows) == 2 and all(len(r["rewards"]) == 3 for r in rows)
    # The reference rewrite always passes its tests (speed depends on the idiom and the load).
    assert all(r["verdicts"][0] in {"faster", "not_faster"} for r in rows)
    # Every candidate is logged with its reason, for the feedback-v1 rows.
    assert all(len(r["texts"]) == len(r["reasons"]) == 3 for r in rows)
    train = {json.loads(line)["id"]: json.loads(line)
             for line in (tiny_work / "tiny-data" / "train.jsonl").open()}
    assert all(r["texts"][0] == train[r["pair"]]["fast"] for r in rows)
    meta = json.loads((tmp_path / "rrhf" / "perfrl_train.json").read_text())
    assert meta["trainer"] == "rrhf" and meta["provenance"]["sft"]["checkpoint"] == str(ckpt)


@pytest.mark.slow
def test_reward_of_an_abstracted_pair_runs_its_original_code(tmp_path):
    from perfrl.sources.abstraction import model_output
    from perfrl_train.data.abstract import abstract_pair, concrete_view

    original = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    abstracted = abstract_pair(original)
    assert original.entry not in abstracted.slow  # the model sees placeholders only
    concrete, table = concrete_view(abstracted)
    engine = EngineReward(tmp_path / "rw", max_engine_calls=1)
    assert engine.usable(concrete)
    # The model's (abstracted) reference rewrite, mapped back as RRHF maps every candidate.
    outcome = engine.reward(concrete, model_output(abstracted.fast, table))
    assert outcome.verdict == "faster" and outcome.reward >= 2.0


@pytest.mark.slow
def test_rrhf_resumes_after_an_interruption_where_it_stopped(tmp_path):
    import json

    import torch

    from perfrl_train.rrhf import RRHFConfig, train_rrhf
    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

    class Interrupted(Exception):
        pass

    def interrupt(step: int) -> None:
        raise Interrupted  # right after the step-1 checkpoint

    cfg = RRHFConfig(checkpoint=tiny_checkpoint(tmp_path),
                     data=tiny_pairs_dir(tmp_path / "tiny-data"), out=tmp_path / "rrhf",
                     samples=1, max_new_tokens=32, max_source_length=192, max_steps=2,
                     warmup_steps=1, save_every=1, max_engine_calls=10, threads=1,
                     progress=False)
    with pytest.raises(Interrupted):
        train_rrhf(cfg, log=lambda *_: None, on_step=interrupt)
    assert json.loads((tmp_path / "rrhf" / "perfrl_train.json").read_text())["step"] == 1
    cfg.resume = True
    lines: list[str] = []
    result = train_rrhf(cfg, log=lines.append)
    assert "rrhf: resuming" in lines[0] and "at step 1" in lines[0]
    assert result.steps == 2
    rows = [json.loads(line) for line in (tmp_path / "rrhf" / "rewards.jsonl").open()]
    assert [r["step"] for r in rows] == [1, 2]
    # The prompt order went on: a fresh start would draw the first prompt again.
    assert rows[1]["pair"] != rows[0]["pair"]
    state = torch.load(tmp_path / "rrhf" / "training_state.pt", weights_only=False)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {2.0}
    assert state["scheduler"]["last_epoch"] == 2
    meta = json.loads((tmp_path / "rrhf" / "perfrl_train.json").read_text())
    # The provenance still names the SFT checkpoint RRHF started from, not OUT itself.
    assert meta["provenance"]["sft"]["checkpoint"] == str(cfg.checkpoint)


@pytest.mark.slow
def test_rrhf_runs_in_two_cpu_processes_each_with_its_own_prompt(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir
    from tests.conftest import REPO_ROOT, require_module

    require_module("accelerate")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "rrhf"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(port),
        "-m", "perfrl_train.cli", "rrhf", "--cpu", "--checkpoint", str(tiny_checkpoint(tmp_path)),
        "--data", str(tiny_pairs_dir(tmp_path / "tiny-data")), "--out", str(out),
        "--samples", "1", "--max-new-tokens", "32", "--max-source-length", "192",
        "--max-steps", "1", "--warmup-steps", "1", "--max-engine-calls", "10",
        "--threads", "1", "--no-progress",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "server"),
                                          str(REPO_ROOT / "model_export"), str(REPO_ROOT)])}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "rewards.jsonl").open()]
    assert sorted(r["rank"] for r in rows) == [0, 1] and {r["step"] for r in rows} == {1}
    assert rows[0]["pair"] != rows[1]["pair"]  # each process its own prompt
    assert sorted(p.name for p in (out / "reward_work").iterdir()) == ["rank0", "rank1"]
    meta = json.loads((out / "perfrl_train.json").read_text())
    assert meta["num_processes"] == 2 and meta["step"] == 1
