"""pytest plugin that records how the project's tests use one function.

Loaded with ``python -m pytest -p perfrl_capture`` inside the sandbox, in the user's own
interpreter, so it uses the standard library and pytest only and keeps to Python 3.9 syntax.
It is configured by the ``PERFRL_*`` environment variables named in
:class:`perfrl_protocol.ENV` (the engine sets them; without ``PERFRL_OUT_DIR`` the plugin does
nothing), and writes ``summary.json`` in the shape of :class:`perfrl_protocol.Summary`.

**How calls are found.** Through the target's *code object*, so every path to the function
counts, including references stored before the plugin ran (a dict of handlers built at import
time, a namedtuple of callbacks, ``from mod import f`` in a conftest): ``sys.monitoring`` on
Python 3.12+ (``PY_START``/``PY_RETURN`` on the target's code only, ``PY_UNWIND`` only while a
call of it is running); on older Pythons the function object's ``__code__`` is redirected
through the recorder (:class:`_RedirectWatch`), or, where that is impossible, a profile hook
compares ``frame.f_code`` on every call event (while a recorded call runs, a trace function on
that one frame sees the exception it raises). A target whose code is not its own (a
decorator's wrapper, a C-level cache) is replaced by a recording wrapper under its name
instead, and names bound to it earlier are rebound. ``summary["watch"]`` says which way.

**Which calls are kept.** At most ``PERFRL_MAX_CALLS``, shared fairly among the test files
that make them and, within a file, among its tests (:class:`_CallStore`): a call that makes
the sample fairer displaces the latest call of the test with the most; when there are more
calling tests than room, tests are drawn by reservoir sampling over the whole run. So one test
file cannot fill the sample, and every calling test contributes while there is room.
Arguments are pickled before the call (the function may mutate them); the result, or the
exception, and the arguments afterwards are pickled after it.

The engine reads ``calls.pkl``'s outer layer without running any code; the nested pickles
are unpickled only by ``perfrl_worker`` in the sandbox. It is a pickled dict whose
calls hold *nested* pickles (bytes), so the worker can unpickle each call freshly and with
its own class mapping: ``args`` is ``(args, kwargs)`` pickled before the call; ``outcome`` is
``{"args_after": (args, kwargs), "kind": "return" | "raise", "value": result}`` pickled after
the call in one piece so aliasing between the result and the arguments is kept.
"""

import dis
import functools
import json
import os
import pickle
import sys
import threading
import traceback
from types import FrameType
from typing import Any

import perfrl_protocol as protocol
from perfrl_protocol import ENV

PLUGIN_VERSION = "2"
_PROTOCOL = pickle.HIGHEST_PROTOCOL
# Keep the total recorded data bounded whatever the per-call limit is.
_MAX_TOTAL_BYTES = 64 * 1024 * 1024
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_RETURN_VALUE = dis.opmap.get("RETURN_VALUE")


def _short(text, limit=400):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Config:
    def __init__(self, env):
        self.out_dir = env.get(ENV.OUT_DIR)
        self.module = env.get(ENV.TARGET_MODULE, "")
        self.qualname = env.get(ENV.TARGET_QUALNAME, "")
        self.import_root = env.get(ENV.IMPORT_ROOT)
        self.root = env.get(ENV.ROOT) or os.getcwd()
        self.mode = env.get(ENV.MODE, protocol.MODE_CAPTURE)
        self.max_calls = int(env.get(ENV.MAX_CALLS, str(protocol.DEFAULT_MAX_CALLS)))
        self.max_call_bytes = int(
            env.get(ENV.MAX_CALL_BYTES, str(protocol.DEFAULT_MAX_CALL_BYTES))
        )
        self.watch = env.get(ENV.WATCH, "auto")


def _test_file(nodeid):
    return nodeid.split("::", 1)[0]


class _CallStore:
    """The recorded calls: at most ``max_calls`` and ``max_bytes``, shared fairly among the
    test files and, within a file, among its tests.

    Max-min fairness, files first: when the store is full, a new call is admitted only if it
    makes the sample fairer, and the call it displaces is the latest of the test with the most
    calls in the file with the most calls. When there are more calling tests (or files) than
    room, each new test gets in by reservoir sampling (with a fixed seed), so the sample is a
    uniform draw over the whole run instead of its first tests.
    """

    def __init__(self, max_calls, max_bytes):
        import random

        self.max_calls = max(1, max_calls)
        self.max_bytes = max_bytes
        self.by_test = {}  # test -> [entry], entries in call order
        self.file_counts = {}  # file -> number of kept calls
        self.tests_seen = {}  # file -> number of calling tests seen
        self.count = 0
        self.bytes = 0
        self.sequence = 0
        self.random = random.Random(0)

    def saw_test(self, test):
        """A test called the target for the first time."""
        file = _test_file(test)
        self.tests_seen[file] = self.tests_seen.get(file, 0) + 1

    def _full(self):
        return self.count >= self.max_calls or self.bytes >= self.max_bytes

    def _largest_test(self, file, choose_randomly=False):
        counts = [
            (len(entries), test)
            for test, entries in self.by_test.items()
            if entries and _test_file(test) == file
        ]
        top = max(count for count, _ in counts)
        tied = [test for count, test in counts if count == top]
        return self.random.choice(tied) if choose_randomly else tied[-1]

    def admits(self, test):
        """Whether a call from ``test`` is kept, asked before paying for its pickling: None
        for no, else the test whose latest call makes room ("" when there is room)."""
        if not self._full():
            return ""
        file = _test_file(test)
        own_file = self.file_counts.get(file, 0)
        largest_file = max(self.file_counts, key=lambda f: self.file_counts[f])
        if self.file_counts[largest_file] >= own_file + 2:
            return self._largest_test(largest_file)
        own = len(self.by_test.get(test, ()))
        if own_file == 0:
            # Every file holds one call at most: draw this file into the sample or not.
            if self.random.random() * len(self.tests_seen) < self.max_calls:
                return self._largest_test(self.random.choice(list(self.file_counts)), True)
            return None
        largest = self._largest_test(file)
        if len(self.by_test[largest]) >= own + 2:
            return largest
        if own == 0 and self.random.random() * self.tests_seen.get(file, 1) < own_file:
            return self._largest_test(file, choose_randomly=True)
        return None

    def add(self, test, entry, make_room):
        """Keep ``entry`` (from ``test``); ``make_room`` is what :meth:`admits` returned."""
        entry["sequence"] = self.sequence
        self.sequence += 1
        entry["size"] = len(entry["args"]) + len(entry["outcome"])
        while make_room is not None and self.count > 0 and (
            self.count >= self.max_calls or self.bytes + entry["size"] > self.max_bytes
        ):
            victim = make_room if self.by_test.get(make_room) else None
            if victim is None:
                largest_file = max(self.file_counts, key=lambda f: self.file_counts[f])
                victim = self._largest_test(largest_file)
            self._drop(victim)
            make_room = None  # a second eviction (bytes) takes from the largest
        if self.count >= self.max_calls or self.bytes + entry["size"] > self.max_bytes:
            return False  # another thread filled the room meanwhile
        self.by_test.setdefault(test, []).append(entry)
        file = _test_file(test)
        self.file_counts[file] = self.file_counts.get(file, 0) + 1
        self.count += 1
        self.bytes += entry["size"]
        return True

    def _drop(self, test):
        dropped = self.by_test[test].pop()
        file = _test_file(test)
        self.file_counts[file] -= 1
        if not self.file_counts[file]:
            del self.file_counts[file]
        self.count -= 1
        self.bytes -= dropped["size"]

    def calls(self):
        """The kept calls in the order they were made (test run order)."""
        entries = [entry for kept in self.by_test.values() for entry in kept]
        entries.sort(key=lambda entry: entry["sequence"])
        return [
            {key: entry[key] for key in ("test", "args", "outcome", "raised")}
            for entry in entries
        ]


class _Pending:
    """A recorded call between its start and its end."""

    __slots__ = ("args", "before", "exception", "kwargs", "make_room", "test")

    def __init__(self, test, before, args, kwargs, make_room):
        self.test = test
        self.before = before
        self.args = args
        self.kwargs = kwargs
        self.make_room = make_room
        self.exception = None


# Marks a call that is counted but not recorded, and a nested (recursive) call.
_UNRECORDED = object()
_NESTED = object()


class _Recorder:
    """Everything the plugin learns during the session; written out once at the end."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.local = threading.local()
        self.current_test = None
        self.tests = {}  # nodeid -> {"outcome", "duration", "message"}, in run order
        self.calling_tests = {}  # nodeid -> number of calls (dict keeps first-call order)
        self.store = _CallStore(config.max_calls, _MAX_TOTAL_BYTES)
        self.calls_total = 0
        self.calls_outside_tests = 0
        self.skipped_reasons = {}
        self.collection_errors = []
        self.plugin_errors = []
        self.wrap_error = None
        self.module_file = None
        self.watcher = None
        self.written = False
        self.exitstatus = None

    @property
    def wrapped(self):
        return self.watcher is not None

    # -- calls -------------------------------------------------------------------------

    def skip(self, reason):
        with self.lock:
            self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    def _stack(self):
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    def begin(self, args, kwargs):
        """A call of the target starts: count it and, when it is kept, copy its arguments.

        Returns a token for :meth:`end`; every begin is paired with exactly one end."""
        stack = self._stack()
        if stack:
            # A recursive or nested call: only the outermost call is a unit of behaviour.
            stack.append(_NESTED)
            return _NESTED
        test = self.current_test
        with self.lock:
            self.calls_total += 1
            if test is None:
                self.calls_outside_tests += 1
            else:
                if test not in self.calling_tests:
                    self.store.saw_test(test)
                self.calling_tests[test] = self.calling_tests.get(test, 0) + 1
            make_room = None if test is None else self.store.admits(test)
        token = _UNRECORDED
        if make_room is not None:
            try:
                before = pickle.dumps((args, kwargs), _PROTOCOL)
            except Exception:  # noqa: BLE001 - any pickling failure just skips this call
                self.skip("with arguments that cannot be pickled")
            else:
                if len(before) > self.config.max_call_bytes:
                    self.skip("with arguments over the size limit")
                else:
                    token = _Pending(test, before, args, kwargs, make_room)
        stack.append(token)
        return token

    def end(self, token, kind, value, exc):
        """The call of ``token`` ended: ``kind`` is "return" (``value``), "raise" (``exc``,
        None when it could not be seen) or "interrupt" (SystemExit, KeyboardInterrupt...)."""
        stack = self._stack()
        if stack:
            stack.pop()
        if not isinstance(token, _Pending):
            return
        if kind == "interrupt":
            self.skip("that raised SystemExit or KeyboardInterrupt")
            return
        if kind == "raise" and exc is None:
            self.skip("that raised while another tracer (a debugger, coverage) was active")
            return
        try:
            outcome = pickle.dumps(
                {
                    "args_after": (token.args, token.kwargs),
                    "kind": kind,
                    "value": value if kind == "return" else None,
                },
                _PROTOCOL,
            )
        except Exception:  # noqa: BLE001 - any pickling failure just skips this call
            self.skip(
                "with a result that cannot be pickled"
                if kind == "return"
                else "with arguments that cannot be pickled after the call"
            )
            return
        if len(outcome) > self.config.max_call_bytes:
            self.skip("with a result over the size limit")
            return
        raised = None
        if exc is not None:
            raised = {
                "type": type(exc).__module__ + "." + type(exc).__qualname__,
                "message": _short(exc),
            }
        with self.lock:
            self.store.add(
                token.test,
                {"test": token.test, "args": token.before, "outcome": outcome, "raised": raised},
                token.make_room,
            )

    def call(self, func, args, kwargs):
        """Call ``func`` and record the call (the wrapper's way)."""
        token = self.begin(args, kwargs)
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            self.end(token, "raise", None, exc)
            raise
        except BaseException:
            self.end(token, "interrupt", None, None)
            raise
        self.end(token, "return", result, None)
        return result

    # -- finding the target ------------------------------------------------------------

    def install(self):
        """Import the target module and start watching the target's calls."""
        import importlib

        module = importlib.import_module(self.config.module)
        self.module_file = os.path.realpath(getattr(module, "__file__", "") or "")
        if self.config.mode != protocol.MODE_CAPTURE or self.watcher is not None:
            return
        parts = self.config.qualname.split(".")
        owner = module
        for part in parts[:-1]:
            owner = getattr(owner, part)
        name = parts[-1]
        if name not in vars(owner):
            owner_name = getattr(owner, "__qualname__", getattr(owner, "__name__", owner))
            raise LookupError(
                f"{name} is not defined in {owner_name} (inherited or created dynamically?)"
            )
        raw = vars(owner)[name]
        function: object  # checked to be callable below
        if isinstance(raw, (staticmethod, classmethod)):
            function = raw.__func__
        elif isinstance(raw, property):
            function = raw.fget
        else:
            function = raw
        if not callable(function):
            raise TypeError(f"{self.config.qualname} is not callable")
        code = _own_code(function, self.config.qualname, self.module_file)
        watcher = None
        if code is not None and self.config.watch != "wrapper":
            watcher = _code_watcher(self, function, code)
        if watcher is None:
            if self.config.watch not in ("auto", "wrapper"):
                raise LookupError(
                    f"{self.config.qualname} cannot be watched by its code object"
                )
            watcher = _WrapperWatch(self, owner, name, raw, isinstance(owner, type(sys)))
        watcher.start()
        self.watcher = watcher

    def stop_watching(self):
        if self.watcher is not None:
            self.watcher.stop()

    # -- output ------------------------------------------------------------------------

    def relative_sys_path(self):
        root = os.path.realpath(self.config.root)
        out = []
        for entry in sys.path:
            full = os.path.realpath(entry or os.getcwd())
            if not os.path.isdir(full):
                continue  # path hooks and missing entries
            if full == root or full.startswith(root + os.sep):
                rel = os.path.relpath(full, root)
                if rel not in out:
                    out.append(rel)
        return out

    def write(self):
        if self.written:
            return
        out_dir = self.config.out_dir
        os.makedirs(out_dir, exist_ok=True)
        with self.lock:
            calls = self.store.calls()
            skipped = sum(self.skipped_reasons.values())
            in_tests = self.calls_total - self.calls_outside_tests
        recorded_by_test: dict[str, int] = {}
        for call in calls:
            recorded_by_test[call["test"]] = recorded_by_test.get(call["test"], 0) + 1
        summary = {
            "plugin_version": PLUGIN_VERSION,
            "python_version": ".".join(str(part) for part in sys.version_info[:3]),
            "mode": self.config.mode,
            "module": self.config.module,
            "qualname": self.config.qualname,
            "module_file": self.module_file,
            "wrapped": self.wrapped,
            "watch": self.watcher.kind if self.watcher is not None else "",
            "wrap_error": self.wrap_error,
            "exitstatus": self.exitstatus,
            "tests": self.tests,
            "calling_tests": self.calling_tests,
            "recorded_by_test": recorded_by_test,
            "calls_total": self.calls_total,
            "calls_recorded": len(calls),
            "calls_distinct": len({call["args"] for call in calls}),
            "calls_not_recorded": max(0, in_tests - len(calls) - skipped),
            "calls_outside_tests": self.calls_outside_tests,
            "skipped_reasons": self.skipped_reasons,
            "collection_errors": self.collection_errors,
            "plugin_errors": self.plugin_errors,
            "sys_path": self.relative_sys_path(),
        }
        if self.config.mode == protocol.MODE_CAPTURE:
            payload = {
                "version": PLUGIN_VERSION,
                "module": self.config.module,
                "qualname": self.config.qualname,
                "sys_path": summary["sys_path"],
                "calls": calls,
            }
            with open(os.path.join(out_dir, protocol.CALLS_FILE), "wb") as handle:
                pickle.dump(payload, handle, _PROTOCOL)
        # summary.json last: its presence tells the engine the session ended normally.
        tmp = os.path.join(out_dir, protocol.SUMMARY_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(summary, handle)
        os.replace(tmp, os.path.join(out_dir, protocol.SUMMARY_FILE))
        self.written = True


def _own_code(function, qualname, module_file):
    """The target's code object when it is the function's own (so watching that code sees
    exactly the target's calls); None for a decorator's wrapper or a C-level callable."""
    code = getattr(function, "__code__", None)
    if code is None or not isinstance(code, type(_own_code.__code__)):
        return None
    own_qualname = getattr(code, "co_qualname", None)  # Python 3.11+
    if own_qualname is not None:
        if own_qualname != qualname:
            return None
    elif code.co_name != qualname.rsplit(".", 1)[-1]:
        return None
    if module_file and os.path.realpath(code.co_filename) != module_file:
        return None
    return code


def _frame_arguments(frame, code):
    """``(args, kwargs)`` that call the function the way this frame was called (parameters
    by position up to ``*args``, keyword-only ones and ``**kwargs`` by keyword)."""
    names = code.co_varnames
    values = frame.f_locals
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    args = [values[name] for name in names[:positional]]
    kwargs = {name: values[name] for name in names[positional : positional + keyword_only]}
    index = positional + keyword_only
    if code.co_flags & _CO_VARARGS:
        args.extend(values[names[index]])
        index += 1
    if code.co_flags & _CO_VARKEYWORDS:
        kwargs.update(values[names[index]])
    return tuple(args), kwargs


def _code_watcher(recorder, function, code):
    choice = recorder.config.watch
    if choice in ("auto", "code", "monitoring") and sys.version_info >= (3, 12):
        tool = _free_monitoring_tool()
        if tool is not None:
            return _MonitoringWatch(recorder, code, tool)
    if choice in ("auto", "code", "redirect"):
        watcher = _RedirectWatch.for_function(recorder, function, code)
        if watcher is not None:
            return watcher
    profile_free = sys.getprofile() is None and _RETURN_VALUE is not None
    if choice in ("auto", "code", "profile") and profile_free:
        return _ProfileWatch(recorder, code)
    return None  # fall back to the wrapper


_CALL_NAME = "__perfrl_capture_call__"


class _RedirectWatch:
    """Python 3.11 and older: the function object itself is redirected, so every reference
    to it (a module global, a dict or a namedtuple built at import time, a bound method, a
    ``from mod import f`` taken earlier) reaches the recorder, and nothing else is slowed.

    Its ``__code__`` becomes a small trampoline (same name, file, line and free variables)
    that calls a twin of the original function (same code, globals, defaults, closure)
    through the recorder; ``inspect.signature`` keeps answering with the real parameters.
    A profile hook would see the same calls but costs on every call of every function
    (measured: pure-Python test code 3 to 6 times slower on 3.11).
    """

    kind = "redirect"

    def __init__(self, recorder, function, code, trampoline):
        self.recorder = recorder
        self.function = function
        self.code = code
        self.trampoline = trampoline
        self.added_signature = False

    @classmethod
    def for_function(cls, recorder, function, code):
        if not isinstance(function, type(_code_watcher)) or function.__code__ is not code:
            return None
        try:
            trampoline = _trampoline_code(code)
        except Exception:  # noqa: BLE001 - an unusual code object: use another way
            return None
        if trampoline is None:
            return None
        return cls(recorder, function, code, trampoline)

    def start(self):
        import builtins
        import inspect
        import types

        function = self.function
        twin = types.FunctionType(
            self.code, function.__globals__, function.__name__, function.__defaults__,
            function.__closure__,
        )
        twin.__kwdefaults__ = function.__kwdefaults__
        twin.__qualname__ = function.__qualname__
        twin.__module__ = function.__module__
        twin.__doc__ = function.__doc__
        recorder = self.recorder

        def perfrl_capture_call(args, kwargs):
            return recorder.call(twin, args, kwargs)

        attributes = function.__dict__
        if "__signature__" not in attributes and "__wrapped__" not in attributes:
            attributes["__signature__"] = inspect.signature(function)
            self.added_signature = True
        setattr(builtins, _CALL_NAME, perfrl_capture_call)
        function.__code__ = self.trampoline

    def stop(self):
        import builtins

        if self.function.__code__ is self.trampoline:
            self.function.__code__ = self.code
        if self.added_signature:
            self.function.__dict__.pop("__signature__", None)
        if hasattr(builtins, _CALL_NAME):
            delattr(builtins, _CALL_NAME)


def _trampoline_code(code):
    """A code object that calls ``__perfrl_capture_call__(args, kwargs)`` (found in builtins)
    with ``code``'s name, place and free variables (``__code__`` must keep their number)."""
    free = code.co_freevars
    lines = ["def perfrl_factory():"]
    if free:
        lines.append("    " + " = ".join(free) + " = None")
    lines.append("    def perfrl_trampoline(*args, **kwargs):")
    if free:
        # Never true: it only makes the closure's names free variables here too.
        lines.append(f"        if {_CALL_NAME} is None: ({', '.join(free)},)")
    lines.append(f"        return {_CALL_NAME}(args, kwargs)")
    lines.append("    return perfrl_trampoline.__code__")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", code.co_filename, "exec"), namespace)  # noqa: S102
    trampoline = namespace["perfrl_factory"]()
    if len(trampoline.co_freevars) != len(free):
        return None
    changes = {"co_name": code.co_name, "co_firstlineno": code.co_firstlineno}
    if hasattr(code, "co_qualname"):
        changes["co_qualname"] = code.co_qualname
    return trampoline.replace(**changes)


def _monitoring() -> Any:
    """``sys.monitoring``; only reached on Python 3.12+ (``_code_watcher`` checks the version)."""
    if sys.version_info >= (3, 12):
        return sys.monitoring
    raise RuntimeError("sys.monitoring needs Python 3.12 or newer")


def _free_monitoring_tool():
    monitoring = _monitoring()
    for tool in (monitoring.PROFILER_ID, 3, 4, monitoring.OPTIMIZER_ID):
        if monitoring.get_tool(tool) is None:
            return tool
    return None


class _MonitoringWatch:
    """Python 3.12+: events on the target's code object only; nothing else is slowed."""

    kind = "monitoring"

    def __init__(self, recorder, code, tool):
        self.recorder = recorder
        self.code = code
        self.tool = tool
        self.running = 0  # target frames running, on all threads
        self.lock = threading.Lock()

    def start(self):
        monitoring = _monitoring()
        events = monitoring.events
        monitoring.use_tool_id(self.tool, "perfrl_capture")
        monitoring.register_callback(self.tool, events.PY_START, self._on_start)
        monitoring.register_callback(self.tool, events.PY_RETURN, self._on_return)
        monitoring.register_callback(self.tool, events.PY_UNWIND, self._on_unwind)
        monitoring.set_local_events(self.tool, self.code, events.PY_START | events.PY_RETURN)

    def stop(self):
        monitoring = _monitoring()
        try:
            monitoring.set_local_events(self.tool, self.code, 0)
            monitoring.set_events(self.tool, 0)
            monitoring.free_tool_id(self.tool)
        except ValueError:
            pass

    def _unwinds(self, delta):
        # PY_UNWIND cannot be limited to one code object, so it is on only while a call of
        # the target runs: other code pays nothing the rest of the time.
        with self.lock:
            self.running += delta
            monitoring = _monitoring()
            wanted = monitoring.events.PY_UNWIND if self.running > 0 else 0
            monitoring.set_events(self.tool, wanted)

    def _on_start(self, code, offset):
        if code is not self.code:
            return
        try:
            frame: FrameType | None = sys._getframe(1)
            while frame is not None and frame.f_code is not code:
                frame = frame.f_back
            if frame is None:
                raise RuntimeError("PY_START without the target's frame on the stack")
            args, kwargs = _frame_arguments(frame, code)
            self._unwinds(+1)
            self.recorder.begin(args, kwargs)
        except Exception:  # noqa: BLE001 - never disturb the user's code
            _plugin_error()

    def _end(self, kind, value, exc):
        try:
            stack = self.recorder._stack()
            token = stack[-1] if stack else _UNRECORDED
            self.recorder.end(token, kind, value, exc)
            self._unwinds(-1)
        except Exception:  # noqa: BLE001 - never disturb the user's code
            _plugin_error()

    def _on_return(self, code, offset, value):
        if code is self.code:
            self._end("return", value, None)

    def _on_unwind(self, code, offset, exc):
        if code is self.code:
            if isinstance(exc, Exception):
                self._end("raise", None, exc)
            else:
                self._end("interrupt", None, None)


class _ProfileWatch:
    """Python 3.11 and older: a profile hook that compares each frame's code object.

    While a call being recorded runs, a trace function on that frame alone (``f_trace``, with
    a global trace that traces nothing else) sees the exception it raises: a profile hook
    only learns that the frame returned. Not done when another tracer is active.
    """

    kind = "profile"

    def __init__(self, recorder, code):
        self.recorder = recorder
        self.code = code
        self.tracing = threading.local()

    def start(self):
        sys.setprofile(self._hook)
        threading.setprofile(self._hook)

    def stop(self):
        if sys.getprofile() is self._hook:
            sys.setprofile(None)
        threading.setprofile(None)

    def _hook(self, frame, event, arg):
        if frame.f_code is not self.code:
            return
        try:
            if event == "call":
                args, kwargs = _frame_arguments(frame, self.code)
                token = self.recorder.begin(args, kwargs)
                if isinstance(token, _Pending) and sys.gettrace() is None:
                    sys.settrace(_trace_nothing)
                    frame.f_trace_lines = False
                    frame.f_trace = self._frame_trace
                    self.tracing.frame = frame
            elif event == "return":
                stack = self.recorder._stack()
                token = stack[-1] if stack else _UNRECORDED
                if getattr(self.tracing, "frame", None) is frame:
                    sys.settrace(None)
                    self.tracing.frame = None
                returned = frame.f_code.co_code[frame.f_lasti] == _RETURN_VALUE
                if returned:
                    self.recorder.end(token, "return", arg, None)
                else:
                    exc = token.exception if isinstance(token, _Pending) else None
                    if exc is not None and not isinstance(exc, Exception):
                        self.recorder.end(token, "interrupt", None, None)
                    else:
                        self.recorder.end(token, "raise", None, exc)
        except Exception:  # noqa: BLE001 - an exception here would switch the hook off
            _plugin_error()

    def _frame_trace(self, frame, event, arg):
        if event == "exception":
            stack = self.recorder._stack()
            if stack and isinstance(stack[-1], _Pending):
                stack[-1].exception = arg[1]
        return self._frame_trace


def _trace_nothing(frame, event, arg):
    return None


class _WrapperWatch:
    """The fallback: the target replaced under its name by a recording wrapper."""

    kind = "wrapper"

    def __init__(self, recorder, owner, name, raw, in_module):
        self.recorder = recorder
        self.owner = owner
        self.name = name
        self.original = raw
        self.in_module = in_module
        self.replacement = None

    def make_wrapper(self, func):
        recorder = self.recorder

        def perfrl_capture_wrapper(*args, **kwargs):
            return recorder.call(func, args, kwargs)

        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(perfrl_capture_wrapper, name, getattr(func, name))
            except (AttributeError, TypeError):
                pass
        shared = getattr(func, "__dict__", None)
        if isinstance(shared, dict):
            # Share the attribute dict instead of copying it (functools.wraps copies): a
            # decorator that keeps state on its wrapper (``wrapper.calls += 1``) must stay
            # visible through our wrapper, or the tests would see different behaviour.
            perfrl_capture_wrapper.__dict__ = shared
            if "__signature__" not in shared and "__wrapped__" not in shared:
                try:  # keep inspect.signature() of the target unchanged
                    import inspect

                    shared["__signature__"] = inspect.signature(func)
                except (TypeError, ValueError):
                    pass
        else:
            perfrl_capture_wrapper.__dict__["__wrapped__"] = func
        return perfrl_capture_wrapper

    def start(self):
        raw = self.original
        if self.in_module:
            new = self.make_wrapper(raw)
        elif isinstance(raw, staticmethod):
            new = staticmethod(self.make_wrapper(raw.__func__))
        elif isinstance(raw, classmethod):
            new = classmethod(self.make_wrapper(raw.__func__))
        elif isinstance(raw, property):
            # getter() keeps the setter, deleter and docstring.
            new = raw.getter(self.make_wrapper(raw.fget))
        else:
            new = self.make_wrapper(raw)
        setattr(self.owner, self.name, new)
        self.replacement = new

    def stop(self):
        pass  # the process ends with the session

    def rebind_stale_references(self):
        """Point names bound to the unwrapped function before we wrapped it at the wrapper.

        A conftest (or anything imported before pytest_configure) may have done
        ``from mod import f``; without this its calls would go unseen.
        """
        if not self.in_module or not callable(self.original):
            return  # methods are looked up on the class, which already holds the wrapper
        for module in list(sys.modules.values()):
            if module is None or module is sys.modules.get(__name__):
                continue
            try:
                namespace = vars(module)
            except TypeError:
                continue
            for key, value in list(namespace.items()):
                if value is self.original:
                    try:
                        namespace[key] = self.replacement
                    except Exception:  # noqa: BLE001, S110 - read-only namespaces stay as they are
                        pass


def _plugin_error():
    if _RECORDER is not None:
        _RECORDER.plugin_errors.append(_short(traceback.format_exc(), 2000))


_RECORDER: "_Recorder | None" = None


def _active() -> _Recorder:
    """The session's recorder, for hook bodies: ``_guarded`` runs a body only when there is one."""
    assert _RECORDER is not None, "a pytest hook of perfrl_capture ran without @_guarded"
    return _RECORDER


def _guarded(hook):
    """Run a hook body; an error in the plugin is recorded in the summary, never swallowed."""

    @functools.wraps(hook)
    def run(*args, **kwargs):
        if _RECORDER is None:
            return None
        try:
            return hook(*args, **kwargs)
        except Exception:  # noqa: BLE001 - reported in the summary instead of breaking pytest
            _RECORDER.plugin_errors.append(_short(traceback.format_exc(), 2000))
            return None

    return run


def _activate():
    global _RECORDER
    config = _Config(os.environ)
    if not config.out_dir:
        return
    _RECORDER = _Recorder(config)
    if config.import_root and config.import_root not in sys.path:
        # At plugin import time, before conftest files load, so every import of the target
        # module resolves to the sandbox copy.
        sys.path.insert(0, config.import_root)


_activate()


@_guarded
def pytest_configure(config):
    recorder = _active()
    try:
        recorder.install()
    except BaseException as exc:  # noqa: BLE001 - the user's import error is reported
        config = recorder.config
        recorder.wrap_error = (
            f"could not import and wrap {config.module}.{config.qualname}: "
            f"{_short(f'{type(exc).__name__}: {exc}')}\n{_short(traceback.format_exc(), 3000)}"
        )


@_guarded
def pytest_collection_modifyitems(session, config, items):
    # The engine names the tests to run in a file (an argv of many parametrized IDs can
    # exceed the OS limit); every other collected test is deselected, as `-k` would.
    path = os.environ.get(ENV.SELECT_FILE)
    if not path:
        return
    with open(path, encoding="utf-8") as handle:
        wanted = {line.rstrip("\n") for line in handle if line.strip()}
    keep = [item for item in items if item.nodeid in wanted]
    dropped = [item for item in items if item.nodeid not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@_guarded
def pytest_collection_finish(session):
    recorder = _active()
    if (
        not recorder.wrapped
        and recorder.wrap_error is not None
        and recorder.config.mode == protocol.MODE_CAPTURE
    ):
        # Retry once after collection: a conftest deeper in the tree may have set sys.path.
        first_error = recorder.wrap_error
        recorder.wrap_error = None
        try:
            recorder.install()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            recorder.wrap_error = first_error
    if isinstance(recorder.watcher, _WrapperWatch):
        recorder.watcher.rebind_stale_references()


@_guarded
def pytest_collectreport(report):
    recorder = _active()
    if report.failed:
        recorder.collection_errors.append(
            {"nodeid": report.nodeid, "message": _short(report.longreprtext, 2000)}
        )


@_guarded
def pytest_runtest_logstart(nodeid, location):
    recorder = _active()
    recorder.current_test = nodeid


@_guarded
def pytest_runtest_logfinish(nodeid, location):
    recorder = _active()
    recorder.current_test = None


def _failure_excerpt(report):
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _short(crash.message, 600)
    text = getattr(report, "longreprtext", "") or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return _short("\n".join(lines[-5:]), 600)


@_guarded
def pytest_runtest_logreport(report):
    recorder = _active()
    entry = recorder.tests.setdefault(
        report.nodeid, {"outcome": "unknown", "duration": 0.0, "message": ""}
    )
    entry["duration"] += float(getattr(report, "duration", 0.0) or 0.0)
    xfail = hasattr(report, "wasxfail")
    if report.failed:
        if entry["outcome"] not in ("failed", "error"):
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = _failure_excerpt(report)
    elif report.skipped:
        if entry["outcome"] == "unknown":
            entry["outcome"] = "xfailed" if xfail else "skipped"
    elif report.when == "call" and entry["outcome"] == "unknown":
        entry["outcome"] = "xpassed" if xfail else "passed"


@_guarded
def pytest_sessionfinish(session, exitstatus):
    recorder = _active()
    recorder.exitstatus = int(exitstatus)
    recorder.stop_watching()
    recorder.write()


def pytest_unconfigure(config):
    # Usage errors skip sessionfinish; still leave a summary behind.
    if _RECORDER is not None and not _RECORDER.written:
        try:
            _RECORDER.stop_watching()
            _RECORDER.write()
        except Exception:  # noqa: BLE001 - last resort: say so on stderr
            sys.stderr.write("perfrl_capture: could not write its summary:\n")
            traceback.print_exc()
