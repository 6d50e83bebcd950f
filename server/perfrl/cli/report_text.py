"""Human-readable rendering of an OptimizationReport for terminals."""

from __future__ import annotations

from perfrl.engine.types import CandidateResult, OptimizationReport, Verdict


def format_speedup(result: CandidateResult) -> str:
    if result.speedup is None:
        return "-"
    s = result.speedup
    return f"{s.median:.2f}x ({s.low:.2f}-{s.high:.2f})"


def render_report(report: OptimizationReport) -> str:
    """The report as plain text: summary, one row per candidate, warnings, the best diff."""
    lines = [f"PerfRL report for {report.function}"]
    b = report.baseline
    if b is not None:
        cached = ", cached" if b.from_cache else ""
        lines.append(
            f"baseline: {b.tests_calling} test(s) call it, {b.calls_captured} call(s) captured"
            f"{cached} ({b.seconds:.1f}s)"
        )
    if report.protections:
        lines.append("sandbox: " + "; ".join(report.protections))
    lines.append("")
    if not report.candidates:
        lines.append("No candidates were produced.")
    else:
        header = f"{'#':>2}  {'source':<28} {'verdict':<15} {'tests':>7} {'calls':>5}  speedup"
        lines += [header, "-" * len(header)]
        for index, result in enumerate(report.candidates):
            marker = "*" if index == report.best else " "
            label = f"{result.candidate.source}: {result.candidate.label}"[:28]
            tests = f"{result.tests.passed}/{result.tests.run}"
            lines.append(
                f"{index:>2}{marker} {label:<28} {result.verdict.value:<15} {tests:>7} "
                f"{result.calls_compared:>5}  {format_speedup(result)}"
            )
            if result.reason:
                lines.append(f"      {result.reason}")
    for note in report.notes:
        lines.append(f"note: {note}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    lines.append("")
    best = report.best_result()
    if best is None:
        tried = len(report.candidates)
        counts: dict[str, int] = {}
        for result in report.candidates:
            counts[result.verdict.value] = counts.get(result.verdict.value, 0) + 1
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        lines.append(
            f"No faster verified version (threshold {report.threshold:.2f}x; {tried} tried"
            + (f": {summary}" if summary else "")
            + ")."
        )
    else:
        assert best.verdict is Verdict.FASTER
        lines.append(
            f"Best: candidate {report.best} ({best.candidate.source}: {best.candidate.label}), "
            f"{format_speedup(best)} faster, {best.tests.passed} tests passed, "
            f"{best.calls_compared} calls checked."
        )
        lines.append("")
        lines.append(best.diff.rstrip("\n"))
    return "\n".join(lines) + "\n"
