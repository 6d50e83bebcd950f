"""Which pid namespace this process lives in: the one fact stale-resource names depend on.

Workspace directories and cgroups are named ``perfrl-<pid namespace>-<pid>-...`` so that a
later server can tell which ones belong to servers that died. A pid only means something in
its own namespace (containers share /tmp and cgroup trees with the host), so a caller may
rely on :func:`pid_namespace` being the same string for every process of one namespace and
different across namespaces ("0" when /proc cannot say, which then never matches a real one).
"""

from __future__ import annotations

import os


def pid_namespace() -> str:
    """The inode number of ``/proc/self/ns/pid`` as a string, or "0" when unreadable."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"
