"""The edit output formats: numbered input lines, edit scripts made and applied ("edit-v1"),
and the same with line references ("edit-v2")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.edit_script import (
    NO_HEADER,
    NO_HEADER_FIRST,
    NOT_ITS_LINES,
    OUT_OF_ORDER,
    EditScriptError,
    apply_edit_script,
    make_edit_script,
    number_lines,
)
from perfrl.model_contract import (
    EDIT_PROMPT_PREFIX,
    ModelContractError,
    ModelSpec,
    build_prompt,
)

SLOW = """def v0(v1, v2):
    v3 = []
    for v4 in v1:
        if v4 not in v2:
            v3.append(v4)
    return v3
"""
FAST = """def v0(v1, v2):
    v5 = set(v2)
    return [v4 for v4 in v1 if v4 not in v5]
"""


def non_blank(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def test_numbered_lines_are_what_an_edit_model_reads():
    assert number_lines(SLOW).splitlines()[:3] == [
        "1|def v0(v1, v2):", "2|    v3 = []", "3|    for v4 in v1:"]
    prompt = build_prompt(SLOW, output_format="edit-v1")
    assert prompt == EDIT_PROMPT_PREFIX + number_lines(SLOW)


def test_a_rewrite_becomes_one_hunk_naming_the_lines_it_replaces():
    script = make_edit_script(SLOW, FAST)
    assert script == ("@2-6\n    v5 = set(v2)\n"
                      "    return [v4 for v4 in v1 if v4 not in v5]\n")
    assert apply_edit_script(SLOW, script) == FAST


def test_an_insertion_replaces_the_line_before_it_and_separate_changes_stay_apart():
    fast = SLOW.replace("    v3 = []\n", "    v3 = []\n    v6 = v3.append\n").replace(
        "            v3.append(v4)", "            v6(v4)")
    script = make_edit_script(SLOW, fast)
    assert script == ("@2-2\n    v3 = []\n    v6 = v3.append\n"
                      "@5-5\n            v6(v4)\n")
    assert apply_edit_script(SLOW, script) == fast


def test_a_deletion_is_a_hunk_without_lines():
    fast = SLOW.replace("        if v4 not in v2:\n    ", "").replace("            v3",
                                                                    "        v3")
    script = make_edit_script(SLOW, fast)
    assert apply_edit_script(SLOW, script) == fast
    assert apply_edit_script(SLOW, "@4-4\n") == SLOW.replace("        if v4 not in v2:\n", "")


def test_equal_texts_give_an_empty_script():
    assert make_edit_script(SLOW, SLOW + "\n") == ""


@pytest.mark.parametrize(("script", "reason"), [
    ("", NO_HEADER),
    ("    return v3\n", NO_HEADER),
    ("def v0(v1, v2):\n@2-2\n    v3 = ()\n", NO_HEADER_FIRST),
    ("@0-1\ndef v0(v1, v2):\n", NOT_ITS_LINES),
    ("@3-2\n", NOT_ITS_LINES),
    ("@6-7\n    return v3\n", NOT_ITS_LINES),
    ("@4-5\n        pass\n@2-2\n    v3 = ()\n", OUT_OF_ORDER),
    ("@2-4\n    v3 = ()\n@4-4\n        pass\n", OUT_OF_ORDER),
])
def test_a_script_that_cannot_apply_says_why(script, reason):
    with pytest.raises(EditScriptError) as caught:
        apply_edit_script(SLOW, script)
    assert str(caught.value) == reason


_LINES = st.lists(st.sampled_from(["    v1 = []", "    for v2 in v3:", "        v1.append(v2)",
                                   "", "    return v1", "    v4 = sum(v3)", "        pass"]),
                  min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(_LINES, _LINES, st.booleans())
def test_applying_the_made_script_gives_the_fast_side(slow_lines, fast_lines, line_refs):
    slow = "def v0(v3):\n" + "\n".join(slow_lines) + "\n"
    fast = "def v0(v3):\n" + "\n".join(fast_lines) + "\n"
    script = make_edit_script(slow, fast, line_refs=line_refs)
    if not script:
        assert slow.strip("\n").split("\n") == fast.strip("\n").split("\n")
        return
    # Blank lines that end a hunk are not kept (a model's output is stripped of them).
    assert non_blank(apply_edit_script(slow, script, line_refs)) == non_blank(fast)
    # The script survives being written and read back as a model output.
    assert apply_edit_script(slow, script.strip("\n"), line_refs) == \
        apply_edit_script(slow, script, line_refs)
    if line_refs:  # every line that is an input line's text is named, none typed again
        texts = {line.strip() for line in slow_lines if line.strip()}
        assert not any(line.strip() in texts for line in script.split("\n"))


HOISTED = SLOW.replace("    v3 = []\n", "").replace(
    "    for v4 in v1:\n", "    for v4 in v1:\n        v3 = []\n")


def test_line_references_name_the_lines_a_rewrite_moves_or_keeps():
    # `v3 = []` moved out of the loop (HOISTED's loop region is lines 2-6; a line inserted
    # before line 2 takes line 1 along, as every insertion takes the line before it).
    script = make_edit_script(HOISTED, SLOW, [(2, 6)], line_refs=True)
    assert script == "@1-6\n=1\n    =3\n    =2\n        =4\n            =5\n    =6\n"
    assert apply_edit_script(HOISTED, script, line_refs=True) == SLOW
    # New text is written as text; a reference re-indents its line (tabs too).
    fast = SLOW.replace("            v3.append(v4)", "            v3.append(v4 * 2)")
    assert make_edit_script(SLOW, fast, [(2, 6)], line_refs=True) == (
        "@2-6\n    =2\n    =3\n        =4\n            v3.append(v4 * 2)\n    =6\n")
    assert apply_edit_script(SLOW, "@6-6\n\t=6\n", line_refs=True).endswith("\n\treturn v3\n")
    # An edit-v1 script has no references: such a line is text (and no Python line).
    assert "    =2\n" in apply_edit_script(SLOW, "@2-2\n    =2\n")


@pytest.mark.parametrize("script", ["@2-2\n    =7\n", "@2-2\n    =0\n"])
def test_a_reference_to_a_line_the_function_does_not_have_cannot_apply(script):
    with pytest.raises(EditScriptError) as caught:
        apply_edit_script(SLOW, script, line_refs=True)
    assert str(caught.value) == NOT_ITS_LINES


@settings(max_examples=300, deadline=None)
@given(_LINES, _LINES, st.lists(st.tuples(st.integers(1, 13), st.integers(0, 4)), max_size=3))
def test_a_script_widened_to_sites_still_gives_the_fast_side_and_covers_them(
    slow_lines, fast_lines, sites
):
    slow = "def v0(v3):\n" + "\n".join(slow_lines) + "\n"
    fast = "def v0(v3):\n" + "\n".join(fast_lines) + "\n"
    count = len(slow.strip("\n").split("\n"))
    windows = [(first, min(count, first + extra)) for first, extra in sites if first <= count]
    script = make_edit_script(slow, fast, windows)
    minimal = make_edit_script(slow, fast)
    if not minimal:
        assert script == ""
        return
    assert non_blank(apply_edit_script(slow, script)) == non_blank(fast)
    hunks = [tuple(map(int, line[1:].split("-"))) for line in script.split("\n")
             if line.startswith("@")]
    changed = [tuple(map(int, line[1:].split("-"))) for line in minimal.split("\n")
               if line.startswith("@")]
    for first, last in windows:
        if any(a <= last and first <= b for a, b in changed):
            assert any(a <= first and last <= b for a, b in hunks), (windows, script)


def test_a_hunk_inside_a_site_is_written_as_the_whole_site():
    # The slow side's loop region is lines 2-6; the change is on line 4 only.
    slow = SLOW
    fast = SLOW.replace("if v4 not in v2:", "if v4 not in v5:").replace(
        "    v3 = []\n", "    v3 = []\n    v5 = set(v2)\n")
    assert make_edit_script(slow, fast).startswith("@2-2\n")
    widened = make_edit_script(slow, fast, [(2, 6)])
    assert widened == "@2-6\n" + "\n".join(fast.split("\n")[1:7]) + "\n"
    # A site no change touches is left alone.
    assert make_edit_script(slow, fast, [(1, 1)]) == make_edit_script(slow, fast)


def test_the_spec_checks_the_output_format():
    spec = ModelSpec.from_json({"output_format": "edit-v1", "prompt_prefix": EDIT_PROMPT_PREFIX})
    assert build_prompt(SLOW, spec) == EDIT_PROMPT_PREFIX + number_lines(SLOW)
    assert ModelSpec.from_json({}).output_format == "function"
    with pytest.raises(ModelContractError, match="output_format 'diff'"):
        ModelSpec.from_json({"output_format": "diff"})
    with pytest.raises(ModelContractError, match="plain prompt"):
        ModelSpec.from_json({"output_format": "edit-v1", "prompt_format": "retrieval-v1"})
    spec = ModelSpec.from_json({"output_format": "edit-v2", "prompt_prefix": EDIT_PROMPT_PREFIX})
    assert build_prompt(SLOW, spec) == EDIT_PROMPT_PREFIX + number_lines(SLOW)
    with pytest.raises(ModelContractError, match="'edit-v2' model reads only the plain prompt"):
        ModelSpec.from_json({"output_format": "edit-v2", "feedback_format": "feedback-v1"})
