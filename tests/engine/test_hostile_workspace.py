"""Hostile candidates that turn their workspace against the engine, through the real engine.

Each candidate here is honest about its result (``count_known`` stays correct) and hostile
about its surroundings: it leaves a FIFO or a symlink to ``/dev/zero`` where the engine
reads its report, or renames the project copy the next run starts in (issue 12, Found 9).
Whatever a candidate does to its own workspace must end as that candidate's ``crashed``
verdict, never as a hung or dead job, and the honest candidate beside it must still be
verified. Found 11: without bubblewrap, generated candidates are refused before anything runs.

Jobs run as a real ``python -m perfrl`` process (real bubblewrap, real pytest) with an address
space limit and a timeout, so an engine that hangs on a FIFO or reads ``/dev/zero`` into
memory fails the test instead of taking the machine with it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from perfrl.engine.sandbox.bwrap import bwrap_status
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Candidate

HAVE_BWRAP = bwrap_status().usable
needs_bwrap = pytest.mark.skipif(
    not HAVE_BWRAP and os.environ.get("CI") != "true", reason="bubblewrap not usable here"
)
REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# The CLI's own memory: far above what it needs, far below what reading /dev/zero would take.
CLI_ADDRESS_SPACE = 6 * 1024**3

PROJECT = {
    "pyproject.toml": '[project]\nname = "h12trap"\nversion = "0"\n',
    "h12trap/__init__.py": "",
    "h12trap/core.py": """
        def count_known(items, known):
            count = 0
            for item in items:
                if item in known:
                    count += 1
            return count
    """,
    "tests/test_core.py": """
        from h12trap.core import count_known


        def test_small():
            assert count_known([1, 2, 3, 4], [2, 4, 9]) == 2


        def test_big():
            items = list(range(2000))
            assert count_known(items, list(range(0, 2000, 4))) == 500
    """,
}

HONEST = """
    def count_known(items, known):
        known_set = set(known)
        return sum(1 for item in items if item in known_set)
"""

# Each trap acts in the candidate's worker process (it knows its channel folder from argv):
# the reply FIFO becomes a new FIFO or a symlink to /dev/zero before the worker exits, or the
# copy the later runs start in is renamed. (They were first written against the replay
# script's --out report; the worker channel the engine opens itself took its place.) The
# result stays right, so only the trap can make the verdict bad.
TRAPS = {
    "fifo": """
        def count_known(items, known):
            import os, sys
            if "--channel" in sys.argv:
                out = os.path.join(sys.argv[sys.argv.index("--channel") + 1], "out")
                if os.path.lexists(out):
                    os.unlink(out)
                os.mkfifo(out)
                os._exit(0)
            return sum(1 for item in items if item in set(known))
    """,
    "dev_zero": """
        def count_known(items, known):
            import os, sys
            if "--channel" in sys.argv:
                out = os.path.join(sys.argv[sys.argv.index("--channel") + 1], "out")
                if os.path.lexists(out):
                    os.unlink(out)
                os.symlink("/dev/zero", out)
                os._exit(0)
            return sum(1 for item in items if item in set(known))
    """,
    "rename_root": """
        def count_known(items, known):
            import os
            root = os.environ.get("PERFRL_ROOT") or os.getcwd()
            if os.path.isdir(root):
                os.rename(root, root + "-gone")
            return sum(1 for item in items if item in set(known))
    """,
}


#: What each trap must end as: never faster and never the end of the job. A renamed copy
#: breaks the candidate's own test run (pytest cannot return to its folder): failed_tests.
TRAP_VERDICTS = {"fifo": {"crashed"}, "dev_zero": {"crashed"},
                 "rename_root": {"crashed", "failed_tests"}}


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_ADDRESS_SPACE, CLI_ADDRESS_SPACE))


def run_cli(args: list[str], home: Path, path_env: str | None = None, timeout: float = 900):
    """``python -m perfrl ARGS`` with its own HOME (baseline cache) and a memory cap."""
    env = {
        "HOME": str(home),
        "PATH": path_env if path_env is not None else os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO / "model_export")]),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [PYTHON, "-m", "perfrl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=_limit_memory,
        check=False,
    )


@pytest.fixture(scope="module")
def trap_project(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("h12trap")
    root = _write(base / "proj", PROJECT)
    for name, code in {**TRAPS, "honest": HONEST}.items():
        (base / f"{name}.py").write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")
    return root


# -- Found 9: a trap in one candidate's workspace ends neither the job nor the others --------


@needs_bwrap
def test_found9_traps_are_crashed_verdicts_and_the_honest_candidate_still_wins(
    trap_project: Path, tmp_path: Path
) -> None:
    files = [str(trap_project.parent / f"{name}.py") for name in [*TRAPS, "honest"]]
    args = ["optimize", f"{trap_project}/h12trap/core.py::count_known", "--json", "--quiet"]
    args += ["--python", PYTHON, "--sandbox", "bwrap", "--test-timeout", "120"]
    for path in files:
        args += ["--candidate", path]
    done = run_cli(args, tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]  # 0: a verified faster candidate exists
    report = json.loads(done.stdout)
    verdicts = {Path(c["label"]).stem: c for c in report["candidates"]}
    for name in TRAPS:
        assert verdicts[name]["verdict"] in TRAP_VERDICTS[name], (name, verdicts[name]["reason"])
    assert verdicts["honest"]["verdict"] == "faster", verdicts["honest"]["reason"]
    assert Path(report["candidates"][report["best"]]["label"]).stem == "honest"


@needs_bwrap
@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_found9_each_trap_is_that_candidates_crash(trap_project: Path, trap: str) -> None:
    from perfrl.engine.baseline import run_baseline
    from perfrl.engine.locate import locate_function
    from perfrl.engine.sandbox import Sandbox
    from perfrl.engine.verify import verify_candidate

    settings = EngineSettings(
        use_bwrap=True,
        cache_dir=trap_project.parent / "cache",
        test_timeout_s=120,
        bench_timeout_s=60,
        bench_budget_s=0.5,
    )
    sandbox = Sandbox(trap_project, PYTHON, settings)
    target = locate_function("h12trap/core.py::count_known", trap_project)
    baseline = run_baseline(target, sandbox, settings)
    code = textwrap.dedent(TRAPS[trap]).lstrip()
    outcome: dict = {}

    def verify() -> None:
        try:
            outcome["result"] = verify_candidate(
                target, baseline, Candidate(source="file", label=trap, code=code), sandbox, settings
            )
        except BaseException as exc:  # noqa: BLE001 - the test reports it below
            outcome["error"] = exc

    # A thread with a deadline: an engine blocked on a FIFO fails here instead of hanging.
    worker = threading.Thread(target=verify, daemon=True)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "the engine hung on the candidate's workspace"
    assert "error" not in outcome, f"the job would end: {outcome.get('error')!r}"
    result = outcome["result"]
    assert result.verdict.value in TRAP_VERDICTS[trap], result.reason


# -- Found 11: without bubblewrap, generated code is refused before anything runs -------------


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with the usual tools but no ``bwrap``: a machine where it is not installed."""
    bin_dir = tmp_path / "bin-without-bwrap"
    bin_dir.mkdir()
    for tool in ("chmod", "rm", "python3", "sh", "env"):
        for folder in ("/usr/bin", "/bin"):
            if os.path.exists(f"{folder}/{tool}"):
                os.symlink(f"{folder}/{tool}", bin_dir / tool)
                break
    return str(bin_dir)


def test_found11_without_bwrap_model_and_rule_candidates_are_refused(
    trap_project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    target = f"{trap_project}/h12trap/core.py::count_known"
    done = run_cli(
        ["optimize", target, "--python", PYTHON, "--sources", "rules", "--quiet"],
        home,
        path_env=_path_without_bwrap(tmp_path),
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    # Said before anything ran: no baseline was run (nothing cached), the way out is named.
    assert "bubblewrap" in done.stderr and "--sandbox none" in done.stderr, done.stderr
    assert "apt-get install bubblewrap" in done.stderr
    assert not (home / ".cache" / "perfrl").exists()


def test_found11_without_bwrap_hand_written_candidates_run_with_a_warning(
    trap_project: Path, tmp_path: Path
) -> None:
    done = run_cli(
        [
            "optimize", f"{trap_project}/h12trap/core.py::count_known", "--python", PYTHON,
            "--candidate", str(trap_project.parent / "honest.py"), "--quiet",
        ],
        tmp_path / "home",
        path_env=_path_without_bwrap(tmp_path),
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    first = done.stderr.splitlines()[0]
    assert first.startswith("perfrl: warning: no sandbox"), done.stderr
    assert "read and write your files" in first
    # The report's sandbox line says only what holds without bubblewrap.
    sandbox_line = next(line for line in done.stdout.splitlines() if line.startswith("sandbox:"))
    assert "NO ISOLATION" in sandbox_line and len(sandbox_line) < 200, sandbox_line
    assert "never written" not in done.stdout


def test_found11_sandbox_none_runs_generated_candidates_on_purpose(
    trap_project: Path, tmp_path: Path
) -> None:
    done = run_cli(
        [
            "optimize", f"{trap_project}/h12trap/core.py::count_known", "--python", PYTHON,
            "--sources", "rules", "--sandbox", "none", "--quiet", "--json",
        ],
        tmp_path / "home",
        path_env=_path_without_bwrap(tmp_path),
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert "perfrl: warning: no sandbox (--sandbox none was chosen)" in done.stderr
    report = json.loads(done.stdout)
    assert report["protections_summary"].startswith("NO ISOLATION")
    assert not any("bubblewrap" in line for line in report["protections"])
