"""Guarded decoding (server/perfrl/inference/decoding.py OutputConstraints): forced prefix,
vocabulary mask, repetition stop and bracket guard, on the lookup-table language model of
test_decoding.py, where every expected value can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from perfrl.inference.bracket_guard import BracketGuard, LexState, feed_text
from perfrl.inference.decoding import (
    OutputConstraints,
    RepetitionStop,
    SamplingParams,
    beam_search,
    sample_or_greedy,
)

from .test_decoding import EOS, TableStepper, TopStepper, probs_table


class RowStepper(TableStepper):
    """Table model that also checks the cache rows it is told to keep."""

    def __init__(self, table: np.ndarray) -> None:
        super().__init__(table)
        self.rows_kept: list[list[int] | None] = []

    def advance(self, tokens, rows):
        self.rows_kept.append(None if rows is None else list(rows))
        return super().advance(tokens, rows)


def test_forced_prefix_starts_every_row_and_runs_on_one_row_until_it_ends():
    # Unforced, greedy takes 5 then EOS; forced to start with 6 7 it must go on from 7.
    table = probs_table({0: {5: 0.9, 6: 0.1}, 5: {EOS: 1.0}, 6: {7: 0.5, 5: 0.5},
                         7: {4: 0.8, EOS: 0.2}, 4: {EOS: 1.0}}, 8)
    stepper = RowStepper(table)
    constraints = OutputConstraints(forced_prefix=(6, 7))
    outs = sample_or_greedy(stepper, [True, False, False], 6, EOS, SamplingParams(),
                            np.random.default_rng(0), constraints=constraints)
    assert outs[0].tokens == [6, 7, 4, EOS]
    assert all(o.tokens[:2] == [6, 7] for o in outs)
    # The prefix is decoded once, then row 0's cache is copied to the three rows.
    assert stepper.batch_sizes[:3] == [1, 1, 3]
    assert stepper.rows_kept[:2] == [None, [0, 0, 0]]
    # Scored like chosen tokens: log(0.1 * 0.5 * 0.8 * 1.0) over 4 tokens.
    assert outs[0].score == pytest.approx(np.log(0.1 * 0.5 * 0.8) / 4, rel=1e-5)


def test_forced_prefix_in_beam_search():
    table = probs_table({0: {5: 0.9, 6: 0.1}, 5: {EOS: 1.0}, 6: {7: 0.6, EOS: 0.4},
                         7: {EOS: 1.0}}, 8)
    outs = beam_search(TableStepper(table), 2, 2, 5, EOS,
                       constraints=OutputConstraints(forced_prefix=(6,)))
    assert [o.tokens for o in outs] == [[6, 7, EOS], [6, EOS]]


def test_mask_makes_greedy_take_the_best_allowed_token():
    table = probs_table({0: {5: 0.7, 6: 0.2, 4: 0.1}, 6: {EOS: 1.0}, 5: {EOS: 1.0}}, 8)
    allowed = np.ones(8, dtype=bool)
    allowed[5] = False
    [out] = sample_or_greedy(TableStepper(table), [True], 4, EOS, SamplingParams(),
                             np.random.default_rng(0),
                             constraints=OutputConstraints(allowed=allowed))
    assert out.tokens == [6, EOS]
    # The score stays the model's own probability of the tokens chosen.
    assert out.score == pytest.approx(np.log(0.2) / 2, rel=1e-4)


@pytest.mark.parametrize("stepper_type", [TableStepper, TopStepper])
def test_mask_removes_tokens_from_sampling_and_keeps_the_rest_in_proportion(stepper_type):
    # Token 5 is the likeliest but not allowed; top-k 2 over the allowed keeps 4 and 6.
    table = probs_table({0: {5: 0.6, 4: 0.24, 6: 0.12, 3: 0.04}, 4: {EOS: 1.0},
                         6: {EOS: 1.0}, 3: {EOS: 1.0}}, 30)
    allowed = np.ones(30, dtype=bool)
    allowed[5] = False
    stepper = stepper_type(table)
    outs = sample_or_greedy(stepper, [False] * 3000, 3, EOS, SamplingParams(top_k=2),
                            np.random.default_rng(4),
                            constraints=OutputConstraints(allowed=allowed))
    firsts = np.array([o.tokens[0] for o in outs])
    assert set(firsts.tolist()) == {4, 6}
    assert abs((firsts == 4).mean() - 2 / 3) < 0.03


def test_a_stepper_whose_candidates_are_all_masked_falls_back_to_the_whole_row():
    # The stepper's 2 + 16 best are all masked: the draw comes from the full masked row.
    vocab = 40
    dist = {t: 0.95 / 20 for t in range(10, 30)}
    dist.update({7: 0.03, 8: 0.02})
    table = probs_table({0: dist, 7: {EOS: 1.0}, 8: {EOS: 1.0}}, vocab)
    allowed = np.zeros(vocab, dtype=bool)
    allowed[[7, 8, EOS]] = True
    stepper = TopStepper(table)
    outs = sample_or_greedy(stepper, [False] * 2000, 2, EOS, SamplingParams(top_k=2),
                            np.random.default_rng(2),
                            constraints=OutputConstraints(allowed=allowed))
    assert stepper.requested[0] == 2 + 16
    firsts = np.array([o.tokens[0] for o in outs])
    assert set(firsts.tolist()) == {7, 8}
    assert abs((firsts == 7).mean() - 0.6) < 0.04


def test_a_stepper_draws_among_the_allowed_of_its_candidates():
    # Of the stepper's 18 best, only 7 is allowed: every row takes it (8, allowed too, lies
    # beyond the candidates).
    vocab = 40
    dist = {t: 0.9 / 20 for t in range(10, 30)}
    dist.update({7: 0.06, 8: 0.04})
    table = probs_table({0: dist, 7: {EOS: 1.0}, 8: {EOS: 1.0}}, vocab)
    allowed = np.zeros(vocab, dtype=bool)
    allowed[[7, 8, EOS]] = True
    outs = sample_or_greedy(TopStepper(table), [False] * 200, 2, EOS, SamplingParams(top_k=2),
                            np.random.default_rng(2),
                            constraints=OutputConstraints(allowed=allowed))
    assert {o.tokens[0] for o in outs} == {7}


def test_repetition_stop_ends_a_looping_row_and_says_so():
    # "v4 = v4 = v4 = ...": 5 -> 6 -> 7 -> 5 ... forever; the other row ends normally.
    table = probs_table({0: {5: 0.5, 3: 0.5}, 5: {6: 1.0}, 6: {7: 1.0}, 7: {5: 1.0},
                         3: {EOS: 1.0}}, 8)
    stop = RepetitionStop(max_period=4, min_repeats=3, min_span=9)
    outs = sample_or_greedy(TableStepper(table), [False] * 40, 200, EOS, SamplingParams(),
                            np.random.default_rng(0),
                            constraints=OutputConstraints(repetition=stop))
    loops = [o for o in outs if o.tokens[0] == 5]
    assert loops and all(o.looped and not o.finished for o in loops)
    assert all(o.tokens == [5, 6, 7] * 3 for o in loops)  # stopped at the third repeat
    assert all(o.tokens == [3, EOS] and o.finished and not o.looped
               for o in outs if o.tokens[0] == 3)
    # Without the stop the loop runs to the length cap.
    [plain] = sample_or_greedy(TableStepper(table), [True], 50, EOS, SamplingParams(),
                               np.random.default_rng(0),
                               constraints=OutputConstraints(forced_prefix=(5,)))
    assert len(plain.tokens) == 50 and not plain.looped


def test_steering_replaces_the_token_that_would_complete_the_loop():
    # Greedy loops 5 -> 6 -> 7 -> 5 ...; after 6, the second choice 3 leads to the end.
    table = probs_table({0: {5: 1.0}, 5: {6: 1.0}, 6: {7: 0.8, 3: 0.2}, 7: {5: 1.0},
                         3: {EOS: 1.0}}, 8)
    stop = RepetitionStop(max_period=4, min_repeats=3, min_span=9)
    [ended] = sample_or_greedy(TableStepper(table), [True], 50, EOS, SamplingParams(),
                               np.random.default_rng(0),
                               constraints=OutputConstraints(repetition=stop))
    assert ended.looped and ended.tokens == [5, 6, 7] * 3
    steer = RepetitionStop(max_period=4, min_repeats=3, min_span=9, steer=True)
    [steered] = sample_or_greedy(TableStepper(table), [True], 50, EOS, SamplingParams(),
                                 np.random.default_rng(0),
                                 constraints=OutputConstraints(repetition=steer))
    assert steered.tokens == [5, 6, 7, 5, 6, 7, 5, 6, 3, EOS]
    assert steered.finished and not steered.looped
    # Sampled rows are steered alike: none completes the third repeat.
    outs = sample_or_greedy(TableStepper(table), [False] * 100, 50, EOS, SamplingParams(),
                            np.random.default_rng(1),
                            constraints=OutputConstraints(repetition=steer))
    assert all(not steer.looping(o.tokens) and o.finished for o in outs)


def test_repetition_stop_looks_at_the_tail_only():
    stop = RepetitionStop(max_period=4, min_repeats=3, min_span=6)
    assert stop.looping([1, 2, 1, 2, 1, 2])
    assert not stop.looping([1, 2, 1, 2, 1, 2, 3])
    assert not stop.looping([1, 2, 3, 4, 1, 2, 3, 4])  # two repeats only
    assert stop.looping([9, 1, 2, 3, 1, 2, 3, 1, 2, 3])
    assert not stop.looping([5, 5, 5, 5, 5])  # shorter than min_span


def test_repetition_stop_waits_for_min_new_tokens():
    table = probs_table({0: {5: 1.0}, 5: {5: 0.99, EOS: 0.01}}, 8)
    stop = RepetitionStop(max_period=2, min_repeats=3, min_span=3)
    [out] = sample_or_greedy(TableStepper(table), [True], 10, EOS, SamplingParams(),
                             np.random.default_rng(0), min_new_tokens=10,
                             constraints=OutputConstraints(repetition=stop))
    assert len(out.tokens) == 10 and not out.looped


def test_bracket_guard_refuses_a_closer_that_matches_nothing_and_an_early_end():
    texts = ["<pad>", "<s>", "</s>", "(", ")", "]", "x", '"', "\n"]
    guard = BracketGuard(texts, EOS)
    # After "(", the model likes "]" most, then the end; the guard takes ")" instead.
    table = probs_table({0: {3: 1.0}, 3: {5: 0.5, EOS: 0.3, 4: 0.2}, 4: {EOS: 1.0}},
                        len(texts))
    [out] = sample_or_greedy(TableStepper(table), [True], 5, EOS, SamplingParams(),
                             np.random.default_rng(0),
                             constraints=OutputConstraints(guard=guard))
    assert out.tokens == [3, 4, EOS]
    samples = sample_or_greedy(TableStepper(table), [False] * 200, 5, EOS, SamplingParams(),
                               np.random.default_rng(1),
                               constraints=OutputConstraints(guard=guard))
    assert all(o.tokens == [3, 4, EOS] for o in samples)


def test_a_row_the_guard_accepts_nothing_for_ends_there():
    # After "(" the model can only write "]" or end: the bracket guard accepts neither. No
    # likely token is accepted: the row ends at once instead of writing on to the length cap.
    texts = ["<pad>", "<s>", "</s>", "(", ")", "]", "x"]
    guard = BracketGuard(texts, EOS)
    table = probs_table({0: {3: 1.0}, 3: {5: 1.0}}, len(texts))
    table[3, [0, 1, 3, 4, 6]] = -np.inf  # after "(": "]" or the end, nothing else
    for greedy in (True, False):
        [out] = sample_or_greedy(TableStepper(table), [greedy], 20, EOS, SamplingParams(),
                                 np.random.default_rng(0),
                                 constraints=OutputConstraints(guard=guard))
        assert out.tokens == [3, EOS]


def test_bracket_guard_follows_strings_and_comments():
    texts = ["<pad>", "<s>", "</s>", "(", ")", "]", "x", '"', "\n", "# ]", 'a"]']
    guard = BracketGuard(texts, EOS)
    state = guard.start([3])  # "("
    assert not guard.accepts(state, 5)  # "]" closes nothing open
    assert guard.accepts(state, 9)  # "# ]": a comment
    guard.advance(state, 7)  # '"' opens a string
    assert guard.accepts(state, 5)  # "]" inside a string is text
    assert not guard.accepts(state, 8)  # a newline inside a one-line string
    assert not guard.accepts(state, EOS)
    guard.advance(state, 10)  # 'a"]' closes the string, then "]" mismatches "("... refused
    assert not guard.can_end(state)


def test_a_triple_quote_is_read_as_python_reads_it_whatever_the_cut():
    # `""` then `"`: Python reads the three as one triple quote, so a line end inside is text;
    # an empty string followed by other text stays an empty string.
    for pieces in (['"""', "a\n", 'b"""'], ['"', '""', "a\n", 'b"', '""'],
                   ['""', '"a\n', 'b"""'], ['"', '"', '"', "a\n", '"""']):
        state = LexState()
        assert all(feed_text(state, piece) for piece in pieces), pieces
        assert not state.quote and not state.brackets
    state = LexState()
    assert feed_text(state, '""')
    assert feed_text(state, " + ")
    assert feed_text(state, '"a')
    assert not feed_text(state, "\n")  # a one-line string: the line end cannot be in it


def test_without_constraints_nothing_changes():
    rng_table = np.random.default_rng(0).normal(size=(12, 12))

    def run(constraints):
        return [o.tokens for o in sample_or_greedy(
            TableStepper(rng_table), [True] + [False] * 5, 8, EOS,
            SamplingParams(top_k=5, top_p=0.9), np.random.default_rng(3),
            constraints=constraints)]

    assert run(None) == run(OutputConstraints())
