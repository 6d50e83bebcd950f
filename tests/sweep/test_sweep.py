"""Optimizing several functions of a project: combined rewrites, the Amdahl estimate, and the
real CLI flow (per-function results as they come, resume from the store, the whole-run figure,
reports, nothing written without --apply)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.locate import locate_function
from perfrl.sweep import FunctionOutcome, combined_rewrites, estimated_gain
from tests.conftest import EXAMPLE_PROJECT, tree_digest

pytestmark = pytest.mark.timeout(900)


def _outcome(spec: str, code: str | None, speedup: float = 2.0, share: float | None = None):
    candidates = [] if code is None else [{
        "code": code, "label": "hand", "diff": "", "verdict": "faster",
        "speedup": {"median": speedup, "low": speedup * 0.9, "high": speedup * 1.1}}]
    report = {"best": 0 if code is not None else None, "candidates": candidates}
    return FunctionOutcome(spec, share, report, None)


def test_rewrites_of_two_functions_of_one_file_are_both_applied(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "mod.py").write_text(textwrap.dedent('''\
        def first(xs):
            out = []
            for x in xs:
                out.append(x * 2)
            return out


        def second(xs):
            total = 0
            for x in xs:
                total += x
            return total
    '''))
    texts = combined_rewrites(tmp_path, [
        _outcome("mod.py::first", "def first(xs):\n    return [x * 2 for x in xs]\n"),
        _outcome("mod.py::second", "def second(xs):\n    return sum(xs)\n"),
        _outcome("mod.py::first", None),  # nothing verified: leaves the text alone
    ])
    namespace: dict = {}
    exec(compile(texts["mod.py"], "mod.py", "exec"), namespace)  # noqa: S102 - our own text
    assert namespace["first"]([1, 2]) == [2, 4] and namespace["second"]([1, 2]) == 3
    assert "append" not in texts["mod.py"] and "sum(xs)" in texts["mod.py"]
    assert (tmp_path / "mod.py").read_text().count("append") == 1  # the file is not written


def test_estimated_gain_follows_amdahl():
    assert estimated_gain([_outcome("a::f", "x", speedup=2.0, share=0.5)]) == pytest.approx(4 / 3)
    assert estimated_gain([_outcome("a::f", "x", speedup=2.0, share=None)]) is None
    assert estimated_gain([_outcome("a::f", "x", 4.0, 0.2), _outcome("a::g", "y", 2.0, 0.2)]) \
        == pytest.approx(1 / (1 - 0.15 - 0.1))


def _perfrl(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {"PERFRL_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "perfrl", "optimize", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900, env=env)


@pytest.mark.slow
def test_several_functions_resume_and_measure_the_whole_run(example_project, tmp_path):
    candidate = EXAMPLE_PROJECT / "candidates" / "missing_skus.py"
    targets = ["inventory/catalog.py::missing_skus", "inventory/catalog.py::active_skus"]
    common = ["--candidate", str(candidate), "--python", sys.executable, "--gain-rounds", "3",
              "--report", str(tmp_path / "report")]
    before = tree_digest(example_project)
    first = _perfrl(*targets, *common, cwd=example_project, cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("[1/2] inventory/catalog.py::missing_skus: faster")
    assert lines[1].startswith("[2/2] inventory/catalog.py::active_skus: no faster rewrite")
    assert "Whole run:" in first.stdout and "1 of 2 function(s)" in first.stdout
    assert tree_digest(example_project) == before  # nothing written without --apply
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "```diff" in markdown and "missing_skus" in markdown
    assert "<table>" in (tmp_path / "report" / "report.html").read_text()

    # Interrupted or not, a second run takes finished functions from the store.
    again = _perfrl(*targets, *common, "--json", "--apply", cwd=example_project,
                    cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    payload = json.loads(again.stdout)
    assert [f["from_store"] for f in payload["functions"]] == [True, True]
    assert payload["gain"] is not None or payload["gain_error"]
    assert payload["applied"] == [str(example_project / "inventory" / "catalog.py")]
    rewritten = locate_function(targets[0], project_root=example_project)
    assert "carried = {" in rewritten.source or "set(" in rewritten.source
    assert "active_skus" in rewritten.file_text  # the other function is untouched


def test_top_and_targets_together_is_a_usage_error(example_project, tmp_path):
    run = _perfrl("inventory/catalog.py::missing_skus", "--top", "2", cwd=example_project,
                  cache=tmp_path / "cache")
    assert run.returncode == 2 and "either --top N or the functions" in run.stderr


@pytest.mark.slow
def test_top_profiles_then_optimizes_the_hottest_and_measures_the_whole_run(
        example_project, tmp_path):
    """The project-level flow: the profile ranks missing_skus hottest (the example's known hot
    spot), --top 1 optimizes it, the whole run is timed against the original, and a re-run
    takes the function from the store."""
    candidate = EXAMPLE_PROJECT / "candidates" / "missing_skus.py"
    common = ["--candidate", str(candidate), "--python", sys.executable, "--gain-rounds", "3",
              "--json"]
    first = _perfrl("--top", "1", *common, cwd=example_project, cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)
    (only,) = payload["functions"]
    assert only["spec"] == "inventory/catalog.py::missing_skus"
    assert 0 < only["share"] <= 1 and not only["from_store"]
    report = only["report"]
    assert report["candidates"][report["best"]]["verdict"] == "faster"
    gain = payload["gain"]
    assert gain is not None or payload["gain_error"], payload
    if gain is not None:
        assert gain["rounds"] == 3 and gain["low"] <= gain["median"] <= gain["high"]
        assert gain["estimated"] is not None and gain["estimated"] > 1
    # The re-run asks for the two hottest: the profile samples, and on a loaded machine the
    # order of missing_skus (about 40% of the run) and the next one (about 20%) can swap.
    again = _perfrl("--top", "2", *common, cwd=example_project, cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    rerun = {f["spec"]: f for f in json.loads(again.stdout)["functions"]}
    assert only["spec"] in rerun, rerun.keys()
    assert rerun[only["spec"]]["from_store"] is True, (rerun, again.stderr[-2000:])


HOSTILE_REWRITE = '''\
import time

_real = time.perf_counter
_base = _real()
# Bends every later reading of the clock the workload's own process uses: a whole run timed
# from inside would look about a thousand times shorter after this import.
time.perf_counter = lambda: _base + (_real() - _base) / 1000


def slow_square(n):
    time.sleep(4.0)
    return n * n
'''


def test_the_whole_run_is_timed_from_outside_a_rewrite_cannot_bend_it(tmp_path):
    from perfrl.engine.settings import EngineSettings
    from perfrl.sweep import measure_gain

    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "core.py").write_text("def slow_square(n):\n    return n * n\n")
    (project / "tests" / "test_core.py").write_text(
        "from app.core import slow_square\n\n\ndef test_square():\n"
        "    assert slow_square(3) == 9\n")
    gain = measure_gain(project, {"app/core.py": HOSTILE_REWRITE},
                        ["pytest", "-q", "-p", "no:cacheprovider"], EngineSettings(),
                        sys.executable, outcomes=[], rounds=3)
    # The rewrite sleeps 4 s per call (well above the noise of a whole run on a loaded
    # machine): measured from outside, it is slower, not faster.
    assert gain.median < 1.0 and gain.rewritten_s > gain.original_s, gain
