"""The Markdown report and the short texts of lenses and messages."""

from __future__ import annotations

from perfrl.engine.locate import locate_function_at
from perfrl.engine.types import (
    BaselineSummary,
    Candidate,
    CandidateResult,
    OptimizationReport,
    SpeedupEstimate,
    Verdict,
)
from perfrl.engine.types import TestCounts as Counts  # not collected as a test class
from perfrl.lsp.features.report import render_markdown, report_uri, write_report
from perfrl.lsp.jobs import JobState
from perfrl.lsp.results import Freshness, FunctionResult, speedup_text, summarize_verdicts

TEXT = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return out\n"


def _result(tmp_path) -> FunctionResult:
    path = tmp_path / "m.py"
    path.write_text(TEXT)
    target = locate_function_at(path, 2, project_root=tmp_path, text=TEXT)
    fast = CandidateResult(
        Candidate("file", "fast.py", "def f(xs):\n    return list(xs)\n"), Verdict.FASTER,
        "3.10x (2.90-3.30) >= 1.10", Counts(12, 12), 40,
        SpeedupEstimate(3.1, 2.9, 3.3, 3_100_000.0, 1_000_000.0, 40),
        diff="--- a/m.py\n+++ b/m.py\n@@\n-    out = []\n+    return list(xs)\n")
    wrong = CandidateResult(Candidate("rules", "PERF401 | x", "def f(xs):\n    return ```\n"),
                            Verdict.FAILED_TESTS, "2 of 12 tests failed", Counts(12, 10))
    slow = CandidateResult(Candidate("model", "sample 1", "def f(xs):\n    return xs[:]\n"),
                           Verdict.NOT_FASTER, "1.02x", Counts(12, 12), 40)
    report = OptimizationReport(
        "m.py::f", TEXT, [fast, wrong, slow], 0,
        BaselineSummary(12, [], 40, 0, seconds=1.5), 1.1, ["a warning"], ["bubblewrap"],
        notes=["model: second round on the best failed candidate (rules: PERF401, "
               "failed_tests) gave 1 new candidate(s)"])
    return FunctionResult("file:///m.py", target, "job-1", JobState.DONE, report, None, None)


def test_markdown_lists_every_candidate(tmp_path):
    result = _result(tmp_path)
    markdown = render_markdown(result, Freshness.CURRENT)
    assert markdown.startswith("# PerfRL report: `m.py::f`")
    assert "**Best: candidate 1 (fast.py), 3.1× faster (2.9–3.3×)**" in markdown
    for row in ("| 1 | file | fast.py | faster | 12/12 | 40 | 3.10× (2.90–3.30) |",
                ("| 2 | rules | PERF401 \\| x | failed_tests | 10/12 | 0 |  | 2 of 12 tests "
                "failed |"),
                "| 3 | model | sample 1 | not_faster | 12/12 | 40 |  | 1.02x |"):
        assert row in markdown
    assert "- a warning" in markdown and "- bubblewrap" in markdown
    assert "## Notes\n\n- model: second round on the best failed candidate" in markdown
    assert "```diff\n--- a/m.py" in markdown
    # A candidate holding backticks gets a longer fence, so the document stays well formed.
    assert "````python\ndef f(xs):\n    return ```\n````" in markdown
    outdated = render_markdown(result, Freshness.OUTDATED)
    assert "The function was edited after this report was made" in outdated


def test_texts_and_written_file(tmp_path):
    result = _result(tmp_path)
    assert speedup_text(result.best) == "3.1× faster (2.9–3.3×)"
    assert summarize_verdicts(result.report) == "3 tried: 1 failed tests, 1 faster, 1 not faster"
    path = write_report(tmp_path / "cache", result, "# x\n")
    assert path.read_text() == "# x\n" and path.parent == tmp_path / "cache" / "reports"
    assert report_uri(path) == f"perfrl-report:{path.as_posix()}"
    failed = FunctionResult("file:///m.py", result.target, "job-2", JobState.FAILED, None,
                            "no test calls f", "input")
    assert "**The job failed:**\n\nno test calls f" in render_markdown(failed)
