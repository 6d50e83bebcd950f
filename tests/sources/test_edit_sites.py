"""The hunk headers the server proposes to an edit model: one per loop region."""

from __future__ import annotations

from perfrl.edit_script import apply_edit_script, number_lines
from perfrl.sources.edit_sites import site_headers, site_spans, site_text

LOOPS = '''def report(v1, v2):
    "s0"
    v3 = []
    for v4 in v1:
        if v4 in v2:
            v3.append(v4)
    v5 = 0
    for v6 in v3:
        for v7 in v6:
            v5 += v7
    return v3, v5
'''


def test_each_loop_region_gets_its_lines_setup_and_return_included_outer_loops_only():
    assert site_headers(LOOPS) == ["@3-6", "@7-11"]
    numbered = number_lines(LOOPS).splitlines()
    assert numbered[2] == "3|    v3 = []" and numbered[9] == "10|            v5 += v7"


def test_a_return_right_after_the_loop_belongs_to_its_region():
    code = "def f(v1):\n    v2 = []\n    for v3 in v1:\n        v2.append(v3)\n    return v2\n"
    assert site_headers(code) == ["@2-5"]


def test_lines_are_counted_as_the_model_reads_them_leading_blank_lines_aside():
    assert site_headers("\n\n" + LOOPS) == site_headers(LOOPS)


def test_a_proposed_header_edits_exactly_its_region():
    header = site_headers(LOOPS)[1]
    rewrite = ["    v5 = sum(sum(v6) for v6 in v3)", "    return v3, v5"]
    edited = apply_edit_script(LOOPS, "\n".join([header, *rewrite]) + "\n")
    assert edited.splitlines() == LOOPS.splitlines()[:6] + rewrite


def test_no_header_without_a_loop_or_for_text_that_does_not_parse_and_at_most_limit():
    assert site_headers("def f(v1):\n    return v1\n") == []
    assert site_headers("def f(v1:\n    for") == []
    assert site_headers(LOOPS, limit=1) == ["@3-6"]
    assert site_headers(LOOPS, limit=0) == []


def test_a_sites_text_is_the_script_that_changes_nothing_there():
    for leading in ("", "\n\n"):
        text = leading + LOOPS
        for header, span in zip(site_headers(text), site_spans(text)):
            copy = site_text(text, span)
            assert copy.startswith(header + "\n") and copy.endswith("\n")
            assert apply_edit_script(text, copy).strip() == LOOPS.strip()
    assert site_text(LOOPS, (7, 11)) == (
        "@7-11\n    v5 = 0\n    for v6 in v3:\n        for v7 in v6:\n            v5 += v7\n"
        "    return v3, v5\n")
