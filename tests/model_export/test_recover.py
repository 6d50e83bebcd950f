"""A checkpoint rebuilt from an exported model: every weight back, within int8's step."""

from __future__ import annotations

import pytest

from tests.conftest import require_module

require_module("optimum.exporters.onnx")

from perfrl_train.checkpoint import load_checkpoint
from perfrl_train.cli import main
from perfrl_train.export import ExportConfig, export_model
from perfrl_train.recover import RecoverError, recover
from perfrl_train.testing import tiny_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_work):
    work = tmp_path_factory.mktemp("recover")
    ckpt = tiny_checkpoint(tiny_work)
    result = export_model(ExportConfig(checkpoint=ckpt, out=work / "model", parity_prompts=2,
                                       parity_max_new_tokens=16, threads=1),
                          log=lambda *_: None)
    return ckpt, result.out, work


@pytest.mark.slow
def test_every_weight_comes_back_within_the_int8_step(exported):
    ckpt, model_dir, work = exported
    count = recover(model_dir, work / "recovered")
    original, _, _ = load_checkpoint(ckpt)
    rebuilt, tokenizer, meta = load_checkpoint(work / "recovered")
    assert count > 0 and meta["recovered_from"] == str(model_dir)
    shape = ("d_model", "d_ff", "d_kv", "num_layers", "num_decoder_layers", "num_heads",
             "vocab_size", "tie_word_embeddings", "feed_forward_proj")
    assert [getattr(rebuilt.config, k) for k in shape] == [getattr(original.config, k)
                                                           for k in shape]
    before, after = original.state_dict(), rebuilt.state_dict()
    assert before.keys() == after.keys()
    for name, weight in before.items():
        step = float(weight.abs().max()) / 100 + 1e-6  # int8: 1/127 of a channel's range
        assert float((after[name] - weight).abs().max()) <= step, name
    # The tokenizer is the export's own, wrapped as in training.
    probe = "def f(xs):\n    return [x for x in xs]\n"
    assert tokenizer.decode(tokenizer(probe).input_ids, skip_special_tokens=True) == probe


@pytest.mark.slow
def test_the_rebuilt_model_generates_what_the_original_does(exported):
    ckpt, model_dir, work = exported
    recover(model_dir, work / "again")
    original, tokenizer, _ = load_checkpoint(ckpt)
    rebuilt, _, _ = load_checkpoint(work / "again")
    prompts = ["def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n"
               "    return out\n", "def g(a, b):\n    return a + b\n"]
    same = 0
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        a = original.generate(ids, max_new_tokens=24, do_sample=False)
        b = rebuilt.generate(ids, max_new_tokens=24, do_sample=False)
        same += a.tolist() == b.tolist()
    assert same >= 1  # int8 rounding may flip a near-tie in one of them


def test_command_line_errors_are_messages(tmp_path, capsys):
    assert main(["recover", "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no perfrl_model.json" in capsys.readouterr().err
    (tmp_path / "kept.txt").write_text("a user's file")
    with pytest.raises(RecoverError, match="not empty"):
        recover(tmp_path, tmp_path)
    assert (tmp_path / "kept.txt").read_text() == "a user's file"
