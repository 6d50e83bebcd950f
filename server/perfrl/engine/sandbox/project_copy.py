"""Copy a project into a throw-away directory, apply file replacements, and remove it again.

The user's tree is only ever read. A caller may rely on:

* :func:`copy_project` skipping version-control data, virtual environments, caches and build
  output (:data:`SKIPPED_DIRS`, ``*.egg-info``), copying file contents (never hard links, so
  writing the copy cannot write the original), and refusing a project larger than the caps
  with a :class:`PerfRLError` that says which cap and what to do;
* symlinks that point inside the project staying symlinks (rewritten relative, so they point
  into the copy), symlinks to files outside being copied as plain files (counted in the
  caps), and symlinks to directories outside or to nothing being left out (listed in
  ``CopyStats.skipped_links``);
* :func:`apply_replacements` refusing paths that leave the copy;
* :func:`remove_tree` removing whatever the candidate left behind (read-only files and
  directories, symlinks are unlinked and never followed).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.engine.sandbox.namespace import pid_namespace
from perfrl.engine.source_files import SourceDecodeError, declared_encoding, encode_source
from perfrl.engine.types import PerfRLError

SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        ".env",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
    }
)
MAX_PROJECT_BYTES = 200 * 1024 * 1024
MAX_PROJECT_FILES = 20_000


def is_skipped_dir(name: str) -> bool:
    """True for folders that are not the project's own code: never copied, never hashed.

    The one rule shared by the project copy and the baseline cache key, so a change in a
    skipped folder neither reaches the sandbox nor invalidates a cached baseline.
    """
    return name in SKIPPED_DIRS or name.endswith(".egg-info")


@dataclass
class CopyStats:
    files: int = 0
    bytes: int = 0
    skipped_links: list[str] = field(default_factory=list)


class _Copier:
    def __init__(self, src: Path, dest: Path, max_bytes: int, max_files: int) -> None:
        self.src = src
        self.dest = dest
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.stats = CopyStats()

    def _count(self, size: int) -> None:
        self.stats.files += 1
        self.stats.bytes += size
        if self.stats.files > self.max_files:
            raise PerfRLError(
                f"The project at {self.src} has more than {self.max_files} files (not counting "
                f"{', '.join(sorted(SKIPPED_DIRS))} and *.egg-info), too many to copy into the "
                "sandbox. Open a smaller project root (the folder with your package and its "
                "tests) or move data files out of it."
            )
        if self.stats.bytes > self.max_bytes:
            raise PerfRLError(
                f"The project at {self.src} is larger than {self.max_bytes // (1024 * 1024)} MB "
                "(skipped directories not counted), too large to copy into the sandbox. Open a "
                "smaller project root or move large data files out of it."
            )

    def _copy_file(self, src: str, dest: str) -> None:
        size = os.stat(src).st_size
        self._count(size)
        # copyfile (not copy2/link) so that the copy shares no inode with the original.
        shutil.copyfile(src, dest, follow_symlinks=True)
        shutil.copymode(src, dest)

    def _inside(self, target: str) -> bool:
        root = str(self.src)
        return target == root or target.startswith(root + os.sep)

    def _copy_link(self, src_path: str, dest_path: str, rel: str) -> None:
        target = os.path.realpath(src_path)
        if self._inside(target):
            # Point into the copy: a relative link from the link's directory to the target.
            rel_target = os.path.relpath(target, self.src)
            link_dir = os.path.dirname(os.path.join(str(self.dest), rel))
            os.symlink(
                os.path.relpath(os.path.join(str(self.dest), rel_target), link_dir), dest_path
            )
            self._count(0)
        elif os.path.isfile(target):
            self._copy_file(target, dest_path)
        else:
            self.stats.skipped_links.append(rel)

    def copy(self) -> CopyStats:
        self.dest.mkdir(parents=True, exist_ok=False)
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            src_dir = os.path.join(str(self.src), rel_dir)
            try:
                entries = list(os.scandir(src_dir))
            except PermissionError:
                continue
            for entry in entries:
                rel = os.path.join(rel_dir, entry.name) if rel_dir else entry.name
                dest_path = os.path.join(str(self.dest), rel)
                if entry.is_symlink():
                    if not is_skipped_dir(entry.name):
                        self._copy_link(entry.path, dest_path, rel)
                elif entry.is_dir(follow_symlinks=False):
                    if is_skipped_dir(entry.name):
                        continue
                    os.mkdir(dest_path)
                    shutil.copymode(entry.path, dest_path)
                    stack.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    self._copy_file(entry.path, dest_path)
                # Sockets, FIFOs and devices are not project content: left out.
        return self.stats


def copy_project(
    src: Path,
    dest: Path,
    max_bytes: int = MAX_PROJECT_BYTES,
    max_files: int = MAX_PROJECT_FILES,
) -> CopyStats:
    """Copy the project ``src`` to the new directory ``dest`` (see the module docstring)."""
    src = Path(os.path.realpath(src))
    if not src.is_dir():
        raise PerfRLError(f"The project root {src} is not a directory.")
    # Directories made without write permission for the owner would stop us filling them;
    # copymode is applied to directories after their content would be cleaner but the copy
    # is private, so make every copied directory owner-writable instead.
    stats = _Copier(src, Path(dest), max_bytes, max_files).copy()
    for dirpath, dirnames, _ in os.walk(dest):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
    return stats


def apply_replacements(root: Path, replacements: dict[str, str]) -> None:
    """Write each ``relative path -> text`` into the copy at ``root`` (files may be new).

    Text is written in the encoding its coding line declares (UTF-8 without one), with no
    newline translation. Paths must be relative and stay
    inside ``root`` (no ``..``, no symlink out), else PerfRLError.
    """
    root_real = os.path.realpath(root)
    for rel, text in replacements.items():
        if not isinstance(text, str):
            raise PerfRLError(f"Replacement for {rel!r} must be text, got {type(text).__name__}.")
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts or not rel_path.parts:
            raise PerfRLError(
                f"Replacement path {rel!r} must be relative to the project root and stay in it."
            )
        target = Path(root) / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        parent_real = os.path.realpath(target.parent)
        if parent_real != root_real and not parent_real.startswith(root_real + os.sep):
            raise PerfRLError(f"Replacement path {rel!r} leads outside the project copy.")
        if target.is_symlink():
            target.unlink()  # replace the link itself, never write through it
        elif target.exists():
            os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR)
        # In the encoding the text's own coding line declares (latin-1 stays latin-1), so
        # the copy reads as the same text the user's file does.
        try:
            data = encode_source(text, declared_encoding(text))
        except SourceDecodeError as exc:
            raise PerfRLError(f"Cannot write {rel} in its declared encoding: {exc}.") from None
        with open(target, "wb") as handle:
            handle.write(data)


def _make_removable(func, path, exc_info) -> None:
    """rmtree error handler: grant the owner rwx on the parent (and dir itself), retry once."""
    parent = os.path.dirname(path)
    try:
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        if not os.path.islink(path) and os.path.isdir(path):
            os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
    except OSError:
        pass
    try:
        if func in (os.rmdir, os.unlink, os.remove):
            func(path)
        elif not os.path.islink(path) and os.path.isdir(path):
            shutil.rmtree(path, onerror=_last_try)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def _last_try(func, path, exc_info) -> None:
    try:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        func(path)
    except OSError:
        pass


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it; never follows symlinks. Missing is fine.

    Whatever sandboxed code left there (mode-000 or read-only folders, FIFOs, sockets, folders
    nested thousands deep) is removed; raises OSError only when something is still there after
    every way was tried.
    """
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    try:
        _remove_tree_python(path)
    except (OSError, RecursionError):
        pass  # e.g. folders nested deeper than Python's recursion limit
    if os.path.lexists(path):
        _remove_tree_tools(path)
    if os.path.lexists(path):
        raise OSError(f"could not remove {path}")


def _remove_tree_python(path: Path) -> None:
    # Directories without rx for the owner cannot even be listed: open them all up first.
    for dirpath, dirnames, _ in os.walk(path, onerror=lambda _e: None):
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            if not os.path.islink(sub):
                try:
                    os.chmod(sub, stat.S_IRWXU)
                except OSError:
                    pass
    try:
        os.chmod(path, stat.S_IRWXU)
    except OSError:
        pass
    shutil.rmtree(path, onerror=_make_removable)
    if os.path.lexists(path):
        # A directory that was unreadable during the walk above: one more full pass.
        shutil.rmtree(path, onerror=_make_removable)


def _remove_tree_tools(path: Path) -> None:
    """coreutils walk any depth without recursion; chmod -R never follows symlinks."""
    for _ in range(3):
        for argv in (["chmod", "-R", "u+rwx", "--", str(path)], ["rm", "-rf", "--", str(path)]):
            try:
                subprocess.run(argv, check=False, capture_output=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if not os.path.lexists(path):
            return


def workspace_prefix() -> str:
    """``perfrl-<pid namespace>-<pid>-ws-``: lets a later server find workspaces of dead ones."""
    return f"perfrl-{pid_namespace()}-{os.getpid()}-ws-"


_STALE = re.compile(r"^perfrl-(\d+)-(\d+)-ws-[A-Za-z0-9_]+$")


def remove_stale_workspaces(tmpdir: str) -> list[str]:
    """Remove workspaces in ``tmpdir`` left by servers of this pid namespace that died.

    Only directories named by :func:`workspace_prefix` whose pid no longer exists are touched
    (a server killed with SIGKILL cannot clean up); returns the names removed.
    """
    removed: list[str] = []
    namespace = pid_namespace()
    try:
        names = os.listdir(tmpdir)
    except OSError:
        return removed
    for name in names:
        match = _STALE.match(name)
        if not match or match.group(1) != namespace:
            continue
        pid = int(match.group(2))
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        path = os.path.join(tmpdir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                remove_tree(Path(path))
            except OSError:
                continue  # a later server tries again
            removed.append(name)
    return removed
