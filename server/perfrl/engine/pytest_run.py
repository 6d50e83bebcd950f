"""One pytest run of the project in a sandbox workspace, with the ``perfrl_capture`` plugin.

Used by the baseline (the original code, capture mode) and by the verifier (a candidate,
observe mode). A caller may rely on:

- :func:`pytest_command` being the one place that builds pytest's arguments: the plugin, then
  ``settings.pytest_args`` (the user's ``--pytest-args``), then the caller's extras; pytest
  itself reads the project's own configuration (``pyproject.toml``, ``pytest.ini``,
  ``setup.cfg``, ``tox.ini``: ``addopts``, ``testpaths``...) because it runs in the copy's root;
- :func:`run_with_plugin` returning the process result and the plugin's summary checked
  against :class:`perfrl_protocol.Summary` (``None`` with ``summary_problem`` saying why when
  it is missing or malformed: the process that writes it may run candidate code);
- :class:`~perfrl.engine.types.Cancelled` when the run was cancelled.
"""

from __future__ import annotations

import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.runtime.perfrl_protocol import (
    ENV,
    SUMMARY_FILE,
    Summary,
    load_summary,
)
from perfrl.engine.sandbox import RunResult, write_workspace_file
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Cancelled, CancelToken, FunctionTarget

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
CAPTURE_PLUGIN = RUNTIME_DIR / "perfrl_capture.py"
PROTOCOL_MODULE = RUNTIME_DIR / "perfrl_protocol.py"


@dataclass
class PluginRun:
    """One pytest run with the plugin: the process result and the plugin's checked summary."""

    result: RunResult
    summary: Summary | None
    out_dir: Path
    #: Why ``summary`` is None (not written, not a regular file, malformed).
    summary_problem: str | None = None


def pytest_command(settings: EngineSettings, extra: list[str] | None = None) -> list[str]:
    """Arguments after the interpreter for a pytest run that loads the capture plugin.

    ``settings.pytest_args`` come after PerfRL's own options, so the user's can refine them,
    and before ``extra`` (the test files a candidate run selects)."""
    return [
        "-m",
        "pytest",
        "-q",
        "-p",
        "perfrl_capture",
        "-p",
        "no:cacheprovider",
        *settings.pytest_args,
        *(extra or []),
    ]


def user_test_command(settings: EngineSettings) -> str:
    """The command shown to users: what they can run themselves in the project root."""
    return shlex.join(["python", "-m", "pytest", "-q", *settings.pytest_args])


def workspace_import_root(target: FunctionTarget, ws_root: Path) -> Path:
    return ws_root / target.import_root.relative_to(target.project_root)


def plugin_env(
    target: FunctionTarget, settings: EngineSettings, ws, *, mode: str, out_dir: Path
) -> dict[str, str]:
    """The environment that configures ``perfrl_capture`` for ``target`` in workspace ``ws``."""
    import_root = str(workspace_import_root(target, Path(ws.root)))
    return {
        # Also on PYTHONPATH, ahead of .pth files of an editable install of the project.
        "PYTHONPATH": import_root,
        ENV.OUT_DIR: str(out_dir),
        ENV.TARGET_MODULE: target.module_name,
        ENV.TARGET_QUALNAME: target.qualname,
        ENV.IMPORT_ROOT: import_root,
        ENV.ROOT: str(ws.root),
        ENV.MODE: mode,
        ENV.MAX_CALLS: str(settings.max_captured_calls),
    }


def run_with_plugin(
    ws,
    target: FunctionTarget,
    settings: EngineSettings,
    *,
    mode: str,
    out_name: str,
    extra_args: list[str],
    timeout_s: float,
    cancel: CancelToken | None,
    select: list[str] | None = None,
) -> PluginRun:
    """Run pytest in workspace ``ws`` with perfrl_capture in ``mode`` ("capture"/"observe").

    ``select``: run only these test node IDs. They reach the plugin in a file (it deselects
    every other test of their files), not on the command line, which a project with many
    or long parametrized IDs would overflow ("Argument list too long")."""
    out_dir = Path(ws.data_dir) / out_name
    env = plugin_env(target, settings, ws, mode=mode, out_dir=out_dir)
    if select is not None:
        select_file = Path(ws.data_dir) / f"{out_name}-selected.txt"
        # Never through a symlink a candidate planted in the data folder.
        write_workspace_file(select_file, "".join(f"{n}\n" for n in select).encode("utf-8"))
        env[ENV.SELECT_FILE] = str(select_file)
        extra_args = [*extra_args, *dict.fromkeys(nodeid.split("::")[0] for nodeid in select)]
    args = pytest_command(settings, [f"--rootdir={ws.root}", *extra_args])
    result = ws.run_python(args, timeout_s=timeout_s, cancel=cancel, env=env)
    if result.cancelled:
        raise Cancelled()
    summary, problem = load_summary(out_dir / SUMMARY_FILE)
    return PluginRun(result=result, summary=summary, out_dir=out_dir, summary_problem=problem)


def output_tail(result, lines: int = 25) -> str:
    """The last lines of a run's stdout and stderr, for messages."""
    text = (result.stdout or "") + ("\n" + result.stderr if result.stderr else "")
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def death_description(result) -> str:
    """Why a process ended without its report: a signal, a limit or an early exit."""
    if result.limit_hit:
        return f"was stopped by the sandbox's {result.limit_hit} limit"
    if result.returncode is not None and result.returncode < 0:
        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return f"was killed by {name}"
    return f"exited with status {result.returncode} before finishing"


def inside(path: str | None, root: Path) -> bool:
    if not path:
        return False
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def origin_problem(module: str, module_file: str | None, ws_root: Path) -> str | None:
    """A message when the target module was imported from outside the workspace copy."""
    if inside(module_file, ws_root):
        return None
    return (
        f"the tests imported {module} from {module_file or 'an unknown place'}, not from the "
        "project copy PerfRL runs in; an installed copy (for example `pip install -e`, a .pth "
        "file or PYTHONPATH) shadows the project's own file. Make the project's import root "
        "come first, or uninstall the other copy, and try again."
    )
