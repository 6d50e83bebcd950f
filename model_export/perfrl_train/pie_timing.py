"""How PIE programs are timed against the original, so that "optimized" means faster.

PIE's public tests are tiny: most programs run for well under a millisecond beyond the
interpreter's start (about 30 ms here). The first harness took the minimum of a few runs per
program, one program after another, subtracted the start-up and divided: a program identical
to the original plus one useless statement measured 4.07x "faster" (fourteenth session, the
shipped model on the PIE evaluation third: all three "optimized" problems were noise, one of
them a wrong program that the three tests did not catch). Now:

- **interleaved rounds** (:data:`PIE_DRIVER`): in each round every program runs once on every
  test, in an order rotated from round to round, so that drift of the machine hits all sides
  alike; a program whose output changes between runs is not correct; every program and input
  is read before any program runs, and each run has a fresh folder holding only its program,
  so a program that rewrites the workspace (the original, the inputs) changes nothing judged;
  the results line carries a secret the programs cannot read (:func:`driver_results`), so a
  program writing a forged line into the driver's output is not believed; run by root outside
  bwrap, the driver gives its programs no capabilities (root's would let them read it); the
  driver is its programs' child subreaper and kills whatever a run leaves behind (a
  background process, double-forked or not) before the next run is timed;
- **a sandbox per round** (``perfrl_train.evaluate``): the harness starts the driver once per
  round (``repeats`` 1, ``rotation`` the round's number, so the order still rotates), each time
  in a fresh workspace and, with bubblewrap, a fresh private ``/tmp``: a program that caches
  its answer on disk in one round (``/tmp``, its home, the temporary folder) finds nothing in
  the next, so its later rounds cannot look faster than its work. The harness checks that a
  program prints the same in every round;
- **a paired statistic** (:func:`compare`): per round, the original's work (wall time minus
  the empty program's start-up, per test) over the candidate's; the median of those ratios
  is the speedup, and a seeded bootstrap of the median gives its 95% lower bound;
- **a floor** (:data:`MIN_MEASURABLE_S`): when the original's own work is under it, no
  speedup can be told from noise, and the candidate is at most "correct".

A caller may rely on :func:`compare` returning ``measurable=False`` (and ``low=None``) for
such problems or when rounds are missing, and on the driver printing one JSON line: per
program, per test, ``ok``, ``stdout`` (of the first run), ``walls`` (one per round) and ``wall``
(their minimum), ``error``.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass

#: The original's work (all tests, start-up subtracted) under which no speedup is measured.
MIN_MEASURABLE_S = 0.01
#: Bootstrap resamples for the lower bound; seeded, so a report is reproducible.
_BOOTSTRAP = 2000
_FLOOR_S = 1e-4

#: The environment variable that hands the driver its secret (its name, not a secret).
SECRET_VARIABLE = "PERFRL_PIE_SECRET"  # noqa: S105
#: Runs inside the sandbox (stdlib only).
PIE_DRIVER = r'''
import ctypes, json, os, shutil, subprocess, sys, tempfile, time
# The results line starts with a secret the programs never see (taken out of the environment
# before any runs; the driver made non-dumpable, so its memory and /proc environ are closed
# to them): a line a program writes into the driver's output cannot pass for the results.
secret = os.environ.pop(SECRET_VARIABLE, "")
try:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
except (OSError, AttributeError):
    pass
spec = json.load(open(sys.argv[1]))
programs, tests = spec["programs"], spec["tests"]
# Root outside bwrap (which drops every capability) would hand its programs CAP_SYS_PTRACE,
# and with it the driver's memory: each program starts with none (every capability out of
# its bounding set, so that exec gives root nothing back; no new privileges either).
libc = ctypes.CDLL(None, use_errno=True)
def without_capabilities():
    for capability in range(64):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly when absent)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
as_unprivileged = {"preexec_fn": without_capabilities} if os.geteuid() == 0 else {}
# A program's background processes (a daemon that double-forks and calls setsid included)
# must not outlive its run and load the machine while the next program is timed: the driver
# adopts every orphaned descendant (a child subreaper) and kills what a run left behind.
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def children():
    found = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as fh:
                found += [int(pid) for pid in fh.read().split()]
    except OSError:
        pass
    return found
def kill_leftovers():
    for _ in range(1000):
        while True:  # reap what has ended
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        left = children()
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.001)
# Everything that judges is read before any program runs: a program may rewrite the files
# of the workspace (the original, the inputs), never what the driver runs or feeds it.
texts = {prog: open(prog).read() for prog in programs}
inputs = [open(test).read() for test in tests]
results = {p: [{"ok": True, "stdout": None, "walls": [], "error": ""} for _ in tests]
           for p in programs}
for round_ in range(spec["repeats"]):
    shift = (round_ + spec.get("rotation", 0)) % len(programs)
    order = programs[shift:] + programs[:shift]
    for index, stdin in enumerate(inputs):
        for prog in order:
            row = results[prog][index]
            if not row["ok"]:
                continue
            # Each run in a folder of its own holding only its program.
            folder = tempfile.mkdtemp(prefix="run-")
            with open(os.path.join(folder, "main.py"), "w") as fh:
                fh.write(texts[prog])
            t0 = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, "main.py"], input=stdin, cwd=folder,
                                   capture_output=True, text=True, timeout=spec["timeout_s"],
                                   **as_unprivileged)
            except subprocess.TimeoutExpired:
                row["ok"], row["error"] = False, "timeout"
                continue
            finally:
                wall = time.perf_counter() - t0
                kill_leftovers()
                shutil.rmtree(folder, ignore_errors=True)
            if p.returncode != 0:
                row["ok"], row["error"] = False, p.stderr[-300:]
            elif row["stdout"] is not None and p.stdout != row["stdout"]:
                row["ok"], row["error"] = False, "its output changes from run to run"
            else:
                row["stdout"] = p.stdout
                row["walls"].append(wall)
for rows in results.values():
    for row in rows:
        row["wall"] = min(row["walls"]) if row["walls"] else None
        row["stdout"] = row["stdout"] or ""
print(secret + json.dumps(results), flush=True)
'''.replace("SECRET_VARIABLE", repr(SECRET_VARIABLE))


def driver_results(stdout: str, secret: str) -> dict | None:
    """The driver's results from its output: the one line that starts with ``secret`` (None
    when there is not exactly one: a program forged or broke the output)."""
    lines = [line for line in stdout.splitlines() if line.startswith(secret)]
    if len(lines) != 1:
        return None
    try:
        results = json.loads(lines[0][len(secret):])
    except ValueError:
        return None
    return results if isinstance(results, dict) else None


@dataclass(frozen=True)
class Comparison:
    """A candidate against the original: ``speedup`` the median per-round ratio of their
    work, ``low`` its bootstrap 95% lower bound (None when not ``measurable``)."""

    speedup: float
    low: float | None
    measurable: bool


def startups(empty_rows: list[dict]) -> list[float]:
    """Per test, the empty program's fastest run: what interpreter start-up costs there."""
    return [min(row["walls"]) if row["ok"] and row["walls"] else 0.0 for row in empty_rows]


def _work_per_round(rows: list[dict], startup: list[float], rounds: int) -> list[float]:
    return [sum(max(row["walls"][r] - start, _FLOOR_S) for row, start in zip(
        rows, startup, strict=True)) for r in range(rounds)]


def _rounds(*row_lists: list[dict]) -> int:
    return min((len(row["walls"]) for rows in row_lists for row in rows), default=0)


def measurable(original: list[dict], startup: list[float]) -> bool:
    """Whether the original works long enough, over enough rounds, for a speedup to be told
    from noise (:data:`MIN_MEASURABLE_S`, at least 3 rounds)."""
    rounds = _rounds(original)
    return rounds >= 3 and statistics.median(
        _work_per_round(original, startup, rounds)) >= MIN_MEASURABLE_S


def compare(original: list[dict], candidate: list[dict], startup: list[float],
            seed: int = 0) -> Comparison:
    """The candidate's rows (per test, from the driver) against the original's."""
    rounds = _rounds(original, candidate)
    if rounds == 0:
        return Comparison(0.0, None, False)
    before = _work_per_round(original, startup, rounds)
    after = _work_per_round(candidate, startup, rounds)
    ratios = [b / a for b, a in zip(before, after, strict=True)]
    speedup = statistics.median(ratios)
    if not measurable(original, startup):
        return Comparison(speedup, None, False)
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=rounds))
                     for _ in range(_BOOTSTRAP))
    return Comparison(speedup, medians[int(0.025 * _BOOTSTRAP)], True)
