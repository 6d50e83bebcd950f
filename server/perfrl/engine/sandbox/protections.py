"""What a sandbox enforces on this machine, in the words the report uses.

A caller may rely on every sentence being true in the mode it describes: lines about
bubblewrap appear only when runs go through bubblewrap, and without it the missing list says
plainly that candidate code can read and write the user's files. ``summary`` is one short line
for a terminal report; ``have`` and ``missing`` are the full lists (``--json``, details).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perfrl.engine.sandbox.limits import MAX_FILE_BYTES, MB, CgroupSupport
from perfrl.engine.settings import EngineSettings


@dataclass
class Protections:
    have: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    summary: str = ""


def describe(
    settings: EngineSettings,
    uses_bwrap: bool,
    no_bwrap_reason: str,
    cgroups: CgroupSupport,
    is_root: bool,
) -> Protections:
    """The protections of runs made with these settings on this machine."""
    s = settings
    result = Protections()
    have, miss = result.have, result.missing
    limits = f"cpu {s.cpu_seconds} s, {s.memory_mb} MB"
    if uses_bwrap:
        have.append("throw-away copy of the project; your files are read-only to candidate code")
        have.append(
            "bubblewrap: read-only root holding only the system folders and the interpreter; "
            "private /tmp; no network and no host Unix sockets; own pid/ipc/uts namespaces"
        )
        have.append(
            "bubblewrap: home folders, /run, /var, other projects and PerfRL's caches absent; "
            "HOME is an empty private folder"
        )
        if is_root:
            have.append("bubblewrap: all capabilities dropped")
        result.summary = f"bubblewrap (read-only files, no network, empty home; {limits})"
    else:
        have.append("throw-away copy of the project (the engine itself writes only there)")
        miss.append(
            f"no filesystem isolation ({no_bwrap_reason}): candidate code can read and write "
            "anything you can, including your project, ~/.ssh and other projects' caches"
        )
        miss.append(
            "no network isolation: candidate code can open network connections and host sockets"
        )
        result.summary = (
            f"NO ISOLATION ({no_bwrap_reason}): candidate code can read and write your files "
            f"and use the network; only limits apply ({limits})"
        )
    have.append(
        f"rlimit: cpu {s.cpu_seconds} s, memory {s.memory_mb} MB per process, "
        f"file size {MAX_FILE_BYTES // MB} MB, no core dumps"
    )
    if cgroups.pids_dir:
        have.append(f"process limit: cgroup pids.max {s.max_processes}")
    elif not is_root:
        have.append(f"process limit: RLIMIT_NPROC (+{s.max_processes} processes)")
        miss.append(
            f"no pids cgroup ({cgroups.pids_reason}); RLIMIT_NPROC counts "
            "all your processes, so the process limit is approximate"
        )
    else:
        miss.append(
            f"process count not limited: running as root, RLIMIT_NPROC is not enforced, "
            f"and no pids cgroup ({cgroups.pids_reason})"
        )
    if cgroups.memory_dir:
        have.append(f"memory limit: cgroup {s.memory_mb} MB for all processes of a run")
    else:
        miss.append(
            f"total memory of a run not limited, only each process's address space "
            f"({cgroups.memory_reason})"
        )
    have.append("wall-clock timeout and cancel kill the whole process group")
    has_cgroup = bool(cgroups.pids_dir or cgroups.memory_dir or cgroups.cpuacct_dir)
    if uses_bwrap:
        have.append("no process of a run outlives it: its pid namespace ends with it")
    elif has_cgroup:
        have.append("every process still in the run's cgroup is killed when the run ends")
        miss.append(
            "a process that moves itself out of the run's cgroup (possible without "
            "bubblewrap) or daemonizes outside it can outlive the run and keep writing"
        )
    else:
        miss.append(
            "a process that leaves the process group (a daemon) can outlive the run and keep "
            "writing"
        )
    if not uses_bwrap and is_root:
        miss.append(
            "running as root without bubblewrap: candidate code could lift its own limits"
        )
    have.append("environment scrubbed: no tokens, keys or passwords passed in")
    miss.append("disk use limited per file only, not in total")
    return result


INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
    "`sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`)"
)


def unsandboxed_warning(use_bwrap: bool | None) -> str | None:
    """One line to show before anything runs when runs will not go through bubblewrap.

    None when they will (``use_bwrap`` None with a usable bubblewrap, or True: the sandbox
    then refuses to start without it).
    """
    if use_bwrap is True:
        return None
    from perfrl.engine.sandbox.bwrap import bwrap_status

    status = bwrap_status()
    if use_bwrap is None and status.usable:
        return None
    why = "--sandbox none was chosen" if use_bwrap is False else status.reason
    hint = "" if use_bwrap is False else f"; {INSTALL_HINT}"
    return (
        f"no sandbox ({why}): candidate code runs with your permissions and can read and "
        f"write your files and use the network{hint}"
    )
