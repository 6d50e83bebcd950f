"""Finished job outcomes, keyed by (document URI, qualname) and tied to the source text.

A result is *current* only while the function's source text in the buffer is exactly the text
the job verified; any edit to the function makes it *outdated* (its rewrite is never offered
or applied again). After the rewrite is applied the function's text is the rewrite's, and the
result reports *applied*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from perfrl.engine.types import (
    CandidateResult,
    FunctionTarget,
    OptimizationReport,
)
from perfrl.lsp.jobs import Job, JobState
from perfrl.presentation import speedup_editor, verdict_summary


class Freshness(str, enum.Enum):
    CURRENT = "current"
    OUTDATED = "outdated"
    APPLIED = "applied"


@dataclass
class FunctionResult:
    """The last finished job for one function (cancelled jobs are not kept)."""

    uri: str
    target: FunctionTarget
    job_id: str
    state: JobState
    report: OptimizationReport | None
    error: str | None
    error_kind: str | None
    error_detail: str | None = None
    #: The function's text once the best rewrite is applied (computed once, on first use):
    #: how an applied rewrite is recognised in the buffer, whoever applied it.
    _applied_source: str | None = field(default=None, repr=False)

    @property
    def qualname(self) -> str:
        return self.target.qualname

    @property
    def source(self) -> str:
        return self.target.source

    @property
    def best(self) -> CandidateResult | None:
        return None if self.report is None else self.report.best_result()

    @property
    def applied_source(self) -> str | None:
        """The function's text (whole lines) after applying the best rewrite, or None."""
        best = self.best
        if best is None:
            return None
        if self._applied_source is None:
            from perfrl.lsp.edits import rewritten_source

            try:
                self._applied_source = rewritten_source(self.target, best.candidate.code)
            except ValueError:
                self._applied_source = ""
        return self._applied_source or None

    def freshness(self, current_source: str) -> Freshness:
        if current_source == self.source:
            return Freshness.CURRENT
        if current_source == self.applied_source:
            return Freshness.APPLIED
        return Freshness.OUTDATED


class ResultStore:
    """The latest result per function; a new job's result replaces the old one."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], FunctionResult] = {}

    def record(self, job: Job) -> FunctionResult | None:
        """Keep a finished job's outcome; cancelled jobs leave the previous result alone."""
        if job.state not in (JobState.DONE, JobState.FAILED):
            return None
        result = FunctionResult(
            uri=job.uri, target=job.target, job_id=job.id, state=job.state, report=job.report,
            error=job.error, error_kind=job.error_kind, error_detail=job.error_detail,
        )
        self._results[(job.uri, job.qualname)] = result
        return result

    def get(self, uri: str, qualname: str) -> FunctionResult | None:
        return self._results.get((uri, qualname))

    def for_uri(self, uri: str) -> list[FunctionResult]:
        return [r for (u, _), r in self._results.items() if u == uri]


def summarize_verdicts(report: OptimizationReport) -> str:
    """``8 tried: 5 failed tests, 3 not faster`` (see :mod:`perfrl.presentation`)."""
    return verdict_summary(report.candidates)


def speedup_text(result: CandidateResult) -> str:
    """``3.1× faster (2.9–3.3×)`` (see :mod:`perfrl.presentation`)."""
    return speedup_editor(result.speedup)
