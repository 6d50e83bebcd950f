"""Verifying one candidate: static check, the tests, equivalence on real calls, A/B benchmark.

A caller may rely on:

- :func:`verify_candidate` never raising for a bad candidate: syntax errors, wrong
  signatures, failing or hanging tests, crashes (``os._exit``, segfaults, resource limits),
  different behaviour and slowness all become a :class:`~perfrl.engine.types.CandidateResult`
  with a verdict and a reason for the user;
- :class:`~perfrl.engine.types.Cancelled` being raised once ``cancel`` is set (the sandbox
  kills the running process group);
- the candidate running only inside a throw-away sandbox workspace (one per candidate, reused
  for the tests, the equivalence replay and the benchmark), never in this process and never in
  the user's tree;
- ``faster`` only when the lower bound of the 95% confidence interval of the speedup is at
  least ``settings.threshold``;
- ``stage_seconds`` holding the wall time of each stage that ran: ``check``, ``tests``,
  ``equivalence``, ``benchmark``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from perfrl.engine.baseline import (
    Baseline,
    death_description,
    origin_problem,
    output_tail,
    run_with_plugin,
    workspace_import_root,
)
from perfrl.engine.candidate_check import candidate_diff, check_candidate, normalize_candidate
from perfrl.engine.candidate_check import splice as splice_candidate
from perfrl.engine.sandbox import WorkspaceSurprise, read_workspace_file
from perfrl.engine.settings import EngineSettings
from perfrl.engine.source_files import declared_encoding, encode_source
from perfrl.engine.stats import MIN_ROUNDS, bootstrap_ratio_ci
from perfrl.engine.types import (
    CallTiming,
    Cancelled,
    CancelToken,
    Candidate,
    CandidateResult,
    FunctionTarget,
    SpeedupEstimate,
    TestCounts,
    Verdict,
)

#: Candidates get this many times the baseline's pytest wall time (but at least the floor)
#: before their test run counts as hung, capped by settings.test_timeout_s.
_TEST_TIME_FACTOR = 5.0
# The benchmark may stop before its budget once every round is this far past the threshold
# (or as far below parity): the verdict is settled, more rounds only narrow the interval.
DECISIVE_FACTOR = 1.5
_TEST_TIME_FLOOR_S = 20.0

#: Benchmark processes whose speedups differ by more than this factor call for more of them.
PROCESS_AGREEMENT = 1.08
#: At most this many benchmark processes per candidate (odd, so that a majority exists).
MAX_BENCH_PROCESSES = 7

#: glibc's allocator in the state a long-running process reaches by itself (its dynamic mmap
#: threshold risen to the 32 MiB maximum, trimming at twice that). Without it, whether a
#: freed 64 KiB block sits at the top of a fresh process's heap decides if every call pays
#: for giving it back to the OS and faulting it in again: measured on a set-building
#: kernel, 49 us or 68 us per call depending only on what the process had imported, which
#: made the same speedup read 72x or 99x. Only the benchmark process gets it; other C
#: libraries ignore these variables.
BENCHMARK_ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}


class _Outcome(Exception):
    """A verdict reached inside a stage; carries the result fields."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled()


def _test_timeout(baseline: Baseline, settings: EngineSettings) -> float:
    adaptive = max(_TEST_TIME_FLOOR_S, _TEST_TIME_FACTOR * baseline.pytest_wall_s)
    return min(settings.test_timeout_s, adaptive)


def _run_tests(ws, target, baseline, settings, cancel, counts: TestCounts) -> None:
    """Run the selected tests on the candidate; raise _Outcome unless all pass."""
    timeout_s = _test_timeout(baseline, settings)
    run = run_with_plugin(
        ws,
        target,
        settings,
        mode="observe",
        out_name="tests",
        extra_args=[],
        select=list(baseline.selected_tests),
        timeout_s=timeout_s,
        cancel=cancel,
    )
    result, summary = run.result, run.summary
    counts.run = len(baseline.selected_tests)
    if result.timed_out:
        raise _Outcome(Verdict.TIMEOUT, f"the tests did not finish within {timeout_s:g} s")
    if result.limit_hit:
        raise _Outcome(Verdict.CRASHED, f"the test process {death_description(result)}")
    if summary is None:
        tail = output_tail(result, 6)
        raise _Outcome(
            Verdict.CRASHED,
            f"the test process {death_description(result)} (does the candidate exit the "
            f"process or crash the interpreter?)" + (f": {_excerpt(tail)}" if tail else ""),
        )
    origin = origin_problem(target.module_name, summary.get("module_file"), Path(ws.root))
    if summary.get("wrap_error"):
        raise _Outcome(
            Verdict.FAILED_TESTS,
            "importing the module fails with the candidate: "
            + _excerpt(summary["wrap_error"].splitlines()[0]),
        )
    if origin:
        raise _Outcome(Verdict.CRASHED, origin)
    tests = summary.get("tests", {})
    counts.passed = sum(
        1 for nodeid in baseline.selected_tests if tests.get(nodeid, {}).get("outcome") == "passed"
    )
    for nodeid in baseline.selected_tests:
        entry = tests.get(nodeid)
        if entry is None:
            errors = summary.get("collection_errors") or []
            detail = f": {_excerpt(errors[0]['message'], 240)}" if errors else ""
            raise _Outcome(Verdict.FAILED_TESTS, f"{nodeid} did not run{detail}")
        if entry["outcome"] != "passed":
            message = _excerpt(entry.get("message") or "", 240)
            raise _Outcome(
                Verdict.FAILED_TESTS,
                f"{nodeid} {entry['outcome']}" + (f": {message}" if message else ""),
            )


def _replay(
    ws, target, settings, cancel, mode: str, extra: list[str], timeout_s: float, run_index: int = 0
) -> dict:
    """Run perfrl_replay in ``mode``; return its JSON report or raise _Outcome."""
    data_dir = Path(ws.data_dir)
    out = data_dir / f"replay-{mode}-{run_index}.json"
    import_root = str(workspace_import_root(target, Path(ws.root)))
    args = [
        "-m",
        "perfrl_replay",
        "--capture",
        str(data_dir / "calls.pkl"),
        "--module",
        target.module_name,
        "--qualname",
        target.qualname,
        "--import-root",
        import_root,
        "--root",
        str(ws.root),
        "--original-source-file",
        str(data_dir / "original_source.py"),
        "--mode",
        mode,
        "--out",
        str(out),
        "--rel-tol",
        repr(settings.float_rel_tol),
        "--abs-tol",
        repr(settings.float_abs_tol),
        *extra,
    ]
    env = {"PYTHONPATH": import_root}
    if mode == "benchmark":
        env.update(BENCHMARK_ALLOCATOR_ENV)
    result = ws.run_python(args, timeout_s=timeout_s, cancel=cancel, env=env)
    if result.cancelled:
        raise Cancelled()
    what = "replaying the captured calls" if mode == "equivalence" else "the benchmark"
    if result.timed_out:
        last = [
            line for line in (result.stderr or "").splitlines() if line.startswith("perfrl-replay:")
        ][-1:]
        where = f" (last step: {last[0].split(':', 1)[1].strip()})" if last else ""
        raise _Outcome(Verdict.TIMEOUT, f"{what} did not finish within {timeout_s:g} s{where}")
    try:
        report = json.loads(read_workspace_file(out))  # regular file, size-capped, or raises
    except (OSError, ValueError):
        tail = output_tail(result, 6)
        raise _Outcome(
            Verdict.CRASHED,
            f"the process {what} {death_description(result)}"
            + (f": {_excerpt(tail)}" if tail else ""),
        ) from None
    if not isinstance(report, dict):
        raise _Outcome(Verdict.CRASHED, f"{what} left a report PerfRL cannot read")
    required = (
        ("status",)
        if report.get("status") == "error"
        else {
            "equivalence": ("status", "calls_compared", "usable_calls", "unreproducible"),
            "benchmark": ("status", "rounds", "per_call"),
        }[mode]
    )
    if any(key not in report for key in required):
        raise _Outcome(Verdict.CRASHED, f"{what} left a report PerfRL cannot read")
    if report.get("status") == "error":
        raise _Outcome(Verdict.CRASHED, f"{what} failed: {_excerpt(report.get('error', ''))}")
    origin = origin_problem(target.module_name, report.get("module_file"), Path(ws.root))
    if origin:
        raise _Outcome(Verdict.CRASHED, origin)
    return report


def _speedup(report: dict) -> SpeedupEstimate:
    original = [r["original_ns"] for r in report["rounds"]]
    candidate = [r["candidate_ns"] for r in report["rounds"]]
    median, low, high = bootstrap_ratio_ci(original, candidate)
    return SpeedupEstimate(
        median=median,
        low=low,
        high=high,
        original_ns=statistics.median(original),
        candidate_ns=statistics.median(candidate),
        rounds=len(original),
        per_call=[
            CallTiming(
                call_index=c["call_index"],
                original_ns=c["original_ns"],
                candidate_ns=c["candidate_ns"],
            )
            for c in report["per_call"]
        ],
    )


def _benchmark_cap_s(settings: EngineSettings) -> float:
    """Wall seconds the benchmark's rounds may take, leaving room for start-up and calibration."""
    return max(1.0, min(settings.bench_timeout_s * 0.5, settings.bench_budget_s * 4 + 2))


def _process_ratio(report: dict) -> float:
    """One benchmark process's speedup: the ratio of its median round totals."""
    rounds = report.get("rounds") or []
    if not rounds:
        return 1.0
    original = statistics.median(r["original_ns"] for r in rounds)
    candidate = statistics.median(r["candidate_ns"] for r in rounds)
    return original / max(candidate, 1e-9)


def _processes_disagree(reports: list[dict], decisive_ratio: float) -> bool:
    """True when the processes' speedups differ enough to need more of them.

    Processes that all put the speedup beyond ``decisive_ratio`` (or all below its inverse)
    have settled the verdict; their disagreement only blurs a magnitude such as 55x against
    62x, not worth a second of the user's time."""
    ratios = [_process_ratio(r) for r in reports]
    if min(ratios) >= decisive_ratio or max(ratios) <= 1.0 / decisive_ratio:
        return False
    return max(ratios) > min(ratios) * PROCESS_AGREEMENT


def _benchmark(ws, target, settings, cancel, usable: list[int]) -> dict:
    """The A/B benchmark, its budget split over ``settings.bench_processes`` fresh processes.

    When the processes' own speedups disagree by more than :data:`PROCESS_AGREEMENT` and
    have not all settled the verdict, more processes are measured (up to
    :data:`MAX_BENCH_PROCESSES`): some code runs in one of two
    speeds depending on the state a process starts in (measured: a ``str.join`` kernel read
    1.45 ms or 1.8 ms per call in about one fresh process out of five), and the pooled
    median then follows the majority instead of whichever state two of three processes
    happened to draw.

    Returns one report shaped like a single process's: the rounds of every process, in order,
    and per call the median of the processes' per-call medians. Another process starts only
    while about twice the previous one's wall time is left of ``settings.bench_timeout_s``, so
    functions whose calls take seconds still get all their rounds in one process.
    """
    processes = max(1, settings.bench_processes)
    decisive_ratio = DECISIVE_FACTOR * settings.threshold
    deadline = time.monotonic() + settings.bench_timeout_s
    reports: list[dict] = []
    last_wall = 0.0
    run_index = 0
    extra_loops = ""
    while run_index < processes or (
        processes > 1
        and run_index < MAX_BENCH_PROCESSES
        and _processes_disagree(reports, decisive_ratio)
    ):
        remaining = deadline - time.monotonic()
        if reports and 2 * last_wall > remaining:
            break
        started = time.monotonic()
        reports.append(
            _replay(
                ws,
                target,
                settings,
                cancel,
                "benchmark",
                [
                    "--calls",
                    ",".join(str(i) for i in usable),
                    "--budget-s",
                    repr(settings.bench_budget_s / processes),
                    "--max-seconds",
                    repr(_benchmark_cap_s(settings) / processes),
                    "--decisive-ratio",
                    repr(decisive_ratio),
                    *(["--loops", extra_loops] if run_index and extra_loops else []),
                ],
                remaining,
                run_index,
            )
        )
        last_wall = time.monotonic() - started
        run_index += 1
        if run_index == 1:
            # Later processes reuse this calibration: it costs about as much as the
            # measuring itself, and the same counts keep the processes comparable.
            extra_loops = ",".join(
                f"{c['call_index']}:{c['loops']['original']}:{c['loops']['candidate']}"
                for c in reports[0].get("per_call", [])
                if isinstance(c.get("loops"), dict)
            )
    if len(reports) == 1:
        return reports[0]
    per_call = []
    for calls in zip(*(report.get("per_call", []) for report in reports)):
        per_call.append(
            {
                "call_index": calls[0]["call_index"],
                "original_ns": statistics.median(c["original_ns"] for c in calls),
                "candidate_ns": statistics.median(c["candidate_ns"] for c in calls),
            }
        )
    return {
        "status": "ok",
        "rounds": [r for report in reports for r in report.get("rounds", [])],
        "per_call": per_call,
        "processes": len(reports),
    }


def verify_candidate(
    target: FunctionTarget,
    baseline: Baseline,
    candidate: Candidate,
    sandbox,
    settings: EngineSettings,
    cancel: CancelToken | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> CandidateResult:
    """Verify ``candidate`` against ``baseline``; see the module docstring for the contract."""
    result = CandidateResult(candidate=candidate, verdict=Verdict.INVALID, reason="")
    clock = {"stage": "", "start": 0.0}

    def stage(name: str) -> None:
        _close_stage()
        _check_cancel(cancel)
        clock["stage"], clock["start"] = name, time.perf_counter()
        if on_stage is not None:
            on_stage(name)

    def _close_stage() -> None:
        if clock["stage"]:
            result.stage_seconds[clock["stage"]] = round(time.perf_counter() - clock["start"], 4)
            clock["stage"] = ""

    try:
        stage("check")
        code = normalize_candidate(candidate.code)
        try:
            result.diff = candidate_diff(target, code)
        except Exception:  # noqa: BLE001 - a diff is a courtesy; the check below decides
            result.diff = ""
        reason = check_candidate(target, code)
        if reason is not None:
            raise _Outcome(Verdict.INVALID, f"the candidate {reason}")
        try:
            new_text = splice_candidate(target, code)
            compile(new_text.removeprefix("\ufeff"), target.relpath, "exec", dont_inherit=True)
            # The copy is written in the file's own encoding: a character it cannot hold
            # (SourceDecodeError, a ValueError) makes the candidate invalid, not the job fail.
            encode_source(new_text, declared_encoding(new_text))
        except (ValueError, SyntaxError) as exc:
            raise _Outcome(Verdict.INVALID, f"the candidate {exc}") from None

        with sandbox.workspace({target.relpath: new_text}) as ws:
            data_dir = Path(ws.data_dir)
            (data_dir / "calls.pkl").write_bytes(baseline.capture)
            (data_dir / "original_source.py").write_text(target.file_text, encoding="utf-8")

            stage("tests")
            _run_tests(ws, target, baseline, settings, cancel, result.tests)

            stage("equivalence")
            if not baseline.capture or baseline.summary.calls_captured == 0:
                reasons = ", ".join(
                    f"{count} call(s) {why}"
                    for why, count in sorted(baseline.summary.skipped_reasons.items())
                )
                raise _Outcome(
                    Verdict.NOT_FASTER,
                    "the tests pass, but no call of the function could be recorded"
                    + (f" ({reasons})" if reasons else "")
                    + ", so behaviour and speed could not be compared",
                )
            equivalence = _replay(
                ws, target, settings, cancel, "equivalence", [], settings.bench_timeout_s
            )
            result.calls_compared = int(equivalence.get("calls_compared", 0))
            if equivalence.get("status") == "mismatch":
                mismatch = equivalence["mismatch"]
                raise _Outcome(
                    Verdict.NOT_EQUIVALENT,
                    f"call {mismatch['call_index']} (from {mismatch['test']}): "
                    f"{mismatch['explanation']}",
                )
            usable = equivalence.get("usable_calls", [])
            if not usable:
                skipped = equivalence.get("unreproducible", [])
                why = f" (for example: {_excerpt(skipped[0]['reason'], 200)})" if skipped else ""
                raise _Outcome(
                    Verdict.NOT_FASTER,
                    "the tests pass, but none of the recorded calls could be replayed "
                    f"reproducibly on the original{why}, so speed could not be measured",
                )

            stage("benchmark")
            bench = _benchmark(ws, target, settings, cancel, usable)
            if len(bench.get("rounds", [])) < MIN_ROUNDS:
                raise _Outcome(
                    Verdict.NOT_FASTER,
                    f"only {len(bench.get('rounds', []))} benchmark round(s) fit in the time "
                    "limit, too few to estimate a speedup",
                )
            try:
                result.speedup = _speedup(bench)
            except (KeyError, TypeError, ValueError) as exc:
                raise _Outcome(
                    Verdict.CRASHED, f"the benchmark's report is unusable: {exc}"
                ) from None
        _close_stage()
        speed = result.speedup
        interval = f"{speed.median:.2f}x ({speed.low:.2f}-{speed.high:.2f})"
        if speed.low >= settings.threshold:
            result.verdict = Verdict.FASTER
            result.reason = (
                f"{interval} faster, 95% confidence, on {len(speed.per_call)} recorded call(s)"
            )
        else:
            result.verdict = Verdict.NOT_FASTER
            result.reason = f"{interval}, below threshold {settings.threshold:.2f}x"
    except _Outcome as outcome:
        _close_stage()
        result.verdict, result.reason = outcome.verdict, outcome.reason
    except WorkspaceSurprise as surprise:  # a trap left in the workspace: this candidate only
        _close_stage()
        result.verdict = Verdict.CRASHED
        result.reason = f"the candidate broke its sandbox: {surprise}"
    return result
