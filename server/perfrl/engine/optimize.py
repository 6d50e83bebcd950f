"""The whole optimization job for one function: baseline, candidates, verdicts, best pick.

This is the single entry point used by the ``perfrl`` CLI, the language server and the
training pipeline's evaluation. It blocks (minutes at worst), so callers with an event loop
run it in a worker thread. A caller may rely on:

- input problems (missing function, no test calls it, interpreter without pytest) raising a
  :class:`~perfrl.engine.types.PerfRLError` whose message tells the user what to do;
- a bad candidate never raising: it gets a verdict and a reason in the report;
- ``Cancelled`` being raised promptly after ``cancel.cancel()``, with every sandboxed process
  of the job killed;
- the user's files never being written.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from perfrl.engine.baseline import Baseline, run_baseline
from perfrl.engine.candidate_source import CandidateSource, CandidateSourceError
from perfrl.engine.candidate_text import (
    DUPLICATE,
    SAME_AS_ORIGINAL,
    CleanCandidate,
    DistinctCandidates,
    clean_candidate,
    original_candidate,
)
from perfrl.engine.evidence import assess_evidence
from perfrl.engine.feedback_round import second_round
from perfrl.engine.interpreter import resolve_interpreter
from perfrl.engine.locate import ensure_supported
from perfrl.engine.sandbox import INSTALL_HINT, Sandbox
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import (
    Cancelled,
    CancelToken,
    Candidate,
    CandidateResult,
    FunctionTarget,
    OptimizationReport,
    PerfRLError,
    ProgressCallback,
    ProgressEvent,
    Verdict,
)
from perfrl.engine.verify import verify_candidate
from perfrl.engine.wider_tests import confirm_best


@dataclass
class CollectedCandidates:
    """Candidates from every source, cleaned and de-duplicated, with what was dropped and why."""

    candidates: list[CleanCandidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The candidates dropped before verifying ("<source> <label>", in order) by why:
    #: :data:`~perfrl.engine.candidate_text.DUPLICATE` or ``SAME_AS_ORIGINAL``.
    dropped: dict[str, list[str]] = field(default_factory=dict)
    #: The rule that admitted them; a later round of the job admits its candidates through it.
    distinct: DistinctCandidates | None = None
    #: What sources said about their own work (a source's generator may return a line:
    #: the model source says how many outputs it drew, kept and dropped, and why).
    notes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return len(self.dropped.get(DUPLICATE, []))

    @property
    def unchanged(self) -> int:
        return len(self.dropped.get(SAME_AS_ORIGINAL, []))

    def dropped_summary(self) -> str:
        """One line for the report: how many were dropped before verifying, why, and which
        (the first two of each); "" when none was."""
        parts = []
        for why, what in ((DUPLICATE, "duplicate candidate(s)"),
                          (SAME_AS_ORIGINAL, "identical to the original")):
            labels = self.dropped.get(why, [])
            if labels:
                more = f" and {len(labels) - 2} more" if len(labels) > 2 else ""
                parts.append(f"{len(labels)} {what} ({', '.join(labels[:2])}{more})")
        return "dropped " + " and ".join(parts) if parts else ""


def collect_candidates(
    target: FunctionTarget,
    sources: Sequence[CandidateSource],
    per_source: int,
    cancel: CancelToken | None = None,
) -> CollectedCandidates:
    """Ask every source for candidates; clean each once and keep the first of each normalised
    AST, never one the same as the original (:class:`DistinctCandidates`).

    A source may yield a raw :class:`Candidate` (cleaned here, numbered by its place among
    the source's outputs) or a :class:`CleanCandidate` it made with ``clean_candidate``
    (kept as it is, not parsed again). Candidates that do not parse are kept: the verifier
    gives them the verdict ``invalid``, which is what the user should see.
    """
    distinct = DistinctCandidates(original_candidate(target))
    collected = CollectedCandidates(distinct=distinct)
    for source in sources:
        if cancel is not None and cancel.cancelled:
            raise Cancelled()
        try:
            produced: Iterable[Candidate] = source.generate(target, per_source)
            outputs = _with_note(produced, source.name, collected.notes)
            for number, candidate in enumerate(outputs, start=1):
                clean = clean_candidate(candidate, target, number)
                why = distinct.admit(clean)
                if why is None:
                    collected.candidates.append(clean)
                else:
                    collected.dropped.setdefault(why, []).append(f"{clean.source} {clean.label}")
        except CandidateSourceError as exc:
            collected.warnings.append(f"candidate source '{source.name}' gave nothing: {exc}")
    return collected


def _with_note(
    produced: Iterable[Candidate], source_name: str, notes: list[str]
) -> Generator[Candidate, None, None]:
    """``produced``'s candidates; a generator's non-empty string return value goes to
    ``notes`` as ``"<source>: <note>"``."""
    # ``yield from`` gives a generator's return value and None for any other iterable.
    note: object = yield from cast("Generator[Candidate, None, object]", produced)
    if isinstance(note, str) and note:
        notes.append(f"{source_name}: {note}")


def pick_best(results: Sequence[CandidateResult]) -> int | None:
    """Index of the verified-faster candidate with the highest lower confidence bound.

    The lower bound, not the median, decides: it is the speedup we are confident of.
    """
    best: int | None = None
    for index, result in enumerate(results):
        if result.verdict is not Verdict.FASTER or result.speedup is None:
            continue
        if best is None or result.speedup.low > results[best].speedup.low:  # type: ignore[union-attr]
            best = index
    return best


def _baseline_warnings(baseline: Baseline) -> list[str]:
    summary = baseline.summary
    warnings = []
    if summary.tests_failing_on_original:
        shown = ", ".join(summary.tests_failing_on_original[:3])
        more = len(summary.tests_failing_on_original) - 3
        warnings.append(
            f"{len(summary.tests_failing_on_original)} test(s) that call the function fail on "
            f"the original code and were left out: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if summary.calls_skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped_reasons.items()))
        warnings.append(
            f"{summary.calls_skipped} captured call(s) were not used for equivalence and timing"
            + (f" ({reasons})" if reasons else "")
        )
    return warnings


#: Sources whose code the user wrote (or at least chose) by hand: they may run unsandboxed.
HAND_WRITTEN_SOURCES = frozenset({"file"})


def _refuse_generated_code_unsandboxed(
    sandbox: Sandbox, settings: EngineSettings, sources: Sequence[CandidateSource]
) -> None:
    """Without bubblewrap, run generated code only when the user chose ``--sandbox none``."""
    if sandbox.uses_bwrap or settings.use_bwrap is False:
        return
    generated = sorted({source.name for source in sources} - HAND_WRITTEN_SOURCES)
    if generated:
        raise PerfRLError(
            f"bubblewrap is not usable here ({sandbox.no_bwrap_reason}), and "
            f"{' and '.join(generated)} candidates are code nobody has read: without the "
            "sandbox they could read and write your files and use the network. To fix: "
            f"{INSTALL_HINT}; or run them unsandboxed on purpose with --sandbox none (editor "
            "setting perfrl.sandbox: none). Hand-written --candidate files run without it."
        )


def optimize_function(
    target: FunctionTarget,
    sources: Sequence[CandidateSource],
    settings: EngineSettings,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    candidates_per_source: int = 8,
) -> OptimizationReport:
    """Generate candidates for ``target`` from ``sources``, verify each, and report.

    The report's ``best`` is the index of the verified-faster candidate with the highest lower
    confidence bound, or None when no candidate was verified faster.
    """

    def emit(stage: str, message: str, done: int | None = None, total: int | None = None):
        if progress is not None:
            progress(ProgressEvent(stage=stage, message=message, done=done, total=total))

    def check_cancel() -> None:
        if cancel is not None and cancel.cancelled:
            raise Cancelled()

    ensure_supported(target)
    interpreter = resolve_interpreter(target.project_root, settings.interpreter)
    sandbox = Sandbox(target.project_root, interpreter, settings)
    _refuse_generated_code_unsandboxed(sandbox, settings, sources)
    # What the sandbox cannot do here goes in the report (missing_protections), not in the
    # warnings: a user cannot act on "disk use limited per file only". Running without
    # bubblewrap is said before anything runs (unsandboxed_warning) and in the summary line.
    warnings: list[str] = []

    emit("baseline", "running the project's tests on the original code")
    started = time.perf_counter()
    baseline = run_baseline(target, sandbox, settings, cancel=cancel, progress=progress)
    baseline.summary.seconds = baseline.summary.seconds or time.perf_counter() - started
    warnings += _baseline_warnings(baseline)
    check_cancel()

    emit("generating", "generating candidates")
    collected = collect_candidates(target, sources, candidates_per_source, cancel)
    warnings += collected.warnings
    notes = list(collected.notes)
    if collected.dropped:
        warnings.append(collected.dropped_summary())

    results: list[CandidateResult] = []

    def verify_all(candidates: Sequence[Candidate]) -> None:
        first, total = len(results), len(results) + len(candidates)
        for index, candidate in enumerate(candidates, start=first):
            check_cancel()
            emit("testing", f"verifying candidate {index + 1}/{total} ({candidate.label})",
                 index, total)

            def on_stage(stage: str, _index: int = index) -> None:
                emit(
                    "benchmarking" if stage == "benchmark" else "testing",
                    f"candidate {_index + 1}/{total}: {stage}",
                    _index,
                    total,
                )

            results.append(verify_candidate(
                target, baseline, candidate, sandbox, settings, cancel=cancel, on_stage=on_stage
            ))

    verify_all(collected.candidates)
    if settings.feedback_round:
        # Every first-round candidate failed: a model trained for it is shown the best failed
        # one and its verdict, and asked again (engine/feedback_round.py).
        retried = second_round(
            target, sources, results, candidates_per_source,
            collected.distinct or DistinctCandidates(original_candidate(target)))
        if retried is not None:
            emit("generating", "second round: generating candidates from the best failure")
            notes += retried.notes
            warnings += retried.warnings
            verify_all(retried.candidates)
    total = len(results)
    # The whole picture before "faster" stands: the best must also pass the project's other tests.
    best, wider_warnings = confirm_best(
        target, baseline, results, sandbox, settings, pick_best, cancel=cancel, progress=progress
    )
    warnings += wider_warnings
    emit("done", "done", total, total)
    evidence = assess_evidence(
        target.display,
        baseline.summary,
        generated_inputs=max((result.generated_inputs for result in results), default=0),
    )
    if evidence.warning:
        warnings.insert(0, evidence.warning)
    report = OptimizationReport(
        function=target.display,
        original_source=target.source,
        candidates=results,
        best=best,
        baseline=baseline.summary,
        threshold=settings.threshold,
        warnings=warnings,
        protections=list(sandbox.protections),
        protections_summary=sandbox.protections_summary,
        missing_protections=list(sandbox.missing_protections),
        evidence=evidence,
        notes=notes,
    )
    if settings.memory != "off":
        from perfrl.memory.store import record_report

        record_report(report.to_json(), target.project_root, shared=settings.memory == "user")
    return report
