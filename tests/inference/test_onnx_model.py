"""The ONNX model and our decoding loop against the PyTorch original of the same weights.

Every test runs on both decoder formats of the contract: the step graphs (what exports write
now) and optimum's with-past decoders (earlier exports)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.model_contract import DECODER_FORMATS

from .conftest import MAX_SOURCE_LENGTH, TinyModel

pytestmark = [pytest.mark.slow, pytest.mark.train]

SEEN = "def scale(xs):\n    out = []\n    for x in xs:\n        out.append(x * 3)\n    return out\n"
UNSEEN = (
    "def total(items, k):\n    acc = 0\n    for item in items:\n        if item > k:\n"
    "            acc += item\n    return acc\n"
)
LONG = (
    "def long(xs):\n"
    + "".join(f"    y{i} = xs[{i}] * {i}\n" for i in range(60))
    + "    return y0\n"
)
MAX_NEW = 40


@pytest.fixture(scope="module", params=DECODER_FORMATS)
def model(tiny_model: TinyModel, request) -> OnnxSeq2SeqModel:
    loaded = OnnxSeq2SeqModel.load(tiny_model.model_dir(request.param))
    assert loaded.spec.decoder_format == request.param
    return loaded


def _hf_generate(torch_model, model: OnnxSeq2SeqModel, source: str, **kwargs):
    import torch

    ids = torch.tensor([model.encode_prompt(model.prompt_for(source)).ids])
    with torch.no_grad():
        return torch_model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW, **kwargs
        )


def _until_eos(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


@pytest.mark.parametrize("source", [SEEN, UNSEEN, LONG], ids=["seen", "unseen", "truncated"])
def test_greedy_tokens_equal_pytorch_generate(model, torch_model, source):
    expected = _hf_generate(torch_model, model, source, do_sample=False)[0].tolist()
    [ours] = model.generate(model.prompt_for(source), max_new_tokens=MAX_NEW)
    assert expected[0] == model.spec.decoder_start_token_id
    assert ours.token_ids == _until_eos(expected[1:], model.spec.eos_token_id)
    assert len(ours.token_ids) > 0 and any(t != model.spec.pad_token_id for t in ours.token_ids)


def test_trained_model_really_writes_the_rewrite(model):
    [ours] = model.generate(model.prompt_for(SEEN), max_new_tokens=MAX_NEW)
    assert ours.finished
    assert ours.text == "def scale(xs):\n    return [x * 3 for x in xs]\n"


@pytest.mark.parametrize("source", [SEEN, UNSEEN], ids=["seen", "unseen"])
def test_beam_search_equals_hugging_face_beam_search(model, torch_model, source):
    out = _hf_generate(
        torch_model,
        model,
        source,
        num_beams=4,
        num_return_sequences=2,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    ours = model.generate(
        model.prompt_for(source), num_beams=4, num_return=2, max_new_tokens=MAX_NEW
    )
    eos = model.spec.eos_token_id
    assert [o.token_ids for o in ours] == [
        _until_eos(seq[1:], eos) for seq in out.sequences.tolist()
    ]
    np.testing.assert_allclose(
        [o.score for o in ours], out.sequences_scores.tolist(), atol=1e-4, rtol=1e-4
    )


def test_sampling_is_reproducible_with_a_seed_and_varies_across_seeds(model):
    prompt = model.prompt_for(UNSEEN)

    def draw(seed):
        return [
            o.token_ids
            for o in model.generate(
                prompt,
                num_return=6,
                do_sample=True,
                temperature=1.5,
                top_k=50,
                top_p=0.95,
                max_new_tokens=MAX_NEW,
                seed=seed,
            )
        ]

    first = draw(1)
    assert draw(1) == first
    assert draw(2) != first
    assert len({tuple(t) for t in first}) > 1, "six samples at temperature 1.5 were identical"


def test_greedy_first_row_of_a_sampled_batch_is_the_greedy_sequence(model):
    prompt = model.prompt_for(UNSEEN)
    [greedy] = model.generate(prompt, max_new_tokens=MAX_NEW)
    batch = model.generate(
        prompt,
        num_return=4,
        do_sample=True,
        temperature=1.5,
        greedy_first=True,
        max_new_tokens=MAX_NEW,
        seed=5,
    )
    assert batch[0].token_ids == greedy.token_ids
    assert batch[0].score == pytest.approx(greedy.score, abs=1e-5)


def test_scores_are_mean_log_probabilities_under_pytorch(model, torch_model):
    import torch

    [ours] = model.generate(model.prompt_for(UNSEEN), max_new_tokens=MAX_NEW)
    ids = torch.tensor([model.encode_prompt(model.prompt_for(UNSEEN)).ids])
    labels = torch.tensor([ours.token_ids])
    with torch.no_grad():
        logits = torch_model(input_ids=ids, labels=labels).logits
    logp = torch.log_softmax(logits[0], dim=-1)
    expected = logp[torch.arange(len(ours.token_ids)), labels[0]].mean().item()
    assert ours.score == pytest.approx(expected, abs=1e-4)


def test_prompts_are_truncated_to_max_source_length_keeping_the_end_token(model):
    encoded = model.encode_prompt(model.prompt_for(LONG))
    assert encoded.truncated
    assert len(encoded.ids) == MAX_SOURCE_LENGTH
    assert encoded.ids[0] == 1 and encoded.ids[-1] == model.spec.eos_token_id
    assert not model.encode_prompt(model.prompt_for(SEEN)).truncated


def test_length_cap(model):
    [ours] = model.generate(model.prompt_for(UNSEEN), num_return=1, max_new_tokens=3)
    assert len(ours.token_ids) <= 3
    [none] = model.generate(model.prompt_for(UNSEEN), max_new_tokens=0)
    assert none.token_ids == [] and not none.finished


def test_bad_argument_combinations_are_refused(model):
    prompt = model.prompt_for(SEEN)
    with pytest.raises(ValueError, match="beam search with sampling"):
        model.generate(prompt, num_beams=2, do_sample=True)
    with pytest.raises(ValueError, match="greedy decoding returns one"):
        model.generate(prompt, num_return=3)
    with pytest.raises(ValueError, match="num_return"):
        model.generate(prompt, num_beams=2, num_return=3)


def test_concurrent_calls_give_the_same_results_as_sequential_ones(model):
    prompt = model.prompt_for(UNSEEN)
    kwargs = {"num_return": 4, "do_sample": True, "temperature": 1.3, "max_new_tokens": MAX_NEW}
    expected = {seed: model.generate(prompt, seed=seed, **kwargs) for seed in range(4)}
    results: dict[int, list] = {}

    def work(seed):
        results[seed] = model.generate(prompt, seed=seed, **kwargs)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == expected


def test_int8_model_runs_and_keeps_the_greedy_output(tiny_model: TinyModel, model):
    fp32_dir = model.model_dir
    int8_dir = tiny_model.model_dir(model.spec.decoder_format, int8=True)
    int8 = OnnxSeq2SeqModel.load(int8_dir)
    assert int8.spec.quantization == "int8-dynamic-per-channel"
    for name in int8.spec.model_files()[:-1]:
        assert (int8_dir / name).stat().st_size < (fp32_dir / name).stat().st_size * 0.6
    prompt = model.prompt_for(SEEN)
    [fp32] = model.generate(prompt, max_new_tokens=MAX_NEW)
    [q] = int8.generate(prompt, max_new_tokens=MAX_NEW)
    assert q.token_ids == fp32.token_ids
    samples = int8.generate(
        model.prompt_for(UNSEEN),
        num_return=4,
        do_sample=True,
        temperature=1.2,
        max_new_tokens=MAX_NEW,
        seed=0,
    )
    assert len(samples) == 4 and all(s.token_ids for s in samples)
    beams = int8.generate(prompt, num_beams=3, num_return=2, max_new_tokens=MAX_NEW)
    assert beams[0].token_ids == fp32.token_ids


@pytest.mark.parametrize("num_beams", [1, 3])
def test_min_new_tokens_matches_hugging_face(model, torch_model, num_beams):
    # The memorized rewrite ends after 21 tokens; 30 forces the model past its end.
    out = _hf_generate(
        torch_model, model, SEEN, do_sample=False, num_beams=num_beams, min_new_tokens=30
    )[0].tolist()
    [ours] = model.generate(
        model.prompt_for(SEEN), num_beams=num_beams, min_new_tokens=30, max_new_tokens=MAX_NEW
    )
    assert len(ours.token_ids) >= 30
    assert ours.token_ids == _until_eos(out[1:], model.spec.eos_token_id)
