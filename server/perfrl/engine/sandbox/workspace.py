"""Run untrusted candidate code: a throw-away project copy, bubblewrap, limits, timeouts.

Usage::

    sandbox = Sandbox(project_root, interpreter, settings)
    with sandbox.workspace({"pkg/mod.py": new_text}) as ws:
        result = ws.run_python(["-m", "pytest", "-q"], timeout_s=120, cancel=token)

A caller may rely on:

* the user's tree never being written by the engine: every run works on a copy in a fresh
  ``$TMPDIR/perfrl-*`` directory, removed when the ``with`` block ends whatever the candidate
  did to it (leaving the block never raises because of what is in the workspace);
* ``ws.root`` (the copy) and ``ws.data_dir`` having the same absolute path inside and outside
  the sandbox, both writable inside; ``server/perfrl/engine/runtime/`` copied read-only next
  to (not into) the writable part and first on ``PYTHONPATH`` after the caller's own
  ``PYTHONPATH`` entries (put the copy's import root there when the project is installed in
  editable mode, or imports resolve to the user's tree);
* every run being limited (rlimits, cgroups when usable), getting a scrubbed environment
  (see :mod:`perfrl.engine.sandbox.env`) with a private, empty ``HOME`` and ``TMPDIR``, and
  being killed with all its descendants on timeout or cancellation;
* a run raising :class:`WorkspaceTampered` (a :class:`WorkspaceSurprise`, never a
  :class:`PerfRLError`) when an earlier run of the same workspace renamed, removed or
  replaced the copy or the engine's folders, and :class:`PerfRLError` only when the sandbox
  itself cannot start; anything else the candidate does is in the :class:`RunResult`;
* :attr:`Sandbox.protections` / :attr:`Sandbox.missing_protections` saying what is and is not
  enforced in the mode used, :attr:`Sandbox.protections_summary` the same in one short line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from perfrl.engine.cache_dir import cache_root
from perfrl.engine.sandbox.bwrap import BwrapStatus, bwrap_status
from perfrl.engine.sandbox.env import scrubbed_env
from perfrl.engine.sandbox.files import WorkspaceSurprise
from perfrl.engine.sandbox.limits import CgroupSupport, cgroup_support
from perfrl.engine.sandbox.project_copy import (
    MAX_PROJECT_BYTES,
    MAX_PROJECT_FILES,
    CopyStats,
    apply_replacements,
    copy_project,
    remove_stale_workspaces,
    remove_tree,
    workspace_prefix,
)
from perfrl.engine.sandbox.protections import describe
from perfrl.engine.sandbox.run import RunContext, RunResult, execute_run
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import CancelToken, PerfRLError

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
_log = logging.getLogger(__name__)

_stale_cleaned = False
_stale_lock = threading.Lock()


class WorkspaceTampered(WorkspaceSurprise):
    """An earlier run of this workspace changed the folders the engine runs in."""


def clean_up_after_dead_servers() -> None:
    """Remove what servers killed with SIGKILL left (their workspaces in $TMPDIR, their run
    cgroups), once per process; safe to call at start-up, from any thread."""
    _clean_stale_once()
    cgroup_support()  # probing the controllers removes dead servers' groups


def _clean_stale_once() -> None:
    """Remove workspaces of dead servers from $TMPDIR, once per process."""
    global _stale_cleaned
    with _stale_lock:
        if not _stale_cleaned:
            _stale_cleaned = True
            remove_stale_workspaces(tempfile.gettempdir())


def _cache_places(settings: EngineSettings) -> list[str]:
    """PerfRL's caches (this and other projects' baselines, the server's results): hidden.

    Most lie under a home folder, hidden anyway; a cache configured elsewhere is not.
    """
    places = [str(Path.home() / ".cache" / "perfrl"), str(cache_root())]
    if settings.cache_dir:
        places.append(str(settings.cache_dir))
    return places


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
        reason = "disabled by settings" if settings.use_bwrap is False else bwrap_status().reason
        #: Why runs do not go through bubblewrap ("" when they do).
        self.no_bwrap_reason = "" if self._bwrap is not None else reason
        described = describe(settings, self._bwrap is not None, reason, self._cgroups,
                             self._is_root)
        self.protections: list[str] = described.have
        self.missing_protections: list[str] = described.missing
        self._summary = described.summary
        self._hidden = tuple(_cache_places(settings)) if self._bwrap else ()
        _clean_stale_once()

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

    @property
    def protections_summary(self) -> str:
        """One short line for a terminal report; the full lists are in :attr:`protections`."""
        return self._summary

    @contextlib.contextmanager
    def workspace(self, replacements: dict[str, str] | None = None) -> Iterator[Workspace]:
        """A fresh copy of the project with ``replacements`` (relative path -> text) applied.

        Removed on exit, whatever the runs left in it. Raises PerfRLError when the project is
        too large or a replacement path is invalid.
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
            try:
                remove_tree(base)
            except Exception as exc:  # noqa: BLE001 - a leftover must never end the job
                _log.warning("could not remove the workspace %s: %s", base, exc)


class Workspace:
    """One throw-away copy of the project and the private directories of its runs.

    Layout under the base directory (only ``ws/`` is writable inside the sandbox, so no path
    the engine binds or runs from can be replaced by sandboxed code)::

        ws/root/<project name>   the copy (:attr:`root`)
        ws/data                  :attr:`data_dir`, the engine's files for the runs
        ws/home, ws/tmp          HOME and TMPDIR of the runs
        runtime/                 the runtime scripts, read-only
    """

    def __init__(self, sandbox: Sandbox, base: Path) -> None:
        self.sandbox = sandbox
        self.base = base
        self.writable = base / "ws"
        self.root = self.writable / "root" / sandbox.project_root.name
        self.data_dir = self.writable / "data"
        self.home = self.writable / "home"
        self.tmp = self.writable / "tmp"
        self.runtime_dir = base / "runtime"
        self.copy_stats = CopyStats()
        for directory in (self.data_dir, self.home, self.tmp):
            directory.mkdir(parents=True)
        self._install_runtime()

    def _install_runtime(self) -> None:
        self.runtime_dir.mkdir()
        if RUNTIME_DIR.is_dir():
            for source in RUNTIME_DIR.glob("*.py"):
                target = self.runtime_dir / source.name
                target.write_bytes(source.read_bytes())
                target.chmod(0o444)
        self.runtime_dir.chmod(0o555)

    def check_intact(self, cwd: Path | None = None) -> None:
        """Raise :class:`WorkspaceTampered` unless the engine's folders are still its own.

        Each must be a real directory (not a symlink, FIFO or file) owned by this user; an
        earlier run may have renamed, removed or replaced any of them.
        """
        uid = os.geteuid()
        paths = [self.writable, self.root.parent, self.root, self.data_dir, self.home, self.tmp]
        if cwd is not None and cwd not in paths:
            paths.append(cwd)
        for path in paths:
            try:
                info = os.lstat(path)
            except OSError:
                raise WorkspaceTampered(
                    f"the code that ran in the sandbox removed or renamed {self._shown(path)}"
                ) from None
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
                raise WorkspaceTampered(
                    f"the code that ran in the sandbox replaced {self._shown(path)} "
                    "with something that is not the engine's folder"
                )

    def _shown(self, path: Path) -> str:
        try:
            return f"the workspace's {path.relative_to(self.writable).as_posix()}"
        except ValueError:
            return str(path)

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
        self.check_intact(cwd_path)
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
            workspace=self.writable,
            readonly=(self.runtime_dir,),
            hidden=self.sandbox._hidden,
        )
        try:
            return execute_run(context, list(argv), timeout_s, cancel, child_env, cwd_path)
        except PerfRLError:
            # Without bubblewrap a process of an earlier run may outlive it and change the
            # folders between the check above and the start: that is the candidate's doing.
            self.check_intact(cwd_path)
            raise
