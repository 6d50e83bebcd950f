"""The processes below a pid and which of them still live, read from /proc (Linux): how the
tests check that nothing a server or an editor started outlives it."""

from __future__ import annotations

import os


def _parent_and_state(pid: str) -> tuple[int, str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...) at this moment."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _parent_and_state(entry)) is not None:
            children.setdefault(found[0], []).append(int(entry))
    below, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    return below


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies count as gone)."""
    return {pid for pid in pids
            if (found := _parent_and_state(str(pid))) is not None and found[1] != "Z"}


def processes_with(marker: str) -> list[int]:
    """Live pids (zombies count as gone) whose command line contains ``marker``, this process
    aside: how a test finds what escaped a process tree (an orphan is no longer below it)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{name}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(name))
    return found


def describe(pid: int) -> str:
    """``pid``'s command line, parent and state, for a failure message (why a process is
    still there is easier to see with its parent)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")[:300]
    except OSError:
        return f"{pid}: gone"
    found = _parent_and_state(str(pid))
    parent, state = found if found is not None else ("?", "?")
    try:  # where in the kernel it waits (a process in state D cannot die yet)
        with open(f"/proc/{pid}/wchan") as handle:
            waits = handle.read().strip() or "-"
    except OSError:
        waits = "?"
    return f"{pid} (parent {parent}, state {state}, waiting in {waits}): {cmdline}"


def command_line(pid: int) -> list[str] | None:
    """``pid``'s arguments (``argv``), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
