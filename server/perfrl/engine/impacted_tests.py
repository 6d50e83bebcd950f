"""Which of the project's tests can see a change to the target's module: a static import graph.

A rewrite is checked by the tests that call it; but it can also change what *other* code of
the project sees (a module global it sets, a shared object it mutates), which only the tests
of that other code notice (issue 12, finding 8). This module finds those tests cheaply and
safely: every ``.py`` file of the project is parsed with :mod:`ast` (user code is never
imported or run), and a test file is *impacted* when it imports the target's module directly
or through the project's own modules, or when a ``conftest.py`` above it does.

A caller may rely on:

- :func:`impacted_test_files` over-approximating rather than missing an import it can see:
  ``import a.b`` also counts as importing ``a`` (a package's ``__init__`` runs), ``from a
  import b`` counts as importing ``a`` and the submodule ``a.b`` when one exists, imports
  inside functions and ``try`` blocks count, relative imports are resolved against the
  file's package, and ``importlib.import_module("a.b")`` / ``__import__("a.b")`` with a
  literal name count. Names resolve against the project root, ``src/``, the target's import
  root and each file's pytest base directory (the first folder upwards without
  ``__init__.py``, which pytest's default import mode puts on ``sys.path``). Imports built
  at run time from non-literal strings are not seen.
- :func:`choose_scope` saying whether to run the whole suite (when the baseline's full run
  took at most :data:`QUICK_SUITE_S`) or only the impacted files, and why, in words.
- Files that do not parse, cannot be read or are not valid source in their declared encoding
  being skipped (they import nothing as far as this module can tell).
"""

from __future__ import annotations

import ast
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.engine.sandbox import is_skipped_dir
from perfrl.engine.source_files import SourceDecodeError, decode_source

#: A suite whose whole baseline run took at most this long is rerun whole: cheaper than
#: being wrong about an import the static graph cannot see.
QUICK_SUITE_S = 30.0
#: Files larger than this are not parsed (generated data modules, vendored bundles).
_MAX_FILE_BYTES = 2 * 1024 * 1024


def is_test_file(relpath: str) -> bool:
    """pytest's default ``python_files``: ``test_*.py`` and ``*_test.py``."""
    name = relpath.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def project_python_files(root: Path) -> list[str]:
    """Project-relative POSIX paths of the project's ``.py`` files, in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not is_skipped_dir(d)
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return found


@dataclass(frozen=True)
class _Import:
    """One imported name: ``module`` (dotted, may be empty for ``from . import x``),
    the names taken from it (``from m import a, b``), and the relative level."""

    module: str
    names: tuple[str, ...] = ()
    level: int = 0


def _literal_imports(tree: ast.AST) -> Iterable[_Import]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _Import(alias.name)
        elif isinstance(node, ast.ImportFrom):
            yield _Import(node.module or "", tuple(a.name for a in node.names), node.level)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                name = first.value.lstrip(".")
                yield _Import(name, (), len(first.value) - len(name))


def _parse(path: Path) -> ast.AST | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            return None
        text, _ = decode_source(path.read_bytes())
        return ast.parse(text.removeprefix("\ufeff"), str(path))
    except (OSError, SourceDecodeError, SyntaxError, ValueError, RecursionError):
        return None


@dataclass
class ImportGraph:
    """Project files and, for each, the project files its imports can load."""

    root: Path
    files: list[str]
    imports: dict[str, set[str]] = field(default_factory=dict)

    def importers(self, target: str) -> set[str]:
        """Every file that loads ``target`` directly or through other project files,
        ``target`` included."""
        reverse: dict[str, set[str]] = {}
        for source, targets in self.imports.items():
            for imported in targets:
                reverse.setdefault(imported, set()).add(source)
        reached = {target}
        queue = deque([target])
        while queue:
            for importer in reverse.get(queue.popleft(), ()):
                if importer not in reached:
                    reached.add(importer)
                    queue.append(importer)
        return reached


@dataclass(frozen=True)
class _Files:
    """The project's .py paths and every folder that holds one (for namespace packages)."""

    paths: frozenset[str]
    folders: frozenset[str]

    @classmethod
    def of(cls, files: Iterable[str]) -> _Files:
        paths = frozenset(files)
        folders = set()
        for path in paths:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folders.add("/".join(parts[:depth]))
        return cls(paths, frozenset(folders))


def _pytest_base(relpath: str, file_set: frozenset[str]) -> str:
    """The folder pytest's default import mode puts on sys.path for this file."""
    folder = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
    while folder and f"{folder}/__init__.py" in file_set:
        folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
    return folder


def _module_files(root_rel: str, dotted: str, files: _Files) -> set[str]:
    """Files that ``import dotted`` loads from the sys.path entry ``root_rel``: the module
    itself and every package ``__init__`` on the way (namespace packages have none)."""
    if not dotted:
        return set()
    prefix = f"{root_rel}/" if root_rel else ""
    parts = dotted.split(".")
    loaded = set()
    for depth in range(1, len(parts) + 1):
        base = prefix + "/".join(parts[:depth])
        if depth == len(parts) and f"{base}.py" in files.paths:
            loaded.add(f"{base}.py")
        if f"{base}/__init__.py" in files.paths:
            loaded.add(f"{base}/__init__.py")
        elif base not in files.folders:
            break  # no such package here: the rest of the name cannot be in this root
    return loaded


def build_import_graph(root: Path, extra_roots: Iterable[Path] = ()) -> ImportGraph:
    """Parse every project file and resolve its imports to project files.

    ``extra_roots`` are further ``sys.path`` folders (such as the target's import root)."""
    root = Path(root)
    files = project_python_files(root)
    known = _Files.of(files)
    roots = {""}
    if (root / "src").is_dir():
        roots.add("src")
    for extra in extra_roots:
        try:
            rel = Path(extra).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        roots.add("" if rel == "." else rel)
    graph = ImportGraph(root=root, files=files)
    for relpath in files:
        tree = _parse(root / relpath)
        loaded: set[str] = set()
        if tree is not None:
            own_roots = roots | {_pytest_base(relpath, known.paths)}
            package_dir = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
            for imported in _literal_imports(tree):
                loaded |= _resolve(imported, package_dir, own_roots, known)
        loaded.discard(relpath)
        graph.imports[relpath] = loaded
    return graph


def _resolve(imported: _Import, package_dir: str, roots: set[str], files: _Files) -> set[str]:
    search = roots
    loaded = set()
    if imported.level:
        # Relative: level 1 is the file's own package folder, each level more one folder up.
        base = package_dir
        for _ in range(imported.level - 1):
            base = base.rsplit("/", 1)[0] if "/" in base else ""
        search = {base}
        init = f"{base}/__init__.py" if base else "__init__.py"
        if init in files.paths:
            loaded.add(init)
    for root_rel in search:
        loaded |= _module_files(root_rel, imported.module, files)
        for name in imported.names:
            if name == "*":
                continue
            # ``from pkg import module`` loads the submodule when there is one.
            full = f"{imported.module}.{name}" if imported.module else name
            loaded |= _module_files(root_rel, full, files)
    return loaded


def impacted_test_files(
    root: Path,
    target_relpath: str,
    test_files: Iterable[str] | None = None,
    extra_roots: Iterable[Path] = (),
) -> list[str]:
    """Test files (project-relative POSIX paths, sorted) that load ``target_relpath``.

    ``test_files``: the files the project's test run collected (for example from the
    baseline's node ids); by default pytest's default file name patterns. A test file is
    impacted when it, or a ``conftest.py`` in its folder or above, loads the target's file
    through project imports."""
    graph = build_import_graph(root, extra_roots)
    reached = graph.importers(target_relpath)
    if test_files is not None:
        candidates = sorted(set(test_files))
    else:
        candidates = [path for path in graph.files if is_test_file(path)]
    conftest_dirs = [
        path.rsplit("/", 1)[0] if "/" in path else ""
        for path in reached
        if path.rsplit("/", 1)[-1] == "conftest.py"
    ]
    impacted = []
    for path in candidates:
        if path in reached or any(
            not folder or path.startswith(folder + "/") for folder in conftest_dirs
        ):
            impacted.append(path)
    return sorted(impacted)


@dataclass(frozen=True)
class TestScope:
    """Which tests to run before a candidate's ``faster`` stands.

    ``whole_suite``: every test of the project; otherwise ``files`` (project-relative).
    ``description`` says which, for the user ("the whole test suite (12 s)")."""

    whole_suite: bool
    files: tuple[str, ...]
    description: str


def choose_scope(
    root: Path,
    target_relpath: str,
    suite_wall_s: float,
    test_files: Iterable[str] | None = None,
    extra_roots: Iterable[Path] = (),
    quick_suite_s: float | None = None,
) -> TestScope:
    """The whole suite when its baseline run took at most ``quick_suite_s`` seconds
    (default :data:`QUICK_SUITE_S`; and a time is known), else the test files
    :func:`impacted_test_files` finds."""
    if quick_suite_s is None:
        quick_suite_s = QUICK_SUITE_S
    if 0 < suite_wall_s <= quick_suite_s:
        return TestScope(
            whole_suite=True,
            files=tuple(sorted(set(test_files))) if test_files is not None else (),
            description=f"the whole test suite (its run took {suite_wall_s:.1f} s)",
        )
    files = impacted_test_files(root, target_relpath, test_files, extra_roots)
    return TestScope(
        whole_suite=False,
        files=tuple(files),
        description=f"the {len(files)} test file(s) that import {target_relpath} directly or "
        "through the project's modules",
    )
