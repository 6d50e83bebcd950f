"""The copy bias (perfrl.inference.copy_bias): which tokens it favours, that it follows each
row through the strategies' reorderings, and what it does to greedy, sampled and beam outputs
(table models here; the real tiny model in test_guarded_generation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from perfrl.inference.copy_bias import CopySource
from perfrl.inference.decoding import (
    OutputConstraints,
    SamplingParams,
    beam_search,
    log_softmax,
    sample_or_greedy,
)

from .test_decoding import EOS, TableStepper, probs_table


def test_the_longest_matching_tail_names_what_followed_it():
    source = CopySource([5, 6, 7, 5, 6, 8], bonus=1.0)
    assert list(source.next_tokens([9, 5, 6])) == [7, 8]  # "5 6" is followed by 7 and by 8
    assert list(source.next_tokens([7, 5, 6])) == [8]  # "7 5 6" only by 8
    assert list(source.next_tokens([6])) == [7, 8]
    assert source.next_tokens([9]) is None
    assert source.next_tokens([]) is None
    # The last source token is followed by nothing.
    assert source.next_tokens([5, 6, 8]) is None


def test_a_tail_shorter_than_min_match_gets_no_bias():
    source = CopySource([5, 6, 7], bonus=1.0, min_match=2)
    assert source.next_tokens([9, 6]) is None
    assert list(source.next_tokens([5, 6])) == [7]
    with pytest.raises(ValueError):
        CopySource([1, 2], bonus=1.0, min_match=3, max_match=2)


def test_the_wrapped_stepper_follows_each_row_through_kept_rows():
    table = np.log(np.full((10, 10), 0.1, dtype=np.float32))
    inner = TableStepper(table)
    stepper = CopySource([3, 4, 5, 6, 7], bonus=2.0).wrap(inner)
    assert not getattr(stepper, "log_probs", False)
    assert not hasattr(stepper, "top_k")  # every row's whole score vector is read
    first = stepper.start(3)
    np.testing.assert_allclose(first, table[[0, 0, 0]])  # no tokens yet: no bias
    stepper.advance(np.array([3, 9, 5]), None)
    # Rows 2 and 0 go on (in that order), as when a strategy drops or reorders rows.
    scores = stepper.advance(np.array([6, 4]), np.array([2, 0]))
    expected = table[[6, 4]].copy()
    expected[0, 7] += 2.0  # row "5 6" -> 7
    expected[1, 5] += 2.0  # row "3 4" -> 5
    np.testing.assert_allclose(scores, expected)
    # The inner stepper's own arrays are never modified.
    np.testing.assert_allclose(inner.table, table)


# After 5 the model prefers 4 to 6; the input it copies says 5 6.
UNSURE = {0: {3: 1.0}, 3: {5: 1.0}, 5: {4: 0.6, 6: 0.4}, 4: {EOS: 1.0}, 6: {EOS: 1.0}}
CONFIDENT = {**UNSURE, 5: {4: 0.97, 6: 0.03}}


def _greedy(rows: dict, constraints: OutputConstraints | None) -> list[int]:
    out = sample_or_greedy(TableStepper(probs_table(rows, 8)), [True], 6, EOS,
                           SamplingParams(), np.random.default_rng(0), constraints=constraints)
    return out[0].tokens


def test_the_bias_settles_what_the_model_is_unsure_of_and_keeps_what_it_is_sure_of():
    copy = OutputConstraints(copy=CopySource([3, 5, 6], bonus=1.0))
    assert _greedy(UNSURE, None) == [3, 5, 4, EOS]
    assert _greedy(UNSURE, copy) == [3, 5, 6, EOS]
    assert _greedy(CONFIDENT, copy) == [3, 5, 4, EOS]


def test_sampled_rows_are_drawn_from_the_biased_distribution():
    rows = {0: {3: 1.0}, 3: {5: 0.5, 6: 0.5}, 5: {EOS: 1.0}, 6: {EOS: 1.0}}
    copy = OutputConstraints(copy=CopySource([3, 6], bonus=3.0))
    outs = sample_or_greedy(TableStepper(probs_table(rows, 8)), [False] * 400, 4, EOS,
                            SamplingParams(), np.random.default_rng(0), constraints=copy)
    share = sum(o.tokens[1] == 6 for o in outs) / len(outs)
    # e^3 : 1 -> 95% of the draws take 6 (50% without the bias).
    assert share > 0.9
    # Scored against the distribution the tokens were drawn from.
    biased = log_softmax(np.log(np.array([[0.5, 0.5 * np.exp(3.0)]])))[0]
    six = next(o for o in outs if o.tokens[1] == 6)
    assert six.score == pytest.approx(biased[1] / 3, abs=1e-3)


def test_beam_search_with_the_bias_prefers_the_copied_continuation():
    copy = OutputConstraints(copy=CopySource([3, 5, 6], bonus=1.0))
    table = probs_table(UNSURE, 8)
    assert beam_search(TableStepper(table), 2, 1, 6, EOS)[0].tokens == [3, 5, 4, EOS]
    assert beam_search(TableStepper(table), 2, 1, 6, EOS, constraints=copy)[0].tokens == [
        3, 5, 6, EOS]


def test_with_an_end_token_a_finished_copy_is_pushed_to_stop():
    source = CopySource([5, 6, 5, 7], bonus=1.0, end_token=EOS)
    assert list(source.next_tokens([6, 5, 7])) == [EOS]
    assert CopySource([5, 6, 5, 7], bonus=1.0).next_tokens([6, 5, 7]) is None


class TopLogProbStepper(TableStepper):
    """A table model that gives normalised log-probabilities and its own top-k, like the
    step graph."""

    log_probs = True

    def __init__(self, table: np.ndarray) -> None:
        super().__init__(log_softmax(table))
        self.top_k = 0
        self.last_top = None

    def _top(self, scores: np.ndarray) -> np.ndarray:
        if self.top_k > 0:
            ids = np.argsort(-scores, axis=-1, kind="stable")[:, : self.top_k]
            self.last_top = (np.take_along_axis(scores, ids, axis=-1), ids)
        return scores

    def start(self, n):
        return self._top(super().start(n))

    def advance(self, tokens, rows):
        return self._top(super().advance(tokens, rows))


def test_a_top_k_log_prob_stepper_keeps_its_shortcut_and_stays_normalised():
    rng = np.random.default_rng(3)
    table = rng.normal(size=(12, 12)).astype(np.float32)
    inner = TopLogProbStepper(table)
    stepper = CopySource([3, 4, 5, 11, 3, 4, 9], bonus=2.5).wrap(inner)
    assert getattr(stepper, "log_probs", False) and hasattr(stepper, "top_k")
    stepper.top_k = 4  # as a strategy sets it, before the first step
    stepper.start(3)
    assert inner.top_k == 4
    scores = stepper.advance(np.array([3, 7, 11]), None)
    stepper.advance(np.array([4, 7, 3]), None)
    scores = stepper.advance(np.array([5, 7, 4]), np.array([0, 1, 2]))
    np.testing.assert_allclose(np.exp(scores.astype(np.float64)).sum(axis=-1), 1.0, rtol=1e-5)
    top_scores, top_ids = stepper.last_top
    for row in range(3):
        best = np.argsort(-scores[row], kind="stable")[:4]
        assert set(top_ids[row]) == set(best)
        np.testing.assert_allclose(top_scores[row], scores[row][top_ids[row]])
    # Row 0 ("3 4 5" -> 11) and row 2 ("3 4" -> 5 and 9) are biased; row 1 is not.
    plain = log_softmax(table)
    assert scores[0, 11] - scores[0, 0] == pytest.approx(plain[5, 11] - plain[5, 0] + 2.5,
                                                          abs=1e-4)
    np.testing.assert_allclose(scores[1], plain[7], rtol=1e-6)
    assert scores[2, 9] - scores[2, 0] == pytest.approx(plain[4, 9] - plain[4, 0] + 2.5,
                                                         abs=1e-4)


def test_sampling_through_the_top_k_shortcut_draws_the_biased_distribution():
    rows = {0: {3: 1.0}, 3: {5: 0.5, 6: 0.5}, 5: {EOS: 1.0}, 6: {EOS: 1.0}}
    copy = OutputConstraints(copy=CopySource([3, 6], bonus=3.0))
    outs = sample_or_greedy(TopLogProbStepper(probs_table(rows, 8)), [False] * 400, 4, EOS,
                            SamplingParams(top_k=3), np.random.default_rng(0), constraints=copy)
    assert sum(o.tokens[1] == 6 for o in outs) / len(outs) > 0.9
