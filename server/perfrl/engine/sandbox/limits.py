"""Resource limits for sandboxed runs: rlimits and per-run cgroups (v1 pids and memory).

Why cgroups: ``RLIMIT_NPROC`` is never enforced for processes whose real uid is root (also
inside a user namespace whose uid maps to root) and it counts *all* processes of the user, so
it cannot contain a fork bomb reliably. A per-run pids cgroup (``pids.max``) can, and a memory
cgroup bounds the total memory of the whole run, where ``RLIMIT_AS`` is per process.

A caller may rely on:

* :func:`cgroup_support` probing once per process (mkdir/rmdir of a test group) and saying
  why a controller is unusable;
* :class:`RunCgroups` creating its groups as children of this process's own cgroups (so any
  limits already placed on the server still apply), killing every process in them with
  :meth:`RunCgroups.kill_all`, and removing them in :meth:`RunCgroups.remove` (groups left by
  a crashed server are removed by the next probe);
* :func:`rlimits_for` returning the limits the launcher applies, as ``[name, soft, hard]``.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass

from perfrl.engine.sandbox.namespace import pid_namespace
from perfrl.engine.settings import EngineSettings

MB = 1024 * 1024
# Largest file a sandboxed process may write (SIGXFSZ beyond); also bounds captured output.
MAX_FILE_BYTES = 512 * MB
# Seconds between the soft CPU limit (SIGXCPU) and the hard one (SIGKILL).
CPU_GRACE_S = 2
_GROUP_PREFIX = "perfrl-"


def rlimits_for(settings: EngineSettings, nproc: int | None) -> list[list]:
    """The rlimits of every sandboxed process; ``nproc`` None leaves RLIMIT_NPROC alone."""
    memory = settings.memory_mb * MB
    limits: list[list] = [
        ["RLIMIT_CPU", settings.cpu_seconds, settings.cpu_seconds + CPU_GRACE_S],
        ["RLIMIT_AS", memory, memory],
        ["RLIMIT_FSIZE", MAX_FILE_BYTES, MAX_FILE_BYTES],
        ["RLIMIT_CORE", 0, 0],
    ]
    if nproc is not None:
        limits.append(["RLIMIT_NPROC", nproc, nproc])
    return limits


def count_user_tasks(uid: int) -> int:
    """Threads currently owned by ``uid`` (what RLIMIT_NPROC counts against)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            total += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class CgroupSupport:
    """Where per-run groups can be made (None: not usable, with the reason)."""

    pids_dir: str | None
    memory_dir: str | None
    pids_reason: str
    memory_reason: str
    # cpuacct only measures (CPU time of the whole run, which rusage misses under bubblewrap).
    cpuacct_dir: str | None = None


def _v1_mounts() -> dict[str, tuple[str, str]]:
    """controller -> (mount root inside the hierarchy, mount point) for cgroup v1 mounts."""
    mounts: dict[str, tuple[str, str]] = {}
    try:
        with open("/proc/self/mountinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return mounts
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        for option in tail[2].split(","):
            if option in ("pids", "memory", "cpuacct"):
                mounts.setdefault(option, (fields[3], fields[4].replace("\\040", " ")))
    return mounts


def _own_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as handle:
            for line in handle:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for controller in parts[1].split(","):
                        paths[controller] = parts[2]
    except OSError:
        pass
    return paths


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_name(kind: str) -> str:
    """``perfrl-<pid namespace>-<pid>-<kind>-<random>``: owner findable, unique."""
    return f"{_GROUP_PREFIX}{pid_namespace()}-{os.getpid()}-{kind}-{secrets.token_hex(6)}"


def _remove_stale(base: str) -> None:
    """Remove groups left by servers of this pid namespace that died before cleaning up.

    Groups of other pid namespaces are never touched: their pids mean nothing here.
    """
    try:
        names = os.listdir(base)
    except OSError:
        return
    namespace = pid_namespace()
    for name in names:
        parts = name.split("-")
        if not name.startswith(_GROUP_PREFIX) or len(parts) < 5 or parts[1] != namespace:
            continue
        try:
            owner = int(parts[2])
        except ValueError:
            continue
        if owner != os.getpid() and not _pid_alive(owner):
            try:
                os.rmdir(os.path.join(base, name))
            except OSError:
                pass  # still has processes; a later probe retries


def _probe(controller: str, limit_file: str, value: str) -> tuple[str | None, str]:
    mounts = _v1_mounts()
    if controller not in mounts:
        return None, f"no cgroup v1 {controller} controller mounted"
    mount_root, mount_point = mounts[controller]
    own = _own_paths().get(controller)
    if own is None:
        return None, f"this process is in no {controller} cgroup"
    if mount_root != "/" and not (own == mount_root or own.startswith(mount_root + "/")):
        return None, f"own {controller} cgroup {own} is not visible under {mount_point}"
    rel = own[len(mount_root) :] if mount_root != "/" else own
    base = os.path.join(mount_point, rel.lstrip("/"))
    probe = os.path.join(base, _group_name("probe"))
    try:
        os.mkdir(probe)
    except OSError as exc:
        return None, f"cannot create a {controller} cgroup under {base} ({exc.strerror})"
    try:
        with open(os.path.join(probe, limit_file), "w") as handle:
            handle.write(value)
    except OSError as exc:
        return None, f"cannot set {limit_file} ({exc.strerror})"
    finally:
        try:
            os.rmdir(probe)
        except OSError:
            pass
    _remove_stale(base)
    return base, ""


_support: CgroupSupport | None = None
_support_lock = threading.Lock()


def cgroup_support() -> CgroupSupport:
    """Probe (once per process) whether per-run pids and memory cgroups can be made."""
    global _support
    with _support_lock:
        if _support is None:
            pids_dir, pids_reason = _probe("pids", "pids.max", "64")
            memory_dir, memory_reason = _probe("memory", "memory.limit_in_bytes", str(256 * MB))
            cpuacct_dir, _ = _probe("cpuacct", "cpuacct.usage", "0")
            _support = CgroupSupport(pids_dir, memory_dir, pids_reason, memory_reason, cpuacct_dir)
        return _support


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> bool:
    try:
        with open(path, "w") as handle:
            handle.write(value)
        return True
    except OSError:
        return False


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            try:
                return int(parts[1])
            except ValueError:
                return 0
    return 0


class RunCgroups:
    """The pids and/or memory cgroup of one sandboxed run."""

    def __init__(self, support: CgroupSupport, max_pids: int | None, memory_bytes: int | None):
        name = _group_name("run")
        self.pids: str | None = None
        self.memory: str | None = None
        self.cpuacct: str | None = None
        # pids.events "max" read just before pids.max was set to 0 to stop forks for the kill
        # (forks refused after that are our doing, not the candidate hitting its limit).
        self._pids_events_at_freeze: int | None = None
        try:
            if support.pids_dir and max_pids is not None:
                self.pids = os.path.join(support.pids_dir, name)
                os.mkdir(self.pids)
                if not _write(os.path.join(self.pids, "pids.max"), str(max_pids)):
                    raise OSError(errno.EIO, "cannot set pids.max")
            if support.memory_dir and memory_bytes is not None:
                self.memory = os.path.join(support.memory_dir, name)
                os.mkdir(self.memory)
                if not _write(
                    os.path.join(self.memory, "memory.limit_in_bytes"), str(memory_bytes)
                ):
                    raise OSError(errno.EIO, "cannot set memory.limit_in_bytes")
                # Without swap accounting the file is absent; with it, swap may not bypass us.
                memsw = os.path.join(self.memory, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    _write(memsw, str(memory_bytes))
            if support.cpuacct_dir:
                self.cpuacct = os.path.join(support.cpuacct_dir, name)
                os.mkdir(self.cpuacct)
        except OSError:
            self.remove()
            raise

    def procs_files(self) -> list[str]:
        """``cgroup.procs`` files the launcher writes its pid into."""
        dirs = (self.pids, self.memory, self.cpuacct)
        return [os.path.join(d, "cgroup.procs") for d in dirs if d]

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process of the run so far (None without cpuacct)."""
        if not self.cpuacct:
            return None
        text = _read(os.path.join(self.cpuacct, "cpuacct.usage")).strip()
        return int(text) / 1e9 if text.isdigit() else None

    def processes_limit_hit(self) -> bool:
        """True when a fork or clone failed because of ``pids.max``."""
        if self._pids_events_at_freeze is not None:
            return self._pids_events_at_freeze > 0
        return self._pids_events() > 0

    def _pids_events(self) -> int:
        if not self.pids:
            return 0
        return _counter(_read(os.path.join(self.pids, "pids.events")), "max")

    def memory_limit_hit(self) -> bool:
        """True when the kernel OOM-killed a process of this run."""
        if not self.memory:
            return False
        return _counter(_read(os.path.join(self.memory, "memory.oom_control")), "oom_kill") > 0

    def _members(self) -> list[int]:
        pids: set[int] = set()
        for directory in (self.pids, self.memory, self.cpuacct):
            if directory:
                for token in _read(os.path.join(directory, "cgroup.procs")).split():
                    if token.isdigit():
                        pids.add(int(token))
        return sorted(pids)

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process of the run (forks are frozen first); True when none is left."""
        if self.pids and self._pids_events_at_freeze is None:
            self._pids_events_at_freeze = self._pids_events()
            # A fork bomb keeps forking while we kill: forbid new processes first.
            _write(os.path.join(self.pids, "pids.max"), "0")
        deadline = time.monotonic() + timeout_s
        while True:
            members = self._members()
            if not members:
                return True
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        """Remove the groups (after :meth:`kill_all`); retried briefly while tasks exit."""
        for attr in ("pids", "memory", "cpuacct"):
            directory = getattr(self, attr)
            if not directory:
                continue
            for _ in range(100):
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            setattr(self, attr, None)
