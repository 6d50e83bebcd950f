"""Strings of an abstracting model's outputs (server/perfrl/inference/string_guard.py): the
input's placeholders are accepted whatever the cut into tokens; any other string is not."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.inference.string_guard import StringGuard
from perfrl.sources.abstraction import abstract, string_placeholders

from .test_decoding import EOS

SOURCE = '''def describe(order, width):
    """One line about ``order``."""
    label = f"{order.id}: {order.status}"  # what the clerk reads
    if order.status == 'closed':
        return label.ljust(width, ".")
    return label + " (open)"
'''


def _run(text: str, placeholders, seed: int = 0) -> bool:
    """Whether the guard accepts ``text`` to its end, cut into random pieces."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, 5)
        pieces.append(text[at:at + size])
        at += size
    texts = ["<pad>", "<s>", "</s>", *sorted(set(pieces))]
    ids = {piece: i for i, piece in enumerate(texts)}
    guard = StringGuard(texts, EOS, placeholders)
    state = guard.start()
    for piece in pieces:
        if not guard.accepts(state, ids[piece]):
            return False
        guard.advance(state, ids[piece])
    return guard.accepts(state, EOS)


def test_the_abstracted_function_s_code_is_accepted_whatever_the_cut():
    model_text, table = abstract(SOURCE, ())
    numbers = string_placeholders(table)
    assert numbers == [1, 2, 3, 4]  # the f-string, 'closed', ".", " (open)": not the docstring
    # Its code, that is: the docstring placeholder is written by reference, not in code.
    code = model_text.replace('    "s0"\n', "")
    for seed in range(20):
        assert _run(code, numbers, seed)
    assert not _run('v3 = "s0"', numbers)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(['v1 = "s0"', 'v2("s12", v3)', "v4 + 1  # it's", '"s1"[0]',
                                 "return v5"]), min_size=1, max_size=6),
       st.integers(0, 9))
def test_code_with_only_known_placeholders_is_accepted(lines, seed):
    assert _run("\n".join(lines) + "\n", [0, 1, 12], seed)


def test_other_strings_are_refused():
    numbers = [0, 1, 12]
    assert not _run('v1 = "s3"', numbers)  # a placeholder the input does not have
    assert not _run('v1 = "s"', numbers)
    assert not _run('v1 = ""', numbers)
    assert not _run("v1 = 's0'", numbers)  # the abstraction writes double quotes only
    assert not _run('v1 = "abc"', numbers)
    assert not _run('v1 = "s1', numbers)  # the end of output inside a string
    assert not _run('v1 = "s1\n"', numbers)  # a line end inside one
    assert not _run('v3", v4:v2.startswith(', numbers)  # where a lost row fled
    assert _run('v1 = "s12"  # "quoted" in a comment\n', numbers)
