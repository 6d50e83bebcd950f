"""Hostile candidates against the verifier (issue 12), shared by the engine and reward tests.

Each is the source of a rewrite of ``weigh`` (or ``words``) in :data:`PROJECT`. The ``FOUND``
ones reproduce the attacks of the issue's findings 1-7 and 13 against the old verifier (one
process for both sides, reports written by the processes that run the candidate, the clock in
that process, results compared with ``==``); the ``NEW`` ones attack the new design (separate
worker processes, FIFOs, the canonical encoding, CPU time from the kernel). None may be
verified ``faster``.
"""

from __future__ import annotations

import textwrap

_WORDS = " ".join(f"w{i:04d}x" for i in range(3000))

PROJECT = {
    "pyproject.toml": '[project]\nname = "vault"\nversion = "0"\n',
    "vault/__init__.py": "",
    "vault/scale.py": f'''
        """Slow spots on purpose."""

        import re

        PATTERN = "|".join({_WORDS.split()!r})


        def weigh(values):
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            return total


        def words(text):
            return re.findall(PATTERN, text)
    ''',
    "tests/test_scale.py": """
        from vault.scale import weigh, words


        def test_small():
            assert weigh([1, 2, 3]) == 14


        def test_big():
            assert weigh(list(range(3000))) == sum(v * v for v in range(3000))


        def test_shifted():
            assert weigh(list(range(2000, 4000))) == sum(v * v for v in range(2000, 4000))


        def test_words():
            assert words("w0001x and w2999x") == ["w0001x", "w2999x"]
    """,
}

# The original's own algorithm: an attack that falls back to it gains nothing honestly.
_HONEST_LOOP = """
    total = 0
    for i in range(len(values)):
        total += values[i] * values[i]
    return total
"""


def _weigh(body: str, honest: bool = False) -> str:
    """``weigh`` with ``body``, then (``honest``) the original's loop: the attack comes first."""
    parts = [textwrap.dedent(body).strip("\n")]
    if honest:
        parts.append(textwrap.dedent(_HONEST_LOOP).strip("\n"))
    return "def weigh(values):\n" + textwrap.indent("\n".join(parts), "    ") + "\n"


#: name -> (target qualname, candidate source). Findings of issue 12 against the old verifier.
FOUND: dict[str, tuple[str, str]] = {
    # 1: forge the capture plugin's report and the replay's reports, then os._exit(0).
    "forged_reports": (
        "weigh",
        _weigh(
            """
            import json, os, sys
            capture = sys.modules.get("perfrl_capture")
            if capture is not None and getattr(capture, "_RECORDER", None) is not None:
                recorder = capture._RECORDER
                selected = os.environ.get("PERFRL_SELECT_FILE")
                names = open(selected).read().split() if selected else list(recorder.tests)
                for name in names:
                    recorder.tests[name] = {"outcome": "passed", "duration": 0.0, "message": ""}
                recorder.exitstatus = 0
                recorder.write()
                os._exit(0)
            if "--out" in sys.argv:
                out = sys.argv[sys.argv.index("--out") + 1]
                calls = []
                if "--calls" in sys.argv:
                    calls = [int(c) for c in sys.argv[sys.argv.index("--calls") + 1].split(",")]
                else:
                    import pickle
                    path = sys.argv[sys.argv.index("--capture") + 1]
                    calls = list(range(len(pickle.load(open(path, "rb"))["calls"])))
                module_file = os.path.realpath(sys.modules[weigh.__module__].__file__)
                report = {
                    "status": "equivalent", "calls_total": len(calls),
                    "calls_compared": len(calls), "usable_calls": calls,
                    "unreproducible": [], "mismatch": None, "module_file": module_file,
                    "rounds": [{"original_ns": 1e6, "candidate_ns": 1e3}] * 20,
                    "per_call": [
                        {"call_index": c, "original_ns": 1e6, "candidate_ns": 1e3,
                         "loops": {"original": 1, "candidate": 1}} for c in calls
                    ],
                }
                if "benchmark" in sys.argv:
                    report["status"] = "ok"
                with open(out, "w") as handle:
                    json.dump(report, handle)
                os._exit(0)
            return 0
            """
        ),
    ),
    # 2: bend the benchmark's clock: every call of the candidate is subtracted from it.
    "bent_clock": (
        "weigh",
        _weigh(
            """
            import time
            state = time.__dict__.setdefault("_perfrl_debt", [0, None])
            if state[1] is None:
                real, real_thread = time.perf_counter_ns, time.thread_time_ns
                state[1] = real
                time.perf_counter_ns = lambda: real() - state[0]
                time.thread_time_ns = lambda: real_thread() - state[0]
            started = state[1]()
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            state[0] += state[1]() - started
            return total
            """
        ),
    ),
    # 3: detect the benchmark and cut corners there only.
    "detects_benchmark": (
        "weigh",
        _weigh(
            """
            import os, sys
            timed = "benchmark" in sys.argv or "MALLOC_MMAP_THRESHOLD_" in os.environ
            frame = sys._getframe(1)
            while frame is not None and not timed:
                timed = frame.f_code.co_name in ("_time_block", "go")
                frame = frame.f_back
            if timed:
                return 0
            """,
            honest=True,
        ),
    ),
    # 4: a memo across calls (the benchmark replays the same calls).
    "memo_function_attribute": (
        "weigh",
        _weigh(
            """
            memo = weigh.__dict__.setdefault("memo", {})
            key = tuple(values)
            if key not in memo:
                total = 0
                for v in values:
                    total += v * v
                memo[key] = total
            return memo[key]
            """
        ),
    ),
    "memo_module_global": (
        "weigh",
        _weigh(
            """
            memo = globals().setdefault("_weigh_memo", {})
            key = tuple(values)
            if key not in memo:
                total = 0
                for v in values:
                    total += v * v
                memo[key] = total
            return memo[key]
            """
        ),
    ),
    # 5: read the recorded calls and their results, answer from them.
    "reads_recorded_results": (
        "weigh",
        _weigh(
            """
            import glob, os, pickle
            table = weigh.__dict__.get("table")
            if table is None:
                table = {}
                base = os.path.join(os.getcwd(), "..", "..")
                for path in glob.glob(os.path.join(base, "**", "*.pkl"), recursive=True):
                    try:
                        with open(path, "rb") as handle:
                            payload = pickle.load(handle)
                        for call in payload["calls"]:
                            if call.get("outcome"):
                                args, _ = pickle.loads(call["args"])
                                table[tuple(args[0])] = pickle.loads(call["outcome"])["value"]
                    except Exception:
                        continue
                if table:
                    weigh.table = table
            found = table.get(tuple(values))
            if found is not None:
                return found
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            return total
            """
        ),
    ),
    # 6: slow the original down: its code object, a builtin it uses, its source file.
    "slows_original_code": (
        "weigh",
        _weigh(
            """
            import sys
            for name, module in list(sys.modules.items()):
                target = getattr(module, "weigh", None)
                if "_perfrl_original_" in name and target is not None:
                    def slow(values):
                        total = 0
                        for _ in range(8):
                            total = 0
                            for i in range(len(values)):
                                total += values[i] * values[i]
                        return total
                    target.__code__ = slow.__code__
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            return total
            """
        ),
    ),
    "slows_builtin_range": (
        "weigh",
        _weigh(
            """
            import builtins, sys
            if "pytest" not in sys.modules and not hasattr(builtins, "_real_range"):
                builtins._real_range = builtins.range
                class SlowRange:
                    def __call__(self, *args):
                        items = builtins._real_range(*args)
                        for _ in items:
                            pass
                        return iter([x for x in items])
                builtins.range = SlowRange()
            total = 0
            i = 0
            n = len(values)
            while i < n:
                total += values[i] * values[i]
                i += 1
            return total
            """
        ),
    ),
    "rewrites_original_source": (
        "weigh",
        _weigh(
            """
            import glob, os
            base = os.path.join(os.getcwd(), "..", "..")
            for path in glob.glob(os.path.join(base, "**", "original_source.py"), recursive=True):
                text = open(path).read()
                if "range(6)" not in text:
                    text = text.replace(
                        "    total = 0\\n    for i in range(len(values)):",
                        "    for _ in range(6):\\n        total = 0\\n"
                        "        for i in range(len(values)):",
                    ).replace(
                        "        total += values[i] * values[i]",
                        "            total += values[i] * values[i]",
                    )
                    open(path, "w").write(text)
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            return total
            """
        ),
    ),
    # 7: an int whose == is always true, disguised as int.
    "always_equal_int": (
        "weigh",
        _weigh(
            """
            class int_(int):
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
                __hash__ = int.__hash__
            int_.__name__ = int_.__qualname__ = "int"
            int_.__module__ = "builtins"
            return int_(0)
            """
        ),
    ),
    # 13: a no-op whose original pays a one-time cost (compiling PATTERN) on its first call.
    "noop_after_slow_first_call": (
        "words",
        "def words(text):\n    return re.findall(PATTERN, text)\n",
    ),
}

#: Attacks on the new design (separate workers, FIFOs, the encoding, the kernel's clock).
NEW: dict[str, tuple[str, str]] = {
    # Burn CPU in a thread while idle, so that the original (timed meanwhile) runs slower.
    "burns_cpu_while_idle": (
        "weigh",
        _weigh(
            """
            import threading
            if not weigh.__dict__.get("spinner"):
                def spin():
                    while True:
                        sum(range(1000))
                weigh.spinner = threading.Thread(target=spin, daemon=True)
                weigh.spinner.start()
            """,
            honest=True,
        ),
    ),
    # Write fake replies into the worker's FIFO: "done" at once, then made-up results.
    "writes_fifo_out_of_turn": (
        "weigh",
        _weigh(
            """
            import glob, os, sys
            if "perfrl_canon" in sys.modules:
                base = os.path.join(os.getcwd(), "..", "..", "**", "out")
                for path in glob.glob(base, recursive=True):
                    try:
                        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                        os.write(
                            fd,
                            b'{"op": "done"}\\n'
                            b'{"op": "results", "table": [], "order": []}\\n',
                        )
                        os.close(fd)
                    except OSError:
                        pass
                return 0
            """,
            honest=True,
        ),
    ),
    # Patch the encoder in its own process so every result encodes like the int 0.
    "patches_the_encoder": (
        "weigh",
        _weigh(
            """
            import sys
            canon = sys.modules.get("perfrl_canon")
            if canon is not None:
                canon.encode = lambda value: ["i", "0"]
                return 0
            """,
            honest=True,
        ),
    ),
    # A lazy result: a generator, and an object with __reduce__ and __eq__ lying about itself.
    "returns_generator": (
        "weigh",
        _weigh(
            """
            import sys
            if "perfrl_canon" in sys.modules:
                return (v * v for v in values)
            """,
            honest=True,
        ),
    ),
    "reduce_and_eq_liar": (
        "weigh",
        _weigh(
            """
            class Liar:
                def __eq__(self, other):
                    return True
                def __reduce__(self):
                    return (int, (0,))
                def __repr__(self):
                    return "0"
            return Liar()
            """
        ),
    ),
    # Exit in the middle of a timed batch (after the calls the tests and the replay make).
    "exits_mid_batch": (
        "weigh",
        _weigh(
            """
            import os
            weigh.calls = weigh.__dict__.get("calls", 0) + 1
            if weigh.calls > 12:
                os._exit(0)
            """,
            honest=True,
        ),
    ),
    # Huge output: 80 MB into the reply FIFO and onto stdout.
    "huge_output": (
        "weigh",
        _weigh(
            """
            import glob, os, sys
            if "perfrl_canon" in sys.modules:
                sys.stdout.write("x" * (20 * 1024 * 1024))
                base = os.path.join(os.getcwd(), "..", "..", "**", "out")
                for path in glob.glob(base, recursive=True):
                    fd = os.open(path, os.O_WRONLY)
                    os.write(fd, b"[" * (80 * 1024 * 1024))
            """,
            honest=True,
        ),
    ),
    # Look for the original's process and its recorded results through /proc.
    "reads_proc_of_others": (
        "weigh",
        _weigh(
            """
            import os, pickle
            table = weigh.__dict__.setdefault("table", {})
            if not weigh.__dict__.get("searched"):
                weigh.searched = True
                for pid in os.listdir("/proc"):
                    if not pid.isdigit():
                        continue
                    try:
                        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
                    except OSError:
                        continue
                    for i, part in enumerate(cmdline[:-1]):
                        if part == b"--calls":
                            try:
                                payload = pickle.load(open(cmdline[i + 1], "rb"))
                            except Exception:
                                continue
                            for call in payload["calls"]:
                                if call.get("outcome"):
                                    args, _ = pickle.loads(call["args"])
                                    table[tuple(args[0])] = pickle.loads(call["outcome"])["value"]
            if tuple(values) in table:
                return table[tuple(values)]
            total = 0
            for i in range(len(values)):
                total += values[i] * values[i]
            return total
            """
        ),
    ),
    # Hide a memo where the module's own state is not: a module of its own in sys.modules.
    "memo_hidden_in_sys_modules": (
        "weigh",
        _weigh(
            """
            import sys, types
            store = sys.modules.setdefault("_weigh_store", types.ModuleType("_weigh_store"))
            memo = store.__dict__.setdefault("memo", {})
            key = tuple(values)
            if key not in memo:
                total = 0
                for v in values:
                    total += v * v
                memo[key] = total
            return memo[key]
            """
        ),
    ),
    # Stop its own worker's parent (bwrap's init) and every process it can see.
    "signals_everything": (
        "weigh",
        _weigh(
            """
            import os, signal, sys
            if "perfrl_canon" in sys.modules:
                for pid in os.listdir("/proc"):
                    if pid.isdigit() and int(pid) != os.getpid():
                        try:
                            os.kill(int(pid), signal.SIGSTOP)
                        except OSError:
                            pass
            """,
            honest=True,
        ),
    ),
    # Bend the clock while hiding the reach from a reading of the source: ``time`` found
    # through the module's own ``re`` import, rebound through a local name.
    "bent_clock_hidden": (
        "weigh",
        _weigh(
            """
            clock = re.enum.sys.modules["time"]
            if not hasattr(clock, "_real_counter"):
                clock._real_counter = clock.perf_counter_ns
                clock.perf_counter_ns = lambda: clock._real_counter() // 2
            """,
            honest=True,
        ),
    ),
    # Honest under pytest and while its worker is young (the warm-up, the calibration, the
    # equivalence replay the first pair runs before the benchmark), garbage once the worker
    # has used some CPU: no state of its own for the stateful check to see, aimed at the later
    # rounds, which are measured once unless they look disturbed and which end early once two
    # processes look decisive.
    "garbage_once_warm": (
        "weigh",
        _weigh(
            """
            system = re.enum.sys
            if "pytest" not in system.modules and system.modules["os"].times().user > 0.3:
                return 0
            """,
            honest=True,
        ),
    ),
}

#: An honest rewrite of ``weigh`` (about as fast as the original: not faster, but valid).
HONEST_WEIGH = _weigh("return sum(v * v for v in values)")
