"""Token flags computed once per vocabulary (server/perfrl/inference/token_flags.py)."""

from __future__ import annotations

from perfrl.inference.token_flags import tokens_with_any


def test_flags_say_which_tokens_hold_the_characters_and_are_computed_once():
    texts = ["<pad>", "(", "x", ")\n", '"s1"']
    flags = tokens_with_any(texts, frozenset("()"))
    assert flags == [False, True, False, True, False]
    assert tokens_with_any(texts, frozenset("()")) is flags
    assert tokens_with_any(texts, frozenset('"')) == [False, False, False, False, True]
    # An equal list that is another object gets its own answer (ids can be reused).
    other = list(texts)
    assert tokens_with_any(other, frozenset("()")) == flags
    assert tokens_with_any(other, frozenset("()")) is not flags
