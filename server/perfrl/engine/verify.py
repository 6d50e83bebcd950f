"""Verifying one candidate: static check, the tests, equivalence on real calls, A/B benchmark.

A caller may rely on:

- :func:`verify_candidate` never raising for a bad candidate, nor for anything a candidate
  does to its workspace or its processes: syntax errors, wrong signatures, failing or hanging
  tests, crashes (``os._exit``, segfaults, resource limits), traps left in the workspace,
  different behaviour and slowness all become a :class:`~perfrl.engine.types.CandidateResult`
  with a verdict and a reason for the user (an unexpected error of the engine's own becomes
  that candidate's ``crashed`` verdict, never the end of the job);
- :class:`~perfrl.engine.types.Cancelled` being raised once ``cancel`` is set (the sandbox
  kills the running process group);
- a trust boundary around the evidence (issue 12): the candidate runs only inside a
  throw-away sandbox workspace, never in this process, never in the user's tree; the
  original runs in *other* processes, in a pristine copy of the project made from
  ``target.file_text``, and the two never share a process; the candidate's processes get the
  recorded arguments only, never the recorded or expected results; outcomes leave every
  process in the canonical encoding of ``runtime/perfrl_canon.py`` and are compared here as
  plain data (exact types; floats within ``settings.float_rel_tol``/``float_abs_tol``);
  the tests count as passed only when pytest's exit status says so *and* the plugin's report
  (which the candidate's process could have written) does not contradict it;
- the benchmark timed by this process's clock around requests to the two workers, every
  timed call's outcome checked against the original's (see :mod:`perfrl.engine.verify_bench`);
- a candidate that keeps state across calls (a memo that grows: module globals, function
  attributes, default arguments, closures, ``lru_cache``) named in ``result.stateful`` and
  never ``faster``;
- a candidate that reaches for what judges it (the clock, the built-ins, frames, files,
  other processes: :mod:`perfrl.engine.tampering`) named in ``result.tampering`` and never
  ``faster``;
- ``faster`` only when the lower bound of the 95% confidence interval of the speedup is at
  least ``settings.threshold``;
- ``stage_seconds`` holding the wall time of each stage that ran: ``check``, ``tests``,
  ``equivalence``, ``benchmark``.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfrl.engine.baseline import (
    Baseline,
    death_description,
    origin_problem,
    output_tail,
    run_with_plugin,
    workspace_import_root,
)
from perfrl.engine.candidate_check import candidate_diff, check_candidate
from perfrl.engine.candidate_check import splice as splice_candidate
from perfrl.engine.candidate_text import as_clean
from perfrl.engine.canon_compare import Comparator, diff_outcomes, same_by_fingerprint
from perfrl.engine.sandbox import WorkspaceSurprise
from perfrl.engine.settings import EngineSettings
from perfrl.engine.source_files import declared_encoding, encode_source
from perfrl.engine.stats import MIN_ROUNDS, bootstrap_ratio_ci
from perfrl.engine.tampering import runtime_signs, static_signs, tampering_reason
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
from perfrl.engine.verify_bench import (
    Bench,
    BenchMismatch,
    BenchOptions,
    ProcessReport,
    SideFailed,
)
from perfrl.engine.worker_channel import WorkerGone, WorkerSession

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
#: Processes that all settled the verdict (see :func:`_all_decisive`) end the benchmark once
#: there are this many, even where ``bench_processes`` asks for more.
MIN_DECISIVE_PROCESSES = 2
#: New inputs asked of the generator (``runtime/perfrl_inputs.py``) when it is installed: at
#: least this many, ``GENERATED_PER_ARGUMENT`` for each argument it varies, at most
#: ``GENERATED_MOST`` (``perfrl_inputs.budget_for``: a function of five arguments got about
#: five edge values each from one budget of 24). The least holds every edge value of one
#: string argument (with 24 its last ten, upper case, a prefix, `é`, CJK, an emoji, a
#: combining mark and NUL, never came; 36 until a spaced and a doubled dash joined them).
GENERATED_INPUTS = 40
GENERATED_PER_ARGUMENT = 12
GENERATED_MOST = 64
#: Of those, this many are timed beside the recorded calls: one distinct input is enough to
#: take a cache over replayed calls out of the measurement, and every timed item multiplies
#: the benchmark's cost (warm-up, calibration, rounds, each result checked).
GENERATED_TIMED = 1

#: glibc's allocator in the state a long-running process reaches by itself (its dynamic mmap
#: threshold risen to the 32 MiB maximum, trimming at twice that). Without it, whether a
#: freed 64 KiB block sits at the top of a fresh process's heap decides if every call pays
#: for giving it back to the OS and faulting it in again: measured on a set-building
#: kernel, 49 us or 68 us per call depending only on what the process had imported, which
#: made the same speedup read 72x or 99x. Every worker (both sides, every stage) gets it, so
#: it tells a candidate nothing about being timed; other C libraries ignore these variables.
BENCHMARK_ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}

#: The plugin's summary is a few MB at most.
_MAX_SUMMARY_BYTES = 64 * 1024 * 1024


class _Outcome(Exception):
    """A verdict reached inside a stage; carries the result fields."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def _excerpt(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled()


def _test_timeout(baseline: Baseline, settings: EngineSettings) -> float:
    adaptive = max(_TEST_TIME_FLOOR_S, _TEST_TIME_FACTOR * baseline.pytest_wall_s)
    return min(settings.test_timeout_s, adaptive)


# TODO(issue 12, helper B): use perfrl.engine.sandbox.read_workspace_file once it lands.
def read_report_file(path: Path, limit: int = _MAX_SUMMARY_BYTES) -> bytes | None:
    """The bytes of the regular file ``path`` (at most ``limit``), or None for anything else:
    missing, a symlink, a FIFO, a device, a directory, too large. Never blocks."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        if os.path.islink(path.parent):
            return None
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
        return None if len(data) > limit else data
    except OSError:
        return None
    finally:
        os.close(fd)


def _run_tests(ws, target, baseline, settings, cancel, counts: TestCounts) -> None:
    """Run the selected tests on the candidate, stopping at the first failure; raise _Outcome
    unless they pass.

    The capture plugin runs inside the candidate's test process, so its summary is only used
    to word a failure: pytest's exit status must be 0 and the summary (when readable) must
    agree; neither can turn a failure into a pass. A process that forges both (writes the
    summary, then ``os._exit(0)``) still faces the equivalence check, run outside it."""
    timeout_s = _test_timeout(baseline, settings)
    run = run_with_plugin(
        ws,
        target,
        settings,
        mode="observe",
        out_name="tests",
        extra_args=["-x"],
        select=list(baseline.selected_tests),
        timeout_s=timeout_s,
        cancel=cancel,
    )
    result = run.result
    summary = run.summary if isinstance(run.summary, dict) else None
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
            + _excerpt(str(summary["wrap_error"]).splitlines()[0]),
        )
    if origin:
        raise _Outcome(Verdict.CRASHED, origin)
    tests = summary.get("tests")
    tests = tests if isinstance(tests, dict) else {}

    def outcome_of(nodeid: str) -> str:
        entry = tests.get(nodeid)
        return str(entry.get("outcome")) if isinstance(entry, dict) else ""

    counts.passed = sum(1 for nodeid in baseline.selected_tests if outcome_of(nodeid) == "passed")
    for nodeid in baseline.selected_tests:
        entry = tests.get(nodeid)
        if not isinstance(entry, dict):
            errors = summary.get("collection_errors") or []
            detail = ""
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                detail = f": {_excerpt(errors[0].get('message', ''), 240)}"
            if result.returncode != 0:
                raise _Outcome(
                    Verdict.FAILED_TESTS,
                    f"{nodeid} did not run (pytest stops at the first failure; exit status "
                    f"{result.returncode}){detail}",
                )
            raise _Outcome(Verdict.FAILED_TESTS, f"{nodeid} did not run{detail}")
        if entry.get("outcome") != "passed":
            message = _excerpt(entry.get("message") or "", 240)
            raise _Outcome(
                Verdict.FAILED_TESTS,
                f"{nodeid} {entry.get('outcome')}" + (f": {message}" if message else ""),
            )
    if result.returncode != 0:
        # The report says every test passed, pytest's own exit status says otherwise.
        counts.passed = 0
        tail = output_tail(result, 4)
        raise _Outcome(
            Verdict.FAILED_TESTS,
            f"the tests did not pass (pytest exit status {result.returncode})"
            + (f": {_excerpt(tail, 240)}" if tail else ""),
        )


# -- the recorded calls, split by who may see what -----------------------------------------


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only: any class or function reference is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _recorded_calls(capture: bytes) -> tuple[list[dict], list[str]]:
    """The recorded calls (their pickled arguments and outcomes stay opaque bytes) and the
    relative sys.path entries, read from perfrl_capture's file without running any code."""
    try:
        payload = _NoGlobals(io.BytesIO(capture)).load()
        calls = payload["calls"]
        sys_path = [str(p) for p in payload.get("sys_path", [])]
        checked = []
        for call in calls:
            if not isinstance(call["args"], bytes):
                raise TypeError("args")
            checked.append(call)
        return checked, sys_path
    except Exception as exc:  # noqa: BLE001 - a damaged recording: nothing to replay
        raise _Outcome(
            Verdict.NOT_FASTER,
            f"the recorded calls cannot be read ({type(exc).__name__}), so behaviour and "
            "speed could not be compared",
        ) from None


def _write_calls(path: Path, calls: list[dict], sys_path: list[str], with_outcomes: bool) -> None:
    kept = []
    for call in calls:
        entry = {"args": call["args"], "test": str(call.get("test", ""))}
        if with_outcomes:
            entry["outcome"] = call.get("outcome")
            entry["raised"] = call.get("raised")
        kept.append(entry)
    path.write_bytes(pickle.dumps({"sys_path": sys_path, "calls": kept}, protocol=4))


# -- the two sides ------------------------------------------------------------------------


class _Sides:
    """The workspaces and worker processes of the original and the candidate."""

    def __init__(self, target, settings, cancel, candidate_ws, original_ws, deadline):
        self.target = target
        self.settings = settings
        self.cancel = cancel
        self.ws = {"candidate": candidate_ws, "original": original_ws}
        self.deadline = deadline
        self.sessions: list[WorkerSession] = []
        self.count = 0
        cgroups = getattr(getattr(candidate_ws, "sandbox", None), "_cgroups", None)
        self.cpuacct_dir = getattr(cgroups, "cpuacct_dir", None)

    def start(self, side: str) -> WorkerSession:
        ws = self.ws[side]
        import_root = str(workspace_import_root(self.target, Path(ws.root)))
        calls_file = Path(ws.data_dir) / (
            "calls-original.pkl" if side == "original" else "args.pkl"
        )
        env = {"PYTHONPATH": import_root, **BENCHMARK_ALLOCATOR_ENV}
        self.count += 1
        session = WorkerSession(
            ws,
            f"{side}-{self.count}",
            [
                "--calls",
                str(calls_file),
                "--module",
                self.target.module_name,
                "--qualname",
                self.target.qualname,
                "--import-root",
                import_root,
                "--root",
                str(ws.root),
            ],
            env,
            max(1.0, self.deadline - time.monotonic()),
            self.cancel,
        )
        self.sessions.append(session)
        return session

    def hello(self, side: str, session: WorkerSession) -> dict:
        try:
            hello = session.receive(self.deadline)
        except WorkerGone as gone:
            raise _side_failure(side, gone.reason) from None
        if hello.get("op") != "hello":
            raise _side_failure(side, "started with an unexpected message")
        if hello.get("error"):
            if side == "original":
                raise _Outcome(
                    Verdict.CRASHED,
                    "PerfRL could not load the original for comparison: "
                    + _excerpt(hello["error"]),
                )
            raise _Outcome(
                Verdict.FAILED_TESTS,
                f"importing the module fails with the candidate: {_excerpt(hello['error'])}",
            )
        origin = origin_problem(
            self.target.module_name, str(hello.get("module_file") or ""), Path(self.ws[side].root)
        )
        if origin:
            raise _Outcome(Verdict.CRASHED, origin)
        return hello

    def pair(self) -> dict[str, WorkerSession]:
        """A fresh worker on each side (started together), both past their hello."""
        sessions = {side: self.start(side) for side in ("original", "candidate")}
        for side, session in sessions.items():
            session.hello = self.hello(side, session)
            session.find_cpu_clock(self.cpuacct_dir)
        return sessions

    def close_all(self) -> None:
        for session in self.sessions:
            session.close()


def _side_failure(side: str, reason: str) -> _Outcome:
    if side == "original":
        return _Outcome(Verdict.CRASHED, f"PerfRL's process running the original {reason}")
    if reason == "ran past its time limit" or reason == "did not answer in time":
        return _Outcome(Verdict.TIMEOUT, f"the candidate's process {reason}")
    return _Outcome(Verdict.CRASHED, f"the candidate's process {reason}")


def _replay(session: WorkerSession, side: str, indices: list[int], source: str, deadline,
            keep: bool = True) -> dict:
    """{index: outcome message} for ``indices`` replayed once on ``session`` (which keeps
    the full outcomes for ``detail`` unless ``keep`` is false)."""
    replies: dict[int, dict] = {}
    try:
        session.send({"op": "replay", "calls": indices, "source": source, "keep": keep},
                     deadline)
        while True:
            message = session.receive(deadline)
            if message.get("op") == "end":
                break
            index = message.get("index")
            if message.get("op") != "outcome" or index not in indices or index in replies:
                raise WorkerGone("answered out of turn")
            replies[index] = message
    except WorkerGone as gone:
        pending = [i for i in indices if i not in replies]
        where = f" (at call {pending[0]})" if pending else ""
        raise _side_failure(side, gone.reason + where) from None
    if len(replies) != len(indices):
        raise _side_failure(side, "skipped calls it was asked to replay")
    return replies


def _details(session: WorkerSession, side: str, keys: list[tuple], deadline) -> list:
    """The full outcomes (canonical encodings) ``session`` kept for ``keys`` (None where it
    kept nothing)."""
    try:
        reply = session.request({"op": "detail", "keys": [list(k) for k in keys]}, deadline,
                                "detail")
    except WorkerGone as gone:
        raise _side_failure(side, gone.reason) from None
    outcomes = reply.get("outcomes")
    if not isinstance(outcomes, list) or len(outcomes) != len(keys):
        raise _side_failure(side, "sent details PerfRL cannot read")
    return outcomes


class _Judge:
    """Outcomes compared by fingerprint, and by their full encodings (fetched from the
    workers that kept them) only where the fingerprints differ: floats within the tolerance,
    dicts in another order, or a real difference to explain."""

    def __init__(self, original: WorkerSession, comparator: Comparator, params: list[str],
                 deadline: float) -> None:
        self.original = original
        self.comparator = comparator
        self.params = params
        self.deadline = deadline
        self._expected_full: dict[tuple, Any] = {}

    def expected_full(self, key: tuple) -> Any:
        """The original's outcome for ``key`` in full (asked of its first worker once)."""
        if key not in self._expected_full:
            self._expected_full[key] = _details(self.original, "original", [key],
                                                self.deadline)[0]
        return self._expected_full[key]

    def diff(self, key: tuple, expected: dict, got, session: WorkerSession, side: str,
             got_key: tuple, with_args: bool = True, who: str = "the candidate") -> str | None:
        """Why ``got`` (``session``'s outcome, kept there as ``got_key``) differs from the
        original's ``expected`` outcome for ``key``; None when it does not."""
        if same_by_fingerprint(expected, got, with_args):
            return None
        want = self.expected_full(key)
        if not isinstance(want, dict):
            raise _side_failure("original", "lost an outcome it had sent")
        have = _details(session, side, [got_key], self.deadline)[0]
        if not with_args:
            want = {k: v for k, v in want.items() if k != "args_after"}
        return diff_outcomes(self.comparator, want, have, self.params, who=who)


def _state_sizes(session: WorkerSession, side: str, deadline) -> dict[str, int]:
    """What could hold state across calls, by size; the names the worker saw replaced (see
    :mod:`perfrl.engine.tampering`) are left in ``session.replaced``."""
    try:
        reply = session.request({"op": "state"}, deadline, "state")
    except WorkerGone as gone:
        raise _side_failure(side, gone.reason) from None
    replaced = reply.get("replaced")
    session.replaced = replaced if isinstance(replaced, list) else []
    sizes = reply.get("sizes")
    if not isinstance(sizes, dict):
        return {}
    return {str(k): v for k, v in sizes.items() if isinstance(v, int)}


def _grown(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {
        key: (before.get(key, 0), value)
        for key, value in after.items()
        if value > before.get(key, 0)
    }


def stateful_reason(
    candidate_growth: dict[str, tuple[int, int]],
    original_growth: dict[str, tuple[int, int]],
    new_inputs: int = 1,
) -> str:
    """Why the candidate counts as keeping state across calls ("" when it does not): what
    grew while its calls ran and did not grow as much with the original."""
    extra = []
    for key, (before, after) in sorted(candidate_growth.items()):
        original = original_growth.get(key)
        original_delta = (original[1] - original[0]) if original else 0
        # Live objects move a little with any code (free lists, interning): only growth of
        # at least one object per input beyond the original's counts.
        slack = new_inputs - 1 if key == "objects kept alive" else 0
        if after - before - original_delta > slack:
            extra.append(f"{key} grew from {before} to {after}")
    if not extra:
        return ""
    return "it keeps state across calls: " + "; ".join(extra[:3])


# -- the benchmark over several process pairs ---------------------------------------------


def _benchmark_cap_s(settings: EngineSettings) -> float:
    """Wall seconds the benchmark's rounds may take, leaving room for start-up and calibration."""
    return max(1.0, min(settings.bench_timeout_s * 0.5, settings.bench_budget_s * 4 + 2))


def _process_ratio(report) -> float:
    """One benchmark process's speedup: the ratio of its median round totals."""
    rounds = report.get("rounds") if isinstance(report, dict) else report.rounds
    if not rounds:
        return 1.0
    original = statistics.median(r["original_ns"] for r in rounds)
    candidate = statistics.median(r["candidate_ns"] for r in rounds)
    return original / max(candidate, 1e-9)


def _processes_disagree(reports: list, decisive_ratio: float) -> bool:
    """True when the processes' speedups differ enough to need more of them.

    Processes that all put the speedup beyond ``decisive_ratio`` (or all below its inverse)
    have settled the verdict; their disagreement only blurs a magnitude such as 55x against
    62x, not worth a second of the user's time."""
    if _all_decisive(reports, decisive_ratio):
        return False
    ratios = [_process_ratio(r) for r in reports]
    return max(ratios) > min(ratios) * PROCESS_AGREEMENT


def _all_decisive(reports: list, decisive_ratio: float) -> bool:
    """True when every process put the speedup beyond ``decisive_ratio`` (or every one below
    its inverse)."""
    ratios = [_process_ratio(r) for r in reports]
    return min(ratios) >= decisive_ratio or max(ratios) <= 1.0 / decisive_ratio


def _benchmark(
    sides: _Sides,
    first_pair: dict[str, WorkerSession],
    settings: EngineSettings,
    items: list[tuple],
    expected: dict[tuple, dict],
    blob_sizes: dict[tuple, int],
    judge: _Judge,
    generated_blobs: list[str] | None = None,
) -> list[ProcessReport]:
    """The A/B benchmark in ``settings.bench_processes`` pairs of fresh worker processes (the
    first pair is the one that replayed the calls), more while their speedups disagree on an
    unsettled verdict (see :func:`_processes_disagree`), fewer (but at least
    :data:`MIN_DECISIVE_PROCESSES`) when each one settled it, each calibrated on its own. The
    first pair's original stays up (idle) until the end: a timed result whose fingerprint
    differs is explained against the full outcome it kept."""
    processes = max(1, settings.bench_processes)
    decisive_ratio = DECISIVE_FACTOR * settings.threshold
    options = BenchOptions(
        budget_s=settings.bench_budget_s / processes,
        max_seconds=_benchmark_cap_s(settings) / processes,
        decisive_ratio=decisive_ratio,
    )
    reports: list[ProcessReport] = []
    last_wall = 0.0
    pair: dict[str, WorkerSession] | None = first_pair
    while len(reports) < processes or (
        processes > 1
        and len(reports) < MAX_BENCH_PROCESSES
        and _processes_disagree(reports, decisive_ratio)
    ):
        # Two processes that each settled the verdict the same way end it: the placement bias
        # a third one averages out (~10% per process) cannot move a speedup past
        # DECISIVE_FACTOR times the threshold back over it.
        if len(reports) >= MIN_DECISIVE_PROCESSES and _all_decisive(reports, decisive_ratio):
            break
        remaining = sides.deadline - time.monotonic()
        if reports and 2 * last_wall > remaining:
            break
        started = time.monotonic()
        if pair is None:
            pair = sides.pair()
            # A fresh pair numbers generated inputs as the first did only once given them.
            if generated_blobs:
                for side, session in pair.items():
                    try:
                        session.request({"op": "add_inputs", "blobs": generated_blobs},
                                        sides.deadline, "end")
                    except WorkerGone as gone:
                        raise _side_failure(side, gone.reason) from None
        bench = Bench(pair, expected, blob_sizes, judge, sides.deadline)
        try:
            reports.append(bench.run(items, options))
        except SideFailed as failed:
            raise _side_failure(failed.side, failed.reason) from None
        except BenchMismatch as mismatch:
            source, index = mismatch.item
            what = f"call {index}" if source == "recorded" else f"generated input {index}"
            raise _Outcome(Verdict.NOT_EQUIVALENT, f"{what}: {mismatch.explanation}") from None
        for session in pair.values():
            if session is not judge.original:
                session.close()
        pair = None
        last_wall = time.monotonic() - started
    return reports


def _speedup(reports: list[ProcessReport]) -> SpeedupEstimate:
    rounds = [r for report in reports for r in report.rounds]
    original = [r["original_ns"] for r in rounds]
    candidate = [r["candidate_ns"] for r in rounds]
    median, low, high = bootstrap_ratio_ci(original, candidate)
    per_call = []
    for calls in zip(*(report.per_call for report in reports)):
        source, index = calls[0]["item"]
        per_call.append(
            CallTiming(
                call_index=index,
                original_ns=statistics.median(c["original_ns"] for c in calls),
                candidate_ns=statistics.median(c["candidate_ns"] for c in calls),
                original_loops=[c["loops"]["original"] for c in calls],
                candidate_loops=[c["loops"]["candidate"] for c in calls],
                generated=source == "generated",
            )
        )
    return SpeedupEstimate(
        median=median,
        low=low,
        high=high,
        original_ns=statistics.median(original),
        candidate_ns=statistics.median(candidate),
        rounds=len(original),
        per_call=per_call,
    )


# -- the stages after the tests -----------------------------------------------------------


def _compare_stages(
    target, baseline, sandbox, settings, cancel, ws, result: CandidateResult, stage
) -> None:
    """Equivalence (recorded, then generated inputs) and the benchmark; raises _Outcome."""
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
    calls, sys_path = _recorded_calls(baseline.capture)
    # The candidate's copy gets the arguments only; the outcomes go to the original's copy.
    _write_calls(Path(ws.data_dir) / "args.pkl", calls, sys_path, with_outcomes=False)
    comparator = Comparator(settings.float_rel_tol, settings.float_abs_tol)
    deadline = time.monotonic() + settings.bench_timeout_s
    with sandbox.workspace({target.relpath: target.file_text}) as original_ws:
        calls_path = Path(original_ws.data_dir) / "calls-original.pkl"
        _write_calls(calls_path, calls, sys_path, with_outcomes=True)
        sides = _Sides(target, settings, cancel, ws, original_ws, deadline)
        try:
            pair = sides.pair()
            original, candidate = pair["original"], pair["candidate"]
            indices = list(range(len(calls)))
            replies = _replay(original, "original", indices, "recorded", deadline)
            params = [str(p) for p in original.hello.get("params") or []]
            judge = _Judge(original, comparator, params, deadline)
            expected: dict[tuple, dict] = {}
            unreproducible: list[str] = []
            for index in indices:
                reply = replies[index]
                fresh, recorded = reply.get("outcome"), reply.get("recorded")
                if reply.get("load_error"):
                    unreproducible.append(f"cannot load the recording: {reply['load_error']}")
                    continue
                if not isinstance(recorded, dict) or recorded.get("kind") == "unencodable":
                    why = (recorded or {}).get("why", "it cannot be compared")
                    unreproducible.append(f"the recorded outcome cannot be compared: {why}")
                    continue
                why = _original_reproduces(judge, index, recorded, fresh)
                if why is not None:
                    unreproducible.append(why)
                    continue
                expected[("recorded", index)] = fresh
            usable = [index for source, index in expected]
            if not usable:
                example = (
                    f" (for example: {_excerpt(unreproducible[0], 200)})" if unreproducible else ""
                )
                raise _Outcome(
                    Verdict.NOT_FASTER,
                    "the tests pass, but none of the recorded calls could be replayed "
                    f"reproducibly on the original{example}, so speed could not be measured",
                )
            # One call first: what a first call sets up once (imports, lazy module state) is
            # not state kept across calls; what grows from here on with other inputs is.
            first = _replay(candidate, "candidate", usable[:1], "recorded", deadline)
            _check_replies(first, usable[:1], expected, judge, candidate, calls, result)
            before = {side: _state_sizes(session, side, deadline) for side, session in pair.items()}
            got = _replay(candidate, "candidate", usable, "recorded", deadline)
            _check_replies(got, usable, expected, judge, candidate, calls, result)
            # The same calls on the original too, so that the state sizes compare like with
            # like; its outcomes from the first replay stay the ones kept.
            _replay(original, "original", usable, "recorded", deadline, keep=False)
            generated, generated_blobs = _generated_inputs(
                pair, usable, expected, judge, deadline)
            result.generated_inputs = len(generated)
            after = {side: _state_sizes(session, side, deadline) for side, session in pair.items()}
            result.stateful = stateful_reason(
                _grown(before["candidate"], after["candidate"]),
                _grown(before["original"], after["original"]),
                new_inputs=len(usable) - 1 + len(generated),
            )
            runtime = runtime_signs(candidate.replaced, original.replaced)
            if runtime:
                clean = as_clean(result.candidate, target)
                static = static_signs(target.source, clean.module or clean.code)
                result.tampering = tampering_reason(static, runtime)

            stage("benchmark")
            blob_sizes = {("recorded", i): len(calls[i]["args"]) for i in usable}
            blob_sizes.update({item: size for item, size in generated.items()})
            # Distinct inputs timed too (when generated): a cache over replayed calls gains
            # nothing on inputs it has not seen in the same order.
            # Timed generated inputs are no larger than the largest recorded call: the benchmark
            # measures the function at the sizes its tests use, within its time limit.
            largest = max(blob_sizes[("recorded", i)] for i in usable)
            timed = [item for item in sorted(generated)
                     if generated[item] <= largest][:GENERATED_TIMED]
            items = [("recorded", i) for i in usable] + timed
            # Later worker pairs get only the timed inputs' blobs, at the same positions.
            needed = {index for _, index in timed}
            later_blobs = [blob if i in needed else "" for i, blob in
                           enumerate(generated_blobs[: max(needed) + 1])] if needed else []
            reports = _benchmark(
                sides, pair, settings, items, expected, blob_sizes, judge, later_blobs)
        finally:
            sides.close_all()
    rounds = sum(len(r.rounds) for r in reports)
    if rounds < MIN_ROUNDS:
        raise _Outcome(
            Verdict.NOT_FASTER,
            f"only {rounds} benchmark round(s) fit in the time limit, too few to estimate a "
            "speedup",
        )
    result.speedup = _speedup(reports)


def _original_reproduces(judge: _Judge, index: int, recorded: dict, fresh) -> str | None:
    """Why the original's fresh outcome of recorded call ``index`` differs from the one the
    tests recorded (None when it does not)."""
    if same_by_fingerprint(recorded, fresh):
        return None
    want, have = _details(judge.original, "original",
                          [("recorded-outcome", index), ("recorded", index)], judge.deadline)
    if not isinstance(want, dict):
        return "the recorded outcome cannot be read"
    return diff_outcomes(judge.comparator, want, have, judge.params, who="the original now")


def _check_replies(got, indices, expected, judge: _Judge, candidate: WorkerSession, calls,
                   result) -> None:
    """Compare the candidate's replayed outcomes with the original's; raise _Outcome."""
    for index in indices:
        reply = got[index]
        if reply.get("load_error"):
            raise _Outcome(
                Verdict.CRASHED,
                f"call {index}: the candidate's process cannot load its arguments: "
                f"{_excerpt(reply['load_error'], 200)}",
            )
        key = ("recorded", index)
        why = judge.diff(key, expected[key], reply.get("outcome"), candidate, "candidate", key)
        if why is not None:
            test = calls[index].get("test", "?")
            raise _Outcome(Verdict.NOT_EQUIVALENT, f"call {index} (from {test}): {why}")
    result.calls_compared = max(result.calls_compared, len(indices))


#: The original raising one of these on a generated input means the generator went outside
#: the function's domain: that input is not evidence (perfrl_inputs.REJECTING_EXCEPTIONS).
#: (perfrl_canon names a real builtin exception by its bare name, a forged one otherwise.)
_REJECTING = frozenset(("TypeError", "AttributeError", "RecursionError", "MemoryError"))


def _original_rejects(outcome: dict) -> bool:
    return outcome.get("kind") == "raise" and outcome.get("type") in _REJECTING


def _generated_inputs(
    pair, usable, expected, judge: _Judge, deadline
) -> tuple[dict[tuple, int], list[str]]:
    """Compare the sides on new inputs made from the recorded ones (when the original's
    worker has ``perfrl_inputs``); adds their outcomes to ``expected``. Returns ({item: blob
    size}, the inputs' blobs as the workers number them, for later worker pairs)."""
    original, candidate = pair["original"], pair["candidate"]
    try:
        reply = original.request(
            {"op": "generate", "calls": usable, "budget": GENERATED_INPUTS,
             "per_place": GENERATED_PER_ARGUMENT, "most": GENERATED_MOST, "seed": 0},
            deadline,
            "generated",
        )
    except WorkerGone as gone:
        raise _side_failure("original", gone.reason) from None
    blobs = [b for b in reply.get("blobs") or [] if isinstance(b, str)]
    if not blobs:
        return {}, []
    indices = list(range(len(blobs)))
    outcomes = _replay(original, "original", indices, "generated", deadline)
    try:
        candidate.request({"op": "add_inputs", "blobs": blobs}, deadline, "end")
    except WorkerGone as gone:
        raise _side_failure("candidate", gone.reason) from None
    kept = [
        i
        for i in indices
        if isinstance(outcomes[i].get("outcome"), dict)
        and outcomes[i]["outcome"].get("kind") != "unencodable"
        and not _original_rejects(outcomes[i]["outcome"])
    ]
    shown = reply.get("shown") if isinstance(reply.get("shown"), list) else []
    got = _replay(candidate, "candidate", kept, "generated", deadline)
    sizes = {}
    for index in kept:
        want = outcomes[index]["outcome"]
        key = ("generated", index)
        why = judge.diff(key, want, got[index].get("outcome"), candidate, "candidate", key)
        if why is not None:
            call = f" {shown[index]}" if index < len(shown) and isinstance(shown[index], str) \
                else ""
            raise _Outcome(Verdict.NOT_EQUIVALENT,
                           f"generated input {index}{call} (beyond the recorded calls): {why}")
        expected[("generated", index)] = want
        sizes[("generated", index)] = len(blobs[index]) // 2
    return sizes, blobs


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
    clock: dict[str, Any] = {"stage": "", "start": 0.0}

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
        code = as_clean(candidate, target)  # the job's candidates are clean: no parse here
        try:
            result.diff = candidate_diff(target, code)
        except Exception:  # noqa: BLE001 - a diff is a courtesy; the check below decides
            result.diff = ""
        reason = check_candidate(target, code)
        if reason is not None:
            raise _Outcome(Verdict.INVALID, f"the candidate {reason}")
        result.tampering = tampering_reason(
            static_signs(target.source, code.module or code.code), [])
        try:
            new_text = splice_candidate(target, code)
            compile(new_text.removeprefix("\ufeff"), target.relpath, "exec", dont_inherit=True)
            # The copy is written in the file's own encoding: a character it cannot hold
            # (SourceDecodeError, a ValueError) makes the candidate invalid, not the job fail.
            encode_source(new_text, declared_encoding(new_text))
        except (ValueError, SyntaxError) as exc:
            raise _Outcome(Verdict.INVALID, f"the candidate {exc}") from None

        with sandbox.workspace({target.relpath: new_text}) as ws:
            stage("tests")
            _run_tests(ws, target, baseline, settings, cancel, result.tests)
            stage("equivalence")
            _compare_stages(target, baseline, sandbox, settings, cancel, ws, result, stage)
        _close_stage()
        speed = result.speedup
        assert speed is not None  # the benchmark stage sets it or raises _Outcome
        interval = f"{speed.median:.2f}x ({speed.low:.2f}-{speed.high:.2f})"
        if result.stateful:
            result.verdict = Verdict.NOT_FASTER
            result.reason = (
                f"{interval} on repeated calls, not counted: {result.stateful} (stateful), so "
                "its speed on calls it has not seen before is unknown"
            )
            if result.tampering:
                result.reason += f"; {result.tampering} (tampering)"
        elif result.tampering:
            result.verdict = Verdict.NOT_FASTER
            result.reason = f"{interval}, not counted: {result.tampering} (tampering)"
        elif speed.low >= settings.threshold:
            result.verdict = Verdict.FASTER
            recorded = sum(not c.generated for c in speed.per_call)
            generated = len(speed.per_call) - recorded
            timed = f"{recorded} recorded call(s)" + (
                f" and {generated} generated input(s)" if generated else "")
            result.reason = f"{interval} faster, 95% confidence, timed on {timed}"
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
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - a surprise ends this candidate, never the job
        _close_stage()
        result.verdict = Verdict.CRASHED
        result.reason = (
            "PerfRL could not finish verifying this candidate "
            f"({type(exc).__name__}: {_excerpt(exc, 240)})"
        )
    return result
