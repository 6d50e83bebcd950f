"""Execute both sides of pairs in a subprocess and keep those that behave the same.

Used by the build for every pair (small inputs) and by the tests. The expected outputs of the
SLOW side are stored in ``meta["expected"]`` (literal reprs, one per entry of ``inputs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .executor import CallJob, run_calls, same_behaviour
from .inputs import expand_call
from .pairs import CodePair


@dataclass
class VerifyReport:
    kept: list[CodePair] = field(default_factory=list)
    dropped: list[tuple[CodePair, str]] = field(default_factory=list)


def verify_pairs(
    pairs: list[CodePair], *, call_timeout_s: float = 2.0, batch_size: int = 400
) -> VerifyReport:
    """Run slow and fast on each pair's small inputs; drop pairs that differ or fail.

    A pair is kept when every input gives equal literal results on both sides (exceptions are
    not accepted: the inputs are meant to be valid). Kept pairs get ``meta["expected"]``.
    """
    report = VerifyReport()
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        jobs = []
        for p in batch:
            jobs.append(CallJob(p.slow, p.entry, list(p.inputs)))
            jobs.append(CallJob(p.fast, p.entry, list(p.inputs)))
        results = run_calls(jobs, call_timeout_s=call_timeout_s)
        for k, p in enumerate(batch):
            slow_out, fast_out = results[2 * k], results[2 * k + 1]
            reason = _compare(slow_out, fast_out)
            if reason:
                report.dropped.append((p, reason))
                continue
            p.meta["expected"] = [o.value_repr for o in slow_out]
            report.kept.append(p)
    return report


def _compare(slow_out, fast_out) -> str | None:
    for i, (a, b) in enumerate(zip(slow_out, fast_out, strict=True)):
        if not a.ok:
            return f"input {i}: slow side failed: {a.error}"
        if not a.literal:
            return f"input {i}: slow side result is not a literal"
        if not same_behaviour(a, b):
            return f"input {i}: fast side differs ({b.error or b.value_repr!r:.80})"
    return None


def time_pair(
    pair: CodePair, *, repeat: int = 3, call_timeout_s: float = 5.0
) -> list[tuple[float, float]]:
    """Best-of-``repeat`` seconds (slow, fast) per benchmark input, both in one subprocess."""
    bench = [expand_call(c) for c in pair.meta.get("bench_inputs", [])]
    res = run_calls(
        [CallJob(pair.slow, pair.entry, bench), CallJob(pair.fast, pair.entry, bench)],
        mode="time",
        repeat=repeat,
        call_timeout_s=call_timeout_s,
    )
    out = []
    for a, b in zip(res[0], res[1], strict=True):
        if not (a.ok and b.ok) or a.seconds is None or b.seconds is None:
            raise RuntimeError(f"{pair.id}: benchmark call failed: {a.error or b.error}")
        out.append((a.seconds, b.seconds))
    return out
