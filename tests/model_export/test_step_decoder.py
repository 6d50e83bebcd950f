"""The step-graph decoder against PyTorch's T5 (log-probabilities), through the server's
stepper.

Random small T5s (no training needed: the logits are compared, not the text), teacher-forced
past the relative-position bias's saturation distance, tied and untied output embeddings.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require_module

require_module("transformers")
require_module("onnx")

from perfrl.inference.step_graphs import StepGraphDecoder
from perfrl.model_contract import DECODER_FORMAT_STEP, ModelSpec
from perfrl_train.step_decoder import StepDecoderUnsupported, write_step_decoder

STEPS = 40


def _t5(**overrides):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = {
        "vocab_size": 97, "d_model": 32, "d_ff": 64, "d_kv": 8, "num_layers": 2,
        "num_decoder_layers": 3, "num_heads": 4, "dropout_rate": 0.0,
        "feed_forward_proj": "relu", "pad_token_id": 0, "eos_token_id": 2,
        "decoder_start_token_id": 0,
        # Small bucket range, so that STEPS tokens run past the saturation distance.
        "relative_attention_num_buckets": 8, "relative_attention_max_distance": 12,
    }
    config.update(overrides)
    return T5ForConditionalGeneration(T5Config(**config)).eval()


def _with_copy(model):
    """``model`` with a copy head whose gate is far from its start (so both branches count)."""
    import torch

    from perfrl_train.copy_head import with_copy_head

    copying = with_copy_head(model).eval()
    with torch.no_grad():
        copying.copy_gate.weight.normal_(0.0, 0.5)
        copying.copy_gate.bias.fill_(0.2)  # all choices count: vocabulary, at, after
    return copying


@pytest.mark.parametrize("variant", ["tied", "untied", "copy"])
def test_step_graphs_match_pytorch_logits_step_by_step(tmp_path, variant):
    import torch

    model = _t5(tie_word_embeddings=variant != "untied")
    if variant == "copy":
        model = _with_copy(model)
    write_step_decoder(model, tmp_path)
    config = model.config
    spec = ModelSpec(decoder_format=DECODER_FORMAT_STEP,
                     num_decoder_layers=config.num_decoder_layers, num_heads=config.num_heads,
                     d_kv=config.d_kv, vocab_size=config.vocab_size)
    decoder = StepGraphDecoder(tmp_path, spec, threads=1)
    assert decoder.max_distance == 12
    assert decoder.copies == (variant == "copy")

    rng = np.random.default_rng(0)
    # Repeated ids: the copy distribution adds up every position holding a token.
    source = torch.tensor([rng.integers(3, 12, size=17).tolist()])
    forced = rng.integers(3, config.vocab_size, size=STEPS).tolist()
    with torch.no_grad():
        hidden = model.encoder(input_ids=source).last_hidden_state
        logits = model(input_ids=source, encoder_outputs=(hidden,),
                       decoder_input_ids=torch.tensor([[0, *forced[:-1]]])).logits[0]
        expected = torch.log_softmax(logits, dim=-1).numpy()
    # Three rows, then two of them reordered: the cache follows its rows.
    stepper = decoder.stepper(hidden.numpy(), np.ones((1, 17), dtype=np.int64), 0,
                              source.numpy())
    assert stepper.log_probs  # the graph returns log-probabilities, not logits
    got = [stepper.start(3)]
    for step in range(1, STEPS):
        rows = np.array([2, 0]) if step == 20 else None
        batch = 3 if step < 20 else 2
        got.append(stepper.advance(np.full(batch, forced[step - 1], dtype=np.int64), rows))
    for step, logits in enumerate(got):
        for row in logits:
            np.testing.assert_allclose(row, expected[step], atol=2e-5, rtol=1e-4,
                                       err_msg=f"step {step}")
    if variant == "copy":
        # The copy branch moved probability onto the source's tokens: their total mass is
        # higher than the vocabulary distribution alone gives them, at every step, by much
        # on average.
        plain = torch.log_softmax(_t5()(encoder_outputs=(hidden,), decoder_input_ids=torch.tensor(
            [[0, *forced[:-1]]])).logits[0], -1).detach().numpy()
        in_source = sorted(set(source[0].tolist()))
        mass, plain_mass = (np.exp(p[:, in_source]).sum(1) for p in (expected, plain))
        assert np.all(mass > plain_mass) and mass.mean() > plain_mass.mean() + 0.2


def test_unsupported_feed_forward_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(StepDecoderUnsupported, match="gated-gelu"):
        write_step_decoder(_t5(feed_forward_proj="gated-gelu"), tmp_path)
    assert not list(tmp_path.iterdir())
