"""The feedback round (short-term memory): when every candidate of the first round failed,
the sources that can (a model trained for the ``feedback-v1`` prompt) are shown the best failed
candidate and its verdict, and asked again.

The best failed candidate is the one closest to being offered: a correct rewrite that was not
faster first, then one that disagreed on a call, one that failed tests (most tests passed
first), then timeouts, crashes and invalid code. Its reason (the failing test's message, the
differing input) goes to the model cut short (:func:`perfrl.model_contract.feedback_reason`).

A caller may rely on: no second round when a first-round candidate was verified faster, when
no source supports one, or when the first round produced nothing to learn from; the
second round's candidates de-duplicated against the first round's; the returned note saying
which candidate the round was built on (the report shows it, so a reader knows a second round
ran).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from perfrl.engine.candidate_source import CandidateSource, CandidateSourceError
from perfrl.engine.candidate_text import DistinctCandidates, clean_candidate
from perfrl.engine.types import Candidate, CandidateResult, FunctionTarget, Verdict
from perfrl.model_contract import FailedAttempt

#: What the report's note of a second round says (readers such as the held-out evaluation
#: count the rounds by it), and how a retrying source labels that round's candidates.
SECOND_ROUND_NOTE = "second round on the best failed candidate"
SECOND_ROUND_LABEL = "round 2 "
#: Failed verdicts, closest to an offered rewrite first.
_CLOSENESS = (Verdict.NOT_FASTER, Verdict.NOT_EQUIVALENT, Verdict.FAILED_TESTS, Verdict.TIMEOUT,
              Verdict.CRASHED, Verdict.INVALID)


@runtime_checkable
class RetryingCandidateSource(Protocol):
    """A source that can run a second round from a failed candidate."""

    name: str

    def supports_retry(self) -> bool: ...

    def retry(self, target: FunctionTarget, failed: FailedAttempt, limit: int
              ) -> Iterable[Candidate]: ...


def best_failed(results: Sequence[CandidateResult]) -> CandidateResult | None:
    """The failed candidate closest to being offered (see the module doc), or None when a
    candidate was verified faster or there is none."""
    if any(r.verdict is Verdict.FASTER for r in results):
        return None
    ranked = [r for r in results if r.verdict in _CLOSENESS]
    if not ranked:
        return None
    return min(ranked, key=lambda r: (_CLOSENESS.index(r.verdict), -r.tests.passed))


@dataclass
class SecondRound:
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def second_round(target: FunctionTarget, sources: Sequence[CandidateSource],
                 results: Sequence[CandidateResult], per_source: int,
                 distinct: DistinctCandidates) -> SecondRound | None:
    """The second round's candidates, cleaned, or None when no second round runs (see the
    module doc). ``distinct``: the job's one de-duplication rule, which has admitted every
    first-round candidate; the second round's are admitted through it too."""
    failed = best_failed(results)
    retrying = [s for s in sources if isinstance(s, RetryingCandidateSource)
                and s.supports_retry()]
    if failed is None or not retrying:
        return None
    attempt = FailedAttempt(failed.candidate.code, failed.verdict.value, failed.reason)
    shown = f"{failed.candidate.source}: {failed.candidate.label}, {failed.verdict.value}"
    out = SecondRound()
    for source in retrying:
        kept = repeated = 0
        try:
            produced = source.retry(target, attempt, per_source)
            for number, candidate in enumerate(cast(Iterable[Candidate], produced), start=1):
                clean = clean_candidate(candidate, target, number)
                if distinct.admit(clean) is not None:
                    repeated += 1
                    continue
                out.candidates.append(clean)
                kept += 1
        except CandidateSourceError as exc:
            out.warnings.append(f"second round of '{source.name}' gave nothing: {exc}")
        out.notes.append(f"{source.name}: {SECOND_ROUND_NOTE} ({shown}) "
                         f"gave {kept} new candidate(s)"
                         + (f", {repeated} repeating the first round" if repeated else ""))
    return out
