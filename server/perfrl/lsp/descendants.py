"""The server's last act: nothing it started outlives it.

:func:`kill_descendants` stops every process below this one, then kills them all, then waits
(briefly) until they are gone. Stopping first matters: a process killed while its children
run leaves them orphaned (re-parented to init, no longer below this one, never killed), and a
process still running between the sweep and the kill can fork one that no sweep saw. A stopped
process forks nothing; sweeps repeat until one finds nothing new, which also catches a
process a thread of this server started meanwhile. Reads /proc (Linux); elsewhere it does
nothing.
"""

from __future__ import annotations

import os
import signal
import time

#: Sweeps for new processes before the kill (each stops what it found).
MAX_SWEEPS = 50


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` at this moment, parents before their children ([] when
    /proc cannot be read)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        found = _parent_and_state(int(entry))
        if found is not None:
            children.setdefault(found[0], []).append(int(entry))
    # Breadth first: ``below`` grows while it is read, each pid once (a tree has no cycles).
    below = list(children.get(pid, []))
    index = 0
    while index < len(below):
        below.extend(children.get(below[index], []))
        index += 1
    return below


def kill_descendants(settle_s: float = 2.0) -> set[int]:
    """SIGSTOP every process below this one until a sweep finds no new one, SIGKILL them all,
    then wait up to ``settle_s`` seconds until each is dead (a zombie or reaped). Returns the
    pids it killed. Never raises for a process that is already gone."""
    me = os.getpid()
    stopped: set[int] = set()
    for _ in range(MAX_SWEEPS):
        new = [pid for pid in descendants(me) if pid not in stopped]
        if not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        stopped.update(new)
    killed = stopped | set(descendants(me))
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and any(_running(pid) for pid in killed):
        time.sleep(0.01)
    return killed


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass  # gone already


def _parent_and_state(pid: int) -> tuple[int, str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, ValueError, IndexError):
        return None


def _running(pid: int) -> bool:
    found = _parent_and_state(pid)
    return found is not None and found[1] not in ("Z", "X")
