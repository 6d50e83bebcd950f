"""The whole-word guard (perfrl.inference.word_guard): words spelled across tokens, numbers,
the end of sequence, pairing with the bracket guard, and decoding with it (table models here;
the real tiny model in test_guarded_generation.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.inference.bracket_guard import BracketGuard
from perfrl.inference.decoding import OutputConstraints, SamplingParams, sample_or_greedy
from perfrl.inference.output_vocabulary import TokenWords
from perfrl.inference.word_guard import GuardPair, WordGuard

from .test_decoding import EOS, TableStepper, probs_table

# A toy vocabulary cut like a byte-level BPE: word pieces with and without a leading space.
TEXTS = ["<pad>", "<s>", "</s>", "<unk>", " get", "_keys", "(", ")", "get", " v", "1", "2",
         ".", "keys", "\n", " =", " 12", "e5", " count", "_b", "[", "]", " return", "_"]
ID = {text: i for i, text in enumerate(TEXTS)}
WORDS = {"get", "keys", "v1", "v2", "count", "return", "get_key_list"}


def guard(words=WORDS) -> WordGuard:
    return WordGuard(TokenWords(TEXTS), words, EOS)


def spell(g: WordGuard, texts: list[str]) -> bool:
    """Whether the guard accepts these tokens one after the other."""
    state = g.start()
    for text in texts:
        if not g.accepts(state, ID[text]):
            return False
        g.advance(state, ID[text])
    return True


def test_a_word_spelled_from_allowed_pieces_must_itself_be_allowed():
    g = guard()
    assert spell(g, [" get", "(", ")"])
    assert not spell(g, [" get", "_keys"])  # get_keys: no allowed word starts so
    assert not spell(g, [" count", "_b"])
    assert spell(g, [" v", "1", ".", "keys", "(", ")"])


def test_a_word_may_pause_on_a_prefix_but_must_end_as_a_whole_word():
    g = guard()
    state = g.start()
    for text in [" get", "_"]:  # "get_" starts get_key_list: fine so far
        assert g.accepts(state, ID[text])
        g.advance(state, ID[text])
    assert state.partial == "get_"
    assert not g.accepts(state, ID["("])  # ... but "get_" is no word
    assert not g.accepts(state, ID["\n"])


def test_numbers_pass_and_the_end_of_sequence_ends_the_last_word():
    g = guard()
    assert spell(g, [" v", "1", " =", " 12", "e5"])
    assert not g.accepts(g.start([ID[" get"], ID["_"]]), EOS)
    assert g.accepts(g.start([ID[" get"]]), EOS)


def test_the_forced_prefix_is_followed_without_being_judged():
    state = guard().start([ID[" count"], ID["_b"]])
    assert state.partial == "count_b"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([[" get", "(", ")"], [" v", "1"], [" v", "2"], ["\n"],
                                 [" return"], [" =", " 12"], ["[", "]"], [".", "keys"],
                                 [" count"]]), max_size=12))
def test_any_text_of_allowed_words_is_accepted_token_by_token(chunks):
    assert spell(guard(), [text for chunk in chunks for text in chunk])


def test_a_pair_accepts_what_both_accept():
    pair = GuardPair(guard(), BracketGuard(TEXTS, EOS))
    state = pair.start()
    assert not pair.accepts(state, ID[")"])  # closes nothing: the bracket guard says no
    pair.advance(state, ID[" get"])
    assert not pair.accepts(state, ID["_keys"])  # the word guard says no
    assert pair.accepts(state, ID["("])


def test_decoding_with_the_guard_takes_the_best_word_it_accepts():
    # The model wants " get" then "_keys" (get_keys, no such word) then EOS; guarded, greedy
    # takes its second choice "(" instead.
    table = probs_table({0: {ID[" get"]: 1.0}, ID[" get"]: {ID["_keys"]: 0.7, ID["("]: 0.3},
                         ID["_keys"]: {EOS: 1.0}, ID["("]: {EOS: 1.0}}, len(TEXTS))
    plain = sample_or_greedy(TableStepper(table), [True], 5, EOS, SamplingParams(),
                             np.random.default_rng(0))
    assert plain[0].tokens == [ID[" get"], ID["_keys"], EOS]
    guarded = sample_or_greedy(TableStepper(table), [True], 5, EOS, SamplingParams(),
                               np.random.default_rng(0),
                               constraints=OutputConstraints(guard=guard()))
    assert guarded[0].tokens == [ID[" get"], ID["("], EOS]


def test_a_cornered_row_finds_the_one_accepted_token_beyond_the_best_64():
    # After the forced "groupb" only "y" is accepted; the model puts it below 70 others.
    texts = ["<pad>", "<s>", "</s>", "<unk>", " group", "b", "y", *[f"z{i}" for i in range(70)]]
    z_tokens = {7 + i: 0.9 / 70 for i in range(70)}
    table = probs_table({5: {**z_tokens, 6: 0.001}, 6: {EOS: 1.0}}, len(texts))
    word_guard = WordGuard(TokenWords(texts), {"groupby"}, EOS)
    constraints = OutputConstraints(forced_prefix=(4, 5), guard=word_guard)
    for greedy in (True, False):
        [out] = sample_or_greedy(TableStepper(table), [greedy], 4, EOS, SamplingParams(top_k=50),
                                 np.random.default_rng(0), constraints=constraints)
        assert out.tokens == [4, 5, 6, EOS]
