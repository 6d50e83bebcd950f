"""The full PerfRL report of a function as Markdown: every candidate, its verdict, reason,
numbers and diff. Written under the server's cache folder so any editor can open it.

A caller may rely on :func:`render_markdown` listing every candidate of the report in order
(with its verdict word from the JSON schema) and on :func:`write_report` returning a path
that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from perfrl.engine.types import CandidateResult, OptimizationReport
from perfrl.lsp.results import Freshness, FunctionResult, speedup_text
from perfrl.presentation import VERDICT_WORDS

REPORT_SCHEME = "perfrl-report"


def _ns(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:.2f} s"
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.1f} µs"
    return f"{value:.0f} ns"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str, lang: str) -> str:
    # A fence longer than any backtick run inside the text cannot be closed early.
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}\n"


def _candidate_section(index: int, result: CandidateResult, best: int | None) -> str:
    marker = " (best)" if index == best else ""
    lines = [
        f"### {index + 1}. {result.candidate.source}: {result.candidate.label}{marker}",
        "",
        f"- verdict: **{result.verdict.value}** ({VERDICT_WORDS[result.verdict]})",
        f"- reason: {result.reason}",
        f"- tests: {result.tests.passed}/{result.tests.run} passed",
        f"- calls compared: {result.calls_compared}",
    ]
    if result.speedup is not None:
        s = result.speedup
        lines.append(
            f"- speedup: {s.median:.2f}× (95% CI {s.low:.2f}–{s.high:.2f}×), "
            f"original {_ns(s.original_ns)} vs candidate {_ns(s.candidate_ns)}, "
            f"{s.rounds} rounds"
        )
    if result.stage_seconds:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.stage_seconds.items())
        lines.append(f"- time: {stages}")
    lines.append("")
    if result.diff:
        lines.append(_fence(result.diff, "diff"))
    else:
        lines.append(_fence(result.candidate.code, "python"))
    return "\n".join(lines)


def render_markdown(result: FunctionResult, current: Freshness | None = None) -> str:
    """The report of a finished job (or the error that ended it)."""
    target = result.target
    out = [f"# PerfRL report: `{target.display}`", ""]
    if current is Freshness.OUTDATED:
        out += [("> The function was edited after this report was made; its rewrite is no "
                "longer offered. Optimize again to verify the new version."), ""]
    elif current is Freshness.APPLIED:
        out += ["> The best rewrite below has been applied to the buffer.", ""]
    report: OptimizationReport | None = result.report
    if report is None:
        out += ["**The job failed:**", "", result.error or "unknown error", ""]
        return "\n".join(out)
    if report.best is not None:
        best = report.candidates[report.best]
        out += [(f"**Best: candidate {report.best + 1} ({best.candidate.label}), "
                f"{speedup_text(best)}**, threshold {report.threshold:.2f}× on the lower bound."),
                ""]
    else:
        out += [(f"**No candidate was verified faster** (threshold {report.threshold:.2f}× on "
                "the lower bound of the 95% interval)."), ""]
    if report.baseline is not None:
        b = report.baseline
        out += [
            "## Baseline",
            "",
            f"- tests calling the function: {b.tests_calling}"
            + (" (cached)" if b.from_cache else ""),
            f"- calls captured: {b.calls_captured} (skipped: {b.calls_skipped})",
            f"- failing on the original: {len(b.tests_failing_on_original)}",
            f"- time: {b.seconds:.2f} s",
            "",
        ]
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if report.notes:
        # What the sources said of their work: outputs drawn and dropped, a second round.
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    if report.protections:
        out += ["## Sandbox", ""] + [f"- {p}" for p in report.protections] + [""]
    out += ["## Candidates", "",
            "| # | source | label | verdict | tests | calls | speedup | reason |",
            "|---|---|---|---|---|---|---|---|"]
    for index, c in enumerate(report.candidates):
        speed = "" if c.speedup is None else (
            f"{c.speedup.median:.2f}× ({c.speedup.low:.2f}–{c.speedup.high:.2f})")
        out.append(
            f"| {index + 1} | {c.candidate.source} | {_cell(c.candidate.label)} | "
            f"{c.verdict.value} | {c.tests.passed}/{c.tests.run} | {c.calls_compared} | "
            f"{speed} | {_cell(c.reason)} |"
        )
    if not report.candidates:
        out.append("| – | – | – | – | – | – | – | no candidates were proposed |")
    out.append("")
    for index, c in enumerate(report.candidates):
        out.append(_candidate_section(index, c, report.best))
    return "\n".join(out).rstrip() + "\n"


def write_report(cache_dir: Path, result: FunctionResult, markdown: str) -> Path:
    """Write the report to ``<cache_dir>/reports/<file>__<qualname>__<job>.md``."""
    folder = Path(cache_dir) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_",
                  f"{result.target.relpath}__{result.qualname}__{result.job_id}")
    path = folder / f"{stem}.md"
    path.write_text(markdown, encoding="utf-8")
    return path


def report_uri(path: Path) -> str:
    """The ``perfrl-report:`` URI of a written report (its path after the scheme)."""
    return f"{REPORT_SCHEME}:{Path(path).as_posix()}"
