"""``perfrl profile``: real cProfile runs of a small project's tests and of a script, in the
sandbox, attributed to the project's functions; the table, JSON and HTML views; the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.settings import EngineSettings
from perfrl.profiling import profile_json, profile_project, render_html, render_table
from perfrl.profiling.collect import is_test_file
from tests.conftest import tree_digest

pytestmark = pytest.mark.timeout(600)

APP = textwrap.dedent('''\
    """A tiny app with one hot function, one cheap one and one the tests never call."""


    def pairs_with_sum(numbers, total):
        found = []
        for i, a in enumerate(numbers):
            for b in numbers[i + 1:]:
                if a + b == total:
                    found.append((a, b))
        return found


    def squares(numbers):
        return [n * n for n in numbers]


    def only_in_the_script(n):
        acc = 0
        for i in range(n):
            acc += i % 7
        return acc
''')

TESTS = textwrap.dedent('''\
    from app.core import pairs_with_sum, squares


    def test_pairs():
        assert len(pairs_with_sum(list(range(1500)), 1499)) == 750


    def test_squares():
        assert squares([1, 2, 3]) == [1, 4, 9]
''')

SCRIPT = textwrap.dedent('''\
    from app.core import only_in_the_script, pairs_with_sum

    only_in_the_script(300_000)
    pairs_with_sum(list(range(300)), 299)
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "core.py").write_text(APP)
    (root / "tests" / "test_core.py").write_text(TESTS)
    (root / "bench.py").write_text(SCRIPT)
    return root


def test_test_files_are_recognised():
    assert is_test_file("tests/test_x.py") and is_test_file("pkg/conftest.py")
    assert is_test_file("pkg/x_test.py") and is_test_file("tests/helpers/data.py")
    assert not is_test_file("app/core.py") and not is_test_file("app/testament.py")


def test_profiles_the_tests_and_ranks_the_hot_function_first(project):
    before = tree_digest(project)
    profile = profile_project(project, None, EngineSettings(), sys.executable)
    assert tree_digest(project) == before
    assert profile.exit_code == 0 and profile.tests_workload
    by_target = {f.target: f for f in profile.functions}
    hot = by_target["app/core.py::pairs_with_sum"]
    assert profile.functions[0] is hot
    assert hot.calls == 1 and hot.called_by_tests and hot.own_s > 0 and 0 < hot.share <= 1
    # The comprehension's code object counts as its function's own time, not a function.
    assert "app/core.py::squares" in by_target
    assert not any("<listcomp>" in t for t in by_target)
    # Test modules are profiled but never proposed.
    assert not any(is_test_file(f.path) for f in profile.functions)
    assert "app/core.py::only_in_the_script" not in by_target
    assert profile.plain_wall_s > 0 and profile.overhead > 0

    table = render_table(profile, 5)
    assert "app/core.py::pairs_with_sum" in table.splitlines()[5]
    assert "share: of test time" in table
    assert "profiling overhead" in table
    page = render_html(profile)
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "app/core.py::pairs_with_sum" in page and "http" not in page.split("<svg")[0]
    doc = profile_json(profile)
    assert doc["functions"][0]["target"] == "app/core.py::pairs_with_sum"
    assert json.loads(json.dumps(doc))["tree"]["children"]


def test_profiles_a_script_and_says_which_functions_tests_cannot_verify(project):
    profile = profile_project(project, ["bench.py"], EngineSettings(), sys.executable)
    by_target = {f.target: f for f in profile.functions}
    script_only = by_target["app/core.py::only_in_the_script"]
    assert script_only.calls == 1 and not script_only.called_by_tests
    assert by_target["app/core.py::pairs_with_sum"].called_by_tests
    assert "called by no test" in render_table(profile, 10)


def test_a_failing_workload_still_gives_a_profile_with_its_exit_status(project):
    (project / "tests" / "test_fails.py").write_text("def test_no():\n    assert False\n")
    profile = profile_project(project, None, EngineSettings(), sys.executable)
    assert profile.exit_code == 1
    assert profile.functions[0].target == "app/core.py::pairs_with_sum"


def test_cli_writes_json_and_html_and_leaves_the_project_alone(project, tmp_path):
    before = tree_digest(project)
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "perfrl", "profile", "--project", str(project), "--python",
         sys.executable, "--top", "3", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed["functions"][0]["target"] == "app/core.py::pairs_with_sum"
    assert json.loads((out / "profile.json").read_text())["exit_code"] == 0
    assert "<svg" in (out / "profile.html").read_text()
    assert tree_digest(project) == before


@pytest.mark.parametrize("argv, message", [
    (["--top", "0"], "--top must be at least 1"),
    (["--", "missing.py"], "cannot profile 'missing.py'"),
])
def test_cli_bad_input_exits_2_with_a_message(project, argv, message):
    run = subprocess.run([sys.executable, "-m", "perfrl", "profile", "--project", str(project),
                          *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and message in run.stderr
