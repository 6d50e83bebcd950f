"""The copy head (pointer-generator): its distribution, training, checkpoints, export and the
server's runtime, on tiny real models (no mocks: real torch, optimum, onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require_module

require_module("transformers")

import torch

from perfrl_train.copy_head import (
    CONFIG_FLAG,
    HEAD_VERSION,
    INITIAL_VOCABULARY_BIAS,
    T5WithCopy,
    has_copy_head,
    load_t5,
    with_copy_head,
)


def _t5():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(
        vocab_size=61, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_decoder_layers=2,
        num_heads=4, dropout_rate=0.0, feed_forward_proj="relu", pad_token_id=0,
        eos_token_id=2, decoder_start_token_id=0)).eval()


SOURCE = torch.tensor([[5, 9, 9, 17, 23, 2]])
DECODER_IN = torch.tensor([[0, 9, 17, 4]])


def _log_probs(model, source=SOURCE):
    with torch.no_grad():
        return model(input_ids=source, attention_mask=torch.ones_like(source),
                     decoder_input_ids=DECODER_IN).logits[0]


def _choose(model, vocabulary: float, at: float = 0.0, after: float = 0.0) -> None:
    """Fix the head's choice logits (no dependence on the hidden state)."""
    heads = model.config.num_heads
    with torch.no_grad():
        model.copy_gate.weight.zero_()
        model.copy_gate.bias.copy_(torch.tensor([vocabulary] + [at] * heads + [after] * heads))


def test_the_head_mixes_the_vocabulary_with_the_input_tokens_and_their_followers():
    plain = _t5()
    copying = with_copy_head(plain).eval()
    assert isinstance(copying, T5WithCopy) and has_copy_head(copying.config)
    assert getattr(copying.config, CONFIG_FLAG) == HEAD_VERSION
    assert not has_copy_head(plain.config)  # the plain model's config is not touched
    assert copying.copy_gate.bias[0].item() == INITIAL_VOCABULARY_BIAS
    assert copying.copy_gate.bias[1:].abs().sum().item() == 0
    vocabulary = torch.log_softmax(_log_probs(plain), -1)
    _choose(copying, 60.0)  # all vocabulary
    assert torch.allclose(_log_probs(copying), vocabulary, atol=1e-5)
    with torch.no_grad():
        out = plain(input_ids=SOURCE, decoder_input_ids=DECODER_IN, output_attentions=True)
    attention = out.cross_attentions[-1].mean(1)[0]  # equal weights: the heads' mean
    _choose(copying, -60.0, at=0.0, after=-60.0)  # copy the attended token
    copied = _log_probs(copying).exp()
    source_tokens = sorted(set(SOURCE[0].tolist()))
    assert torch.allclose(copied[:, source_tokens].sum(-1), torch.ones(4), atol=1e-5)
    # Token 9 sits at two input positions: its copy probability adds both attentions.
    assert torch.allclose(copied[:, 9], attention[:, 1] + attention[:, 2], atol=1e-5)
    _choose(copying, -60.0, at=-60.0, after=0.0)  # copy the token after the attended one
    followed = _log_probs(copying).exp()
    # SOURCE = 5 9 9 17 23 2: 9 follows positions 0 and 1, 17 follows 2, the end follows 5.
    assert torch.allclose(followed[:, 9], attention[:, 0] + attention[:, 1], atol=1e-5)
    assert torch.allclose(followed[:, 17], attention[:, 2], atol=1e-5)
    assert torch.allclose(followed[:, 2], attention[:, 4] + attention[:, 5], atol=1e-5)
    assert float(followed[:, 5].max()) < 1e-20  # nothing follows into the first token


def test_loss_is_the_mixed_distributions_negative_log_likelihood():
    from perfrl_train.rrhf import decoder_inputs

    copying = with_copy_head(_t5()).eval()
    with torch.no_grad():
        copying.copy_gate.weight.normal_(0.0, 0.3)
    labels = torch.tensor([[9, 17, 4, 2, -100], [23, 2, -100, -100, -100]])
    source = torch.cat([SOURCE, torch.tensor([[23, 31, 9, 40, 5, 2]])])
    with torch.no_grad():
        loss = copying(input_ids=source, labels=labels).loss
        log_probs = copying(input_ids=source,
                            decoder_input_ids=decoder_inputs(labels, copying)).logits
    known = labels != -100
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)[known]
    assert torch.allclose(loss, -picked.mean(), atol=1e-6)


def test_generate_copies_for_every_row_it_expands():
    copying = with_copy_head(_t5()).eval()
    _choose(copying, -60.0, at=0.0, after=-60.0)
    with torch.no_grad():
        two = torch.tensor([[5, 9, 9, 17, 2], [23, 31, 31, 40, 2]])
        out = copying.generate(input_ids=two, attention_mask=torch.ones_like(two),
                               do_sample=True, num_return_sequences=3, max_new_tokens=6)
    assert out.shape[0] == 6
    for row, tokens in enumerate(out.tolist()):
        source = set(two[row // 3].tolist())
        assert set(tokens[1:]) <= source | {0}, (row, tokens)
    assert copying._generation_source is None
    with pytest.raises(ValueError, match="needs the input ids"):
        copying(encoder_outputs=(torch.zeros(1, 3, 32),), decoder_input_ids=DECODER_IN)


def test_a_saved_copy_model_loads_back_as_one(tmp_path):
    copying = with_copy_head(_t5())
    _choose(copying, -1.5, at=0.5, after=1.0)
    copying.save_pretrained(tmp_path / "c")
    _t5().save_pretrained(tmp_path / "p")
    loaded = load_t5(tmp_path / "c")
    assert isinstance(loaded, T5WithCopy) and getattr(loaded.config, CONFIG_FLAG)
    assert loaded.copy_gate.bias[0].item() == -1.5
    assert torch.allclose(_log_probs(loaded.eval()), _log_probs(copying.eval()))
    assert type(load_t5(tmp_path / "p")).__name__ == "T5ForConditionalGeneration"
    # A checkpoint of another head version (the first try's mean-over-heads head) is refused
    # with the way out, not loaded with a head of the wrong shape.
    config = (tmp_path / "c" / "config.json")
    config.write_text(config.read_text().replace(HEAD_VERSION, "mean-at-v0"))
    with pytest.raises(ValueError, match="another version.*--copy-head"):
        load_t5(tmp_path / "c")


@pytest.mark.slow
def test_trained_with_a_copy_head_exported_and_run_by_the_server(tmp_path, tiny_work):
    """SFT adds the head (--copy-head) on a plain base, resumes it, the export keeps it in the
    step graph (parity against PyTorch through the server's runtime), and the server's model
    generates with it; the optimum decoder format, which cannot carry it, is refused."""
    require_module("optimum.exporters.onnx")
    from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
    from perfrl_train.checkpoint import load_checkpoint
    from perfrl_train.export import ExportConfig, ExportError, export_model
    from perfrl_train.sft import SFTConfig, train_sft
    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

    config = dict(out=tmp_path / "ckpt", data=tiny_pairs_dir(tiny_work / "tiny-data"),
                  base=str(tiny_checkpoint(tiny_work)), copy_head=True, max_steps=4,
                  batch_size=4, lr=3e-3, warmup_steps=1, eval_every=0, save_every=2,
                  max_source_length=192, max_target_length=128, bf16=False, threads=1,
                  progress=False)
    train_sft(SFTConfig(**config), log=lambda *_: None)
    result = train_sft(SFTConfig(**{**config, "max_steps": 6, "resume": True}),
                       log=lambda *_: None)
    assert result.steps == 6
    model, _, meta = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(model, T5WithCopy) and meta["step"] == 6
    assert model.copy_gate.bias[0].item() != INITIAL_VOCABULARY_BIAS  # trained

    with pytest.raises(ExportError, match="copy head"):
        export_model(ExportConfig(checkpoint=tmp_path / "ckpt", out=tmp_path / "o",
                                  decoder_format="optimum-with-past"), log=lambda *_: None)
    exported = export_model(ExportConfig(checkpoint=tmp_path / "ckpt", out=tmp_path / "model",
                                         parity_prompts=3, parity_max_new_tokens=24,
                                         threads=1), log=lambda *_: None)
    served = OnnxSeq2SeqModel.load(exported.out, threads=1)
    assert served._decoder.copies
    prompt = served.prompt_for("def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n"
                               "    return s\n")
    outputs = served.generate(prompt, num_return=4, do_sample=True, seed=3, max_new_tokens=24)
    assert len(outputs) == 4 and all(np.isfinite(o.score) for o in outputs)
