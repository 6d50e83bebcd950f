"""SFT on tiny in-process models: the loss falls, checkpoints rebuild identical outputs."""

from __future__ import annotations

import argparse
import json

import pytest

torch = pytest.importorskip("torch")

from perfrl_train.checkpoint import load_checkpoint, save_checkpoint
from perfrl_train.examples import (
    ExampleFormatError,
    encode_source,
    encode_target,
    read_examples,
)
from perfrl_train.modeling import build_model_and_tokenizer
from perfrl_train.sft import SFTConfig, make_batch, token_loss, train_sft
from perfrl_train.testing import TINY_STDLIB_FILES, tiny_checkpoint, tiny_pairs_dir
from perfrl_train.train_common import add_config_arguments, config_from_args


@pytest.fixture(scope="module")
def work(tiny_work):
    """The session's tiny folder: its tokenizer cache and tiny checkpoint are built once."""
    return tiny_work


def _tiny(work):
    torch.manual_seed(0)
    return build_model_and_tokenizer(from_config="tiny", max_stdlib_files=TINY_STDLIB_FILES,
                                     cache_dir=work / "cache", log=lambda *_: None)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(work):
    torch.set_num_threads(1)
    model, tok, _ = _tiny(work)
    examples = read_examples(tiny_pairs_dir(work / "data") / "train.jsonl")[:4]
    batch = make_batch([encode_source(tok, e.slow, 128) for e in examples],
                       [encode_target(tok, e.fast, 64) for e in examples], tok.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    with torch.no_grad():
        before = token_loss(model, batch).item()
    for _ in range(8):
        loss = token_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    with torch.no_grad():
        after = token_loss(model, batch).item()
    assert after < before - 0.5, (before, after)


def test_targets_end_with_eos_and_have_no_bos(work):
    _, tok, _ = _tiny(work)
    ids = encode_target(tok, "def f():\n    return 1\n", 8)
    assert ids[-1] == 2 and 1 not in ids and len(ids) == 8
    src = encode_source(tok, "def f():\n    return 1\n", 512)
    assert src[0] == 1 and src[-1] == 2
    assert tok.decode(src, skip_special_tokens=True).startswith("Write faster version:\n")


def test_checkpoint_round_trip_rebuilds_identical_outputs(work, tmp_path):
    model, tok, _ = _tiny(work)
    model.eval()
    x = torch.tensor([encode_source(tok, "def f(xs):\n    return len(xs)\n", 64)])
    with torch.no_grad():
        logits = model(input_ids=x, decoder_input_ids=torch.tensor([[0, 5, 6]])).logits
    written = save_checkpoint(tmp_path / "ck", model, tok, {"trainer": "test", "step": 3})
    assert all(p.is_file() for p in written.values())
    again, tok2, meta = load_checkpoint(tmp_path / "ck")
    assert meta == {"trainer": "test", "step": 3}
    with torch.no_grad():
        logits2 = again(input_ids=x, decoder_input_ids=torch.tensor([[0, 5, 6]])).logits
    assert torch.equal(logits, logits2)
    assert tok2("def g(): pass")["input_ids"] == tok("def g(): pass")["input_ids"]


def test_config_arguments_round_trip():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, SFTConfig)
    args = parser.parse_args(["--out", "/tmp/x", "--from-config", "tiny", "--max-steps", "7",
                              "--no-bf16", "--lr", "0.01"])
    cfg = config_from_args(SFTConfig, args)
    assert (str(cfg.out), cfg.from_config, cfg.max_steps, cfg.bf16, cfg.lr) == (
        "/tmp/x", "tiny", 7, False, 0.01)
    assert "--max-steps" in parser.format_help() and "optimizer steps" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args([])  # --out is required


def test_bad_pairs_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"slow": "def f(): pass", "fast": "def f(): pass"}\n{"slow": 1}\n')
    with pytest.raises(ExampleFormatError, match="bad.jsonl:2"):
        read_examples(path)
    with pytest.raises(ExampleFormatError, match="does not exist"):
        read_examples(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_train_sft_writes_checkpoint_metrics_and_resumes(work, tmp_path):
    data = tiny_pairs_dir(work / "data")
    cfg = SFTConfig(out=tmp_path / "ck", data=data, from_config="tiny", max_steps=6,
                    batch_size=4, lr=3e-3, warmup_steps=2, eval_every=3, log_every=2,
                    max_source_length=128, max_target_length=64, bf16=False, threads=1,
                    max_stdlib_files=TINY_STDLIB_FILES, cache_dir=work / "cache",
                    progress=False)
    result = train_sft(cfg, log=lambda *_: None)
    assert result.steps == 6 and result.final_valid_loss is not None
    records = [json.loads(line) for line in (tmp_path / "ck" / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 4, 6]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [3, 6]
    meta = json.loads((tmp_path / "ck" / "perfrl_train.json").read_text())
    assert meta["trainer"] == "sft" and meta["step"] == 6
    assert meta["provenance"]["from_config"] == "tiny"
    cfg.max_steps, cfg.resume = 8, True
    resumed = train_sft(cfg, log=lambda *_: None)
    assert resumed.steps == 8


@pytest.mark.slow
def test_tiny_checkpoint_generates_tokens(work):
    model, tok, _ = load_checkpoint(tiny_checkpoint(work))
    x = torch.tensor([encode_source(tok, "def f(xs):\n    return len(xs)\n", 128)])
    out = model.generate(input_ids=x, max_new_tokens=16, do_sample=False)
    assert (out[0, 1:] != 0).any()  # a fresh T5 emits only pad


def test_rows_may_carry_their_own_prompt_prefix(work, tmp_path):
    from perfrl_train.sft import encode_examples

    _, tok, _ = _tiny(work)
    path = tmp_path / "mixed.jsonl"
    rows = [{"slow": "def f(xs):\n    return len(xs)\n", "fast": "def f(xs): return 0"},
            {"slow": "def f(<mask0>):\n    return 1\n", "fast": "<mask0> xs",
             "prompt_prefix": "Fill in the masked code:\n"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sources, _ = encode_examples(tok, read_examples(path), 128, 64)
    assert tok.decode(sources[0], skip_special_tokens=True).startswith("Write faster version:\n")
    second = tok.decode(sources[1], skip_special_tokens=True)
    assert second.startswith("Fill in the masked code:\ndef f(") and "faster" not in second
    for bad in (3, "", ["a list"]):  # silently training the rewrite task instead: no
        path.write_text(json.dumps({**rows[1], "prompt_prefix": bad}) + "\n")
        with pytest.raises(ExampleFormatError, match="mixed.jsonl:1: 'prompt_prefix' must be"):
            read_examples(path)


def test_an_edit_model_reads_numbered_lines_and_learns_the_edit_script(work, tmp_path):
    from perfrl_train.sft import encode_examples

    _, tok, _ = _tiny(work)
    path = tmp_path / "pairs.jsonl"
    slow = "def f(xs):\n    n = 0\n    for x in xs:\n        n += x\n    return n\n"
    path.write_text(json.dumps({"slow": slow, "fast": "def f(xs):\n    return sum(xs)\n"}) + "\n")
    sources, targets = encode_examples(tok, read_examples(path), 128, 64, "edit-v1")
    assert tok.decode(sources[0], skip_special_tokens=True) == (
        "Write faster edits:\n1|def f(xs):\n2|    n = 0\n3|    for x in xs:\n4|        n += x\n"
        "5|    return n\n")
    assert tok.decode(targets[0], skip_special_tokens=True) == "@2-5\n    return sum(xs)\n"


def test_an_edit_v2_model_learns_line_references_for_the_lines_it_keeps(work, tmp_path):
    from perfrl_train.sft import encode_examples

    _, tok, _ = _tiny(work)
    path = tmp_path / "pairs.jsonl"
    slow = "def f(xs, k):\n    out = []\n    for x in xs:\n        m = k * 2\n" \
           "        out.append(x * m)\n    return out\n"
    fast = "def f(xs, k):\n    out = []\n    m = k * 2\n    for x in xs:\n" \
           "        out.append(x * m)\n    return out\n"
    path.write_text(json.dumps({"slow": slow, "fast": fast}) + "\n")
    sources, targets = encode_examples(tok, read_examples(path), 128, 64, "edit-v2")
    assert tok.decode(sources[0], skip_special_tokens=True).startswith(
        "Write faster edits:\n1|def f(xs, k):\n")
    assert tok.decode(targets[0], skip_special_tokens=True) == "@2-2\n    =2\n    =4\n@4-4\n"


@pytest.mark.slow
def test_names_renamed_at_each_draw_and_weighted_train_and_resume(work, tmp_path):
    """--shuffle-names and --name-loss-weight: a run trains, and the renamings are drawn by
    the step, so a run interrupted and resumed ends with the uninterrupted run's weights."""
    data = tiny_pairs_dir(work / "data")

    def config(out, resume=False):
        return SFTConfig(out=out, data=data, from_config="tiny", max_steps=6,
                         batch_size=4, lr=3e-3, warmup_steps=2, eval_every=0, save_every=3,
                         max_source_length=128, max_target_length=64, bf16=False, threads=1,
                         max_stdlib_files=TINY_STDLIB_FILES, cache_dir=work / "cache",
                         progress=False, shuffle_names=0.5, shuffle_variants=3,
                         name_loss_weight=3.0, resume=resume)

    whole = train_sft(config(tmp_path / "whole"), log=lambda *_: None)
    assert whole.steps == 6 and whole.final_train_loss == whole.final_train_loss  # not NaN

    class Interrupted(Exception):
        pass

    def interrupt_at_4(step: int) -> None:
        if step == 4:  # after the step-3 checkpoint
            raise Interrupted

    with pytest.raises(Interrupted):
        train_sft(config(tmp_path / "parts"), log=lambda *_: None, on_step=interrupt_at_4)
    train_sft(config(tmp_path / "parts", resume=True), log=lambda *_: None)
    a, _, _ = load_checkpoint(tmp_path / "whole")
    b, _, _ = load_checkpoint(tmp_path / "parts")
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    with pytest.raises(Exception, match="--shuffle-names"):
        train_sft(SFTConfig(out=tmp_path / "bad", data=data, shuffle_names=1.5),
                  log=lambda *_: None)
