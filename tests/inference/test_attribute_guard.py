"""The attribute guard (perfrl.inference.attribute_guard): which parameters it knows the type
of, attributes spelled across tokens, the end of sequence, and decoding with it (a table
model; the real tiny model in test_guarded_generation.py goes through the same guards)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.inference.attribute_guard import AttributeGuard, receiver_types
from perfrl.inference.decoding import OutputConstraints, SamplingParams, sample_or_greedy

from .test_decoding import EOS, TableStepper, probs_table

TEXTS = ["<pad>", "<s>", "</s>", "<unk>", " v", "1", "2", ".", "part", "ition", "append",
         "app", "end", "(", ")", "\n", " ", "items", ".append(", " =", "v", "3", "name"]
ID = {text: i for i, text in enumerate(TEXTS)}
LIST_ATTRIBUTES = frozenset(dir(list))


def guard(receivers=None) -> AttributeGuard:
    return AttributeGuard(TEXTS, EOS, receivers if receivers is not None
                          else {"v1": LIST_ATTRIBUTES})


def spell(g: AttributeGuard, texts: list[str], end: bool = False) -> bool:
    """Whether the guard accepts these tokens one after the other (and then the end)."""
    state = g.start()
    for text in texts:
        if not g.accepts(state, ID[text]):
            return False
        g.advance(state, ID[text])
    return g.accepts(state, EOS) if end else True


def test_receiver_types_come_from_builtin_container_annotations_only():
    found = receiver_types(
        "def v0(v1: list[int], v2: dict, v3: typing.List[str], v4: Order, v5: str | None,\n"
        "       v6, *v7: int, v8: frozenset[str] = frozenset()):\n    return v1\n")
    assert set(found) == {"v1", "v2", "v3", "v8"}
    assert "append" in found["v1"] and "items" in found["v2"] and "union" in found["v8"]
    assert receiver_types("def v0(v1:\n") == {}
    assert receiver_types("x = 1\n") == {}


def test_an_attribute_the_receivers_type_lacks_is_refused_however_it_is_cut():
    g = guard()
    assert spell(g, [" v", "1", ".", "append", "(", ")"])
    assert spell(g, [" v", "1", ".", "app", "end", "("])  # a prefix of append, then append
    assert spell(g, [" v", "1", ".append(", ")"])  # dot and attribute inside one token
    assert not spell(g, [" v", "1", ".", "part"])  # no list attribute starts so
    assert not spell(g, [" v", "1", ".", "items"])
    assert not spell(g, [" v", "1", ".", "app", "("])  # app is a prefix, not an attribute
    assert spell(g, [" v", "1", " ", ".", " ", "append"])  # spaces around the dot


def test_the_end_of_sequence_ends_an_open_attribute():
    g = guard()
    assert spell(g, [" v", "1", ".", "append"], end=True)
    assert not spell(g, [" v", "1", ".", "app"], end=True)


def test_other_names_and_unguarded_receivers_are_left_alone():
    g = guard()
    assert spell(g, [" v", "2", ".", "part", "ition", "\n"])  # v2's type is unknown
    assert spell(g, [" v", "1", "2", ".", "part", "ition"])  # v12 is not v1
    assert spell(g, [" v", "3", ".", "name", ".", "part"])  # an attribute of an attribute
    assert spell(guard({}), [" v", "1", ".", "part", "ition"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["append", "count", "index", "extend", "copy", "sort"]),
                min_size=1, max_size=4), st.integers(1, 4))
def test_text_with_real_attributes_is_accepted_in_any_cut(attributes, cut):
    # The characters of "v1.<attr>(v1.<attr>(...": fed one character-group at a time.
    text = "".join(f" v1.{a}(" for a in attributes)
    pieces = [text[i:i + cut] for i in range(0, len(text), cut)]
    texts = list(dict.fromkeys(["<pad>", "<s>", "</s>", *pieces]))
    g = AttributeGuard(texts, EOS, {"v1": LIST_ATTRIBUTES})
    state = g.start()
    for piece in pieces:
        assert g.accepts(state, texts.index(piece)), (text, piece)
        g.advance(state, texts.index(piece))


def test_decoding_takes_the_best_attribute_the_receiver_has():
    # After the forced " v1." the model prefers "part" (no list attribute starts so), then
    # "append"; guarded, greedy writes "append".
    table = probs_table({ID["."]: {ID["part"]: 0.7, ID["append"]: 0.3},
                         ID["part"]: {EOS: 1.0}, ID["append"]: {EOS: 1.0}}, len(TEXTS))
    forced = (ID[" v"], ID["1"], ID["."])
    plain = sample_or_greedy(TableStepper(table), [True], 6, EOS, SamplingParams(),
                             np.random.default_rng(0),
                             constraints=OutputConstraints(forced_prefix=forced))
    assert plain[0].tokens == [*forced, ID["part"], EOS]
    guarded = sample_or_greedy(TableStepper(table), [True], 6, EOS, SamplingParams(),
                               np.random.default_rng(0),
                               constraints=OutputConstraints(forced_prefix=forced, guard=guard()))
    assert guarded[0].tokens == [*forced, ID["append"], EOS]
