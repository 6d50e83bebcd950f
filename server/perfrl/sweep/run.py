"""Optimize several functions of one project, one after the other, resumably.

:func:`optimize_targets` runs the engine's :func:`~perfrl.engine.optimize.optimize_function`
on each target in turn (so benchmarks never overlap, and the baseline cache is shared), reports
each result as soon as it is known, and stores it under the cache directory keyed by the
content that decides it (the project's files, the function, the interpreter, the settings and
the candidate sources). Run again after an interruption, it takes finished functions from the
store and carries on with the rest.

A caller may rely on: nothing is written to the project (rewrites are applied only by the
caller, e.g. ``--apply``); one function's failure (bad target, a source error, an engine error)
becomes that function's ``error`` and never ends the sweep; ``Cancelled`` does end it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.baseline import baseline_cache_key
from perfrl.engine.cache_dir import cache_dir
from perfrl.engine.interpreter import resolve_interpreter
from perfrl.engine.locate import locate_function
from perfrl.engine.optimize import optimize_function
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Cancelled, CancelToken, PerfRLError, ProgressCallback

#: Bumped when a stored result's shape changes: older entries are then recomputed.
STORE_FORMAT = "perfrl.sweep-entry/1"


@dataclass
class FunctionOutcome:
    """One function's result in a sweep (``report`` is the engine's JSON report)."""

    spec: str  # path/to/mod.py::Qualname, relative to the project root
    share: float | None  # of the profiled run's time, when the targets came from a profile
    report: dict | None
    error: str | None
    from_store: bool = False

    @property
    def best(self) -> dict | None:
        """The verified-faster candidate the report chose, or None."""
        if not self.report or self.report.get("best") is None:
            return None
        return self.report["candidates"][self.report["best"]]

    @property
    def speedup(self) -> float | None:
        best = self.best
        return None if best is None else best["speedup"]["median"]

    def to_json(self) -> dict:
        return {"spec": self.spec, "share": self.share, "error": self.error,
                "from_store": self.from_store, "report": self.report}


def _entry_key(target, interpreter: str, settings: EngineSettings, sources_key: str) -> str:
    base = baseline_cache_key(target, interpreter, settings)
    decided_by = json.dumps([base, target.qualname, target.source, sources_key,
                             settings.threshold, STORE_FORMAT])
    return hashlib.sha256(decided_by.encode()).hexdigest()[:32]


def _store_dir(settings: EngineSettings) -> Path:
    return cache_dir("sweep")


def _load(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == STORE_FORMAT else None


def _save(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"format": STORE_FORMAT, "report": report}, handle)
    os.replace(tmp, path)  # atomic: an interrupted write never leaves half an entry


@dataclass(frozen=True)
class SweepJob:
    """What every function of a sweep is optimized with: plain data, so that it travels to
    other processes and machines (the Ray executor) and names the store's entries."""

    source_names: tuple[str, ...]
    candidate_files: tuple[str, ...] = ()
    model_dir: str | None = None
    seed: int | None = None
    candidates_per_source: int = 8
    temperature: float | None = None

    def key(self) -> str:
        return json.dumps([list(self.source_names), list(self.candidate_files), self.model_dir,
                           self.seed, self.candidates_per_source, self.temperature])

    def make_sources(self) -> list:
        from perfrl.sources.registry import build_sources

        return build_sources(list(self.source_names),
                             candidate_files=[Path(p) for p in self.candidate_files],
                             model_dir=Path(self.model_dir) if self.model_dir else None,
                             temperature=self.temperature, seed=self.seed)


def optimize_one(project_root: Path, spec: str, job: SweepJob, settings: EngineSettings,
                 progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> dict:
    """The engine's JSON report for one function (the unit of work an executor runs)."""
    target = locate_function(spec, project_root=project_root)
    report = optimize_function(target, job.make_sources(), settings, progress=progress,
                               cancel=cancel, candidates_per_source=job.candidates_per_source)
    return report.to_json()


def _failure(exc: BaseException) -> str:
    if isinstance(exc, PerfRLError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def optimize_targets(
    project_root: Path,
    specs: Sequence[str],
    job: SweepJob,
    settings: EngineSettings,
    shares: dict[str, float] | None = None,
    on_result: Callable[[int, FunctionOutcome], None] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    executor: str = "local",
    address: str | None = None,
) -> list[FunctionOutcome]:
    """Each of ``specs`` (``path::Qualname`` relative to ``project_root``) optimized with
    ``job``; ``on_result(index, outcome)`` is called as each one finishes (in finishing order
    with Ray). ``executor`` "local" works through them here, one after the other; "ray" sends
    each function to a Ray cluster (``address``; see :mod:`perfrl.sweep.ray_executor`) as one
    task, so its tests, equivalence and benchmark stay on one node."""
    interpreter = resolve_interpreter(project_root, settings.interpreter)
    outcomes: list[FunctionOutcome | None] = [None] * len(specs)
    entries: dict[int, Path] = {}

    def finish(index: int, outcome: FunctionOutcome) -> None:
        outcomes[index] = outcome
        if on_result is not None:
            on_result(index, outcome)

    todo: list[int] = []
    for index, spec in enumerate(specs):
        share = (shares or {}).get(spec)
        try:
            target = locate_function(spec, project_root=project_root)
        except PerfRLError as exc:
            finish(index, FunctionOutcome(spec, share, None, str(exc)))
            continue
        entries[index] = _store_dir(settings) / (
            _entry_key(target, interpreter, settings, job.key()) + ".json")
        stored = _load(entries[index])
        if stored is not None:
            finish(index, FunctionOutcome(spec, share, stored["report"], None, from_store=True))
        else:
            todo.append(index)

    def store(index: int, report: dict | None, error: str | None) -> None:
        if report is not None:
            _save(entries[index], report)
        finish(index, FunctionOutcome(specs[index], (shares or {}).get(specs[index]), report,
                                      error))

    if executor == "ray":
        from perfrl.sweep.ray_executor import run_on_ray

        run_on_ray(project_root, [(i, specs[i]) for i in todo], job, settings, address, store)
    elif executor == "local":
        for index in todo:
            try:
                report = optimize_one(project_root, specs[index], job, settings, progress, cancel)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - one function's bug must not end the sweep
                store(index, None, _failure(exc))
            else:
                store(index, report, None)
    else:
        raise PerfRLError(f"unknown executor {executor!r}: use local or ray")
    return [o for o in outcomes if o is not None]
