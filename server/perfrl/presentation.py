"""How PerfRL words its figures for people: one home for the CLI report, the language
server's lenses, code actions, hints, messages and the Markdown report.

A caller may rely on: a candidate has the same number everywhere (:func:`candidate_number`,
1-based, in report order); a speedup is rounded the same way in a terminal and in an editor,
only the typography differs (``3.10x (2.90-3.30)`` vs ``3.1× faster (2.9–3.3×)``); verdict
summaries list the most frequent verdict first.
"""

from __future__ import annotations

from collections.abc import Iterable

from perfrl.engine.types import CandidateResult, SpeedupEstimate, Verdict

VERDICT_WORDS = {
    Verdict.FASTER: "faster",
    Verdict.NOT_FASTER: "not faster",
    Verdict.FAILED_TESTS: "failed tests",
    Verdict.NOT_EQUIVALENT: "not equivalent",
    Verdict.TIMEOUT: "timed out",
    Verdict.CRASHED: "crashed",
    Verdict.INVALID: "invalid",
}


def candidate_number(index: int) -> int:
    """The number people see for the candidate at ``index`` of a report (1-based)."""
    return index + 1


def speedup_terminal(speedup: SpeedupEstimate | None) -> str:
    """``3.10x (2.90-3.30)``: plain ASCII for terminals and logs; ``-`` when not measured."""
    if speedup is None:
        return "-"
    return f"{speedup.median:.2f}x ({speedup.low:.2f}-{speedup.high:.2f})"


def speedup_editor(speedup: SpeedupEstimate | None) -> str:
    """``3.1× faster (2.9–3.3×)``: the editor's lenses, hints and messages."""
    if speedup is None:
        return "faster"
    return f"{speedup.median:.1f}× faster ({speedup.low:.1f}–{speedup.high:.1f}×)"


def verdict_summary(results: Iterable[CandidateResult]) -> str:
    """``8 tried: 5 failed tests, 3 not faster``, or ``no candidates were proposed``."""
    counts: dict[Verdict, int] = {}
    total = 0
    for result in results:
        counts[result.verdict] = counts.get(result.verdict, 0) + 1
        total += 1
    if total == 0:
        return "no candidates were proposed"
    parts = sorted(counts.items(), key=lambda item: (-item[1], item[0].value))
    return f"{total} tried: " + ", ".join(f"{n} {VERDICT_WORDS[v]}" for v, n in parts)


#: The most of a candidate's reason one log line carries.
REASON_IN_LOG = 400


def candidate_line(index: int, result: CandidateResult) -> str:
    """``#2 model (sample 3): not faster: 1.05x (0.98-1.12), below threshold 1.10x``: one
    candidate's verdict and why, for logs (the same number as every other view). Always one
    line: a reason quotes what candidate code printed or raised, and a hostile candidate must
    not write a line of its own into the log (``...\\nPerfRL (f): #1 model: faster: 99x``)."""
    reason = " ".join(result.reason.split())
    if len(reason) > REASON_IN_LOG:
        reason = reason[: REASON_IN_LOG - 3] + "..."
    label = " ".join(f"{result.candidate.source} ({result.candidate.label})".split())
    return f"#{candidate_number(index)} {label}: {VERDICT_WORDS[result.verdict]}: {reason}"


def fit_label(label: str, width: int) -> str:
    """``label`` in at most ``width`` characters, cut in the middle so that both the start
    (the source) and the end (a file name, a sample number) stay readable: two candidate
    files of one folder never look the same."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    tail = width - 1 - head
    return label[:head] + "…" + label[len(label) - tail:]
