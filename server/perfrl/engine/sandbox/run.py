"""Start one sandboxed process tree, watch it, kill all of it, and say what happened.

A caller may rely on :func:`execute_run` never raising for anything the command does (its
failures are in the :class:`RunResult`), raising :class:`PerfRLError` only when the sandbox
itself cannot start, and leaving no process of the run alive when it returns (with a usable
cgroup or bubblewrap; without either, only the process group is killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The module, not the function: interpreter imports this package's env module at import time.
from perfrl.engine import interpreter as _interpreter
from perfrl.engine.sandbox import launcher as sandbox_launcher
from perfrl.engine.sandbox.bwrap import BwrapStatus, bwrap_argv, launcher_roots
from perfrl.engine.sandbox.limits import (
    MB,
    CgroupSupport,
    RunCgroups,
    count_user_tasks,
    rlimits_for,
)
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import CancelToken, PerfRLError

# Output kept per stream; beyond it the middle is dropped (pytest's summary is at the end).
MAX_OUTPUT_BYTES = 8 * MB
_OUTPUT_HEAD = 256 * 1024
_POLL_S = 0.05
# bubblewrap's own processes (monitor + pid-1 reaper) count against pids.max.
_BWRAP_PROCESSES = 2
_MAX_TMPFS_BYTES = 1024 * MB


@dataclass
class RunResult:
    """What one sandboxed command did.

    ``returncode`` is negative (-signal) when the command was killed by a signal, also under
    bubblewrap (which reports a signal death as 128 + signal). ``limit_hit`` says which
    resource limit stopped or hurt the run: "memory" (OOM kill in the run's cgroup, or a
    MemoryError in the output of a failed run under the address-space limit), "cpu" (SIGXCPU
    or SIGKILL after the CPU limit), "processes" (a fork failed at pids.max) or None.
    ``cpu_s`` is user + system CPU time of all the run's processes (from the cpuacct cgroup;
    without it, of those that were waited for, which under bubblewrap misses the command).
    """

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    cancelled: bool
    limit_hit: str | None
    wall_s: float
    cpu_s: float = 0.0


@dataclass(frozen=True)
class RunContext:
    """What a run needs from its sandbox and workspace."""

    settings: EngineSettings
    interpreter: str
    bwrap: BwrapStatus | None
    cgroups: CgroupSupport
    is_root: bool
    workspace: Path  # bound writable at its own path under bubblewrap
    readonly: tuple[Path, ...]  # engine directories outside ``workspace``, bound read-only
    hidden: tuple[str, ...]  # PerfRL's caches: covered where a bind would show them


def execute_run(
    context: RunContext,
    argv: list[str],
    timeout_s: float,
    cancel: CancelToken | None,
    env: dict[str, str],
    cwd: Path,
) -> RunResult:
    """Run ``argv`` (with ``env``, in ``cwd``) under ``context``'s protections."""
    return _Run(context, argv, timeout_s, cancel, env, cwd).execute()


class _Run:
    """One sandboxed process tree: start, watch, kill, collect."""

    def __init__(
        self,
        context: RunContext,
        argv: list[str],
        timeout_s: float,
        cancel: CancelToken | None,
        env: dict[str, str],
        cwd: Path,
    ) -> None:
        self.context = context
        self.argv = argv
        self.timeout_s = timeout_s
        self.cancel = cancel
        self.env = env
        self.cwd = cwd

    def _command(self, status_fd: int | None) -> list[str]:
        ctx = self.context
        if ctx.bwrap is None:
            return self.argv
        try:
            dirs = _interpreter.interpreter_info(ctx.interpreter).install_dirs()
        except PerfRLError:
            dirs = [os.path.dirname(ctx.interpreter)]
        dirs += launcher_roots(ctx.interpreter)
        tmp_size: int | None = min(ctx.settings.memory_mb * MB, _MAX_TMPFS_BYTES)
        if not ctx.bwrap.has_tmpfs_size:
            tmp_size = None  # older bubblewrap: /tmp then only bounded by the memory cgroup
        prefix = bwrap_argv(
            ctx.bwrap.path or "bwrap",
            str(ctx.workspace),
            [str(p) for p in ctx.readonly],
            dirs,
            str(self.cwd),
            tmp_size,
            status_fd,
            list(ctx.hidden),
        )
        return prefix + self.argv

    def _nproc(self) -> int | None:
        if self.context.is_root or self.context.cgroups.pids_dir:
            return None
        return count_user_tasks(os.getuid()) + self.context.settings.max_processes

    def execute(self) -> RunResult:
        settings = self.context.settings
        extra = _BWRAP_PROCESSES if self.context.bwrap is not None else 0
        cgroups = None
        support = self.context.cgroups
        if support.pids_dir or support.memory_dir or support.cpuacct_dir:
            try:
                cgroups = RunCgroups(
                    support, settings.max_processes + extra, settings.memory_mb * MB
                )
            except OSError as exc:
                raise PerfRLError(f"Could not create the run's cgroup: {exc}") from None
        try:
            return self._execute(cgroups)
        finally:
            if cgroups is not None:
                cgroups.kill_all()
                cgroups.remove()

    def _execute(self, cgroups: RunCgroups | None) -> RunResult:
        status_r = status_w = None
        if self.context.bwrap is not None and self.context.bwrap.has_json_status:
            status_r, status_w = os.pipe()
        config = {
            "cgroup_procs": cgroups.procs_files() if cgroups else [],
            "rlimits": rlimits_for(self.context.settings, self._nproc()),
            "parent_pid": os.getpid(),
        }
        command = [
            sys.executable,
            "-I",
            "-S",
            sandbox_launcher.__file__,
            json.dumps(config),
            *self._command(status_w),
        ]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.monotonic()
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=self.env,
                    cwd=str(self.cwd),
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=(status_w,) if status_w is not None else (),
                )
            except OSError as exc:
                if status_r is not None:
                    os.close(status_r)
                raise PerfRLError(f"Could not start the sandbox: {exc}") from None
            finally:
                if status_w is not None:
                    os.close(status_w)
            rc, cpu_s, timed_out, cancelled = self._watch(proc, start, cgroups)
            measured = cgroups.cpu_seconds() if cgroups is not None else None
            if measured is not None:
                cpu_s = measured
            wall_s = time.monotonic() - start
            status = _drain(status_r) if status_r is not None else ""
            stdout, stderr = _read_output(out), _read_output(err)
        if rc == sandbox_launcher.SETUP_FAILED and stderr.startswith(sandbox_launcher.PREFIX):
            raise PerfRLError(f"The sandbox could not start the command: {stderr.strip()}")
        if status_r is not None and '"child-pid"' not in status and not (timed_out or cancelled):
            raise PerfRLError(f"bubblewrap could not set up the sandbox: {stderr.strip()}")
        if self.context.bwrap is not None and 128 < rc <= 128 + 64:
            rc = -(rc - 128)
        limit = _limit_hit(
            rc,
            stdout,
            stderr,
            cgroups,
            cpu_s,
            self.context.settings,
            killed_by_us=timed_out or cancelled,
        )
        return RunResult(rc, stdout, stderr, timed_out, cancelled, limit, wall_s, cpu_s)

    def _watch(
        self, proc: subprocess.Popen, start: float, cgroups: RunCgroups | None
    ) -> tuple[int, float, bool, bool]:
        """Wait for exit, the deadline or cancellation; returns (rc, cpu_s, timed_out, cancelled).

        The leader is only reaped after its process group was killed: while it is a zombie
        its pid (= the group id) cannot be reused, so the kill cannot hit another group.
        """
        timed_out = cancelled = False
        pidfd = None
        with contextlib.suppress(OSError, AttributeError):
            pidfd = os.pidfd_open(proc.pid)
        try:
            while True:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    break
                if time.monotonic() - start >= self.timeout_s:
                    timed_out = True
                elif self.cancel is not None and self.cancel.cancelled:
                    cancelled = True
                if timed_out or cancelled:
                    break
                remaining = max(0.0, self.timeout_s - (time.monotonic() - start))
                wait = min(_POLL_S, remaining)
                if pidfd is not None:
                    select.select([pidfd], [], [], wait)
                else:
                    time.sleep(min(wait, 0.01))
        finally:
            if pidfd is not None:
                os.close(pidfd)
            # Normal exit or not: nothing of the run may outlive it.
            _kill_group(proc.pid)
            if cgroups is not None:
                cgroups.kill_all()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting
            _kill_group(proc.pid)  # members that were forking while the leader died
        return proc.returncode, usage.ru_utime + usage.ru_stime, timed_out, cancelled


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _drain(fd: int) -> str:
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _read_output(handle) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    if size <= MAX_OUTPUT_BYTES:
        data = handle.read()
    else:
        head = handle.read(_OUTPUT_HEAD)
        handle.seek(size - (MAX_OUTPUT_BYTES - _OUTPUT_HEAD))
        dropped = size - MAX_OUTPUT_BYTES
        data = head + f"\n[... {dropped} bytes of output dropped ...]\n".encode() + handle.read()
    return data.decode("utf-8", "replace")


def _limit_hit(
    rc: int,
    stdout: str,
    stderr: str,
    cgroups: RunCgroups | None,
    cpu_s: float,
    settings: EngineSettings,
    killed_by_us: bool,
) -> str | None:
    if cgroups is not None and cgroups.memory_limit_hit():
        return "memory"
    if rc == -signal.SIGXCPU:
        return "cpu"
    if rc == -signal.SIGKILL and not killed_by_us and cpu_s >= settings.cpu_seconds:
        return "cpu"
    if cgroups is not None and cgroups.processes_limit_hit():
        return "processes"
    if rc != 0 and ("MemoryError" in stderr or "MemoryError" in stdout):
        return "memory"
    return None
