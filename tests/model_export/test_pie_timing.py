"""PIE timing: interleaved rounds, a paired statistic with a lower bound, and a floor under
which nothing counts as optimized (a copy of the original plus a no-op once measured 4x)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfrl_train.pie_timing import (
    MIN_MEASURABLE_S,
    PIE_DRIVER,
    SECRET_VARIABLE,
    compare,
    driver_results,
    startups,
)

SECRET = "5f0c1d2e" * 4


def rows(*walls_per_test: list[float]) -> list[dict]:
    return [{"ok": True, "stdout": "", "walls": list(walls), "wall": min(walls, default=None),
             "error": ""}
            for walls in walls_per_test]


def run_driver(folder: Path, programs: dict[str, str], stdin: str, repeats: int) -> dict:
    """The driver's results for ``programs`` on one input, run as the harness runs it (here
    without the sandbox around it)."""
    for name, code in programs.items():
        (folder / name).write_text(code)
    (folder / "in0.txt").write_text(stdin)
    (folder / "driver.py").write_text(PIE_DRIVER)
    (folder / "spec.json").write_text(json.dumps(
        {"programs": list(programs), "tests": ["in0.txt"], "repeats": repeats,
         "timeout_s": 30}))
    run = subprocess.run([sys.executable, "driver.py", "spec.json"], cwd=folder,
                         capture_output=True, text=True, timeout=300, check=True,
                         env={**os.environ, SECRET_VARIABLE: SECRET})
    results = driver_results(run.stdout, SECRET)
    assert results is not None, run.stdout
    return results


def test_the_same_work_is_not_faster_whatever_its_noise() -> None:
    startup = [0.030]
    original = rows([0.050, 0.052, 0.049, 0.051, 0.050])
    same = rows([0.050, 0.047, 0.053, 0.049, 0.050])
    result = compare(original, same, startup)
    assert result.measurable and result.low is not None and result.low < 1.10


def test_a_clearly_faster_candidate_has_a_lower_bound_above_the_bar() -> None:
    startup = [0.030, 0.030]
    original = rows([0.070] * 5, [0.071] * 5)
    faster = rows([0.040, 0.041, 0.040, 0.042, 0.040], [0.040] * 5)
    result = compare(original, faster, startup)
    assert result.measurable and result.low is not None and result.low > 3
    assert 3.5 < result.speedup < 4.5


def test_too_little_work_or_too_few_rounds_is_never_measured() -> None:
    tiny = rows([0.0305] * 5)  # half a millisecond of work: start-up noise is larger
    assert 0.0005 < MIN_MEASURABLE_S
    result = compare(tiny, rows([0.0301] * 5), [0.030])
    assert not result.measurable and result.low is None
    two_rounds = compare(rows([0.08, 0.08]), rows([0.04, 0.04]), [0.03])
    assert not two_rounds.measurable
    assert not compare(rows([]), rows([]), [0.03]).measurable


def test_the_driver_interleaves_rounds_and_catches_an_output_that_changes(tmp_path: Path) -> None:
    programs = {
        "original.py": "n = int(input())\ns = 0\nfor i in range(n):\n    s += i * i\nprint(s)\n",
        "same.py": "n = int(input())\ns = 0\nx = 1\nfor i in range(n):\n    s += i * i\n"
                   "print(s)\n",
        "closed.py": "n = int(input())\nprint((n - 1) * n * (2 * n - 1) // 6)\n",
        "unstable.py": "import os\nprint(os.urandom(4).hex())\n",
        "empty.py": "pass\n",
    }
    results = run_driver(tmp_path, programs, "2000000\n", repeats=5)
    assert all(len(results[name][0]["walls"]) == 5 for name in programs if name != "unstable.py")
    assert results["closed.py"][0]["stdout"] == results["original.py"][0]["stdout"]
    assert not results["unstable.py"][0]["ok"]
    assert "changes from run to run" in results["unstable.py"][0]["error"]
    startup = startups(results["empty.py"])
    # Wide margins on purpose (a busy machine): the same work is nowhere near 4x; a closed
    # form against a 2,000,000-step loop is far beyond 2x (work well above a busy machine's
    # start-up noise: with 400,000 steps the same work once measured 2.7x under load).
    assert compare(results["original.py"], results["same.py"], startup).speedup < 1.5
    assert compare(results["original.py"], results["closed.py"], startup).speedup > 2


def test_a_program_rewriting_the_workspace_changes_nothing_judged(tmp_path: Path) -> None:
    # It finds the driver's folder and makes the original slow and the input trivial.
    tamper = (
        "import os\n"
        "try:\n"
        "    home = os.readlink(f'/proc/{os.getppid()}/cwd')\n"
        "    open(os.path.join(home, 'original.py'), 'w').write("
        "'print(0)\\n')\n"
        "    open(os.path.join(home, 'in0.txt'), 'w').write('1\\n')\n"
        "except OSError:\n"
        "    pass\n"
        "print(int(input()) * 2)\n"
    )
    programs = {"tamper.py": tamper, "original.py": "print(int(input()) * 2)\n"}
    results = run_driver(tmp_path, programs, "21\n", repeats=3)
    wrote = (tmp_path / "original.py").read_text() == "print(0)\n"
    # A driver run by root runs the programs as nobody: they cannot even find its folder.
    # Run by anyone else, the program does write, and the next lines show it changes nothing.
    assert wrote == (os.geteuid() != 0)
    original = results["original.py"][0]
    # Every round ran the original as read, on the real input (a changed output would make
    # it not ok: the driver checks that each run prints what the first did).
    assert original["ok"] and original["stdout"] == "42\n" and len(original["walls"]) == 3
    assert results["tamper.py"][0]["stdout"] == "42\n"


def test_a_program_cannot_forge_the_results_line_nor_read_its_secret(tmp_path: Path) -> None:
    # It writes a results line of its own into the driver's output (claiming the original
    # takes 100 s a run), and looks for the secret in the driver's environment.
    forge = (
        "import json, os\n"
        "parent = os.getppid()\n"
        "fake = {'original.py': [{'ok': True, 'stdout': '42\\n', 'walls': [100.0] * 3,"
        " 'wall': 100.0, 'error': ''}]}\n"
        "try:\n"
        "    with open(f'/proc/{parent}/fd/1', 'w') as out:\n"
        "        out.write(json.dumps(fake) + '\\n')\n"
        "except OSError:\n"
        "    print(json.dumps(fake))\n"
        "try:\n"
        "    seen = open(f'/proc/{parent}/environ', 'rb').read().decode(errors='replace')\n"
        "except OSError:\n"
        "    seen = ''\n"
        "print('found' if " + repr(SECRET) + " in seen else 'none')\n"
    )
    programs = {"forge.py": forge, "original.py": "print(int(input()) * 2)\n"}
    results = run_driver(tmp_path, programs, "21\n", repeats=3)
    assert max(results["original.py"][0]["walls"]) < 100  # the driver's own line, not the fake
    # The driver is non-dumpable: a process of the same user cannot read its environ, and
    # one the driver runs as root would have CAP_SYS_PTRACE, so root's driver runs it as nobody.
    assert results["forge.py"][0]["stdout"].endswith("none\n")
    # The forged line is in the output; only the secret line counts.
    assert driver_results(json.dumps({"original.py": []}), SECRET) is None


def test_a_program_caching_its_answer_on_disk_gains_nothing_in_later_rounds(
        tmp_path: Path) -> None:
    """Each round is a sandbox of its own (perfrl_train.evaluate._run_programs): a program that
    writes its answer to its home and the temporary folder in one round, and prints it from
    there without working in the next, works in every round. (The literal /tmp too where
    bubblewrap gives each sandbox its own; without it /tmp is the machine's.)"""
    from perfrl.engine.sandbox.bwrap import bwrap_status
    from perfrl_train.evaluate import EvalConfig, _run_programs

    places = ["os.path.expanduser('~/.answer')", "os.path.join(tempfile.gettempdir(), 'answer')"]
    if bwrap_status().usable:
        places.append("'/tmp/perfrl-pie-answer'")  # inside the sandbox's own tmpfs
    caching = (
        "import os, tempfile, time\n"
        f"places = [{', '.join(places)}]\n"
        "for place in places:\n"
        "    if os.path.exists(place):\n"
        "        print(open(place).read(), end='')\n"
        "        raise SystemExit\n"
        "time.sleep(0.3)  # the work\n"
        "answer = str(int(input()) * 2) + '\\n'\n"
        "for place in places:\n"
        "    try:\n"
        "        open(place, 'w').write(answer)\n"
        "    except OSError:\n"
        "        pass\n"
        "print(answer, end='')\n"
    )
    results = _run_programs({"caching.py": caching, "original.py": "print(int(input()) * 2)\n"},
                            ["21\n"], EvalConfig(), tmp_path / "work", repeats=3)
    row = results["caching.py"][0]
    assert row["ok"] and row["stdout"] == "42\n", row
    assert len(row["walls"]) == 3 and min(row["walls"]) >= 0.3, row  # it worked every round
    assert results["original.py"][0]["ok"] and len(results["original.py"][0]["walls"]) == 3


def test_a_program_that_prints_otherwise_in_a_later_round_is_not_correct(tmp_path: Path) -> None:
    from perfrl_train.evaluate import EvalConfig, _run_programs

    # It prints the name of the folder it runs in: a fresh one in every round, so its output
    # differs from round to round, which only the harness, comparing the rounds, can see.
    programs = {"flaky.py": "import os\nprint(os.path.basename(os.getcwd()))\n"}
    results = _run_programs(programs, ["21\n"], EvalConfig(), tmp_path / "work", repeats=3)
    row = results["flaky.py"][0]
    assert not row["ok"] and "changes from run to run" in row["error"], row


def _processes_holding(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("daemon", [
    "import time; time.sleep(120)",
    # A hostile one: it keeps forking children (they hold its command line, marker included),
    # so that a single sweep of the driver's children would leave new ones behind.
    "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(120)\n"
    "        os._exit(0)\n    time.sleep(0.002)",
], ids=["sleeper", "respawner"])
def test_a_program_s_background_process_does_not_outlive_its_run(
        tmp_path: Path, daemon: str) -> None:
    """A program that leaves a daemon behind (double fork, setsid, its output detached) would
    load the machine while the programs after it are timed; the driver kills it, and whatever
    it spawned, when the run ends, before the next run."""
    marker = f"perfrl-pie-leftover-{os.getpid()}"
    leaver = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        null = os.open(os.devnull, os.O_RDWR)\n"
        "        for fd in (0, 1, 2):\n"
        "            os.dup2(null, fd)\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', {daemon!r}, {marker!r}])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print(int(input()) * 2)\n"
    )
    # The program timed after it (in both rounds' orders) counts the daemons still running.
    witness = (
        "import os\n"
        "alive = 0\n"
        "for entry in os.listdir('/proc'):\n"
        "    try:\n"
        "        alive += entry.isdigit() and "
        f"{marker!r}.encode() in open(f'/proc/{{entry}}/cmdline', 'rb').read()\n"
        "    except OSError:\n"
        "        pass\n"
        "print(int(input()) * 2, alive)\n"
    )
    programs = {"leaver.py": leaver, "witness.py": witness}
    try:
        results = run_driver(tmp_path, programs, "21\n", repeats=2)
        assert results["leaver.py"][0]["ok"] and results["leaver.py"][0]["stdout"] == "42\n"
        assert results["witness.py"][0]["ok"], results["witness.py"][0]["error"]
        assert results["witness.py"][0]["stdout"] == "42 0\n"
        assert _processes_holding(marker) == []
    finally:
        for pid in _processes_holding(marker):
            os.kill(pid, 9)
