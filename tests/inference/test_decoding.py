"""The numpy decoding strategies, on exact distributions and on a lookup-table language model.

The table model is a real :class:`~perfrl.inference.decoding.Stepper` (logits depend on the
last token only), small enough that every expected value can be worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from perfrl.inference.decoding import (
    SamplingParams,
    beam_search,
    filtered_probabilities,
    log_softmax,
    sample_or_greedy,
    sample_tokens,
)

EOS = 2


class TableStepper:
    """Next-token log-probabilities from ``table[last_token]``; start token 0."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table.astype(np.float32)
        self.last: np.ndarray | None = None
        self.batch_sizes: list[int] = []

    def start(self, n: int) -> np.ndarray:
        self.last = np.zeros(n, dtype=np.int64)
        self.batch_sizes.append(n)
        return self.table[self.last]

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        self.last = tokens
        self.batch_sizes.append(len(tokens))
        return self.table[tokens]


def probs_table(rows: dict[int, dict[int, float]], vocab: int) -> np.ndarray:
    """Log-probability table from explicit next-token distributions (others ~0)."""
    table = np.full((vocab, vocab), 1e-9)
    for last, dist in rows.items():
        for token, p in dist.items():
            table[last, token] = p
    table /= table.sum(axis=1, keepdims=True)
    return np.log(table)


def test_log_softmax_rows_sum_to_one():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    out = log_softmax(logits)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], np.log([1 / 3] * 3), rtol=1e-6)


def test_top_k_keeps_exactly_the_k_most_likely():
    logits = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))
    probs = filtered_probabilities(logits, SamplingParams(top_k=2))
    np.testing.assert_allclose(probs, [[0.0, 0.4 / 0.7, 0.0, 0.3 / 0.7]])


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))
    # 0.4 + 0.3 = 0.7 >= 0.6: two tokens; 0.4 alone is < 0.6.
    probs = filtered_probabilities(logits, SamplingParams(top_p=0.6))
    np.testing.assert_allclose(probs, [[0.0, 0.4 / 0.7, 0.0, 0.3 / 0.7]])
    # A tiny top_p still keeps the most likely token.
    probs = filtered_probabilities(logits, SamplingParams(top_p=0.01))
    np.testing.assert_allclose(probs, [[0.0, 1.0, 0.0, 0.0]])


def test_temperature_sharpens_and_flattens():
    logits = np.log(np.array([[0.2, 0.8]]))
    cold = filtered_probabilities(logits, SamplingParams(temperature=0.5))
    hot = filtered_probabilities(logits, SamplingParams(temperature=2.0))
    np.testing.assert_allclose(cold, [[0.04 / 0.68, 0.64 / 0.68]])
    np.testing.assert_allclose(
        hot,
        [
            [
                np.sqrt(0.2) / (np.sqrt(0.2) + np.sqrt(0.8)),
                np.sqrt(0.8) / (np.sqrt(0.2) + np.sqrt(0.8)),
            ]
        ],
    )


def test_bad_sampling_parameters_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)


def test_greedy_follows_the_argmax_chain_and_stops_at_eos():
    table = probs_table({0: {5: 0.6, 6: 0.4}, 5: {7: 0.9, EOS: 0.1}, 7: {EOS: 0.8, 5: 0.2}}, 8)
    [out] = sample_or_greedy(
        TableStepper(table), [True], 10, EOS, SamplingParams(), np.random.default_rng(0)
    )
    assert out.tokens == [5, 7, EOS]
    assert out.finished
    assert out.score == pytest.approx(np.log(0.6 * 0.9 * 0.8) / 3, rel=1e-5)


def test_length_cap_leaves_sequence_unfinished():
    table = probs_table({0: {5: 1.0}, 5: {5: 1.0}}, 8)
    [out] = sample_or_greedy(
        TableStepper(table), [True], 4, EOS, SamplingParams(), np.random.default_rng(0)
    )
    assert out.tokens == [5, 5, 5, 5]
    assert not out.finished


def test_sampling_matches_the_distribution_and_finished_rows_leave_the_batch():
    table = probs_table({0: {3: 0.25, 4: 0.75}, 3: {EOS: 1.0}, 4: {5: 1.0}, 5: {EOS: 1.0}}, 8)
    stepper = TableStepper(table)
    n = 4000
    outs = sample_or_greedy(
        stepper, [False] * n, 10, EOS, SamplingParams(), np.random.default_rng(7)
    )
    firsts = np.array([o.tokens[0] for o in outs])
    assert abs((firsts == 3).mean() - 0.25) < 0.03
    assert all(o.tokens == [3, EOS] or o.tokens == [4, 5, EOS] for o in outs)
    # After step 2 the rows that took 3 are done: the batch shrinks to the others.
    assert stepper.batch_sizes[0] == n
    assert stepper.batch_sizes[2] == (firsts == 4).sum()


def test_greedy_row_inside_a_sampled_batch():
    table = probs_table({0: {3: 0.45, 4: 0.55}, 3: {EOS: 1.0}, 4: {EOS: 1.0}}, 8)
    outs = sample_or_greedy(
        TableStepper(table),
        [True] + [False] * 50,
        5,
        EOS,
        SamplingParams(temperature=1.0),
        np.random.default_rng(3),
    )
    assert outs[0].tokens == [4, EOS]
    assert {tuple(o.tokens) for o in outs[1:]} == {(3, EOS), (4, EOS)}


def test_sampling_is_reproducible_with_a_seed():
    rng_table = np.random.default_rng(0).normal(size=(12, 12))

    def run(seed):
        return [
            o.tokens
            for o in sample_or_greedy(
                TableStepper(rng_table),
                [False] * 6,
                8,
                EOS,
                SamplingParams(top_k=5, top_p=0.9),
                np.random.default_rng(seed),
            )
        ]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_beam_search_prefers_the_better_normalised_hypothesis():
    # Greedy takes 5 (0.6) then must spread over three tokens; beam search finds 6 -> EOS:
    # log(0.4 * 0.99) / 2 = -0.46 beats log(0.6 * 0.34) / 3 = -0.53.
    table = probs_table(
        {
            0: {5: 0.6, 6: 0.4},
            5: {7: 0.34, 8: 0.33, 9: 0.33},
            6: {EOS: 0.99, 7: 0.01},
            7: {EOS: 1.0},
            8: {EOS: 1.0},
            9: {EOS: 1.0},
        },
        10,
    )
    outs = beam_search(TableStepper(table), num_beams=3, num_return=2, max_new_tokens=6, eos_id=EOS)
    assert outs[0].tokens == [6, EOS]
    assert outs[0].score == pytest.approx(np.log(0.4 * 0.99) / 2, rel=1e-4)
    assert outs[1].tokens == [5, 7, EOS]
    assert outs[1].score == pytest.approx(np.log(0.6 * 0.34) / 3, rel=1e-4)
    assert outs[0].finished and outs[1].finished


def test_beam_search_argument_checks():
    table = probs_table({0: {EOS: 1.0}}, 4)
    with pytest.raises(ValueError):
        beam_search(TableStepper(table), num_beams=2, num_return=3, max_new_tokens=4, eos_id=EOS)


def test_top_k_sampling_draws_only_the_k_best_in_proportion():
    logits = np.log(np.array([[0.05, 0.5, 0.05, 0.3, 0.1]] * 3000))
    tokens = sample_tokens(logits, SamplingParams(top_k=2), np.random.default_rng(0))
    assert set(tokens.tolist()) == {1, 3}
    assert abs((tokens == 1).mean() - 0.5 / 0.8) < 0.03


class LogProbStepper(TableStepper):
    """The same model returning log-probabilities, and saying so (as the step graphs do)."""

    log_probs = True

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__(log_softmax(logits.astype(np.float32)))


@pytest.mark.parametrize("strategy", ["sample", "beam"])
def test_log_probability_steppers_decode_like_logit_steppers(strategy):
    # Unnormalised logits (rows shifted by different constants): a stepper that returns
    # logits and one that returns log-probabilities must give the same tokens and scores.
    logits = np.random.default_rng(1).normal(size=(12, 12)) + np.arange(12)[:, None] * 3.0

    def run(stepper):
        if strategy == "beam":
            return beam_search(stepper, num_beams=3, num_return=2, max_new_tokens=6, eos_id=EOS)
        return sample_or_greedy(
            stepper, [True] + [False] * 5, 8, EOS, SamplingParams(top_k=5, top_p=0.9),
            np.random.default_rng(7), min_new_tokens=2,
        )

    plain, normalised = run(TableStepper(logits)), run(LogProbStepper(logits))
    assert [o.tokens for o in normalised] == [o.tokens for o in plain]
    np.testing.assert_allclose([o.score for o in normalised], [o.score for o in plain],
                               atol=1e-5)


class TopStepper(TableStepper):
    """The table model computing its own top-k candidates, as the step graphs do."""

    def __init__(self, table: np.ndarray) -> None:
        super().__init__(table)
        self.top_k = 0
        self.last_top = None
        self.requested: list[int] = []

    def _with_top(self, scores: np.ndarray) -> np.ndarray:
        self.requested.append(self.top_k)
        order = np.argsort(-scores, axis=-1, kind="stable")[:, : self.top_k]
        self.last_top = (np.take_along_axis(scores, order, axis=-1), order)
        return scores

    def start(self, n: int) -> np.ndarray:
        return self._with_top(super().start(n))

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        return self._with_top(super().advance(tokens, rows))


def test_a_stepper_top_k_draws_from_the_same_distribution():
    # First step: five tokens; top-k 3 then top-p 0.8 keeps tokens 4 and 5 (0.5 + 0.3).
    table = probs_table({0: {3: 0.1, 4: 0.5, 5: 0.3, 6: 0.06, 7: 0.04}}, 10)
    params = SamplingParams(top_k=3, top_p=0.8)
    stepper = TopStepper(table)
    outs = sample_or_greedy(stepper, [False] * 4000, 1, EOS, params, np.random.default_rng(5))
    firsts = np.array([o.tokens[0] for o in outs])
    expected = filtered_probabilities(table[:1], params)[0]
    assert stepper.requested == [3]
    assert set(firsts.tolist()) == {4, 5}
    assert abs((firsts == 4).mean() - expected[4]) < 0.03
    # Scores are the chosen tokens' log-probabilities, as on the numpy path.
    assert outs[0].score == pytest.approx(float(table[0, outs[0].tokens[0]]), abs=1e-6)


def test_a_stepper_top_k_leaves_out_the_forbidden_end_of_sequence():
    # EOS is the likeliest first token; with min_new_tokens=1 it must never be drawn, and the
    # stepper is asked for one candidate more so that top-k still has k tokens.
    table = probs_table({0: {EOS: 0.7, 4: 0.2, 5: 0.1}, 4: {EOS: 1.0}, 5: {EOS: 1.0}}, 8)
    stepper = TopStepper(table)
    outs = sample_or_greedy(
        stepper, [False] * 500, 3, EOS, SamplingParams(top_k=2), np.random.default_rng(1),
        min_new_tokens=1,
    )
    assert stepper.requested[0] == 3
    assert {o.tokens[0] for o in outs} == {4, 5}
    assert all(o.tokens[-1] == EOS for o in outs)


def test_greedy_only_batches_do_not_ask_the_stepper_for_top_k():
    table = probs_table({0: {4: 0.6, 5: 0.4}, 4: {EOS: 1.0}}, 8)
    stepper = TopStepper(table)
    [out] = sample_or_greedy(stepper, [True], 3, EOS, SamplingParams(top_k=2),
                             np.random.default_rng(0))
    assert out.tokens == [4, EOS] and stepper.requested == [0, 0]
