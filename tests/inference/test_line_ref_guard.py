"""Line references of "edit-v2" outputs (server/perfrl/inference/line_ref_guard.py): each names
a line of the input, once; other lines pass untouched."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.edit_script import apply_edit_script, make_edit_script
from perfrl.inference.decoding import OutputConstraints, SamplingParams, sample_or_greedy
from perfrl.inference.line_ref_guard import LineRefGuard

from .test_decoding import EOS, TableStepper, probs_table

# A toy vocabulary cut like a byte-level BPE, with merged pieces such as "=1\n" and "    =".
TEXTS = ["<pad>", "<s>", "</s>", "<unk>", "@", "2", "-", "6", "\n", "    ", "=", "1", "3",
         "4", "5", "    =", "=1\n", " v3", " = []", "x", "\t", "0", " ==", "9"]
ID = {text: i for i, text in enumerate(TEXTS)}
SLOW = ("def v0(v1, v2):\n    v3 = []\n    for v4 in v1:\n        if v4 not in v2:\n"
        "            v3.append(v4)\n    return v3\n")


def guard(lines: int = 6) -> LineRefGuard:
    return LineRefGuard(TEXTS, EOS, lines)


def writes(g: LineRefGuard, texts: list[str], end: bool = True) -> bool:
    """Whether the guard accepts these tokens one after the other (then the end)."""
    state = g.start()
    for text in texts:
        if not g.accepts(state, ID[text]):
            return False
        g.advance(state, ID[text])
    return not end or g.accepts(state, EOS)


def test_distinct_references_to_the_input_s_lines_pass_whatever_the_cut():
    assert writes(guard(), ["@", "2", "-", "6", "\n", "    =", "3", "\n", "    ", "=", "2",
                            "\n", "=1\n", "    =", "4"])
    # A line that is code passes, `=` and all.
    assert writes(guard(), ["@", "2", "-", "2", "\n", "    ", " v3", " = []", "\n", "x", " =="])


def test_a_line_named_twice_or_past_the_end_or_no_number_is_refused_where_it_would_end():
    assert not writes(guard(), ["    =", "3", "\n", "    =", "3", "\n"])
    assert not writes(guard(), ["=1\n", "=1\n"])
    assert not writes(guard(), ["    =", "3", "\n", "    =", "3"])  # the end closes it too
    assert not writes(guard(), ["    =", "\n"])
    assert not writes(guard(), ["    =", "0"])  # no line 0, and no number starts with 0
    assert not writes(guard(), ["    =", "9"])  # 6 lines
    assert not writes(guard(), ["    =", "x"])  # neither a reference nor Python
    assert not writes(guard(), ["    =", "1", "1"], end=False)  # line 11 of 6: cannot finish
    assert writes(guard(12), ["    =", "1", "1"])
    # With every line named, no reference can start.
    assert not writes(guard(2), ["=1\n", "    =", "2", "\n", "    ="], end=False)


def test_a_forced_prefix_is_followed_without_being_judged():
    g = guard()
    # Forced tokens the guard would refuse (line 3 twice) are followed, not judged...
    state = g.start([ID["    ="], ID["3"], ID["\n"], ID["    ="], ID["3"], ID["\n"]])
    g.advance(state, ID["    ="])
    # ... and what they named counts: 3 is taken, 4 is not.
    assert not g.accepts(state, ID["3"]) and g.accepts(state, ID["4"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["    v3 = []", "    for v4 in v1:", "        if v4 in v2:",
                                 "            v3.append(v4)", "    return v3", "        pass"]),
                min_size=1, max_size=8))
def test_any_made_script_is_accepted_char_by_char(fast_lines):
    fast = "def v0(v1, v2):\n" + "\n".join(fast_lines) + "\n"
    script = make_edit_script(SLOW, fast, line_refs=True).strip("\n")
    refs = [line.strip() for line in script.split("\n") if line.strip().startswith("=")]
    if len(refs) != len(set(refs)):
        return  # the fast side repeats a line of the input: a script the guard rightly refuses
    chars = sorted(set(script) | {"\n"})
    texts = ["<pad>", "<s>", "</s>", *chars]
    ids = {c: i for i, c in enumerate(texts)}
    g = LineRefGuard(texts, EOS, len(SLOW.strip("\n").split("\n")))
    state = g.start()
    for char in script:
        assert g.accepts(state, ids[char]), (script, char)
        g.advance(state, ids[char])
    assert g.accepts(state, EOS)
    assert apply_edit_script(SLOW, script, line_refs=True)


def test_decoding_with_the_guard_writes_the_next_line_instead_of_the_same_one_again():
    # After "    =3\n" the model wants "    =3" again; guarded, greedy takes "4" after "    =".
    table = probs_table({0: {ID["    ="]: 1.0}, ID["    ="]: {ID["3"]: 0.7, ID["4"]: 0.3},
                         ID["3"]: {ID["\n"]: 1.0}, ID["\n"]: {ID["    ="]: 0.6, EOS: 0.4},
                         ID["4"]: {EOS: 1.0}}, len(TEXTS))
    plain = sample_or_greedy(TableStepper(table), [True], 6, EOS, SamplingParams(),
                             np.random.default_rng(0))
    assert plain[0].tokens[:5] == [ID["    ="], ID["3"], ID["\n"], ID["    ="], ID["3"]]
    guarded = sample_or_greedy(TableStepper(table), [True], 6, EOS, SamplingParams(),
                               np.random.default_rng(0),
                               constraints=OutputConstraints(guard=guard()))
    assert guarded[0].tokens == [ID["    ="], ID["3"], ID["\n"], ID["    ="], ID["4"], EOS]
