"""Indentation of "edit-v2" outputs (server/perfrl/inference/indent_guard.py): every script
whose application parses is accepted whatever the cut into tokens; a hunk line or a hunk end
that cannot parse where it lands is refused."""

from __future__ import annotations

import ast
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.edit_script import (
    apply_edit_script,
    code_lines,
    format_hunks,
    make_edit_script,
    parse_edit_script,
)
from perfrl.inference.bracket_guard import LexState, feed_text
from perfrl.inference.indent_guard import IndentGuard

from .test_decoding import EOS

SLOW = '''def v0(v1, v2):
    """s0"""
    v3 = []
    for v4 in v1:  # s1
        if v4 not in v2:
            v3.append(
                v4)
        # s2
    return v3
'''

#: Lines a fast side may be made of (code of several depths, a bracket over two lines, the
#: input's comment, which a script names by reference: a comment of its own is refused).
FAST_LINES = ["    v3 = []", "    v5 = set(v2)", "    for v4 in v1:", "        if v4 in v5:",
              "        if v4 not in v2:", "            v3.append(v4)", "            continue",
              "    return v3", "        v3.extend([", "            v4])", "    # s2",
              "    return [v4 for v4 in v1", "            if v4 not in v2]",
              "    v5 = v1 + \\", "  v2", '    v6 = """s4', 's5"""']


def _run(guard: IndentGuard, pieces: list[str], texts: list[str]) -> tuple[bool, int]:
    """(accepted to the end, how many pieces were accepted) for ``pieces`` as tokens."""
    ids = {text: i for i, text in enumerate(texts)}
    state = guard.start()
    for k, piece in enumerate(pieces):
        if not guard.accepts(state, ids[piece]):
            return False, k
        guard.advance(state, ids[piece])
    return guard.accepts(state, EOS), len(pieces)


def _cut(text: str, rng: random.Random) -> list[str]:
    """``text`` in random pieces of 1-6 characters (a BPE's cut is arbitrary too)."""
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, 6)
        pieces.append(text[at:at + size])
        at += size
    return pieces


def _writes(script: str, slow: str = SLOW, seed: int = 0) -> bool:
    pieces = _cut(script, random.Random(seed))
    texts = ["<pad>", "<s>", "</s>", *sorted(set(pieces))]
    guard = IndentGuard(texts, EOS, code_lines(slow))
    return _run(guard, pieces, texts)[0]


def _open_after(text: str) -> bool:
    lex = LexState()
    feed_text(lex, text)
    return bool(lex.brackets or lex.quote)


def _a_hunk_leaves_open_what_the_input_closes(script: str, slow: str = SLOW) -> bool:
    """Whether a hunk of ``script`` ends inside a bracket or a string where the input's own
    line after it is not inside one (the input's lines between hunks would have to close it:
    the guard refuses such a hunk end)."""
    slow_lines = code_lines(slow)
    hunks = parse_edit_script(script)
    for count, hunk in enumerate(hunks, 1):
        applied = apply_edit_script(slow, format_hunks(hunks[:count]), line_refs=True)
        lines = code_lines(applied)
        through_hunk = lines[:len(lines) - (len(slow_lines) - hunk.last)]
        if (_open_after("\n".join(through_hunk) + "\n")
                and not _open_after("\n".join(slow_lines[:hunk.last]) + "\n")):
            return True
    return False


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FAST_LINES), min_size=1, max_size=8), st.integers(0, 9))
def test_every_script_whose_result_parses_is_accepted_whatever_the_cut(fast_lines, seed):
    fast = "def v0(v1, v2):\n" + "\n".join(fast_lines) + "\n"
    script = make_edit_script(SLOW, fast, line_refs=True).strip("\n")
    if not script or not _parses(apply_edit_script(SLOW, script, line_refs=True)):
        return
    if _a_hunk_leaves_open_what_the_input_closes(script):
        return
    assert _writes(script, seed=seed), script


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FAST_LINES), min_size=1, max_size=8), st.integers(0, 9))
def test_what_it_accepts_to_the_end_has_no_indentation_error(fast_lines, seed):
    fast = "def v0(v1, v2):\n" + "\n".join(fast_lines) + "\n"
    script = make_edit_script(SLOW, fast, line_refs=True).strip("\n")
    if not script or not _writes(script, seed=seed):
        return
    try:
        ast.parse(apply_edit_script(SLOW, script, line_refs=True))
    except SyntaxError as exc:
        # Brackets and names are other guards' business (and the verifier's): never indentation.
        assert not isinstance(exc, IndentationError), (script, exc)
        assert "expected an indented block" not in str(exc), (script, exc)


def test_a_line_too_deep_too_shallow_or_between_levels_is_refused():
    # After `v3 = []` (no block opened) a deeper line cannot start.
    assert not _writes("@3-3\n    v3 = []\n        v5 = 1")
    # After an opener, a line no deeper cannot.
    assert not _writes("@4-4\n    for v4 in v1:\n    v5 = 1")
    # Between two open levels (6 under 4 and 8).
    assert not _writes("@6-7\n      v3.append(v4)")
    # The same hunks, indented as Python needs, pass.
    assert _writes("@3-3\n    v3 = []\n    v5 = 1")
    assert _writes("@6-7\n            v3.append(v4)")


def test_a_tab_indents_nothing_where_the_input_indents_with_spaces():
    assert not _writes("@3-3\n\tv3 = []")
    assert not _writes("@3-3\n    v3 = []\n\t\n    v5 = 1")
    tabbed = SLOW.replace("    ", "\t")
    assert _writes("@3-3\n\tv3 = []\n\tv5 = 1", slow=tabbed)


def test_a_hunk_must_leave_the_input_s_next_line_a_place():
    # Line 4 (`for ...:`) replaced by a plain statement: line 5, deeper, has nowhere to go;
    # the refusal comes where the hunk ends (the next header, the end of output).
    assert not _writes("@4-4\n    v5 = set(v2)")
    assert not _writes("@4-4\n    v5 = set(v2)\n@9-9\n    return v3")
    assert _writes("@4-4\n    v5 = set(v2)\n    for v4 in v1:")
    # A last line that opens a block at the end of the function: nothing can fill it.
    assert not _writes("@9-9\n    for v4 in v3:")
    # Deleting lines is a hunk with no lines: fine where the next line still fits.
    assert _writes("@8-8")
    assert not _writes("@4-4")


def test_references_count_as_the_lines_they_name():
    # `=4` is `for v4 in v1:`: the next line must be deeper; `=3` is not an opener.
    assert _writes("@3-4\n    =4\n        =3")
    assert not _writes("@3-4\n    =4\n    =3")
    # ... and line 5 (depth 8) cannot follow a hunk that went back to depth 4.
    assert not _writes("@3-4\n    =4\n        =3\n    v5 = 1")
    # Indentation is judged at the reference's `=` as at code.
    assert not _writes("@3-3\n        =3")


def test_continuations_and_unknown_hunks_are_not_judged_but_a_new_comment_is_refused():
    # Inside brackets a line may be indented anyhow.
    assert _writes("@6-7\n            v3.append(\n  v4)")
    # A comment line of the model's own is refused at any indentation; the input's, named by
    # a reference (line 8 is `# s2`), and a comment after code pass; `#` inside a string is
    # no comment.
    assert not _writes("@3-3\n    v3 = []\n  # s3")
    assert not _writes("@3-3\n    v3 = []\n    # s3")
    assert _writes("@3-3\n    v3 = []\n    =8\n    v5 = 1  # s3")
    assert _writes('@3-3\n    v3 = """\n# s3"""')
    # A hunk starting inside the input's open bracket (line 7 continues line 6).
    assert _writes("@7-7\n v4)")
    # A header that names no lines of the input: the edit script's own check refuses it.
    assert _writes("@40-41\n        x")


def test_a_forced_header_is_followed_and_sets_up_its_hunk():
    texts = ["<pad>", "<s>", "</s>", "@4-5\n", "    ", "v5 = 1", "for v4 in v1:", "\n"]
    guard = IndentGuard(texts, EOS, code_lines(SLOW))
    state = guard.start([3])
    assert not guard.accepts(state, 5)  # `v5 = 1` at column 0: not a level here
    guard.advance(state, 4)
    assert guard.accepts(state, 5) and guard.accepts(state, 6)


def test_a_line_that_is_no_statement_is_not_closed():
    # A block header without its colon, an assignment with two `=`, a keyword as an attribute:
    # refused where the line (or the output) would end, not before (the row may still mend it).
    assert not _writes("@4-4\n    for v4 in v1\n        v5 = 1")
    assert not _writes("@3-3\n    v3 = = []")
    assert not _writes("@3-3\n    v3 = v1.is")
    assert _writes("@4-4\n    for v4 in v1:")  # line 5 follows, deeper: fine
    # Clauses that continue a statement are judged behind the statement they need; a
    # decorator before what it decorates.
    assert _writes("@5-7\n        if v4 not in v2:\n            v3.append(v4)\n        else:\n"
                   "            continue")
    assert not _writes("@5-7\n        if v4 not in v2:\n            v3.append(v4)\n        else\n"
                       "            continue")
    # The same holds across the lines of one bracket: judged when the statement ends.
    assert _writes("@6-7\n            v3.append(\n                v4)")
    assert not _writes("@6-7\n            v3.append(\n                v4 v4)")


def test_brackets_and_strings_that_cannot_close_are_refused_at_once():
    texts = ["<pad>", "<s>", "</s>", "@6-7\n", "            v3.append(v4", "]", ")", "\n",
             "            v5 = 's3", "'"]
    header, call, square, paren, newline, string, quote = range(3, 10)
    assert EOS == 2
    guard = IndentGuard(texts, EOS, code_lines(SLOW))
    state = guard.start([header])
    guard.advance(state, call)
    assert not guard.accepts(state, square)  # `]` where `(` is open
    assert guard.accepts(state, newline)  # a line end inside the bracket is fine ...
    assert not guard.accepts(state, EOS)  # ... the end of the output is not
    guard.advance(state, paren)
    assert guard.accepts(state, EOS)
    # A one-line string cannot take a line end; closed, it can.
    state = guard.start([header])
    guard.advance(state, string)
    assert not guard.accepts(state, newline)
    guard.advance(state, quote)
    assert guard.accepts(state, newline)


def test_a_hunk_may_not_end_with_a_bracket_open_unless_the_input_s_next_line_is_inside_one():
    assert not _writes("@3-3\n    v3 = [\n@9-9\n    return v3")
    assert not _writes("@3-3\n    v3 = (1,\n")
    # Line 7 (`v4)`) continues line 6's bracket: a hunk replacing line 6 alone may leave it open.
    assert _writes("@6-6\n            v3.append(")

