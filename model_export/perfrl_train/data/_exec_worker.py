"""Subprocess side of :mod:`perfrl_train.data.executor` (stdlib only; run as a script).

Reads ``{"jobs": [...], "call_timeout_s": float, "mode": "call" | "time", "repeat": int}`` as
JSON on stdin and writes ``{"results": [[outcome, ...], ...]}`` on stdout. Each job is
``{"source", "entry", "args": [literal tuple source, ...]}``; the source is exec'd in a fresh
namespace, so jobs cannot see each other. Every call is bounded by an interval timer.
"""

import ast
import json
import resource
import signal
import sys
import time
from typing import Any


class _CallTimeout(BaseException):
    # BaseException so that a bare `except Exception` in the code under test cannot swallow it.
    pass


def _on_alarm(signum, frame):
    raise _CallTimeout()


def _is_literal(value):
    try:
        return ast.literal_eval(repr(value)) == value
    except Exception:  # noqa: BLE001 - any failure means "not a literal"
        return False


def _run_job(job, timeout_s, mode, repeat):
    namespace: dict[str, object] = {"__name__": "perfrl_data_impl"}
    try:
        # Running the pair's code is this worker's whole purpose; it is an isolated process.
        exec(compile(job["source"], "<pair>", "exec"), namespace)  # noqa: S102
        func: Any = namespace[job["entry"]]
    except BaseException as exc:  # noqa: BLE001 - any failure to define is reported
        return [{"ok": False, "error": f"define: {type(exc).__name__}: {exc}"}] * len(job["args"])
    outcomes = []
    for arg_src in job["args"]:
        try:
            best = None
            value = None
            for _ in range(repeat if mode == "time" else 1):
                args = ast.literal_eval(arg_src)  # fresh copy: calls may mutate arguments
                signal.setitimer(signal.ITIMER_REAL, timeout_s)
                start = time.perf_counter()
                try:
                    value = func(*args)
                finally:
                    elapsed = time.perf_counter() - start
                    signal.setitimer(signal.ITIMER_REAL, 0)
                best = elapsed if best is None else min(best, elapsed)
            literal = _is_literal(value)
            outcomes.append(
                {
                    "ok": True,
                    "repr": repr(value) if literal else None,
                    "literal": literal,
                    "type": type(value).__name__,
                    "seconds": best,
                }
            )
        except _CallTimeout:
            outcomes.append({"ok": False, "error": f"timeout after {timeout_s}s"})
        except RecursionError:
            outcomes.append({"ok": False, "error": "RecursionError"})
        except Exception as exc:  # noqa: BLE001 - the exception type is part of the behaviour
            outcomes.append(
                {
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                    "exc_type": type(exc).__name__,
                }
            )
    return outcomes


def main():
    request = json.load(sys.stdin)
    mem = int(request.get("memory_bytes", 2 * 1024**3))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(5000)
    results = [
        _run_job(
            job,
            float(request.get("call_timeout_s", 2.0)),
            request.get("mode", "call"),
            int(request.get("repeat", 1)),
        )
        for job in request["jobs"]
    ]
    real_stdout = sys.__stdout__
    assert real_stdout is not None  # the parent always gives the worker a stdout pipe
    json.dump({"results": results}, real_stdout)
    real_stdout.flush()


if __name__ == "__main__":
    sys.stdout = sys.stderr  # code under test may print; keep stdout for the JSON answer
    main()
