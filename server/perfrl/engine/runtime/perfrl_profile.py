"""Run a workload under cProfile and write what it measured as JSON (stdlib only).

Runs in the project's own interpreter, inside the sandbox, next to the other runtime scripts:

    python -m perfrl_profile --out FILE [--plain] -- pytest [ARGS...]
    python -m perfrl_profile --out FILE [--plain] -- -m MODULE [ARGS...]
    python -m perfrl_profile --out FILE [--plain] -- SCRIPT.py [ARGS...]

Why cProfile: it ships with every CPython (nothing to install into the user's environment,
which PerfRL only asks to have pytest), it is maintained with the interpreter, and it gives
exact call counts and per caller->callee edge times, which is what deciding "is this function
worth optimizing and do tests call it" needs. Its cost (every call is hooked) is measured by
running the same workload with ``--plain`` and is reported next to the figures.

The output file holds ``{"wall_s", "exit_code", "profiled", "functions": [...]}``; each function
is ``{"file", "line", "name", "ncalls", "primcalls", "tottime", "cumtime", "callers"}`` with
``callers`` a list of ``[index, ncalls, tottime, cumtime]`` into ``functions``. Built-ins have
``file`` ``"~"``. Nothing of the workload's own objects is written, only numbers and names.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import runpy
import sys
import time


def _run_workload(argv: list[str]) -> int:
    """Run what ``argv`` names in this process; its exit status (0 when it returns)."""
    if argv[0] == "pytest":
        import pytest

        return int(pytest.main(argv[1:]))
    saved = sys.argv
    try:
        if argv[0] == "-m":
            sys.argv = argv[1:]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = argv
            sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
    return 0


def _functions(stats: pstats.Stats) -> list[dict]:
    raw = stats.stats  # type: ignore[attr-defined]  # documented only through print_stats
    keys = list(raw)
    index = {key: i for i, key in enumerate(keys)}
    out = []
    for key in keys:
        primcalls, ncalls, tottime, cumtime, callers = raw[key]
        file, line, name = key
        out.append({
            "file": file, "line": line, "name": name, "ncalls": ncalls, "primcalls": primcalls,
            "tottime": tottime, "cumtime": cumtime,
            "callers": [[index[c], edge[1], edge[2], edge[3]]
                        for c, edge in callers.items() if c in index],
        })
    return out


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: perfrl_profile --out FILE [--plain] -- WORKLOAD...", file=sys.stderr)
        return 2
    split = argv.index("--")
    options, workload = argv[:split], argv[split + 1:]
    out = options[options.index("--out") + 1]
    plain = "--plain" in options
    profiler = None if plain else cProfile.Profile()
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    try:
        code = _run_workload(workload)
    finally:
        if profiler is not None:
            profiler.disable()
    wall = time.perf_counter() - start
    report = {"wall_s": wall, "exit_code": code, "profiled": profiler is not None,
              "functions": []}
    if profiler is not None:
        report["functions"] = _functions(pstats.Stats(profiler))
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
