"""Download and unpack the held-out set's real libraries.

Run: ``python benchmarks/heldout/fetch_libraries.py``.

Reads ``libraries.json`` beside this file; for each library, ``pip download --no-binary :all:
--no-deps PACKAGE==VERSION`` fetches its source distribution, whose sha256 must match the one
recorded (a mismatch stops with an error: the figures were measured on those exact files),
and unpacks it into ``.libraries/PACKAGE-VERSION/`` beside this file (git-ignored; the
libraries' code is not committed). An already unpacked library is left as it is.

A caller may rely on: exit status 0 only when every library is unpacked and verified, and on
:func:`library_roots` naming the unpacked project roots that ``evaluate.py`` runs the engine on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "libraries.json"
DEFAULT_DEST = HERE / ".libraries"


def load_libraries(manifest: Path = MANIFEST) -> list[dict]:
    return json.loads(manifest.read_text(encoding="utf-8"))["libraries"]


def library_root(library: dict, dest: Path = DEFAULT_DEST) -> Path:
    """Where ``library`` is (or will be) unpacked: its sdist's top folder."""
    return dest / f"{library['package']}-{library['version']}"


def library_roots(dest: Path = DEFAULT_DEST) -> dict[str, Path]:
    """package name -> unpacked project root, for every library in the manifest."""
    return {lib["package"]: library_root(lib, dest) for lib in load_libraries()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if dest.resolve() not in target.parents and target != dest.resolve():
                raise SystemExit(f"fetch_libraries: {archive.name} holds a path outside its "
                                 f"folder: {member.name}")
            if member.issym() or member.islnk():
                raise SystemExit(f"fetch_libraries: {archive.name} holds a link: {member.name}")
        tar.extractall(dest)  # noqa: S202 - every member was checked just above


def fetch(library: dict, dest: Path) -> Path:
    """Download, check and unpack one library; returns its project root."""
    root = library_root(library, dest)
    if root.is_dir():
        return root
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"{library['package']}=={library['version']}"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
             "-d", tmp, spec],
            capture_output=True, text=True, check=False,
        )
        archive = Path(tmp) / library["sdist"]
        if done.returncode != 0 or not archive.is_file():
            raise SystemExit(f"fetch_libraries: pip could not download {spec}:\n"
                             f"{done.stderr[-2000:]}")
        found = _sha256(archive)
        if found != library["sha256"]:
            raise SystemExit(f"fetch_libraries: {archive.name} has sha256 {found}, "
                             f"expected {library['sha256']}")
        _safe_extract(archive, dest)
    if not root.is_dir():
        raise SystemExit(f"fetch_libraries: {library['sdist']} did not unpack to {root.name}/")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help="folder to unpack into (default: benchmarks/heldout/.libraries)")
    args = parser.parse_args(argv)
    for library in load_libraries():
        root = fetch(library, args.dest)
        print(f"{library['package']} {library['version']}: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
