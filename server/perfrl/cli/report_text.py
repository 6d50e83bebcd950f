"""Human-readable rendering of an OptimizationReport for terminals."""

from __future__ import annotations

from perfrl.engine.types import OptimizationReport, Verdict
from perfrl.presentation import candidate_number, fit_label, speedup_terminal, verdict_summary


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
    evidence = report.evidence
    if evidence is not None:
        lines.append(
            f"evidence: {evidence.tests_calling} test(s) in {evidence.test_files_calling} "
            f"file(s), {evidence.calls_recorded} recorded call(s) ({evidence.calls_distinct} "
            f"distinct), {evidence.generated_inputs} generated input(s)"
            + (" - thin, see the warning below" if evidence.thin else "")
        )
    if report.protections_summary or report.protections:  # the full list is in --json
        lines.append("sandbox: " + (report.protections_summary or "; ".join(report.protections)))
    lines.append("")
    if not report.candidates:
        lines.append("No candidates were produced.")
    else:
        header = f"{'#':>2}  {'source':<28} {'verdict':<15} {'tests':>7} {'calls':>5}  speedup"
        lines += [header, "-" * len(header)]
        for index, result in enumerate(report.candidates):
            marker = "*" if index == report.best else " "
            label = fit_label(f"{result.candidate.source}: {result.candidate.label}", 28)
            tests = f"{result.tests.passed}/{result.tests.run}"
            lines.append(
                f"{candidate_number(index):>2}{marker} {label:<28} {result.verdict.value:<15} "
                f"{tests:>7} {result.calls_compared:>5}  {speedup_terminal(result.speedup)}"
            )
            if result.reason:
                lines.append(f"      {result.reason}")
    for note in report.notes:
        lines.append(f"note: {note}")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    lines.append("")
    best = report.best_result()
    if best is None or report.best is None:
        lines.append(f"No faster verified version (threshold {report.threshold:.2f}x; "
                     f"{verdict_summary(report.candidates)}).")
    else:
        assert best.verdict is Verdict.FASTER
        lines.append(
            f"Best: candidate {candidate_number(report.best)} ({best.candidate.source}: "
            f"{best.candidate.label}), {speedup_terminal(best.speedup)} faster, "
            f"{best.tests.passed} tests passed, "
            f"{best.calls_compared} calls checked."
        )
        lines.append("")
        lines.append(best.diff.rstrip("\n"))
    return "\n".join(lines) + "\n"
