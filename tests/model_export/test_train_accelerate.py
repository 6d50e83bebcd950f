"""Data-parallel training through ``accelerate``, resuming after an interruption.

The two-process test launches the real command (``accelerate launch --multi_gpu
--num_processes 2 -m perfrl_train.cli sft --cpu``: two gloo processes on this CPU) and
compares its weights with one process training on the same global batches.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_module

torch = require_module("torch")
require_module("accelerate")

from perfrl_train.distributed import (
    DataParallelError,
    check_batch_fits,
    data_parallel_loss,
    rank_share,
)
from perfrl_train.examples import encode_source, encode_target, read_examples
from perfrl_train.modeling import build_model_and_tokenizer
from perfrl_train.sft import LABEL_PAD, SFTConfig, make_batch, token_loss, train_sft
from perfrl_train.testing import TINY_STDLIB_FILES, tiny_pairs_dir

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("accelerate")


def _weights(ckpt: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(ckpt / "model.safetensors"))


def _config(work: Path, out: Path, **overrides) -> SFTConfig:
    settings = dict(out=out, data=tiny_pairs_dir(work / "data"), from_config="tiny",
                    max_steps=6, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=3,
                    log_every=1, max_source_length=128, max_target_length=64, bf16=False,
                    threads=1, max_stdlib_files=TINY_STDLIB_FILES, cache_dir=work / "cache",
                    progress=False)
    settings.update(overrides)
    return SFTConfig(**settings)


def test_every_index_of_a_global_batch_goes_to_exactly_one_process():
    batch = [7, 3, 9, 1, 4]
    shares = [rank_share(batch, rank, 2) for rank in range(2)]
    assert shares == [[7, 9, 4], [3, 1]]
    assert sorted(shares[0] + shares[1]) == sorted(batch)
    assert rank_share(batch, 0, 1) == batch
    with pytest.raises(DataParallelError, match="--batch-size 1 is smaller than the 2"):
        check_batch_fits(1, 2)


def test_averaged_share_gradients_equal_the_whole_batch_gradient(work):
    # What DDP does with the two processes' losses (the mean of their gradients) must be
    # the gradient one process computes on the concatenated batch, although the shares hold
    # different numbers of target tokens (a plain mean of the two means would not be).
    torch.manual_seed(0)
    model, tok, _ = build_model_and_tokenizer(from_config="tiny",
                                              max_stdlib_files=TINY_STDLIB_FILES,
                                              cache_dir=work / "cache", log=lambda *_: None)
    examples = read_examples(tiny_pairs_dir(work / "data") / "train.jsonl")[:4]
    sources = [encode_source(tok, e.slow, 128) for e in examples]
    targets = [encode_target(tok, e.fast, 64) for e in examples]

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    whole = grads(token_loss(model, make_batch(sources, targets, tok.pad_token_id)))
    shares = [rank_share(list(range(4)), rank, 2) for rank in range(2)]
    batches = [make_batch([sources[i] for i in s], [targets[i] for i in s], tok.pad_token_id)
               for s in shares]
    tokens = [int((b["labels"] != LABEL_PAD).sum()) for b in batches]
    assert tokens[0] != tokens[1]  # the case where the weighting matters
    per_process = [grads(data_parallel_loss(token_loss(model, b), n, sum(tokens), 2))
                   for b, n in zip(batches, tokens, strict=True)]
    averaged = [(a + b) / 2 for a, b in zip(*per_process, strict=True)]
    for got, want in zip(averaged, whole, strict=True):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-5)


class _Interrupted(Exception):
    pass


@pytest.mark.slow
def test_an_interrupted_run_resumed_ends_with_the_uninterrupted_weights(work, tmp_path):
    whole = train_sft(_config(work, tmp_path / "whole", save_every=3), log=lambda *_: None)
    assert whole.steps == 6

    def interrupt_at_4(step: int) -> None:
        if step == 4:  # after the step-3 checkpoint, before the next one: work is lost
            raise _Interrupted

    cfg = _config(work, tmp_path / "cut", save_every=3)
    with pytest.raises(_Interrupted):
        train_sft(cfg, log=lambda *_: None, on_step=interrupt_at_4)
    meta = json.loads((tmp_path / "cut" / "perfrl_train.json").read_text())
    assert meta["step"] == 3
    lines: list[str] = []
    cfg.resume = True
    resumed = train_sft(cfg, log=lines.append)
    assert "sft: resuming" in lines[0] and "at step 3" in lines[0]
    assert resumed.steps == 6
    state = torch.load(tmp_path / "cut" / "training_state.pt", weights_only=False)
    adam_steps = {float(s["step"]) for s in state["optimizer"]["state"].values()}
    assert adam_steps == {6.0}  # the optimizer's own counters went on from 3, not from 0
    assert state["scheduler"]["last_epoch"] == 6
    got, want = _weights(tmp_path / "cut"), _weights(tmp_path / "whole")
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    assert resumed.final_valid_loss == whole.final_valid_loss


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_train_like_one_process_on_the_whole_batch(work, tmp_path):
    # Reference: one process, in this process (also trains and caches the tokenizer).
    train_sft(_config(work, tmp_path / "one", max_steps=2, eval_every=1,
              eval_max_examples=6), log=lambda *_: None)
    out = tmp_path / "two"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "perfrl_train.cli", "sft", "--cpu", "--out", str(out),
        "--data", str(tiny_pairs_dir(work / "data")), "--from-config", "tiny",
        "--max-steps", "2", "--batch-size", "4", "--lr", "3e-3", "--warmup-steps", "2",
        "--eval-every", "1", "--eval-max-examples", "6", "--log-every", "1",
        "--save-every", "1", "--max-source-length", "128", "--max-target-length", "64",
        "--no-bf16", "--threads", "1", "--max-stdlib-files", str(TINY_STDLIB_FILES),
        "--cache-dir", str(work / "cache"), "--no-progress",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "server"),
                                          str(REPO_ROOT / "model_export"), str(REPO_ROOT)])}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # One checkpoint, written by the main process.
    meta = json.loads((out / "perfrl_train.json").read_text())
    assert meta["num_processes"] == 2 and meta["step"] == 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [1, 2]
    state = torch.load(out / "training_state.pt", weights_only=False)
    assert len(state["rng_by_rank"]) == 2  # both processes took part in the save
    # The averaged gradient made the same updates as one process on the whole batches.
    got, want = _weights(out), _weights(tmp_path / "one")
    # Adam divides each step by the gradient's own scale, so a weight whose gradient is
    # nearly zero turns float rounding (gloo's sum against one process's) into a visible
    # move: on an AMD EPYC one weight of 803,200 moved 2.7e-5 while the mean moved 1e-9. A
    # wrong average (the two shares' means averaged, as if their token counts were equal)
    # moves most of them.
    diffs = torch.cat([(got[name] - want[name]).abs().flatten() for name in want])
    assert float(diffs.mean()) < 1e-7, float(diffs.mean())
    assert int((diffs > 2e-5).sum()) <= diffs.numel() // 10_000, int((diffs > 2e-5).sum())
    assert float(diffs.max()) < 3e-4, float(diffs.max())  # a tenth of the learning rate
    # The validation loss is over all the pairs, shared out and reduced.
    one_records = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").open()]
    valid_one = [r["valid_loss"] for r in one_records if r["kind"] == "eval"]
    valid_two = [r["valid_loss"] for r in records if r["kind"] == "eval"]
    assert valid_two == pytest.approx(valid_one, rel=1e-4)
    train_one = [r["loss"] for r in one_records if r["kind"] == "train"]
    assert [r["loss"] for r in records if r["kind"] == "train"] == pytest.approx(train_one,
                                                                                  rel=1e-4)


@pytest.mark.slow
def test_sigterm_stops_after_the_step_writes_the_checkpoint_and_resume_goes_on(work, tmp_path):
    import signal
    import time

    data = tiny_pairs_dir(work / "data")
    train_sft(_config(work, tmp_path / "warm", max_steps=1), log=lambda *_: None)  # tokenizer
    out = tmp_path / "ck"
    command = [sys.executable, "-m", "perfrl_train.cli", "sft", "--out", str(out),
               "--data", str(data), "--from-config", "tiny", "--max-steps", "100000",
               "--batch-size", "4", "--eval-every", "0", "--log-every", "1",
               "--max-source-length", "128", "--max-target-length", "64", "--no-bf16",
               "--threads", "1", "--max-stdlib-files", str(TINY_STDLIB_FILES),
               "--cache-dir", str(work / "cache"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "server"),
                                                        str(REPO_ROOT / "model_export")])}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 300
        # Wait for evidence that training runs (a logged step), then ask it to stop.
        while not ((out / "metrics.jsonl").is_file()
                   and (out / "metrics.jsonl").read_text().strip()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no training step logged in 300 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "stopped by SIGTERM at step" in stdout + stderr
    meta = json.loads((out / "perfrl_train.json").read_text())
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
    assert meta["step"] == logged[-1] >= 1  # every step it took is in the checkpoint
    assert (out / "training_state.pt").is_file()
    resumed = train_sft(_config(work, out, max_steps=meta["step"] + 1, eval_every=0,
                                resume=True), log=lambda *_: None)
    assert resumed.steps == meta["step"] + 1 and resumed.interrupted_by is None


@pytest.mark.slow
def test_a_checkpoint_of_the_earlier_format_still_resumes(work, tmp_path):
    # Checkpoints written before this change (a background run's) hold the optimizer,
    # scheduler and one RNG state only: resuming them keeps working (the data order then
    # restarts from the seed and the step, as it did).
    cfg = _config(work, tmp_path / "ck", max_steps=2, eval_every=0)
    train_sft(cfg, log=lambda *_: None)
    path = tmp_path / "ck" / "training_state.pt"
    state = torch.load(path, weights_only=False)
    torch.save({"optimizer": state["optimizer"], "scheduler": state["scheduler"],
                "rng": state["rng"]}, path)
    cfg.max_steps, cfg.resume = 3, True
    resumed = train_sft(cfg, log=lambda *_: None)
    assert resumed.steps == 3
    state = torch.load(path, weights_only=False)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {3.0}
