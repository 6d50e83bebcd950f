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

from perfrl.engine.baseline import baseline_cache_key, default_cache_dir
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
    return Path(settings.cache_dir or default_cache_dir()) / "sweep"


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


def optimize_targets(
    project_root: Path,
    specs: Sequence[str],
    make_sources: Callable[[], list],
    sources_key: str,
    settings: EngineSettings,
    shares: dict[str, float] | None = None,
    candidates_per_source: int = 8,
    on_result: Callable[[int, FunctionOutcome], None] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[FunctionOutcome]:
    """Each of ``specs`` (``path::Qualname`` relative to ``project_root``) optimized with the
    sources ``make_sources()`` builds (``sources_key`` names them for the store: same key,
    same candidates); ``on_result(index, outcome)`` is called as each one finishes."""
    outcomes: list[FunctionOutcome] = []
    interpreter = resolve_interpreter(project_root, settings.interpreter)
    for index, spec in enumerate(specs):
        share = (shares or {}).get(spec)
        try:
            target = locate_function(spec, project_root=project_root)
            key = _entry_key(target, interpreter, settings, sources_key)
            entry = _store_dir(settings) / f"{key}.json"
            stored = _load(entry)
            if stored is not None:
                outcome = FunctionOutcome(spec, share, stored["report"], None, from_store=True)
            else:
                report = optimize_function(target, make_sources(), settings, progress=progress,
                                           cancel=cancel,
                                           candidates_per_source=candidates_per_source)
                payload = report.to_json()
                _save(entry, payload)
                outcome = FunctionOutcome(spec, share, payload, None)
        except Cancelled:
            raise
        except PerfRLError as exc:
            outcome = FunctionOutcome(spec, share, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - one function's bug must not end the sweep
            detail = f"internal error: {type(exc).__name__}: {exc}"
            outcome = FunctionOutcome(spec, share, None, detail)
        outcomes.append(outcome)
        if on_result is not None:
            on_result(index, outcome)
    return outcomes
