"""Profile a project's tests, or a command the user names, in the sandbox.

:func:`profile_project` runs the workload twice in one throw-away copy of the project (once
plain, to know what profiling costs, once under cProfile; see ``runtime/perfrl_profile.py``
for why cProfile), and, for a command, the project's tests once more under the profiler to
learn which functions the tests call (only those can be verified). It attributes time to the
project's own functions by file and first line, named by their qualified names.

A caller may rely on: the user's tree is never written (everything runs in the sandbox's copy);
the profile's figures are seconds of the profiled run; ``overhead`` is profiled wall time over
plain wall time of the same workload, measured in this call; a workload that fails still gives
a profile, with its exit status in ``exit_code``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.engine.locate import list_functions
from perfrl.engine.sandbox import Sandbox, WorkspaceSurprise, read_workspace_file
from perfrl.engine.settings import EngineSettings
from perfrl.engine.source_files import SourceDecodeError, decode_source
from perfrl.engine.types import Cancelled, CancelToken, PerfRLError

#: Reports larger than this are not read (a runaway workload is not worth the memory).
MAX_REPORT_BYTES = 256 * 1024 * 1024
_TEST_DIR_NAMES = {"tests", "test", "testing"}


@dataclass
class FunctionProfile:
    """One function of the project: where it is and what the profiled run spent in it."""

    path: str  # relative to the project root, POSIX separators
    qualname: str
    line: int  # first line (the first decorator's when decorated)
    own_s: float  # time in the function's own body
    total_s: float  # time in the function and everything it called
    calls: int
    # own_s over the time the tests themselves ran (pytest's call phase: no collection, no
    # start-up) when the workload is the tests, else over the whole profiled run; 0..1
    share: float
    called_by_tests: bool

    @property
    def target(self) -> str:
        """The ``perfrl optimize`` spec of this function."""
        return f"{self.path}::{self.qualname}"


@dataclass
class FlameNode:
    """A node of the call tree the HTML view draws: a function on one call path."""

    label: str
    value_s: float
    own_project: bool
    children: list[FlameNode] = field(default_factory=list)


@dataclass
class ProjectProfile:
    """What :func:`profile_project` measured; ``functions`` is sorted by own time."""

    project_root: Path
    workload: list[str]
    exit_code: int
    wall_s: float
    plain_wall_s: float
    total_s: float
    functions: list[FunctionProfile]
    tree: FlameNode
    tests_workload: bool
    share_of: str = "the run"  # what a function's share is of: "test time" or "the run"

    @property
    def overhead(self) -> float:
        """Profiled over plain wall time of the same workload (1.0: no cost)."""
        return self.wall_s / self.plain_wall_s if self.plain_wall_s > 0 else float("nan")

    def hottest(self, top: int, verifiable_only: bool = False) -> list[FunctionProfile]:
        chosen = [f for f in self.functions if f.called_by_tests or not verifiable_only]
        return chosen[:top]


def is_test_file(rel_path: str) -> bool:
    """Test modules and fixtures: profiled, drawn, but never proposed for optimization."""
    parts = rel_path.split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(part in _TEST_DIR_NAMES for part in parts[:-1]))


def _run(ws, workload: list[str], out_name: str, plain: bool, timeout_s: float,
         cancel: CancelToken | None) -> dict:
    out = Path(ws.data_dir) / out_name
    args = ["-m", "perfrl_profile", "--out", str(out), *(["--plain"] if plain else []), "--",
            *workload]
    result = ws.run_python(args, timeout_s=timeout_s, cancel=cancel,
                           env={"PYTHONPATH": str(ws.root)})
    if result.cancelled:
        raise Cancelled()
    if result.timed_out:
        raise PerfRLError(f"the profiled run did not finish within {timeout_s:g} s; "
                          "raise --timeout or profile a shorter workload")
    try:  # regular file, size-capped, never through a link (the workload wrote that folder)
        report = json.loads(read_workspace_file(out, MAX_REPORT_BYTES))
    except (OSError, ValueError, WorkspaceSurprise):
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        raise PerfRLError("the workload ended before the profiler could write its report: "
                          + " | ".join(tail)) from None
    return report


class _Namer:
    """Names the project's functions by (relative path, first line): a function's own code by
    its qualified name; code nested in it (comprehensions, lambdas, inner functions that
    cannot be optimized on their own) by the enclosing function's, flagged as nested."""

    def __init__(self, project_root: Path) -> None:
        self.root = project_root
        self._spans: dict[str, list] = {}

    def _spans_of(self, rel: str) -> list:
        if rel not in self._spans:
            try:
                text, _ = decode_source((self.root / rel).read_bytes())
                self._spans[rel] = list_functions(text)
            except (OSError, SourceDecodeError, SyntaxError, ValueError):
                self._spans[rel] = []
        return self._spans[rel]

    def resolve(self, rel: str, line: int, fallback: str) -> tuple[str, bool]:
        """``(qualname, nested)`` of the code object starting at ``line`` of ``rel``."""
        spans = self._spans_of(rel)
        for span in spans:
            if line in (span.start_line, span.def_line):
                return span.qualname, False
        enclosing = [s for s in spans if s.start_line <= line <= s.end_line]
        if enclosing:
            return max(enclosing, key=lambda s: s.start_line).qualname, True
        return fallback, False

    def qualname(self, rel: str, line: int, fallback: str) -> str:
        return self.resolve(rel, line, fallback)[0]


def _relative(file: str, ws_root: Path) -> str | None:
    root = str(ws_root) + "/"
    return file[len(root):] if file.startswith(root) else None


def _label(fn: dict, rel: str | None, namer: _Namer) -> str:
    if rel is not None:
        return f"{rel}::{namer.qualname(rel, fn['line'], fn['name'])}"
    if fn["file"] == "~":
        return fn["name"]
    return f"{Path(fn['file']).name}:{fn['line']}({fn['name']})"


def _flame_tree(functions: list[dict], rels: list[str | None], namer: _Namer) -> FlameNode:
    """The call tree from cProfile's caller->callee edges (as snakeviz draws it): a function
    reached on several paths gives each path's children its share of its time."""
    children: dict[int, list[tuple[int, float]]] = {}
    for callee, fn in enumerate(functions):
        for caller, _calls, _tot, cum in fn["callers"]:
            children.setdefault(caller, []).append((callee, cum))
    roots = [i for i, fn in enumerate(functions)
             if fn["name"] == "_run_workload" and fn["file"].endswith("perfrl_profile.py")]
    total = sum(functions[i]["cumtime"] for i in roots) or 1e-9
    floor, budget = total * 0.002, [6000]

    def grow(index: int, value: float, path: frozenset[int], depth: int) -> FlameNode:
        fn = functions[index]
        rel = rels[index]
        node = FlameNode(_label(fn, rel, namer), value, rel is not None and not is_test_file(rel))
        scale = value / fn["cumtime"] if fn["cumtime"] > 0 else 0.0
        if depth >= 64:
            return node
        for callee, cum in sorted(children.get(index, []), key=lambda c: -c[1]):
            share = cum * scale
            if callee in path or share < floor or budget[0] <= 0:
                continue
            budget[0] -= 1
            node.children.append(grow(callee, min(share, value), path | {callee}, depth + 1))
        return node

    root = FlameNode("all", total, False)
    for index in roots:
        root.children.append(grow(index, functions[index]["cumtime"], frozenset({index}), 1))
    return root


def profile_project(
    project_root: Path,
    command: list[str] | None,
    settings: EngineSettings,
    interpreter: str,
    timeout_s: float = 600.0,
    cancel: CancelToken | None = None,
) -> ProjectProfile:
    """Profile ``command`` (``["-m", "app", ...]`` or ``["script.py", ...]``), or the project's
    tests when it is None; raises :class:`PerfRLError` with a message for the user when the
    workload cannot be profiled."""
    project_root = Path(project_root).resolve()
    tests = ["pytest", "-q", "-p", "no:cacheprovider", *settings.pytest_args]
    workload = command or tests
    sandbox = Sandbox(project_root, interpreter, settings)
    with sandbox.workspace() as ws:
        ws_root = Path(ws.root)
        plain = _run(ws, workload, "plain.json", True, timeout_s, cancel)
        profiled = _run(ws, workload, "profile.json", False, timeout_s, cancel)
        by_tests = profiled if command is None else _run(
            ws, tests, "tests-profile.json", False, timeout_s, cancel)
    namer = _Namer(project_root)
    functions = profiled["functions"]
    rels = [_relative(fn["file"], ws_root) for fn in functions]
    tested = {
        (rel, fn["line"])
        for fn in by_tests["functions"]
        if fn["ncalls"] > 0 and (rel := _relative(fn["file"], ws_root)) is not None
    }
    tree = _flame_tree(functions, rels, namer)
    test_calls = sum(fn["cumtime"] for fn in functions if fn["name"] == "pytest_runtest_call"
                     and fn["file"].replace("\\", "/").endswith("_pytest/runner.py"))
    total = test_calls if command is None and test_calls > 0 else tree.value_s
    by_function: dict[tuple[str, str], FunctionProfile] = {}
    for fn, rel in zip(functions, rels, strict=True):
        if rel is None or is_test_file(rel) or fn["name"] == "<module>":
            continue
        qualname, nested = namer.resolve(rel, fn["line"], fn["name"])
        entry = by_function.setdefault((rel, qualname), FunctionProfile(
            rel, qualname, fn["line"], 0.0, 0.0, 0, 0.0, False))
        entry.own_s += fn["tottime"]  # nested code's own time is the function's own time
        entry.called_by_tests |= (rel, fn["line"]) in tested
        if not nested:
            entry.line, entry.total_s, entry.calls = fn["line"], fn["cumtime"], fn["ncalls"]
    hot = list(by_function.values())
    for entry in hot:
        entry.share = entry.own_s / total if total > 0 else 0.0
        entry.total_s = max(entry.total_s, entry.own_s)
    hot.sort(key=lambda f: -f.own_s)
    share_of = "test time" if command is None and test_calls > 0 else "the run"
    return ProjectProfile(project_root, workload, int(profiled["exit_code"]),
                          float(profiled["wall_s"]), float(plain["wall_s"]), total, hot, tree,
                          command is None, share_of)
