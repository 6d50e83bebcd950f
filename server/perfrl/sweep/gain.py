"""The whole-program gain of a sweep's verified rewrites, measured end to end.

:func:`combined_rewrites` splices every verified rewrite into the text of its file (several
functions of one file included); :func:`measure_gain` runs the workload (the project's tests,
or the profiled command) on two throw-away copies of the project, original and rewritten,
interleaved A, B, A, B..., and gives the ratio of medians with a bootstrap confidence interval;
:func:`estimated_gain` is what the per-function figures predict (Amdahl's law over the
functions' shares of the profiled run), to show beside the measurement.

A caller may rely on: the user's files are never written; the rounds of the two sides are
paired in time, so a slow spell of the machine hits both.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.candidate_check import splice
from perfrl.engine.locate import list_functions, locate_function, locate_function_at
from perfrl.engine.sandbox import Sandbox
from perfrl.engine.settings import EngineSettings
from perfrl.engine.stats import bootstrap_ratio_ci
from perfrl.engine.types import Cancelled, CancelToken, PerfRLError
from perfrl.sweep.run import FunctionOutcome


@dataclass
class WholeRunGain:
    """Original over rewritten wall time of the whole workload: median ratio and its CI."""

    median: float
    low: float
    high: float
    rounds: int
    original_s: float  # median wall time of one run, original
    rewritten_s: float
    estimated: float | None  # from the per-function speedups and shares


def combined_rewrites(project_root: Path, outcomes: list[FunctionOutcome]) -> dict[str, str]:
    """``{relative path: new file text}`` with every verified rewrite of ``outcomes`` applied;
    functions of one file are spliced one after the other, each found again by name."""
    texts: dict[str, str] = {}
    for outcome in outcomes:
        best = outcome.best
        if best is None:
            continue
        rel, _, qualname = outcome.spec.partition("::")
        path = (project_root / rel).resolve()
        if rel not in texts:
            texts[rel] = locate_function(outcome.spec, project_root=project_root).file_text
        span = next((s for s in list_functions(texts[rel]) if s.qualname == qualname), None)
        if span is None:
            raise PerfRLError(f"{outcome.spec} is no longer in {rel}")
        target = locate_function_at(path, span.def_line, project_root=project_root,
                                    text=texts[rel])
        texts[rel] = splice(target, best["code"])
    return texts


def estimated_gain(outcomes: list[FunctionOutcome]) -> float | None:
    """Amdahl's law: 1 / (1 - sum(share * (1 - 1/speedup))) over verified rewrites; None when
    no outcome has both a share and a speedup."""
    saved = [o.share * (1 - 1 / o.speedup) for o in outcomes
             if o.share is not None and o.speedup]
    if not saved:
        return None
    return 1 / max(1e-9, 1 - sum(saved))


def _wall(ws, workload: list[str], index: int, timeout_s: float,
          cancel: CancelToken | None) -> float:
    """Seconds of one run of ``workload``, timed by the engine around the sandboxed process
    (the rewritten code runs in there: a clock inside it could be patched, a report forged)."""
    out = Path(ws.data_dir) / f"gain-{index}.json"
    result = ws.run_python(["-m", "perfrl_profile", "--out", str(out), "--plain", "--",
                            *workload], timeout_s=timeout_s, cancel=cancel,
                           env={"PYTHONPATH": str(ws.root)})
    if result.cancelled:
        raise Cancelled()
    if result.timed_out or result.returncode != 0:
        raise PerfRLError(f"the workload exits {result.returncode} on one side "
                          f"({(result.stderr or '').strip()[-200:]}); a whole-run figure needs "
                          "a workload that passes on both")
    return result.wall_s


def measure_gain(
    project_root: Path,
    rewrites: dict[str, str],
    workload: list[str],
    settings: EngineSettings,
    interpreter: str,
    outcomes: list[FunctionOutcome],
    rounds: int = 5,
    timeout_s: float = 600.0,
    cancel: CancelToken | None = None,
) -> WholeRunGain:
    """Run ``workload`` ``rounds`` times on each side, interleaved; raises PerfRLError when
    there is nothing to compare or the workload fails on either side."""
    if not rewrites:
        raise PerfRLError("no verified rewrite to measure")
    sandbox = Sandbox(project_root, interpreter, settings)
    original: list[float] = []
    rewritten: list[float] = []
    with sandbox.workspace() as plain_ws, sandbox.workspace(rewrites) as new_ws:
        # One untimed run per side first: imports, .pyc-free start-up paths, caches.
        _wall(plain_ws, workload, -1, timeout_s, cancel)
        _wall(new_ws, workload, -1, timeout_s, cancel)
        for index in range(rounds):
            first, second = (plain_ws, new_ws) if index % 2 == 0 else (new_ws, plain_ws)
            a = _wall(first, workload, index, timeout_s, cancel)
            b = _wall(second, workload, index, timeout_s, cancel)
            original.append(a if first is plain_ws else b)
            rewritten.append(b if first is plain_ws else a)
    median, low, high = bootstrap_ratio_ci(original, rewritten)
    return WholeRunGain(median, low, high, rounds, statistics.median(original),
                        statistics.median(rewritten), estimated_gain(outcomes))
