"""The baseline: the project's tests run once on the original code, with the capture plugin.

A caller may rely on:

- :func:`run_baseline` returning a :class:`Baseline` whose ``selected_tests`` are the pytest
  node ids of the tests that call the target *and* pass on the original code, in run order,
  and whose ``capture`` holds the recorded calls (opaque bytes: they were pickled by the user's
  code and are only ever unpickled inside the sandbox, by ``perfrl_worker``);
- :class:`~perfrl.engine.types.NoTestsCallFunction` when no test calls the function and
  :class:`~perfrl.engine.types.BaselineFailed` when the tests cannot be run at all, both with
  a message that says what was run and what to do;
- :class:`~perfrl.engine.types.Cancelled` promptly after ``cancel.cancel()``;
- a cache hit (``summary.from_cache``) only when the project's code and configuration files
  (``.py``, ``.pyi``, ``.toml``, ``.cfg``, ``.ini``), the interpreter, the target, the relevant
  settings and the plugin are unchanged. Data files the tests read are not part of the key.

The target's file is run as ``target.file_text`` (which may be an unsaved editor buffer), so
the baseline and the candidates start from the same text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from perfrl.engine.cache_dir import cache_dir
from perfrl.engine.locate import ensure_supported
from perfrl.engine.pytest_run import (  # noqa: F401 - re-exported for verify and older callers
    CAPTURE_PLUGIN,
    PROTOCOL_MODULE,
    RUNTIME_DIR,
    PluginRun,
    death_description,
    inside,
    origin_problem,
    output_tail,
    pytest_command,
    run_with_plugin,
    user_test_command,
    workspace_import_root,
)
from perfrl.engine.runtime.perfrl_protocol import CALLS_FILE, MODE_CAPTURE, Summary
from perfrl.engine.sandbox import (
    MAX_FILE_BYTES,
    WorkspaceSurprise,
    is_skipped_dir,
    read_workspace_file,
)
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import (
    BaselineFailed,
    BaselineSummary,
    Cancelled,
    CancelToken,
    FunctionTarget,
    NoTestsCallFunction,
    ProgressCallback,
    ProgressEvent,
)

#: Bump when the cached JSON layout changes.
CACHE_FORMAT = 2
_KEY_SUFFIXES = {".py", ".pyi", ".toml", ".cfg", ".ini"}


@dataclass
class Baseline:
    """What the verifier needs from the run on the original code."""

    summary: BaselineSummary
    selected_tests: list[str]
    #: Tests that call the function but fail on the original (reported, never run again).
    failing_tests: list[str]
    #: calls.pkl from perfrl_capture; never unpickled outside the sandbox.
    capture: bytes
    #: The command a user can run in the project root to reproduce the baseline.
    test_command: str
    #: Wall time of the whole pytest run on the original, seconds.
    pytest_wall_s: float = 0.0
    #: Outcome of every test of the whole run on the original ("passed", "failed", ...), in
    #: run order; empty for a baseline cached before outcomes were kept.
    test_outcomes: dict[str, str] = field(default_factory=dict)
    test_durations: dict[str, float] = field(default_factory=dict)
    collection_errors: list[str] = field(default_factory=list)
    python_version: str = ""
    cache_key: str = ""


# -- cache ---------------------------------------------------------------------------------


def _project_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_skipped_dir(d))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix in _KEY_SUFFIXES:
                yield path


def baseline_cache_key(target: FunctionTarget, interpreter: str, settings: EngineSettings) -> str:
    """sha256 over everything that can change what the baseline run records."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + len(data).to_bytes(8, "big") + data)

    add("format", str(CACHE_FORMAT).encode())
    add("plugin", CAPTURE_PLUGIN.read_bytes())
    add("protocol", PROTOCOL_MODULE.read_bytes())
    add("interpreter", interpreter.encode())
    add("interpreter-real", os.path.realpath(interpreter).encode())
    add("target", target.display.encode())
    add("settings", json.dumps([settings.max_captured_calls, settings.pytest_args]).encode())
    for path in _project_files(target.project_root):
        rel = path.relative_to(target.project_root).as_posix()
        if rel == target.relpath:
            data = target.file_text.encode("utf-8")
        else:
            try:
                data = path.read_bytes()
            except OSError:
                continue
        add("file:" + rel, data)
    if not (target.project_root / target.relpath).exists():
        add("file:" + target.relpath, target.file_text.encode("utf-8"))
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Where baselines are cached when the settings name no folder (see engine.cache_dir)."""
    return cache_dir("baselines")


def _load_cached(directory: Path, key: str) -> Baseline | None:
    meta_path, calls_path = directory / f"{key}.json", directory / f"{key}.calls"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        capture = calls_path.read_bytes()
        if meta.get("format") != CACHE_FORMAT:
            return None
        summary = BaselineSummary(**meta["summary"])
        return Baseline(
            summary=summary,
            selected_tests=list(meta["selected_tests"]),
            failing_tests=list(meta["failing_tests"]),
            capture=capture,
            test_command=meta["test_command"],
            pytest_wall_s=float(meta["pytest_wall_s"]),
            test_outcomes=dict(meta.get("test_outcomes") or {}),
            test_durations=dict(meta["test_durations"]),
            collection_errors=list(meta["collection_errors"]),
            python_version=meta["python_version"],
            cache_key=key,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: run again


def _store_cached(directory: Path, baseline: Baseline) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        key = baseline.cache_key
        meta = {
            "format": CACHE_FORMAT,
            "summary": asdict(baseline.summary),
            "selected_tests": baseline.selected_tests,
            "failing_tests": baseline.failing_tests,
            "test_command": baseline.test_command,
            "pytest_wall_s": baseline.pytest_wall_s,
            "test_outcomes": baseline.test_outcomes,
            "test_durations": baseline.test_durations,
            "collection_errors": baseline.collection_errors,
            "python_version": baseline.python_version,
        }
        # Calls first, metadata last: a reader never sees metadata without its calls.
        for name, data in (
            (f"{key}.calls", baseline.capture),
            (f"{key}.json", json.dumps(meta).encode("utf-8")),
        ):
            tmp = directory / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, directory / name)
    except OSError:
        pass  # a cache that cannot be written only costs time


# -- the run -------------------------------------------------------------------------------


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _fail_message(what: str, command: str, tail: str) -> str:
    return f"{what}\nTest command (in the project root): {command}\n" + (
        f"Last lines of its output:\n{tail}" if tail else ""
    )


def _analyse(
    target: FunctionTarget, run: PluginRun, ws_root: Path, command: str, timeout_s: float
) -> Baseline:
    result = run.result
    tail = output_tail(result)
    if result.timed_out:
        raise BaselineFailed(
            _fail_message(
                f"The project's tests did not finish within {timeout_s:g} s on the original code. "
                "Raise the test timeout setting (test_timeout_s) or narrow the tests with pytest "
                "arguments.",
                command,
                tail,
            )
        )
    summary: Summary | None = run.summary
    if summary is None:
        raise BaselineFailed(
            _fail_message(
                f"The test process {death_description(result)}, so PerfRL learned nothing about "
                f"{target.display} ({run.summary_problem}).",
                command,
                tail,
            )
        )
    problems = summary["plugin_errors"]
    if summary["wrap_error"]:
        raise BaselineFailed(
            _fail_message(
                f"PerfRL could not import {target.module_name} to watch {target.qualname}: "
                f"{summary['wrap_error'].splitlines()[0]}",
                command,
                tail,
            )
        )
    if problems:
        raise BaselineFailed(
            _fail_message(f"PerfRL's test plugin failed: {problems[0]}", command, tail)
        )
    origin = origin_problem(target.module_name, summary["module_file"], ws_root)
    if origin:
        raise BaselineFailed(origin[0].upper() + origin[1:])
    exitstatus = summary["exitstatus"]
    if exitstatus is None:
        exitstatus = result.returncode
    if exitstatus in (2, 3, 4):
        meaning = {2: "was interrupted", 3: "hit an internal error", 4: "was called wrongly"}
        raise BaselineFailed(
            _fail_message(
                f"pytest {meaning[exitstatus]} (exit status {exitstatus}) on the original code.",
                command,
                tail,
            )
        )
    tests = summary["tests"]
    collection_errors = [
        f"{error['nodeid'] or '(root)'}: {_last_line(error['message'])}"
        for error in summary["collection_errors"]
    ]
    if exitstatus == 5 or not tests:
        raise NoTestsCallFunction(
            f"pytest found no tests in the project {target.project_root}, so nothing can "
            f"check {target.display}. Write a test that calls {target.qualname} (for example "
            f"in tests/test_{target.module_name.rsplit('.', 1)[-1]}.py) and try again; if the "
            "tests live above that folder, give the project's root with --project (or add a "
            "pyproject.toml there).\n"
            f"Test command (in the project root): {command}"
        )
    calling = list(summary["calling_tests"])
    if not calling:
        hint = ""
        if summary["calls_outside_tests"]:
            hint = (
                " It was called only while test modules were being imported, which does "
                "not count: call it inside a test function."
            )
        if collection_errors:
            raise BaselineFailed(
                _fail_message(
                    f"No test that ran calls {target.display}, and "
                    f"{len(collection_errors)} test file(s) could not be collected:\n  "
                    + "\n  ".join(collection_errors[:5]),
                    command,
                    tail,
                )
            )
        passed = sum(1 for entry in tests.values() if entry["outcome"] == "passed")
        raise NoTestsCallFunction(
            f"None of the project's {len(tests)} tests ({passed} passed) calls "
            f"{target.display}, so PerfRL cannot check a rewrite of it.{hint} Write a test "
            f"that calls {target.qualname} and try again.\n"
            f"Test command (in the project root): {command}"
        )
    selected = [
        nodeid
        for nodeid in tests
        if nodeid in summary["calling_tests"] and tests[nodeid]["outcome"] == "passed"
    ]
    failing = [
        nodeid
        for nodeid in tests
        if nodeid in summary["calling_tests"] and tests[nodeid]["outcome"] in ("failed", "error")
    ]
    if not selected:
        shown = "\n  ".join(f"{n}: {tests[n]['message'][:200]}" for n in failing[:5])
        raise BaselineFailed(
            _fail_message(
                f"Every test that calls {target.display} fails (or is skipped) on the original "
                f"code; fix them first, PerfRL needs passing tests to check a rewrite.\n  {shown}",
                command,
                tail,
            )
        )
    reasons = dict(summary["skipped_reasons"])
    try:  # a FIFO, device, symlink or huge file raises UnsafeWorkspaceFile
        capture = read_workspace_file(run.out_dir / CALLS_FILE, MAX_FILE_BYTES)
    except FileNotFoundError:
        capture = b""
    return Baseline(
        summary=BaselineSummary(
            tests_calling=len(calling),
            tests_failing_on_original=failing,
            calls_captured=summary["calls_recorded"],
            calls_skipped=sum(reasons.values()),
            skipped_reasons=reasons,
            calls_distinct=summary["calls_distinct"],
            test_files_calling=len({nodeid.split("::")[0] for nodeid in calling}),
            tests_recorded=len([n for n, count in summary["recorded_by_test"].items() if count]),
        ),
        selected_tests=selected,
        failing_tests=failing,
        capture=capture,
        test_command=command,
        pytest_wall_s=float(getattr(result, "wall_s", 0.0) or 0.0),
        test_outcomes={nodeid: str(entry.get("outcome", "")) for nodeid, entry in tests.items()},
        test_durations={n: float(tests[n].get("duration", 0.0)) for n in selected},
        collection_errors=collection_errors,
        python_version=summary["python_version"],
    )


@contextlib.contextmanager
def _surprise_fails(command: str):
    """The original code's tests left a trap in the workspace: the user's problem to fix."""
    try:
        yield
    except WorkspaceSurprise as exc:
        raise BaselineFailed(f"Running `{command}` on the original code: {exc}") from None


def run_baseline(
    target: FunctionTarget,
    sandbox,
    settings: EngineSettings,
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> Baseline:
    """Run the project's tests on the original code once (or reuse the cached result)."""
    ensure_supported(target)  # async functions and generators cannot be replayed
    started = time.perf_counter()

    def emit(message: str) -> None:
        if progress is not None:
            progress(ProgressEvent(stage="baseline", message=message))

    if cancel is not None and cancel.cancelled:
        raise Cancelled()
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    key = baseline_cache_key(target, str(getattr(sandbox, "interpreter", "")), settings)
    cached = _load_cached(cache_dir, key)
    if cached is not None:
        emit("reusing the baseline of an earlier run (the project is unchanged)")
        cached.summary.from_cache = True
        cached.summary.seconds = time.perf_counter() - started
        return cached

    command = user_test_command(settings)
    emit(f"running the project's tests on the original code: {command}")
    with sandbox.workspace({target.relpath: target.file_text}) as ws, _surprise_fails(command):
        run = run_with_plugin(
            ws,
            target,
            settings,
            mode=MODE_CAPTURE,
            out_name="baseline",
            extra_args=["--continue-on-collection-errors"],
            timeout_s=settings.test_timeout_s,
            cancel=cancel,
        )
        baseline = _analyse(target, run, Path(ws.root), command, settings.test_timeout_s)
    baseline.cache_key = key
    baseline.summary.seconds = time.perf_counter() - started
    _store_cached(cache_dir, baseline)
    return baseline
