"""Run untrusted candidate code: a throw-away project copy, bubblewrap, limits, timeouts.

Usage::

    sandbox = Sandbox(project_root, interpreter, settings)
    with sandbox.workspace({"pkg/mod.py": new_text}) as ws:
        result = ws.run_python(["-m", "pytest", "-q"], timeout_s=120, cancel=token)

A caller may rely on:

* the user's tree never being written: every run works on a copy in a fresh
  ``$TMPDIR/perfrl-*`` directory, removed when the ``with`` block ends whatever the candidate
  did to it;
* ``ws.root`` (the copy) and ``ws.data_dir`` having the same absolute path inside and outside
  the sandbox, both writable inside; ``server/perfrl/engine/runtime/`` copied read-only into the
  workspace and first on ``PYTHONPATH`` after the caller's own ``PYTHONPATH`` entries (put the
  copy's import root there when the project is installed in editable mode, or imports
  resolve to the user's tree);
* every run being limited (rlimits, cgroups when usable), getting a scrubbed environment
  (see :mod:`perfrl.engine.sandbox_env`) with a private ``HOME`` and ``TMPDIR``, and being
  killed with all its descendants on timeout or cancellation; a run never raises for
  anything the candidate does, only :class:`PerfRLError` when the sandbox itself cannot start;
* :attr:`Sandbox.protections` / :attr:`Sandbox.missing_protections` saying what is and is not
  enforced on this machine, in short sentences for the report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from perfrl.engine.sandbox_bwrap import BwrapStatus, bwrap_status
from perfrl.engine.sandbox_copy import (
    MAX_PROJECT_BYTES,
    MAX_PROJECT_FILES,
    CopyStats,
    apply_replacements,
    copy_project,
    remove_stale_workspaces,
    remove_tree,
    workspace_prefix,
)
from perfrl.engine.sandbox_env import scrubbed_env
from perfrl.engine.sandbox_limits import (
    MAX_FILE_BYTES,
    MB,
    CgroupSupport,
    cgroup_support,
)
from perfrl.engine.sandbox_run import MAX_OUTPUT_BYTES, RunContext, RunResult, execute_run
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import CancelToken, PerfRLError

__all__ = ["MAX_OUTPUT_BYTES", "RunResult", "Sandbox", "Workspace"]

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"


_stale_cleaned = False
_stale_lock = threading.Lock()


def _clean_stale_once() -> None:
    """Remove workspaces of dead servers from $TMPDIR, once per process."""
    global _stale_cleaned
    with _stale_lock:
        if not _stale_cleaned:
            _stale_cleaned = True
            remove_stale_workspaces(tempfile.gettempdir())


class Sandbox:
    """Runs commands for one project under one interpreter with the engine's limits.

    Raises PerfRLError when ``settings.use_bwrap`` is True and bubblewrap is missing or
    unusable. Constructing it is cheap after the first time (probes are cached per process).
    """

    def __init__(
        self,
        project_root: Path,
        interpreter: str,
        settings: EngineSettings,
        *,
        max_project_bytes: int = MAX_PROJECT_BYTES,
        max_project_files: int = MAX_PROJECT_FILES,
    ) -> None:
        self.project_root = Path(os.path.realpath(project_root))
        self.interpreter = interpreter
        self.settings = settings
        self.max_project_bytes = max_project_bytes
        self.max_project_files = max_project_files
        self._bwrap = self._choose_bwrap(settings.use_bwrap)
        self._cgroups: CgroupSupport = cgroup_support()
        self._is_root = os.geteuid() == 0
        self.protections: list[str] = []
        self.missing_protections: list[str] = []
        self._describe()
        _clean_stale_once()

    # -- setup ---------------------------------------------------------------------------

    @staticmethod
    def _choose_bwrap(use_bwrap: bool | None) -> BwrapStatus | None:
        if use_bwrap is False:
            return None
        status = bwrap_status()
        if status.usable:
            return status
        if use_bwrap is True:
            raise PerfRLError(
                f"Sandboxing with bubblewrap is required (sandbox mode 'bwrap') but "
                f"{status.reason}. Install bubblewrap (e.g. `apt install bubblewrap`), or set "
                "perfrl.sandbox to 'auto' or 'none' (CLI: --sandbox auto|none) to run "
                "candidates with resource limits only."
            )
        return None

    @property
    def uses_bwrap(self) -> bool:
        return self._bwrap is not None

    def _describe(self) -> None:
        s = self.settings
        have, miss = self.protections, self.missing_protections
        have.append("throw-away copy of the project; your files are never written")
        if self._bwrap is not None:
            have.append(
                "bubblewrap: read-only root, private /tmp and HOME, no network, "
                "own pid/ipc/uts namespaces"
            )
            have.append("bubblewrap: credential files in ~ hidden (.ssh, .aws, .netrc, ...)")
            if self._is_root:
                have.append("bubblewrap: all capabilities dropped")
        else:
            reason = "disabled by settings" if s.use_bwrap is False else bwrap_status().reason
            miss.append(
                f"no filesystem isolation ({reason}): candidate code can write anywhere "
                "you can, including outside the copy"
            )
            miss.append("no network isolation: candidate code can open network connections")
        have.append(
            f"rlimit: cpu {s.cpu_seconds} s, memory {s.memory_mb} MB per process, "
            f"file size {MAX_FILE_BYTES // MB} MB, no core dumps"
        )
        if self._cgroups.pids_dir:
            have.append(f"process limit: cgroup pids.max {s.max_processes}")
        elif not self._is_root:
            have.append(f"process limit: RLIMIT_NPROC (+{s.max_processes} processes)")
            miss.append(
                f"no pids cgroup ({self._cgroups.pids_reason}); RLIMIT_NPROC counts "
                "all your processes, so the process limit is approximate"
            )
        else:
            miss.append(
                f"process count not limited: running as root, RLIMIT_NPROC is not enforced, "
                f"and no pids cgroup ({self._cgroups.pids_reason})"
            )
        if self._cgroups.memory_dir:
            have.append(f"memory limit: cgroup {s.memory_mb} MB for all processes of a run")
        else:
            miss.append(
                f"total memory of a run not limited, only each process's address space "
                f"({self._cgroups.memory_reason})"
            )
        have.append("wall-clock timeout and cancel kill the whole process group")
        if self._cgroups.pids_dir or self._cgroups.memory_dir:
            have.append("timeout and cancel also kill every process in the run's cgroup")
        elif self._bwrap is None:
            miss.append("processes that leave the process group may survive a timeout")
        if self._bwrap is None and self._is_root:
            miss.append(
                "running as root without bubblewrap: candidate code could lift its own limits"
            )
        have.append("environment scrubbed: no tokens, keys or passwords passed in")
        miss.append("disk use limited per file only, not in total")

    # -- workspaces ----------------------------------------------------------------------

    @contextlib.contextmanager
    def workspace(self, replacements: dict[str, str] | None = None) -> Iterator[Workspace]:
        """A fresh copy of the project with ``replacements`` (relative path -> text) applied.

        Removed on exit. Raises PerfRLError when the project is too large or a replacement
        path is invalid.
        """
        base = Path(tempfile.mkdtemp(prefix=workspace_prefix()))
        try:
            ws = Workspace(self, base)
            ws.copy_stats = copy_project(
                self.project_root, ws.root, self.max_project_bytes, self.max_project_files
            )
            if replacements:
                apply_replacements(ws.root, replacements)
            yield ws
        finally:
            remove_tree(base)


class Workspace:
    """One throw-away copy of the project and the private directories of its runs.

    Layout under the base directory: ``root/<project name>`` (the copy, :attr:`root`),
    ``private/data`` (:attr:`data_dir`), ``private/runtime`` (read-only runtime scripts),
    ``private/home`` (HOME) and ``private/tmp`` (TMPDIR).
    """

    def __init__(self, sandbox: Sandbox, base: Path) -> None:
        self.sandbox = sandbox
        self.base = base
        self.root = base / "root" / sandbox.project_root.name
        private = base / "private"
        self.data_dir = private / "data"
        self.runtime_dir = private / "runtime"
        self.home = private / "home"
        self.tmp = private / "tmp"
        self.copy_stats = CopyStats()
        # Mounted read-only over credential files of the real HOME under bubblewrap.
        self.empty_file = private / "empty"
        for directory in (self.data_dir, self.home, self.tmp):
            directory.mkdir(parents=True)
        self.empty_file.write_bytes(b"")
        self.empty_file.chmod(0o444)
        self._install_runtime()

    def _install_runtime(self) -> None:
        self.runtime_dir.mkdir(parents=True)
        if RUNTIME_DIR.is_dir():
            for source in RUNTIME_DIR.glob("*.py"):
                target = self.runtime_dir / source.name
                target.write_bytes(source.read_bytes())
                target.chmod(0o444)
        self.runtime_dir.chmod(0o555)

    def run_python(
        self,
        args: list[str],
        timeout_s: float,
        cancel: CancelToken | None = None,
        env: dict[str, str] | None = None,
    ) -> RunResult:
        """Run the project's interpreter with ``args`` in the copy (cwd = :attr:`root`)."""
        return self.run([self.sandbox.interpreter, *args], timeout_s, cancel, env)

    def run(
        self,
        argv: list[str],
        timeout_s: float,
        cancel: CancelToken | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> RunResult:
        """Run ``argv`` in the sandbox; see :class:`RunResult`. ``cwd`` defaults to the copy."""
        if not argv:
            raise ValueError("argv must not be empty")
        cwd_path = Path(cwd) if cwd is not None else self.root
        child_env = scrubbed_env(
            home=str(self.home),
            tmpdir=str(self.tmp),
            pythonpath=[str(self.runtime_dir)],
            extra=env,
        )
        # A missing program is an environment problem, not a candidate failure: say so the
        # same way with and without bubblewrap.
        if shutil.which(argv[0], path=child_env["PATH"]) is None:
            raise PerfRLError(f"Cannot run {argv[0]!r} in the sandbox: no such program.")
        context = RunContext(
            settings=self.sandbox.settings,
            interpreter=self.sandbox.interpreter,
            bwrap=self.sandbox._bwrap,
            cgroups=self.sandbox._cgroups,
            is_root=self.sandbox._is_root,
            workspace=self.base,
            readonly_inside=(self.runtime_dir,),
            empty_file=self.empty_file,
        )
        return execute_run(context, list(argv), timeout_s, cancel, child_env, cwd_path)
