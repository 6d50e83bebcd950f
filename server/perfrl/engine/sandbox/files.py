"""Reading a file that sandboxed code could have written, without trusting it.

Everything under a workspace may have been replaced by the candidate: a report can be a FIFO
(opening it blocks forever), a symlink to ``/dev/zero`` or to the user's private key, a
device, a directory, or a file of gigabytes. A caller may rely on :func:`read_workspace_file`

* never following a symlink in the last path component (``O_NOFOLLOW``) nor blocking on a
  FIFO (``O_NONBLOCK``; the opened file is then refused by ``fstat``);
* returning only the content of a regular file of at most ``limit`` bytes, read from the very
  file it checked (no check-then-open race);
* raising :class:`UnsafeWorkspaceFile` (a :class:`WorkspaceSurprise`) with a short reason
  for anything else, and ``FileNotFoundError`` when nothing is there, so a caller can keep
  "the process left no report" apart from "the process left a trap".

The folder holding the file may have been replaced as well: a symlinked parent folder is
refused (the folders above it are bind-mount points the candidate cannot replace).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: Reports (summary.json, replay reports) are a few MB at most; 64 MB is far beyond any.
MAX_REPORT_BYTES = 64 * 1024 * 1024


class WorkspaceSurprise(Exception):
    """Sandboxed code changed its workspace in a way the engine refuses to go along with.

    Not a :class:`~perfrl.engine.types.PerfRLError`: it is never the user's input problem and
    must never end a job; the verifier turns it into that candidate's ``crashed`` verdict.
    """


class UnsafeWorkspaceFile(WorkspaceSurprise):
    """A file the engine reads from a workspace is not a regular file within the size cap."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a regular file"


def read_workspace_file(path: Path | str, limit: int = MAX_REPORT_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); see the module docstring."""
    path = Path(path)
    if os.path.islink(path.parent):
        raise UnsafeWorkspaceFile(f"{path.name}: its folder was replaced by a symlink")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeWorkspaceFile(f"{path.name} is a symlink") from None
        if exc.errno in (errno.ENXIO, errno.EACCES, errno.EPERM, errno.EISDIR):
            # ENXIO: a socket; EACCES: made unreadable; EISDIR with O_RDONLY never happens
            # on Linux but other kernels refuse it here.
            raise UnsafeWorkspaceFile(f"{path.name} cannot be opened ({exc.strerror})") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeWorkspaceFile(f"{path.name} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnsafeWorkspaceFile(
                f"{path.name} is {info.st_size} bytes, more than the {limit} allowed"
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            # The file may still grow (a process of the run that outlived it, without
            # bubblewrap): read at most one byte past the cap to notice.
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UnsafeWorkspaceFile(f"{path.name} grew beyond the {limit} bytes allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_workspace_file(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a new regular file at ``path``, never through what is there now.

    Whatever sandboxed code left at ``path`` (a symlink to the user's ``~/.bashrc``, a FIFO)
    is unlinked first, never followed or opened; the file is then created exclusively
    (``O_EXCL | O_NOFOLLOW``). Call it only between runs (no sandboxed process alive); raises
    :class:`UnsafeWorkspaceFile` when the folder is a symlink or a directory sits at ``path``.
    """
    path = Path(path)
    if os.path.islink(path.parent):
        raise UnsafeWorkspaceFile(f"{path.name}: its folder was replaced by a symlink")
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            raise UnsafeWorkspaceFile(f"{path.name} is a directory, not a file")
        os.unlink(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
