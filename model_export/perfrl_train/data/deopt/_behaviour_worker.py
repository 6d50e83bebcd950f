"""Subprocess side of :mod:`perfrl_train.data.deopt.behaviour` (stdlib only; run as a script,
inside bubblewrap, never in the pipeline's process).

Reads ``{"module", "items": [{"key", "entry", "fast", "slow", "inputs": [literal source]}],
"call_timeout_s"}`` as JSON on stdin; imports the module (the real installed one), defines
each side in a copy of the module's namespace (so module-scope names resolve as they do in
the real file) and calls both on every input, each on a fresh copy of the arguments. Writes
``{"results": {key: {"compared", "agreed", "returned", "agreed_returning", "disagreements"}}}``
on stdout (``returned``: inputs on which the original returned normally, ``agreed_returning``:
those of them on which the de-optimised side returned the same).

An input counts as compared when the original returns twice the same (deterministic) result
or raises the same exception type twice; it agrees when the de-optimised side returns an
equal result of the same type (or raises the same exception type) and leaves the arguments
equal to the original's (strict: every compared input; on returning inputs: only those on which the
original returned normally, the inputs a caller of the real function uses).
"""

import ast
import copy
import importlib
import itertools
import json
import re
import resource
import signal
import sys
import types

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _CallTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _CallTimeout()


def _materialise(value):
    if isinstance(value, (types.GeneratorType, map, filter, zip, enumerate, reversed)) or (
        type(value).__name__.endswith("iterator")
    ):
        return ("<iterated>", list(itertools.islice(value, 1000)))
    return value


def _same(a, b):
    if type(a) is not type(b):
        return False
    try:
        equal = bool(a == b)
    except Exception:  # noqa: BLE001 - an __eq__ that raises: fall back to repr
        equal = False
    if equal:
        return True
    try:
        return _ADDRESS.sub("", repr(a)) == _ADDRESS.sub("", repr(b))
    except Exception:  # noqa: BLE001
        return False


def _call(func, arg_src, timeout_s):
    args = ast.literal_eval(arg_src)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        value = _materialise(func(*args))
        return ("ok", value, args)
    except _CallTimeout:
        return ("timeout", None, None)
    except RecursionError:
        return ("error", "RecursionError", args)
    except Exception as exc:  # noqa: BLE001 - the exception type is part of the behaviour
        return ("error", type(exc).__name__, args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _define(source, entry, namespace):
    scope = dict(namespace)
    exec(compile(source, "<pair>", "exec"), scope)  # noqa: S102 - the worker's purpose
    return scope[entry]


def _check(item, namespace, timeout_s):
    try:
        fast = _define(item["fast"], item["entry"], namespace)
        slow = _define(item["slow"], item["entry"], namespace)
    except BaseException as exc:  # noqa: BLE001
        return {"compared": 0, "agreed": 0, "returned": 0, "error": f"define: {exc!r}"[:200]}
    compared = agreed = returned = agreed_returning = 0
    disagreements: list[dict] = []
    for arg_src in item["inputs"]:
        first = _call(fast, arg_src, timeout_s)
        second = _call(fast, arg_src, timeout_s)
        if first[0] == "timeout" or second[0] != first[0] or not _same(first[1], second[1]) \
                or not _same(first[2], second[2]):
            continue  # not deterministic on this input (or too slow): nothing to compare
        other = _call(slow, arg_src, timeout_s)
        compared += 1
        returned += first[0] == "ok"
        same_result = _same(first[1], other[1]) and _same(first[2], other[2])
        if first[0] == "ok" and other[0] == "ok" and same_result:
            agreed_returning += 1
        if other[0] == first[0] and same_result:
            agreed += 1
        elif len(disagreements) < 3:
            disagreements.append({"input": arg_src[:200], "fast": repr(first[:2])[:200],
                                  "slow": repr(other[:2])[:200]})
    return {"compared": compared, "agreed": agreed, "returned": returned,
            "agreed_returning": agreed_returning, "disagreements": disagreements}


def main():
    request = json.load(sys.stdin)
    mem = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.setrecursionlimit(3000)
    timeout_s = float(request.get("call_timeout_s", 1.0))
    results = {}
    try:
        signal.setitimer(signal.ITIMER_REAL, 20.0)
        try:
            module = importlib.import_module(request["module"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        namespace = dict(vars(module))
    except BaseException as exc:  # noqa: BLE001 - a module that cannot be imported here
        namespace = None
        import_error = f"import: {type(exc).__name__}: {exc}"[:200]
    for item in request["items"]:
        if namespace is None:
            results[item["key"]] = {"compared": 0, "agreed": 0, "returned": 0,
                                    "error": import_error}
            continue
        results[item["key"]] = _check(item, copy.copy(namespace), timeout_s)
    real_stdout = sys.__stdout__
    assert real_stdout is not None  # the parent always gives the worker a stdout pipe
    json.dump({"results": results}, real_stdout)
    real_stdout.flush()


if __name__ == "__main__":
    sys.stdout = sys.stderr  # code under test may print; keep stdout for the JSON answer
    main()
