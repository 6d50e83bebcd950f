"""bubblewrap: whether it works here, and the command line that isolates one run.

Mount plan (an allow-list; order matters, later mounts cover earlier ones)::

    --ro-bind /usr /usr ...       only the system folders (:data:`SYSTEM_DIRS`), read-only;
    --symlink usr/bin /bin ...    top-level symlinks as they are
    --dev /dev --proc /proc       private devices and a procfs of the new pid namespace
    --tmpfs /tmp                  private, size-capped /tmp
    --ro-bind /dev/null F         for root-only secrets in /etc (host keys, shadow)
    --ro-bind P P                 the interpreter's own folders (prefix, sys.path) elsewhere
    --tmpfs C                     PerfRL's caches, where one of the binds above shows them
    --bind WS WS                  the workspace (copy, data, home, tmp) writable, same path
    --ro-bind RT RT               the engine's runtime scripts, read-only
    --remount-ro /                the sandbox's own root (a tmpfs bubblewrap made) read-only

Everything else of the host is absent: home folders (HOME in the sandbox is an empty private
folder), /run, /var and the host's /tmp with their Unix sockets, other projects and their
cache entries. Nothing is mounted from a path sandboxed code could have replaced: every bind
source is a system or interpreter folder, ``/dev/null``, or the workspace's own bind-mount
point, and the runtime folder lies outside the writable part.

The workspace usually lives under the host's /tmp; binding it *after* the tmpfs makes
bubblewrap create the mount point inside the tmpfs, so the copy is at the same absolute path
inside and outside. A caller may rely on :func:`bwrap_status` probing once per process with a
real sandboxed ``true``, and on :func:`bwrap_argv` adding ``--cap-drop ALL`` when running as
root (root would otherwise keep its capabilities). Abstract Unix sockets belong to a network
namespace, so ``--unshare-net`` hides the host's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

_TMP = "/tmp"  # noqa: S108 - the sandbox's own private tmpfs, mounted at /tmp inside
#: Top-level folders shown (read-only) inside the sandbox: programs, libraries, settings.
SYSTEM_DIRS = frozenset(
    {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt", "sys", "nix", "gnu"}
)
# Readable by root only; covered with /dev/null when present (root keeps uid 0 inside).
_ROOT_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
_ROOT_SECRET_DIRS = ("/etc/ssh", "/etc/sudoers.d")


@dataclass(frozen=True)
class BwrapStatus:
    path: str | None
    usable: bool
    reason: str  # why not usable, for the user
    version: tuple[int, ...] = (0,)

    @property
    def has_tmpfs_size(self) -> bool:
        """``--size`` for ``--tmpfs`` exists since bubblewrap 0.7 (Ubuntu 22.04 has 0.6)."""
        return self.version >= (0, 7)

    @property
    def has_json_status(self) -> bool:
        """``--json-status-fd`` exists since bubblewrap 0.5."""
        return self.version >= (0, 5)


def _version(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [path, "--version"], check=False, capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    numbers = re.findall(r"\d+", out.split()[-1]) if out.split() else []
    return tuple(int(n) for n in numbers) or (0,)


_status: BwrapStatus | None = None
_status_lock = threading.Lock()


def bwrap_status() -> BwrapStatus:
    """Find ``bwrap`` on PATH and check, once per process, that it can build a sandbox."""
    global _status
    with _status_lock:
        if _status is None:
            _status = _probe()
        return _status


def _probe() -> BwrapStatus:
    path = shutil.which("bwrap")
    if path is None:
        return BwrapStatus(None, False, "bubblewrap (bwrap) is not installed")
    argv = [
        path,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        _TMP,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
    ]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += ["--", "true"]
    try:
        proc = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return BwrapStatus(path, False, f"bubblewrap at {path} does not run ({exc})")
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1:] or ["no message"]
        return BwrapStatus(
            path,
            False,
            f"bubblewrap at {path} cannot create a sandbox here ({detail[0]}); "
            "user namespaces may be disabled",
        )
    return BwrapStatus(path, True, "", _version(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths that lie under another path of the list."""
    result: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(_under(path, kept) for kept in result):
            result.append(path)
    return result


def _system_mounts() -> list[str]:
    argv: list[str] = []
    try:
        entries = sorted(os.listdir("/"))
    except OSError:
        entries = sorted(SYSTEM_DIRS)
    for name in entries:
        path = "/" + name
        if os.path.islink(path):
            target = os.readlink(path)
            if name in SYSTEM_DIRS or target.lstrip("/").split("/")[0] in SYSTEM_DIRS:
                argv += ["--symlink", target, path]
        elif name in SYSTEM_DIRS and os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def _homes() -> list[str]:
    homes = ["/home", "/root"]
    for home in (os.environ.get("HOME"), os.path.expanduser("~")):
        if home and os.path.isabs(home):
            homes.append(os.path.realpath(home))
    return homes


def _shown(path: str) -> bool:
    """True when the system mounts already show ``path``."""
    return path.lstrip("/").split("/")[0] in SYSTEM_DIRS


def interpreter_binds(interpreter_dirs: list[str], workspace: str) -> list[str]:
    """Interpreter folders to bind back read-only: those the system mounts do not show.

    A folder that is ``/`` or holds a home folder (a sys.path entry equal to ``~``) is never
    bound: it would show the user's files. Folders under a home (``~/.pyenv/...``) are.
    """
    needed: list[str] = []
    homes = _homes()
    for directory in interpreter_dirs:
        for path in dict.fromkeys((os.path.abspath(directory), os.path.realpath(directory))):
            if path == "/" or _shown(path) or _under(path, workspace) or _under(workspace, path):
                continue
            if any(_under(home, path) for home in homes):
                continue
            if os.path.isdir(path):
                needed.append(path)
    return _outermost(needed)


def launcher_roots(interpreter: str) -> list[str]:
    """Folders a version manager's shim needs besides the interpreter's own.

    ``~/.pyenv/shims/python3`` (pyenv, asdf) is a script that runs the manager from its root
    (``~/.pyenv``: ``libexec``, ``versions``, the ``version`` file), so the root is shown too;
    it holds interpreters and their settings, no user data.
    """
    path = os.path.abspath(interpreter)
    folder = os.path.dirname(path)
    if os.path.basename(folder) != "shims" or os.path.realpath(path) != path:
        return []
    try:
        with open(path, "rb") as handle:
            is_script = handle.read(2) == b"#!"
    except OSError:
        return []
    return [os.path.dirname(folder)] if is_script else []


def bwrap_argv(
    bwrap: str,
    workspace: str,
    readonly: list[str],
    interpreter_dirs: list[str],
    cwd: str,
    tmp_size_bytes: int | None,
    status_fd: int | None,
    hidden: list[str],
) -> list[str]:
    """The bubblewrap prefix for one run (append the command after it).

    ``workspace`` is bound writable at its own path; ``readonly`` are engine directories
    (outside ``workspace``) bound read-only; ``interpreter_dirs`` are shown read-only where
    the system folders do not show them already; ``hidden`` (PerfRL's caches) are covered by
    an empty tmpfs where any of that would show them.
    """
    argv = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "perfrl-sandbox",
    ]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    argv += _system_mounts()
    argv += ["--dev", "/dev", "--proc", "/proc"]
    if tmp_size_bytes is not None:
        argv += ["--size", str(tmp_size_bytes)]
    argv += ["--tmpfs", _TMP]
    for path in _ROOT_SECRETS:
        if os.path.isfile(path) and not os.path.islink(path):
            argv += ["--ro-bind", "/dev/null", path]
    for path in _ROOT_SECRET_DIRS:
        if os.path.isdir(path) and not os.path.islink(path):
            argv += ["--tmpfs", path]
    binds = interpreter_binds(interpreter_dirs, workspace)
    for directory in binds:
        argv += ["--ro-bind", directory, directory]
    for place in hidden:
        real = os.path.realpath(place)
        shown = _shown(real) or any(_under(real, b) for b in binds)
        if shown and os.path.isdir(real) and not _under(workspace, real):
            argv += ["--tmpfs", real]
    argv += ["--bind", workspace, workspace]
    for path in readonly:
        argv += ["--ro-bind", path, path]
    # The sandbox's own root is a tmpfs bubblewrap made: read-only too, or writing there
    # would be an unbounded store in memory.
    argv += ["--remount-ro", "/", "--chdir", cwd, "--"]
    return argv
