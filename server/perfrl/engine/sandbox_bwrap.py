"""bubblewrap: whether it works here, and the command line that isolates one run.

Mount plan (order matters, later mounts cover earlier ones)::

    --ro-bind / /                 everything read-only, including the user's real project
    --dev /dev --proc /proc       private devices and a procfs of the new pid namespace
    --tmpfs /tmp                  private, size-capped /tmp (hides the host's /tmp)
    --ro-bind P P                 interpreter dirs that lived under the host's /tmp
    --tmpfs ~/.ssh ...            credentials in the real HOME hidden (files: an empty file)
    --bind WS WS                  the workspace (copy, data, home, tmp) writable, same path
    --ro-bind RT RT               the engine's runtime scripts read-only again

The workspace usually lives under the host's /tmp, which the private /tmp hides; binding it
*after* the tmpfs makes bubblewrap create the mount point inside the tmpfs, so the copy is at
the same absolute path inside and outside. A caller may rely on :func:`bwrap_status` probing
once per process with a real sandboxed ``true``, and on :func:`bwrap_argv` adding
``--cap-drop ALL`` when running as root (root would otherwise keep its capabilities).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

# Files and directories in the real HOME that hold credentials; hidden inside the sandbox.
CREDENTIALS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".docker",
    ".kube",
    ".config/gcloud",
    ".config/gh",
    ".netrc",
    ".pypirc",
    ".git-credentials",
    ".npmrc",
)
_TMP = "/tmp"


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


def bwrap_argv(
    bwrap: str,
    workspace: str,
    readonly_inside: list[str],
    interpreter_dirs: list[str],
    cwd: str,
    tmp_size_bytes: int | None,
    status_fd: int | None,
    empty_file: str,
) -> list[str]:
    """The bubblewrap prefix for one run (append the command after it).

    ``workspace`` is bound writable at its own path; ``readonly_inside`` are paths within it
    bound read-only again; ``interpreter_dirs`` are directories the interpreter needs that the
    private /tmp would hide (others are visible through the read-only root anyway);
    ``empty_file`` (an existing empty regular file) is mounted over credential files, so they
    read as empty instead of failing.
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
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if tmp_size_bytes is not None:
        argv += ["--size", str(tmp_size_bytes)]
    argv += ["--tmpfs", _TMP]
    hidden = [d for d in interpreter_dirs if _under(os.path.realpath(d), _TMP) or _under(d, _TMP)]
    for directory in _outermost(hidden):
        if not _under(workspace, directory):
            argv += ["--ro-bind", directory, directory]
    home = os.environ.get("HOME")
    if home and os.path.isabs(home) and not _under(home, _TMP):
        for name in CREDENTIALS:
            path = os.path.join(home, name)
            if os.path.islink(path) or not os.path.exists(path):
                continue
            if os.path.isdir(path):
                argv += ["--tmpfs", path]
            else:
                argv += ["--ro-bind", empty_file, path]
    argv += ["--bind", workspace, workspace]
    for path in readonly_inside:
        argv += ["--ro-bind", path, path]
    argv += ["--chdir", cwd, "--"]
    return argv
