"""The capture plugin (run in real pytest subprocesses) and the baseline run in the sandbox.

Every test here starts at least one pytest process, hence the ``slow`` marks.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.baseline import RUNTIME_DIR, run_baseline
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import BaselineFailed, NoTestsCallFunction
from tests.conftest import project_pytest_env

PROJECT_FILES = {
    "pyproject.toml": '[project]\nname = "h3calc"\nversion = "0"\n',
    "h3calc/__init__.py": "",
    "h3calc/core.py": """
        import functools

        COUNTER = {"calls": 0}
        SCALE = 3


        def contains(items, value):
            COUNTER["calls"] += 1
            for item in items:
                if item == value:
                    return True
            return False


        def any_of(items, values):
            # Calls contains() through the module global: must be captured too.
            return [contains(items, v) for v in values]


        def scaled(x):
            return x * SCALE


        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)


        def call_it(fn):
            return fn()


        def counted(f):
            @functools.wraps(f)
            def inner(*args):
                inner.calls += 1
                return f(*args)
            inner.calls = 0
            return inner


        @counted
        def decorated(a, b):
            return a + b


        def sort_in_place(values):
            values.sort()
            return len(values)


        class Stack:
            def __init__(self, items):
                self.items = list(items)

            def total(self, extra=0):
                return sum(self.items) + extra

            @staticmethod
            def double(x):
                return 2 * x

            @classmethod
            def of(cls, n):
                return cls(range(n))

            @property
            def size(self):
                return len(self.items)
    """,
    "tests/test_core.py": """
        from h3calc import core
        from h3calc.core import Stack, any_of, call_it, contains, decorated, fact, scaled


        def test_contains():
            assert contains([1, 2, 3], 2)
            assert not contains([1, 2, 3], 7)


        def test_any_of():
            assert any_of([1, 2], [2, 5]) == [True, False]


        def test_fails_on_original():
            assert contains([1], 99)


        def test_unrelated():
            assert 1 + 1 == 2


        def test_unpicklable():
            assert call_it(lambda: 5) == 5


        def test_fact():
            assert fact(5) == 120


        def test_decorated():
            import inspect

            before = decorated.calls
            assert decorated(2, 3) == 5
            assert decorated.calls == before + 1  # state kept on the decorator's wrapper
            assert list(inspect.signature(decorated).parameters) == ["a", "b"]
            assert core.fact.__name__ == "fact"
            assert list(inspect.signature(core.fact).parameters) == ["n"]


        def test_state():
            core.SCALE = 4
            try:
                assert scaled(2) == 8
            finally:
                core.SCALE = 3


        def test_methods():
            s = Stack([1, 2, 3])
            assert s.total(extra=1) == 7
            assert Stack.double(4) == 8 and s.double(1) == 2
            assert Stack.of(3).items == [0, 1, 2]
            assert s.size == 3
    """,
}


def make_project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def run_plugin(
    project: Path,
    module: str,
    qualname: str,
    mode: str = "capture",
    max_calls: int = 64,
    extra: tuple[str, ...] = (),
    watch: str = "auto",
    interpreter: str = sys.executable,
) -> tuple[dict, dict | None]:
    """Run pytest with perfrl_capture in ``project`` (no sandbox: this tests the plugin alone).

    ``watch`` forces how the plugin finds calls (``PERFRL_WATCH``); ``interpreter`` runs
    pytest (it needs pytest, as a user's does)."""
    out = project.parent / f"out-{qualname}-{mode}-{watch}"
    env = project_pytest_env()  # the plugin alone: no autoloaded third-party plugin
    env.update(
        {
            "PYTHONPATH": str(RUNTIME_DIR),
            "PERFRL_OUT_DIR": str(out),
            "PERFRL_TARGET_MODULE": module,
            "PERFRL_TARGET_QUALNAME": qualname,
            "PERFRL_IMPORT_ROOT": str(project),
            "PERFRL_ROOT": str(project),
            "PERFRL_MODE": mode,
            "PERFRL_MAX_CALLS": str(max_calls),
            "PERFRL_WATCH": watch,
        }
    )
    env.pop("PYTEST_ADDOPTS", None)
    subprocess.run(
        [
            interpreter,
            "-m",
            "pytest",
            "-q",
            "-p",
            "perfrl_capture",
            "-p",
            "no:cacheprovider",
            f"--rootdir={project}",
            *extra,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summary = json.loads((out / "summary.json").read_text())
    calls = None
    if (out / "calls.pkl").exists():
        calls = pickle.loads((out / "calls.pkl").read_bytes())
    return summary, calls


def decoded(calls: dict, project: Path) -> list[tuple]:
    """(test, args, kwargs, outcome, raised) for every recorded call.

    Unpickling imports the project's classes, so the project is importable meanwhile and its
    modules are forgotten afterwards.
    """
    before = set(sys.modules)
    sys.path.insert(0, str(project))
    try:
        out = []
        for call in calls["calls"]:
            args, kwargs = pickle.loads(call["args"])
            outcome = pickle.loads(call["outcome"])
            out.append((call["test"], args, kwargs, outcome, call["raised"]))
        return out
    finally:
        sys.path.remove(str(project))
        for name in set(sys.modules) - before:
            del sys.modules[name]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("capture") / "proj", PROJECT_FILES)


T = "tests/test_core.py::"


# -- the plugin ------------------------------------------------------------------------------


@pytest.mark.slow
def test_records_calling_tests_outcomes_and_intra_module_calls(project):
    summary, calls = run_plugin(project, "h3calc.core", "contains")
    assert summary["wrapped"] and summary["wrap_error"] is None
    assert summary["module_file"] == os.path.realpath(project / "h3calc" / "core.py")
    assert list(summary["calling_tests"]) == [
        T + "test_contains",
        T + "test_any_of",
        T + "test_fails_on_original",
    ]
    assert summary["tests"][T + "test_fails_on_original"]["outcome"] == "failed"
    assert "assert False" in summary["tests"][T + "test_fails_on_original"]["message"]
    assert summary["tests"][T + "test_unrelated"]["outcome"] == "passed"
    recorded = decoded(calls, project)
    assert [(t, a) for t, a, _, _, _ in recorded] == [
        (T + "test_contains", ([1, 2, 3], 2)),
        (T + "test_contains", ([1, 2, 3], 7)),
        (T + "test_any_of", ([1, 2], 2)),  # called from any_of through the module global
        (T + "test_any_of", ([1, 2], 5)),
        (T + "test_fails_on_original", ([1], 99)),
    ]
    assert [o["value"] for _, _, _, o, _ in recorded] == [True, False, True, False, False]
    assert summary["python_version"].startswith(f"{sys.version_info[0]}.")


@pytest.mark.slow
def test_methods_keep_their_semantics_and_record_self(project):
    recorded = {}
    for qualname in ("Stack.total", "Stack.double", "Stack.of", "Stack.size"):
        summary, calls = run_plugin(project, "h3calc.core", qualname)
        assert summary["tests"][T + "test_methods"]["outcome"] == "passed", qualname
        assert list(summary["calling_tests"]) == [T + "test_methods"], qualname
        recorded[qualname] = decoded(calls, project)
    ((_, args, kwargs, outcome, _),) = recorded["Stack.total"]
    assert type(args[0]).__name__ == "Stack" and args[0].items == [1, 2, 3]  # self
    assert args[1:] == () and kwargs == {"extra": 1} and outcome["value"] == 7
    assert [a for _, a, _, _, _ in recorded["Stack.double"]] == [(4,), (1,)]  # no self
    ((_, args, _, outcome, _),) = recorded["Stack.of"]
    assert args[0].__name__ == "Stack" and args[1] == 3  # cls is recorded
    assert outcome["value"].items == [0, 1, 2]
    ((_, args, _, outcome, _),) = recorded["Stack.size"]
    assert outcome["value"] == 3 and args[0].items == [1, 2, 3]


@pytest.mark.slow
def test_decorated_function_and_module_state(project):
    summary, calls = run_plugin(project, "h3calc.core", "decorated")
    assert summary["tests"][T + "test_decorated"]["outcome"] == "passed"
    assert list(summary["calling_tests"]) == [T + "test_decorated"]
    assert [a for _, a, _, _, _ in decoded(calls, project)] == [(2, 3)]
    summary, calls = run_plugin(project, "h3calc.core", "scaled")
    assert summary["tests"][T + "test_state"]["outcome"] == "passed"
    assert decoded(calls, project)[0][3]["value"] == 8


@pytest.mark.slow
def test_recursion_records_only_the_outermost_call(project):
    summary, calls = run_plugin(project, "h3calc.core", "fact")
    assert summary["tests"][T + "test_decorated"]["outcome"] == "passed"  # name, signature
    assert summary["calls_total"] == 1
    assert [a for _, a, _, _, _ in decoded(calls, project)] == [(5,)]


@pytest.mark.slow
def test_unpicklable_arguments_are_skipped_and_counted(project):
    summary, calls = run_plugin(project, "h3calc.core", "call_it")
    assert summary["calling_tests"] == {T + "test_unpicklable": 1}
    assert summary["calls_recorded"] == 0 and calls["calls"] == []
    assert summary["skipped_reasons"] == {"with arguments that cannot be pickled": 1}


@pytest.mark.slow
def test_mutation_is_recorded_before_and_after(tmp_path):
    proj = make_project(
        tmp_path / "p",
        {
            "h3mut/__init__.py": "",
            "h3mut/m.py": "def sort_in_place(v):\n    v.sort()\n    return len(v)\n",
            "tests/test_m.py": "from h3mut.m import sort_in_place\n\n"
            "def test_it():\n    assert sort_in_place([3, 1, 2]) == 3\n",
        },
    )
    _, calls = run_plugin(proj, "h3mut.m", "sort_in_place")
    ((_, args, _, outcome, _),) = decoded(calls, proj)
    assert args == ([3, 1, 2],)
    assert outcome["args_after"] == (([1, 2, 3],), {})


@pytest.mark.slow
def test_exceptions_are_recorded_with_their_type(tmp_path):
    proj = make_project(
        tmp_path / "p",
        {
            "h3exc.py": "def parse(s):\n    return int(s)\n",
            "tests/test_e.py": "import pytest\nfrom h3exc import parse\n\n"
            "def test_it():\n    with pytest.raises(ValueError):\n"
            "        parse('x')\n",
        },
    )
    _, calls = run_plugin(proj, "h3exc", "parse")
    ((_, _, _, outcome, raised),) = decoded(calls, proj)
    assert outcome["kind"] == "raise" and raised["type"] == "builtins.ValueError"
    assert "invalid literal" in raised["message"]


@pytest.mark.slow
def test_recording_is_bounded_and_spread_over_tests(tmp_path):
    test_lines = ["from h3many import inc\n"]
    for t in range(3):
        test_lines.append(
            f"\ndef test_{t}():\n    for i in range(50):\n        assert inc(i) == i + 1\n"
        )
    proj = make_project(
        tmp_path / "p",
        {
            "h3many.py": "def inc(x):\n    return x + 1\n",
            "tests/test_many.py": "".join(test_lines),
        },
    )
    summary, calls = run_plugin(proj, "h3many", "inc", max_calls=12)
    assert summary["calls_total"] == 150
    assert summary["calls_recorded"] == len(calls["calls"]) == 12
    assert summary["calls_not_recorded"] == 138
    assert {c["test"] for c in calls["calls"]} == {
        f"tests/test_many.py::test_{t}" for t in range(3)
    }


@pytest.mark.slow
def test_reference_taken_by_conftest_before_wrapping_is_rebound(tmp_path):
    proj = make_project(
        tmp_path / "p",
        {
            "h3conf.py": "def f(x):\n    return x * 2\n",
            "conftest.py": "import pytest\nfrom h3conf import f\n\n"
            "@pytest.fixture\ndef doubled():\n    return f(21)\n",
            "tests/test_c.py": "def test_it(doubled):\n    assert doubled == 42\n",
        },
    )
    summary, calls = run_plugin(proj, "h3conf", "f")
    assert summary["calling_tests"] == {"tests/test_c.py::test_it": 1}
    assert len(calls["calls"]) == 1


@pytest.mark.slow
def test_an_unknown_target_is_reported_not_fatal(project):
    summary, _ = run_plugin(project, "h3calc.core", "does_not_exist")
    assert summary["wrapped"] is False
    assert "does_not_exist is not defined" in summary["wrap_error"]
    assert summary["tests"][T + "test_contains"]["outcome"] == "passed"


@pytest.mark.slow
def test_observe_mode_records_outcomes_without_wrapping(project):
    summary, calls = run_plugin(project, "h3calc.core", "contains", mode="observe")
    assert calls is None and summary["wrapped"] is False
    assert summary["module_file"] == os.path.realpath(project / "h3calc" / "core.py")
    assert summary["tests"][T + "test_fails_on_original"]["outcome"] == "failed"


@pytest.mark.slow
def test_collection_errors_are_reported(tmp_path):
    proj = make_project(
        tmp_path / "p",
        {
            "h3col.py": "def f():\n    return 1\n",
            "tests/test_ok.py": "from h3col import f\n\ndef test_ok():\n    assert f() == 1\n",
            "tests/test_broken.py": "import not_a_module_h3\n",
        },
    )
    summary, _ = run_plugin(proj, "h3col", "f", extra=("--continue-on-collection-errors",))
    assert summary["collection_errors"][0]["nodeid"] == "tests/test_broken.py"
    assert "not_a_module_h3" in summary["collection_errors"][0]["message"]
    assert summary["calling_tests"] == {"tests/test_ok.py::test_ok": 1}


def test_runtime_scripts_keep_to_python_3_9_syntax():
    # They run in the user's interpreter, which may be older than the server's.
    scripts = sorted(RUNTIME_DIR.glob("perfrl_*.py"))
    assert {"perfrl_capture.py", "perfrl_worker.py", "perfrl_canon.py"} <= {
        s.name for s in scripts
    }
    for script in scripts:
        ast.parse(script.read_text(encoding="utf-8"), feature_version=(3, 9))


# -- the baseline (real sandbox) ------------------------------------------------------------


def _sandbox_for(project_root: Path, settings: EngineSettings):
    from perfrl.engine.sandbox import Sandbox

    return Sandbox(project_root, sys.executable, settings)


def _target(project_root: Path, spec: str):
    from perfrl.engine.locate import locate_function

    return locate_function(spec, project_root)


@pytest.fixture
def settings(tmp_path) -> EngineSettings:
    return EngineSettings(cache_dir=tmp_path / "cache", test_timeout_s=90)


@pytest.mark.slow
def test_baseline_selects_passing_calling_tests_and_caches(tmp_path, settings):
    proj = make_project(tmp_path / "proj", PROJECT_FILES)
    target = _target(proj, "h3calc/core.py::contains")
    sandbox = _sandbox_for(proj, settings)
    baseline = run_baseline(target, sandbox, settings)
    assert baseline.selected_tests == [T + "test_contains", T + "test_any_of"]
    assert baseline.failing_tests == [T + "test_fails_on_original"]
    assert baseline.summary.tests_failing_on_original == [T + "test_fails_on_original"]
    assert baseline.summary.tests_calling == 3
    assert baseline.summary.calls_captured == 5
    assert baseline.summary.from_cache is False
    assert baseline.capture and baseline.test_command.startswith("python -m pytest")

    again = run_baseline(target, _sandbox_for(proj, settings), settings)
    assert again.summary.from_cache is True
    assert again.selected_tests == baseline.selected_tests
    assert again.capture == baseline.capture

    # Any change to the project's code invalidates the cache.
    (proj / "tests" / "test_extra.py").write_text(
        "from h3calc.core import contains\n\ndef test_more():\n    assert contains([5], 5)\n"
    )
    third = run_baseline(target, _sandbox_for(proj, settings), settings)
    assert third.summary.from_cache is False
    assert "tests/test_extra.py::test_more" in third.selected_tests


@pytest.mark.slow
def test_baseline_counts_skipped_calls(tmp_path, settings):
    proj = make_project(tmp_path / "proj", PROJECT_FILES)
    baseline = run_baseline(
        _target(proj, "h3calc/core.py::call_it"), _sandbox_for(proj, settings), settings
    )
    assert baseline.selected_tests == [T + "test_unpicklable"]
    assert baseline.summary.calls_captured == 0
    assert baseline.summary.calls_skipped == 1
    assert baseline.summary.skipped_reasons == {"with arguments that cannot be pickled": 1}


@pytest.mark.slow
def test_no_test_calls_the_function(tmp_path, settings):
    files = dict(PROJECT_FILES)
    files["h3calc/core.py"] = PROJECT_FILES["h3calc/core.py"] + (
        "\n\n        def lonely(x):\n            return x\n"
    )
    proj = make_project(tmp_path / "proj", files)
    with pytest.raises(NoTestsCallFunction) as info:
        run_baseline(
            _target(proj, "h3calc/core.py::lonely"), _sandbox_for(proj, settings), settings
        )
    message = str(info.value)
    assert "Write a test that calls lonely" in message
    assert "python -m pytest -q" in message


@pytest.mark.slow
def test_baseline_fails_when_pytest_cannot_run(tmp_path, settings):
    proj = make_project(tmp_path / "proj", PROJECT_FILES)
    settings.pytest_args = ["--no-such-option-h3"]
    with pytest.raises(BaselineFailed) as info:
        run_baseline(
            _target(proj, "h3calc/core.py::contains"), _sandbox_for(proj, settings), settings
        )
    assert "--no-such-option-h3" in str(info.value)


@pytest.mark.slow
def test_module_imported_from_outside_the_copy_is_refused(tmp_path, settings):
    # Without bubblewrap, so that the other copy under /tmp stays visible to the tests.
    settings.use_bwrap = False
    elsewhere = make_project(tmp_path / "elsewhere", {"h3orig.py": "def f(x):\n    return x\n"})
    proj = make_project(
        tmp_path / "proj",
        {
            "h3orig.py": "def f(x):\n    return x\n",
            # Like an editable install of another checkout that wins over the project's file.
            "conftest.py": f"import sys\nsys.path.insert(0, {str(elsewhere)!r})\nimport h3orig\n",
            "tests/test_o.py": "from h3orig import f\n\ndef test_f():\n    assert f(1) == 1\n",
        },
    )
    with pytest.raises(BaselineFailed) as info:
        run_baseline(_target(proj, "h3orig.py::f"), _sandbox_for(proj, settings), settings)
    assert f"from {elsewhere / 'h3orig.py'}" in str(info.value)
    assert "not from the project copy" in str(info.value)


@pytest.mark.slow
def test_collection_error_elsewhere_does_not_stop_the_baseline(tmp_path, settings):
    proj = make_project(
        tmp_path / "proj",
        {
            "h3col2.py": "def f():\n    return 1\n",
            "tests/test_ok.py": "from h3col2 import f\n\ndef test_ok():\n    assert f() == 1\n",
            "tests/test_broken.py": "import not_a_module_h3\n",
        },
    )
    baseline = run_baseline(_target(proj, "h3col2.py::f"), _sandbox_for(proj, settings), settings)
    assert baseline.selected_tests == ["tests/test_ok.py::test_ok"]
    assert baseline.collection_errors[0].startswith("tests/test_broken.py: ")


@pytest.mark.slow
def test_every_calling_test_failing_is_a_baseline_failure(tmp_path, settings):
    proj = make_project(
        tmp_path / "proj",
        {
            "h3bad.py": "def f(x):\n    return x + 1\n",
            "tests/test_bad.py": "from h3bad import f\n\ndef test_wrong():\n    assert f(1) == 3\n",
        },
    )
    with pytest.raises(BaselineFailed) as info:
        run_baseline(_target(proj, "h3bad.py::f"), _sandbox_for(proj, settings), settings)
    assert "tests/test_bad.py::test_wrong" in str(info.value)
    assert "fix them first" in str(info.value)


# -- calls found by code object, spread over the tests (issue 12, Found 14 and 15) ----------

# Like tabulate: the line functions are stored in a namedtuple at import time, so no test (and
# no name lookup) ever reaches them through the module attribute.
FORMATS_FILES = {
    "pyproject.toml": '[project]\nname = "h3fmt"\nversion = "0"\n',
    "h3fmt/__init__.py": "",
    "h3fmt/core.py": """
        from collections import namedtuple

        Format = namedtuple("Format", ["line"])


        def _pipe_line(widths, aligns):
            if any(w < 0 for w in widths):
                raise ValueError("negative width")
            cells = []
            for w, a in zip(widths, aligns):
                cells.append(("-" * (w - 1) + ":") if a == "right" else "-" * w)
            return "|" + "|".join(cells) + "|"


        FORMATS = {"pipe": Format(line=_pipe_line)}


        def rule(widths, aligns, fmt="pipe"):
            return FORMATS[fmt].line(widths, aligns)
    """,
    "tests/test_rule.py": """
        import pytest
        from h3fmt.core import rule


        def test_left():
            assert rule([3], ["left"]) == "|---|"


        def test_right():
            assert rule([3, 2], ["right", "left"]) == "|--:|--|"


        def test_negative():
            with pytest.raises(ValueError):
                rule([-1], ["left"])
    """,
    "tests/test_more.py": """
        from h3fmt.core import rule


        def test_empty():
            assert rule([], []) == "||"
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("watch", ["auto", "profile"])
def test_function_reached_only_through_an_import_time_dict_is_found(tmp_path, watch):
    # Fails on the old plugin (wrapper by name): no calling tests at all.
    proj = make_project(tmp_path / "p", FORMATS_FILES)
    summary, calls = run_plugin(proj, "h3fmt.core", "_pipe_line", watch=watch)
    assert summary["watch"] == ("redirect" if watch == "auto" else "profile")
    assert list(summary["calling_tests"]) == [
        "tests/test_more.py::test_empty",
        "tests/test_rule.py::test_left",
        "tests/test_rule.py::test_right",
        "tests/test_rule.py::test_negative",
    ]
    assert all(entry["outcome"] == "passed" for entry in summary["tests"].values())
    recorded = decoded(calls, proj)
    assert [(args, kwargs) for _, args, kwargs, _, _ in recorded] == [
        (([], []), {}),
        (([3], ["left"]), {}),
        (([3, 2], ["right", "left"]), {}),
        (([-1], ["left"]), {}),
    ]
    assert [outcome["value"] for _, _, _, outcome, _ in recorded[:3]] == ["||", "|---|", "|--:|--|"]
    *_, (_, _, _, outcome, raised) = recorded
    assert outcome["kind"] == "raise" and raised["type"] == "builtins.ValueError"
    assert raised["message"] == "negative width"


def _has_pytest(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import pytest"], capture_output=True, timeout=60,
                           check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def python312(tmp_path_factory) -> str:
    """An interpreter of Python 3.12 or newer with pytest, for the ``sys.monitoring`` path:
    ``$PERFRL_TEST_PYTHON312``, else one found on PATH or under pyenv (given pytest in a venv
    of its own when it has none); skipped where there is none (Python 3.11 machines)."""
    import glob
    import shutil

    given = os.environ.get("PERFRL_TEST_PYTHON312")
    found = [given] if given else []
    found += [shutil.which(f"python3.{minor}") or "" for minor in range(12, 16)]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for python in filter(None, found):
        version = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                                 capture_output=True, text=True, timeout=60, check=False)
        if version.stdout.strip() != "True":
            continue
        if _has_pytest(python):
            return python
        venv = tmp_path_factory.mktemp("py312") / "venv"
        made = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True,
                              timeout=300, check=False)
        venv_python = str(venv / "bin" / "python")
        if made.returncode == 0:
            subprocess.run([venv_python, "-m", "pip", "install", "-q", "pytest"],
                           capture_output=True, timeout=600, check=False)
            if _has_pytest(venv_python):
                return venv_python
    pytest.skip("no Python 3.12+ interpreter with pytest here (set PERFRL_TEST_PYTHON312)")


@pytest.mark.slow
@pytest.mark.parametrize("watch", ["auto", "monitoring"])
def test_on_python_312_calls_are_found_by_code_object_with_sys_monitoring(
    tmp_path, python312, watch
):
    # The reference stored at import time (FORMATS) is reached too: calls are found by the
    # function's code object, not by its name.
    proj = make_project(tmp_path / "p", FORMATS_FILES)
    summary, calls = run_plugin(proj, "h3fmt.core", "_pipe_line", watch=watch,
                                interpreter=python312)
    assert summary["watch"] == "monitoring"
    assert list(summary["calling_tests"]) == [
        "tests/test_more.py::test_empty",
        "tests/test_rule.py::test_left",
        "tests/test_rule.py::test_right",
        "tests/test_rule.py::test_negative",
    ]
    assert all(entry["outcome"] == "passed" for entry in summary["tests"].values())
    recorded = decoded(calls, proj)
    assert [(args, kwargs) for _, args, kwargs, _, _ in recorded] == [
        (([], []), {}),
        (([3], ["left"]), {}),
        (([3, 2], ["right", "left"]), {}),
        (([-1], ["left"]), {}),
    ]
    assert [outcome["value"] for _, _, _, outcome, _ in recorded[:3]] == ["||", "|---|", "|--:|--|"]
    *_, (_, _, _, outcome, raised) = recorded
    assert outcome["kind"] == "raise" and raised["type"] == "builtins.ValueError"


@pytest.mark.slow
def test_on_python_312_every_parameter_kind_and_thread_is_recorded(tmp_path, python312):
    proj = make_project(
        tmp_path / "p",
        {
            "h3shape.py": ARGUMENT_SHAPES,
            "tests/test_s.py": "import threading\nfrom h3shape import shapes\n\n"
            "def test_all():\n"
            "    assert shapes(1, d=4)[0] == 1\n"
            "    assert shapes('rebind', 9, 8, 7, 6, d=1, z=0, y=[1])[2] == 80\n"
            "    t = threading.Thread(target=shapes, args=(0,), kwargs={'d': 0})\n"
            "    t.start(); t.join()\n",
        },
    )
    summary, calls = run_plugin(proj, "h3shape", "shapes", watch="monitoring",
                                interpreter=python312)
    assert summary["watch"] == "monitoring"
    assert summary["tests"]["tests/test_s.py::test_all"]["outcome"] == "passed"
    assert summary["calls_total"] == 3
    sys.path.insert(0, str(proj))
    try:
        from h3shape import shapes

        for _, args, kwargs, outcome, _ in decoded(calls, proj):
            assert shapes(*args, **kwargs) == outcome["value"]
    finally:
        sys.path.remove(str(proj))
        sys.modules.pop("h3shape", None)


@pytest.mark.slow
def test_with_more_calling_tests_than_room_the_sample_spans_the_whole_run(tmp_path):
    # 40 single-call tests in 4 files, room for 8: the old plugin (and first-come) kept the
    # first 8 tests, all from the first file.
    files = {"h3many2.py": "def sq(x):\n    return x * x\n"}
    for f in range(4):
        files[f"tests/test_{f}.py"] = "from h3many2 import sq\n" + "".join(
            f"\ndef test_{f}_{t}():\n    assert sq({f * 10 + t}) == {(f * 10 + t) ** 2}\n"
            for t in range(10)
        )
    proj = make_project(tmp_path / "p", files)
    summary, calls = run_plugin(proj, "h3many2", "sq", max_calls=8)
    assert len(summary["calling_tests"]) == 40 and summary["calls_recorded"] == 8
    by_file = {}
    for call in calls["calls"]:
        by_file[call["test"].split("::")[0]] = by_file.get(call["test"].split("::")[0], 0) + 1
    assert by_file == {f"tests/test_{f}.py": 2 for f in range(4)}
    assert summary["calls_distinct"] == 8


@pytest.mark.slow
def test_recorded_calls_are_spread_across_test_files(tmp_path):
    # Old plugin: the first test file's tests fill the whole sample (16 per test).
    heavy = "".join(
        f"\ndef test_heavy_{t}():\n    for i in range(20):\n        assert inc(i) == i + 1\n"
        for t in range(3)
    )
    proj = make_project(
        tmp_path / "p",
        {
            "h3spread.py": "def inc(x):\n    return x + 1\n",
            "tests/test_a.py": "from h3spread import inc\n" + heavy,
            "tests/test_b.py": "from h3spread import inc\n\n"
            "def test_once():\n    assert inc(100) == 101\n",
            "tests/test_c.py": "from h3spread import inc\n\n"
            "def test_few():\n    assert [inc(v) for v in (7, 8, 9)] == [8, 9, 10]\n\n"
            "def test_one():\n    assert inc(-5) == -4\n",
        },
    )
    summary, calls = run_plugin(proj, "h3spread", "inc", max_calls=8)
    assert summary["calls_total"] == 65 and summary["calls_recorded"] == 8
    assert summary["calls_not_recorded"] == 57
    by_test = summary["recorded_by_test"]
    assert set(by_test) == set(summary["calling_tests"])  # every calling test contributes
    assert by_test["tests/test_b.py::test_once"] == 1
    assert by_test["tests/test_c.py::test_one"] == 1
    assert sum(by_test.values()) == 8
    by_file = {}
    for nodeid, count in by_test.items():
        by_file[nodeid.split("::")[0]] = by_file.get(nodeid.split("::")[0], 0) + count
    # Water-filling over files: test_b has only 1 call, the other two share the rest evenly.
    assert by_file["tests/test_b.py"] == 1
    assert abs(by_file["tests/test_a.py"] - by_file["tests/test_c.py"]) <= 1
    heavy = [count for nodeid, count in by_test.items() if "test_heavy" in nodeid]
    assert max(heavy) - min(heavy) <= 1
    kept = [args for _, args, *_ in decoded(calls, proj)]
    assert summary["calls_distinct"] == len(set(kept)) < 8  # inc(0) comes from each heavy test
    # Kept in the order the calls were made, each test's first calls.
    tests = [call["test"] for call in calls["calls"]]
    assert tests == sorted(tests, key=list(summary["calling_tests"]).index)
    firsts = [args for test, args, *_ in decoded(calls, proj) if test.endswith("test_heavy_0")]
    assert firsts == [(0,), (1,)][: len(firsts)]


ARGUMENT_SHAPES = """
    def shapes(a, b=2, /, c=3, *rest, d, e=5, **extra):
        def inner():
            return c  # c lives in a cell
        c = c * 10 if a == "rebind" else c
        rest_list = list(rest)
        return (a, b, inner(), rest_list, d, e, sorted(extra.items()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("watch", ["auto", "profile"])
def test_every_parameter_kind_is_recorded_so_the_call_can_be_replayed(tmp_path, watch):
    proj = make_project(
        tmp_path / "p",
        {
            "h3shape.py": ARGUMENT_SHAPES,
            "tests/test_s.py": "import threading\nfrom h3shape import shapes\n\n"
            "def test_all():\n"
            "    assert shapes(1, d=4)[0] == 1\n"
            "    assert shapes('rebind', 9, 8, 7, 6, d=1, z=0, y=[1])[2] == 80\n"
            "    t = threading.Thread(target=shapes, args=(0,), kwargs={'d': 0})\n"
            "    t.start(); t.join()\n",
        },
    )
    summary, calls = run_plugin(proj, "h3shape", "shapes", watch=watch)
    assert summary["tests"]["tests/test_s.py::test_all"]["outcome"] == "passed"
    assert summary["calls_total"] == 3  # the call from another thread counts too
    sys.path.insert(0, str(proj))
    try:
        from h3shape import shapes

        for _, args, kwargs, outcome, _ in decoded(calls, proj):
            assert shapes(*args, **kwargs) == outcome["value"]
    finally:
        sys.path.remove(str(proj))
        sys.modules.pop("h3shape", None)


@pytest.mark.slow
def test_redirected_function_keeps_its_identity_signature_and_attributes(tmp_path):
    proj = make_project(
        tmp_path / "p",
        {
            "h3ident.py": "def f(x, *, scale=2):\n    return x * scale\n\nf.tag = 'kept'\n"
            "REGISTRY = [f]\n",
            "tests/test_i.py": "import inspect\nimport h3ident\n\n"
            "def test_it():\n"
            "    assert h3ident.REGISTRY[0] is h3ident.f\n"
            "    assert str(inspect.signature(h3ident.f)) == '(x, *, scale=2)'\n"
            "    assert h3ident.f.tag == 'kept' and h3ident.f.__name__ == 'f'\n"
            "    assert h3ident.REGISTRY[0](3) == 6 and h3ident.f(1, scale=5) == 5\n",
        },
    )
    summary, _ = run_plugin(proj, "h3ident", "f")
    assert summary["watch"] == "redirect"
    assert summary["tests"]["tests/test_i.py::test_it"]["outcome"] == "passed"
    assert summary["calling_tests"] == {"tests/test_i.py::test_it": 2}


DOCTEST_ONLY = {
    "h3doc/__init__.py": "",
    "h3doc/text.py": '''
        def dedupe(items):
            """Items without repeats, first occurrence kept.

            >>> dedupe([3, 1, 3, 2, 1])
            [3, 1, 2]
            >>> dedupe([])
            []
            """
            seen = []
            out = []
            for item in items:
                if item not in seen:
                    seen.append(item)
                    out.append(item)
            return out
    ''',
    "tests/test_other.py": "def test_nothing_to_do_with_it():\n    assert True\n",
}


@pytest.mark.slow
def test_a_doctest_is_a_calling_test(tmp_path):
    # Old plugin: the wrapper hides the function from doctest's finder; no calling test.
    proj = make_project(tmp_path / "p", DOCTEST_ONLY)
    summary, calls = run_plugin(proj, "h3doc.text", "dedupe", extra=("--doctest-modules",))
    assert summary["calling_tests"] == {"h3doc/text.py::h3doc.text.dedupe": 2}
    assert summary["tests"]["h3doc/text.py::h3doc.text.dedupe"]["outcome"] == "passed"
    assert [args for _, args, *_ in decoded(calls, proj)] == [([3, 1, 3, 2, 1],), ([],)]


# -- the protocol --------------------------------------------------------------------------


def test_summary_reader_never_trusts_the_file(tmp_path):
    from perfrl.engine.runtime.perfrl_protocol import (
        ProtocolError,
        load_summary,
        parse_summary,
        read_report_file,
    )

    full = parse_summary({"tests": {"t::a": {"outcome": "passed", "duration": 1}}})
    assert full["tests"]["t::a"] == {"outcome": "passed", "duration": 1.0, "message": ""}
    assert full["calling_tests"] == {} and full["exitstatus"] is None
    for bad in (
        [],
        {"tests": {"t": {"outcome": "won"}}},
        {"tests": {"t": "passed"}},
        {"calls_recorded": True},
        {"calls_recorded": -1},
        {"calling_tests": {"t": "1"}},
        {"wrap_error": 3},
        {"collection_errors": [{"nodeid": 1}]},
        {"watch": "magic"},
    ):
        with pytest.raises(ProtocolError):
            parse_summary(bad)
    summary_path = tmp_path / "summary.json"
    summary_path.write_text('{"calls_total": 3}')
    assert load_summary(summary_path)[0]["calls_total"] == 3
    summary_path.write_text('{"calls_total": "3"}')
    summary, problem = load_summary(summary_path)
    assert summary is None and "calls_total" in problem
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to("/dev/zero")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    for path in (fifo, link, big, tmp_path / "missing.json", tmp_path):
        assert read_report_file(path, 100) is None, path
    assert read_report_file(summary_path, 100) == b'{"calls_total": "3"}'


def test_runtime_protocol_is_what_the_engine_imports():
    from perfrl.engine import pytest_run
    from perfrl.engine.runtime import perfrl_protocol

    assert pytest_run.PROTOCOL_MODULE == Path(perfrl_protocol.__file__).resolve()
    ast.parse(pytest_run.PROTOCOL_MODULE.read_text(encoding="utf-8"), feature_version=(3, 9))
    plugin = (RUNTIME_DIR / "perfrl_capture.py").read_text(encoding="utf-8")
    assert '"PERFRL_' not in plugin  # every variable name comes from the protocol


# -- the baseline: evidence, encodings, pytest configuration -------------------------------


@pytest.mark.slow
def test_baseline_finds_import_time_references_and_counts_the_evidence(tmp_path, settings):
    proj = make_project(tmp_path / "proj", FORMATS_FILES)
    baseline = run_baseline(
        _target(proj, "h3fmt/core.py::_pipe_line"), _sandbox_for(proj, settings), settings
    )
    assert baseline.summary.tests_calling == 4
    assert baseline.summary.test_files_calling == 2
    assert baseline.summary.calls_captured == baseline.summary.calls_distinct == 4
    assert baseline.summary.tests_recorded == 4


LATIN1_TEST = ("from h3latin import label\n\ndef test_label():\n"
               "    assert label(1) == 'caf\\xe9 1'\n")


@pytest.mark.slow
def test_latin1_source_is_copied_in_its_own_encoding(tmp_path, settings):
    # Old code: the copy was written as UTF-8 under a latin-1 coding line, so the tests saw
    # "cafÃ©" and the baseline blamed them ("Every test that calls ... fails").
    proj = make_project(tmp_path / "proj", {"tests/test_l1.py": LATIN1_TEST})
    (proj / "h3latin.py").write_bytes(
        "# -*- coding: latin-1 -*-\ndef label(x):\n    return 'café ' + str(x)\n".encode("latin-1")
    )
    baseline = run_baseline(_target(proj, "h3latin.py::label"), _sandbox_for(proj, settings),
                            settings)
    assert baseline.selected_tests == ["tests/test_l1.py::test_label"]
    assert baseline.summary.calls_captured == 1


@pytest.mark.slow
def test_project_pytest_config_is_honoured(tmp_path, settings):
    # addopts and testpaths from pyproject.toml: the doctest counts, the broken script
    # outside testpaths is never collected.
    files = dict(DOCTEST_ONLY)
    files["pyproject.toml"] = (
        '[project]\nname = "h3doc"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
        'addopts = "--doctest-modules"\ntestpaths = ["tests", "h3doc"]\n'
    )
    files["scripts/test_broken.py"] = "import not_a_module_h3\n"
    proj = make_project(tmp_path / "proj", files)
    baseline = run_baseline(
        _target(proj, "h3doc/text.py::dedupe"), _sandbox_for(proj, settings), settings
    )
    assert baseline.selected_tests == ["h3doc/text.py::h3doc.text.dedupe"]
    assert baseline.collection_errors == []


@pytest.mark.slow
def test_pytest_args_reach_the_baseline(tmp_path, settings):
    proj = make_project(tmp_path / "proj", DOCTEST_ONLY)
    target = _target(proj, "h3doc/text.py::dedupe")
    with pytest.raises(NoTestsCallFunction):
        run_baseline(target, _sandbox_for(proj, settings), settings)
    settings.pytest_args = ["--doctest-modules"]
    baseline = run_baseline(target, _sandbox_for(proj, settings), settings)
    assert baseline.selected_tests == ["h3doc/text.py::h3doc.text.dedupe"]
    assert "--doctest-modules" in baseline.test_command


@pytest.mark.slow
def test_latin1_file_candidates_are_verified_and_unwritable_ones_are_invalid(tmp_path, settings):
    # Old code: every candidate's copy was UTF-8 under a latin-1 coding line (tests failed);
    # with the copy in latin-1, a candidate latin-1 cannot hold must be invalid, not fatal.
    from perfrl.engine.types import Candidate, Verdict
    from perfrl.engine.verify import verify_candidate

    proj = make_project(tmp_path / "proj", {"tests/test_l1.py": LATIN1_TEST})
    (proj / "h3latin.py").write_bytes(
        "# -*- coding: latin-1 -*-\ndef label(x):\n    return 'café ' + str(x)\n".encode("latin-1")
    )
    target = _target(proj, "h3latin.py::label")
    sandbox = _sandbox_for(proj, settings)
    baseline = run_baseline(target, sandbox, settings)
    arrow = Candidate("file", "arrow", "def label(x):\n    return 'café ' + str(x)  # → same\n")
    result = verify_candidate(target, baseline, arrow, sandbox, settings)
    assert result.verdict is Verdict.INVALID
    assert "cannot be written in the file's encoding iso-8859-1" in result.reason
    same = Candidate("file", "same", "def label(x):\n    return 'café %s' % (x,)\n")
    result = verify_candidate(target, baseline, same, sandbox, settings)
    assert result.tests.run == result.tests.passed == 1, result.reason
    assert result.verdict not in (Verdict.NOT_EQUIVALENT, Verdict.CRASHED), result.reason
