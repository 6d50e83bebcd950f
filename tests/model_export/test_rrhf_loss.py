"""RRHF loss, candidate scores and the reward scale, with exact expected values."""

from __future__ import annotations

import math

import pytest

from perfrl.engine.types import Candidate, CandidateResult, SpeedupEstimate, Verdict
from perfrl_train.reward import RewardScale, reward_from_result

torch = pytest.importorskip("torch")

from perfrl_train.rrhf import best_index, rrhf_loss, sequence_scores

GOOD = "def f(xs):\n    return sum(xs)\n"


def result(verdict: Verdict, code: str = GOOD, median: float | None = None) -> CandidateResult:
    speedup = None if median is None else SpeedupEstimate(median=median, low=median * 0.9,
                                                          high=median * 1.1, original_ns=1.0,
                                                          candidate_ns=1.0, rounds=20)
    return CandidateResult(candidate=Candidate("model", "s", code), verdict=verdict,
                           reason="", speedup=speedup)


def test_rrhf_loss_matches_hand_computation():
    scores = torch.tensor([-1.0, -0.5, -2.0])
    rewards = torch.tensor([2.0, 1.0, 0.0])
    loss, rank, ce = rrhf_loss(scores, rewards, torch.tensor(0.7), ce_weight=1.0)
    # Only (lower=1, higher=0) is mis-ranked: max(0, -0.5 - -1.0) = 0.5.
    assert rank.item() == pytest.approx(0.5)
    assert ce.item() == pytest.approx(0.7)
    assert loss.item() == pytest.approx(1.2)


def test_rrhf_loss_ties_contribute_nothing_and_weight_applies():
    scores = torch.tensor([0.1, 0.4, 0.2])
    rewards = torch.tensor([1.3, 1.3, 0.0])
    loss, rank, _ = rrhf_loss(scores, rewards, torch.tensor(2.0), ce_weight=0.5)
    # (2 < 0): max(0, 0.2 - 0.1) = 0.1; (2 < 1): max(0, 0.2 - 0.4) = 0; tie 0~1 ignored.
    assert rank.item() == pytest.approx(0.1)
    assert loss.item() == pytest.approx(0.1 + 0.5 * 2.0)


def test_rrhf_loss_gradient_pushes_the_better_candidate_up():
    scores = torch.tensor([-1.0, -0.5], requires_grad=True)
    loss, _, _ = rrhf_loss(scores, torch.tensor([2.0, 0.0]), torch.tensor(0.0))
    loss.backward()
    assert scores.grad.tolist() == [-1.0, 1.0]


def test_best_index_prefers_first_on_ties():
    assert best_index([3.5, 3.5, 1.0]) == 0
    assert best_index([1.0, 1.3, 0.0, 1.3]) == 1


def test_sequence_scores_are_length_normalised_log_probs():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=32, d_model=16, d_kv=4, d_ff=32,
                                                num_layers=1, num_decoder_layers=1, num_heads=4,
                                                dropout_rate=0.0, decoder_start_token_id=0))
    model.eval()
    source, targets = [1, 5, 6, 2], [[7, 8, 2], [9, 2]]
    scores, nll = sequence_scores(model, source, targets)
    for i, target in enumerate(targets):
        dec_in = torch.tensor([[0, *target[:-1]]])
        logits = model(input_ids=torch.tensor([source]), decoder_input_ids=dec_in).logits[0]
        logp = torch.log_softmax(logits, -1)
        expected = sum(logp[t, tok].item() for t, tok in enumerate(target)) / len(target)
        assert scores[i].item() == pytest.approx(expected, abs=1e-5)
        assert nll[i].item() == pytest.approx(-expected, abs=1e-5)


@pytest.mark.parametrize(("verdict", "code", "expected"), [
    (Verdict.INVALID, "def f(:\n", 0.0),
    (Verdict.INVALID, "", 0.0),  # empty output parses but is no function: no reward
    (Verdict.INVALID, "def g(xs):\n    return 0\n", 1.0),  # compiles, wrong name
    (Verdict.FAILED_TESTS, GOOD, 1.0),
    (Verdict.NOT_EQUIVALENT, GOOD, 1.0),
    (Verdict.TIMEOUT, GOOD, 1.0),
    (Verdict.CRASHED, GOOD, 1.0),
    (Verdict.NOT_FASTER, GOOD, 1.3),
])
def test_reward_for_each_verdict(verdict, code, expected):
    assert reward_from_result(result(verdict, code)) == expected


def test_verified_faster_reward_grows_with_log_speedup_and_is_clipped():
    assert reward_from_result(result(Verdict.FASTER, median=2.0)) == pytest.approx(
        2.0 + math.log(2.0))
    assert reward_from_result(result(Verdict.FASTER, median=1000.0)) == pytest.approx(3.5)
    assert reward_from_result(result(Verdict.FASTER, median=2.0),
                              RewardScale(max_log_bonus=0.0)) == 2.0
