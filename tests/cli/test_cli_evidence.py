"""`perfrl optimize`: evidence strength, pytest options passed through, doctests as tests, and
JSON errors (issue 12, Build 8), through the real command line on real projects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.cli.report_text import render_report
from perfrl.engine.evidence import assess_evidence
from perfrl.engine.types import BaselineSummary, OptimizationReport


def run_perfrl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perfrl.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )


def _summary(tests: int, calls: int, distinct: int) -> BaselineSummary:
    return BaselineSummary(
        tests_calling=tests, tests_failing_on_original=[], calls_captured=calls,
        calls_skipped=0, calls_distinct=distinct, test_files_calling=1,
    )


def test_thin_evidence_says_what_is_thin_and_how_to_strengthen_it():
    thin = assess_evidence("strutils.py::args2cmd", _summary(tests=1, calls=3, distinct=3))
    assert thin.thin
    assert "only 1 test calls it" in thin.warning
    assert "only 3 distinct calls were recorded" in thin.warning
    assert "add tests that call args2cmd with varied inputs" in thin.warning
    many_calls = assess_evidence("m.py::f", _summary(tests=2, calls=40, distinct=40))
    assert many_calls.thin and "only 2 tests call it" in many_calls.warning
    assert "recorded" not in many_calls.warning
    same_call = assess_evidence("m.py::f", _summary(tests=5, calls=9, distinct=1))
    assert same_call.thin and "only 1 distinct call was recorded" in same_call.warning
    solid = assess_evidence("m.py::f", _summary(tests=3, calls=6, distinct=5), generated_inputs=50)
    assert not solid.thin and solid.warning is None and solid.generated_inputs == 50


def test_text_report_shows_the_evidence_line():
    summary = _summary(tests=1, calls=3, distinct=2)
    evidence = assess_evidence("strutils.py::args2cmd", summary)
    report = OptimizationReport(
        function="strutils.py::args2cmd", original_source="", candidates=[], best=None,
        baseline=summary, threshold=1.1, warnings=[evidence.warning], evidence=evidence,
    )
    text = render_report(report)
    assert (
        "evidence: 1 test(s) in 1 file(s), 3 recorded call(s) (2 distinct), "
        "0 generated input(s) - thin, see the warning below"
    ) in text
    assert "warning: thin evidence: only 1 test calls it" in text
    assert report.to_json()["evidence"]["thin"] is True


@pytest.mark.parametrize(
    "args",
    [
        ("optimize", "inventory/catalog.py", "--json"),  # a PerfRLError
        ("optimize", "inventory/catalog.py::missing_skus", "--num-candidates", "x", "--json"),
        ("optimize", "inventory/catalog.py::missing_skus", "--pytest-args", "'unclosed", "--json"),
    ],
)
def test_json_errors_are_one_json_object_on_exit_2(example_project: Path, args):
    # Fails on the old CLI: the message was plain text (and argparse's went to stderr only).
    proc = run_perfrl(*args, cwd=example_project)
    assert proc.returncode == 2
    error = json.loads(proc.stdout)
    assert error["schema"] == "perfrl.error/1" and error["exit_code"] == 2
    assert error["error"] and error["error"] in proc.stderr


@pytest.mark.slow
def test_example_report_carries_the_evidence(example_project: Path):
    # missing_skus has 2 tests and 2 recorded calls: the report must say that is thin.
    candidate = example_project / "candidates" / "missing_skus.py"
    proc = run_perfrl(
        "optimize", "inventory/catalog.py::missing_skus", "--candidate", str(candidate),
        "--python", sys.executable, "--json", "--quiet", cwd=example_project,
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    evidence = report["evidence"]
    assert evidence["tests_calling"] == 2 and evidence["calls_recorded"] == 2
    assert evidence["thin"] is True
    assert report["warnings"][0] == evidence["warning"]
    # Thin, but not only the recorded calls: inputs generated from them were compared too.
    generated = report["candidates"][0]["generated_inputs"]
    assert generated > 0 and evidence["generated_inputs"] == generated


DOCTEST_PROJECT = {
    "pyproject.toml": '[project]\nname = "h3docli"\nversion = "0"\n',
    "h3docli/__init__.py": "",
    "h3docli/text.py": '''
        def dedupe(items):
            """Items without repeats, first occurrence kept.

            >>> dedupe([3, 1, 3, 2, 1])
            [3, 1, 2]
            >>> dedupe(list(range(300)) * 2)[-3:]
            [297, 298, 299]
            """
            seen = []
            out = []
            for item in items:
                if item not in seen:
                    seen.append(item)
                    out.append(item)
            return out
    ''',
    "tests/test_unrelated.py": "def test_unrelated():\n    assert True\n",
}

FAST_DEDUPE = '''
def dedupe(items):
    """Items without repeats, first occurrence kept.

    >>> dedupe([3, 1, 3, 2, 1])
    [3, 1, 2]
    >>> dedupe(list(range(300)) * 2)[-3:]
    [297, 298, 299]
    """
    return list(dict.fromkeys(items))
'''

SORTED_DEDUPE = '''
def dedupe(items):
    """Items without repeats, first occurrence kept.

    >>> dedupe([3, 1, 3, 2, 1])
    [3, 1, 2]
    >>> dedupe(list(range(300)) * 2)[-3:]
    [297, 298, 299]
    """
    return sorted(set(items))
'''


@pytest.mark.slow
def test_doctest_only_function_is_verified_with_pytest_args(tmp_path: Path):
    # Fails on the old CLI: --pytest-args did not exist, and without --doctest-modules no
    # test calls the function.
    project = tmp_path / "proj"
    for rel, text in DOCTEST_PROJECT.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    fast = tmp_path / "fast.py"
    fast.write_text(FAST_DEDUPE.lstrip(), encoding="utf-8")
    wrong = tmp_path / "wrong.py"
    wrong.write_text(SORTED_DEDUPE.lstrip(), encoding="utf-8")
    common = ("optimize", "h3docli/text.py::dedupe", "--python", sys.executable, "--quiet",
              "--json", "--candidate", str(fast), "--candidate", str(wrong))

    without = run_perfrl(*common, cwd=project)
    assert without.returncode == 2
    assert "calls h3docli/text.py::dedupe" in json.loads(without.stdout)["error"]

    proc = run_perfrl(*common, "--pytest-args", "--doctest-modules", cwd=project)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["evidence"]["tests_calling"] == 1
    assert report["evidence"]["calls_recorded"] == 2
    fast_result, wrong_result = report["candidates"]
    # The doctest ran on each candidate: the fast one passes it and is compared on both calls.
    assert fast_result["tests"] == {"run": 1, "passed": 1}
    assert fast_result["verdict"] in ("faster", "not_faster"), fast_result["reason"]
    assert fast_result["calls_compared"] == 2
    assert wrong_result["verdict"] == "failed_tests"
    assert "h3docli/text.py::h3docli.text.dedupe" in wrong_result["reason"]


def test_a_wrong_rewrite_of_a_five_argument_function_is_caught_on_its_last_argument(
        tmp_path: Path):
    """The engine's generated inputs were one budget of 24 for any function: five arguments
    got about five edge values each, and a rewrite that dropped a clamp on the last one
    (`title[:limit]` for `title[:min(limit, 10)]`) passed the thin test and every generated
    input. The budget now grows with the arguments varied; the clamp's edge catches it, through
    the real command line, a real pytest run and the sandbox."""
    root = tmp_path / "headers"
    (root / "headers").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "headers"\nversion = "0"\n')
    (root / "headers" / "__init__.py").write_text("")
    (root / "headers" / "render.py").write_text(textwrap.dedent('''
        def header(title, sep, widths, pad, limit):
            shown = title[:min(limit, 10)]
            cells = []
            for width in widths:
                cells = cells + [str(width + pad)]
            return sep.join([shown] + cells)
    '''))
    (root / "tests" / "test_render.py").write_text(textwrap.dedent('''
        from headers.render import header


        def test_header():
            assert header("Quarterly report", "|", [3, 4], 1, 7) == "Quarter|4|5"
    '''))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(textwrap.dedent('''
        def header(title, sep, widths, pad, limit):
            return sep.join([title[:limit]] + [str(width + pad) for width in widths])
    '''))
    proc = run_perfrl("optimize", "headers/render.py::header", "--candidate", str(wrong),
                      "--python", sys.executable, "--json", "--quiet", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    candidate = report["candidates"][0]
    assert candidate["verdict"] == "not_equivalent", candidate
    # Caught on a generated input past the old budget, where the last argument is 15.
    caught = re.match(r"generated input (\d+) \(.*, 15\)", candidate["reason"])
    assert caught is not None and int(caught.group(1)) >= 24, candidate["reason"]


def test_a_slug_rewrite_that_drops_the_separator_squeeze_is_caught(tmp_path: Path):
    """A model rewrite of inflection's `parameterize` (EDITR18, twenty-first session) dropped
    the collapsing of repeated separators and passed the library's 455 tests and 36 generated
    inputs: none held the separator beside other punctuation. Generated strings now carry a
    spaced and a doubled dash; the candidate is refused through the real command line, a real
    pytest run and the sandbox."""
    root = tmp_path / "slugs"
    (root / "slugs").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "slugs"\nversion = "0"\n')
    (root / "slugs" / "__init__.py").write_text("")
    (root / "slugs" / "text.py").write_text(textwrap.dedent(r'''
        import re


        def parameterize(string, separator="-"):
            string = re.sub(r"(?i)[^a-z0-9\-_]+", separator, string)
            if separator:
                re_sep = re.escape(separator)
                string = re.sub(r"%s{2,}" % re_sep, separator, string)
                string = re.sub(r"(?i)^{sep}|{sep}$".format(sep=re_sep), "", string)
            return string.lower()
    '''))
    (root / "tests" / "test_text.py").write_text(textwrap.dedent('''
        import pytest

        from slugs.text import parameterize


        @pytest.mark.parametrize("text, slug", [
            ("Donald E. Knuth", "donald-e-knuth"),
            ("Random text with *(bad)* characters", "random-text-with-bad-characters"),
            ("Squeeze   separators", "squeeze-separators"),
            ("Trailing bad characters!@#", "trailing-bad-characters"),
        ])
        def test_parameterize(text, slug):
            assert parameterize(text) == slug
    '''))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(textwrap.dedent(r'''
        import re


        def parameterize(string, separator="-"):
            string = re.sub(r"(?i)[^a-z0-9\-_]+", separator, string)
            if separator:
                re_sep = re.escape(separator)
                string = re.sub(r"(?i)^{sep}|{sep}$".format(sep=re_sep), "", string)
            return string.lower()
    '''))
    proc = run_perfrl("optimize", "slugs/text.py::parameterize", "--candidate", str(wrong),
                      "--python", sys.executable, "--json", "--quiet", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    candidate = json.loads(proc.stdout)["candidates"][0]
    assert candidate["verdict"] == "not_equivalent", candidate
    assert re.match(r"generated input \d+ \(.*( - |--)", candidate["reason"]), candidate["reason"]
