"""pytest plugin that records how the project's tests use one function.

Loaded with ``python -m pytest -p perfrl_capture`` inside the sandbox, in the user's own
interpreter, so it uses the standard library and pytest only and keeps to Python 3.9 syntax.
It is configured by environment variables (the engine sets them; without ``PERFRL_OUT_DIR``
the plugin does nothing):

``PERFRL_TARGET_MODULE``   dotted module name of the target (``pkg.mod``)
``PERFRL_TARGET_QUALNAME`` qualified name inside the module (``f``, ``Class.method``)
``PERFRL_IMPORT_ROOT``     directory put first on ``sys.path`` so the module resolves there
``PERFRL_ROOT``            the project copy; ``sys.path`` entries under it are reported relative
``PERFRL_OUT_DIR``         where ``summary.json`` (and in capture mode ``calls.pkl``) go
``PERFRL_MODE``            ``capture`` (wrap + record calls) or ``observe`` (outcomes only)
``PERFRL_MAX_CALLS``       most calls recorded (default 64)
``PERFRL_MAX_CALL_BYTES``  most pickled bytes for one call (default 1 MB)

``summary.json`` is plain JSON (the engine never unpickles anything the user's code made):
plugin version, Python version, the file the target module was imported from, per-test
outcomes with a short failure excerpt, which tests called the target, counts of recorded and
skipped calls by reason, collection errors and any error of the plugin itself.

``calls.pkl`` is read only by ``perfrl_replay`` in the sandbox. It is a pickled dict whose
calls hold *nested* pickles (bytes), so the replayer can unpickle each call freshly and with
its own class mapping: ``args`` is ``(args, kwargs)`` pickled before the call; ``outcome`` is
``{"args_after": (args, kwargs), "kind": "return" | "raise", "value": result}`` pickled after
the call in one piece so aliasing between the result and the arguments is kept.
"""

import functools
import json
import os
import pickle
import sys
import threading
import traceback

PLUGIN_VERSION = "1"
_PROTOCOL = pickle.HIGHEST_PROTOCOL
# Keep the total recorded data bounded whatever the per-call limit is.
_MAX_TOTAL_BYTES = 64 * 1024 * 1024


def _short(text, limit=400):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Config:
    def __init__(self, env):
        self.out_dir = env.get("PERFRL_OUT_DIR")
        self.module = env.get("PERFRL_TARGET_MODULE", "")
        self.qualname = env.get("PERFRL_TARGET_QUALNAME", "")
        self.import_root = env.get("PERFRL_IMPORT_ROOT")
        self.root = env.get("PERFRL_ROOT") or os.getcwd()
        self.mode = env.get("PERFRL_MODE", "capture")
        self.max_calls = int(env.get("PERFRL_MAX_CALLS", "64"))
        self.max_call_bytes = int(env.get("PERFRL_MAX_CALL_BYTES", str(1024 * 1024)))


class _Recorder:
    """Everything the plugin learns during the session; written out once at the end."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.local = threading.local()
        self.current_test = None
        self.tests = {}  # nodeid -> {"outcome", "duration", "message"}, in run order
        self.calling_tests = {}  # nodeid -> number of calls (dict keeps first-call order)
        self.calls = []
        self.per_test_recorded = {}
        self.recorded_bytes = 0
        self.calls_total = 0
        self.calls_outside_tests = 0
        self.calls_not_recorded = 0
        self.skipped_reasons = {}
        self.collection_errors = []
        self.plugin_errors = []
        self.wrap_error = None
        self.module_file = None
        self.wrapped = False
        self.original = None  # the object that was replaced (for rebinding stale references)
        self.replacement = None
        self.written = False
        self.exitstatus = None
        # Spread the recorded calls over several tests rather than taking all from the first.
        self.per_test_cap = max(4, config.max_calls // 4)

    # -- calls -------------------------------------------------------------------------

    def _skip(self, reason):
        with self.lock:
            self.skipped_reasons[reason] = self.skipped_reasons.get(reason, 0) + 1

    def _want_record(self, test):
        with self.lock:
            if (
                len(self.calls) >= self.config.max_calls
                or self.per_test_recorded.get(test, 0) >= self.per_test_cap
                or self.recorded_bytes >= _MAX_TOTAL_BYTES
            ):
                self.calls_not_recorded += 1
                return False
            return True

    def call(self, func, args, kwargs):
        depth = getattr(self.local, "depth", 0)
        if depth:
            # A recursive or nested call: only the outermost call is a unit of behaviour.
            self.local.depth = depth + 1
            try:
                return func(*args, **kwargs)
            finally:
                self.local.depth = depth
        test = self.current_test
        with self.lock:
            self.calls_total += 1
            if test is None:
                self.calls_outside_tests += 1
            else:
                self.calling_tests[test] = self.calling_tests.get(test, 0) + 1
        before = None
        if test is not None and self._want_record(test):
            try:
                before = pickle.dumps((args, kwargs), _PROTOCOL)
            except Exception:  # noqa: BLE001 - any pickling failure just skips this call
                self._skip("with arguments that cannot be pickled")
            else:
                if len(before) > self.config.max_call_bytes:
                    self._skip("with arguments over the size limit")
                    before = None
        self.local.depth = 1
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            self.local.depth = 0
            if before is not None:
                self._finish(test, before, args, kwargs, "raise", None, exc)
            raise
        except BaseException:
            self.local.depth = 0
            if before is not None:
                self._skip("that raised SystemExit or KeyboardInterrupt")
            raise
        self.local.depth = 0
        if before is not None:
            self._finish(test, before, args, kwargs, "return", result, None)
        return result

    def _finish(self, test, before, args, kwargs, kind, value, exc):
        try:
            outcome = pickle.dumps(
                {"args_after": (args, kwargs), "kind": kind, "value": value}, _PROTOCOL
            )
        except Exception:  # noqa: BLE001 - any pickling failure just skips this call
            self._skip(
                "with a result that cannot be pickled"
                if kind == "return"
                else "with arguments that cannot be pickled after the call"
            )
            return
        if len(outcome) > self.config.max_call_bytes:
            self._skip("with a result over the size limit")
            return
        raised = None
        if exc is not None:
            raised = {
                "type": type(exc).__module__ + "." + type(exc).__qualname__,
                "message": _short(exc),
            }
        with self.lock:
            self.calls.append({"test": test, "args": before, "outcome": outcome, "raised": raised})
            self.per_test_recorded[test] = self.per_test_recorded.get(test, 0) + 1
            self.recorded_bytes += len(before) + len(outcome)

    # -- wrapping ----------------------------------------------------------------------

    def make_wrapper(self, func):
        recorder = self

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
            perfrl_capture_wrapper.__wrapped__ = func
        return perfrl_capture_wrapper

    def install(self):
        """Import the target module and replace the target by a recording wrapper."""
        import importlib

        module = importlib.import_module(self.config.module)
        self.module_file = os.path.realpath(getattr(module, "__file__", "") or "")
        if self.config.mode != "capture":
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
        if isinstance(owner, type(sys)):
            new = self.make_wrapper(raw)
        elif isinstance(raw, staticmethod):
            new = staticmethod(self.make_wrapper(raw.__func__))
        elif isinstance(raw, classmethod):
            new = classmethod(self.make_wrapper(raw.__func__))
        elif isinstance(raw, property):
            # getter() keeps the setter, deleter and docstring.
            new = raw.getter(self.make_wrapper(raw.fget))
        elif callable(raw):
            new = self.make_wrapper(raw)
        else:
            raise TypeError(f"{self.config.qualname} is not callable")
        setattr(owner, name, new)
        self.original, self.replacement = raw, new
        self.wrapped = True

    def rebind_stale_references(self):
        """Point names bound to the unwrapped function before we wrapped it at the wrapper.

        A conftest (or anything imported before pytest_configure) may have done
        ``from mod import f``; without this its calls would go unseen.
        """
        if (
            not self.wrapped
            or not callable(self.original)
            or isinstance(self.original, (staticmethod, classmethod, property))
        ):
            return
        if "." in self.config.qualname:
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
        summary = {
            "plugin_version": PLUGIN_VERSION,
            "python_version": ".".join(str(part) for part in sys.version_info[:3]),
            "mode": self.config.mode,
            "module": self.config.module,
            "qualname": self.config.qualname,
            "module_file": self.module_file,
            "wrapped": self.wrapped,
            "wrap_error": self.wrap_error,
            "exitstatus": self.exitstatus,
            "tests": self.tests,
            "calling_tests": self.calling_tests,
            "calls_total": self.calls_total,
            "calls_recorded": len(self.calls),
            "calls_not_recorded": self.calls_not_recorded,
            "calls_outside_tests": self.calls_outside_tests,
            "skipped_reasons": self.skipped_reasons,
            "collection_errors": self.collection_errors,
            "plugin_errors": self.plugin_errors,
            "sys_path": self.relative_sys_path(),
        }
        if self.config.mode == "capture":
            payload = {
                "version": PLUGIN_VERSION,
                "module": self.config.module,
                "qualname": self.config.qualname,
                "sys_path": summary["sys_path"],
                "calls": self.calls,
            }
            with open(os.path.join(out_dir, "calls.pkl"), "wb") as handle:
                pickle.dump(payload, handle, _PROTOCOL)
        # summary.json last: its presence tells the engine the session ended normally.
        tmp = os.path.join(out_dir, "summary.json.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(summary, handle)
        os.replace(tmp, os.path.join(out_dir, "summary.json"))
        self.written = True


_RECORDER = None


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
    try:
        _RECORDER.install()
    except BaseException as exc:  # noqa: BLE001 - the user's import error is reported
        config = _RECORDER.config
        _RECORDER.wrap_error = (
            f"could not import and wrap {config.module}.{config.qualname}: "
            f"{_short(f'{type(exc).__name__}: {exc}')}\n{_short(traceback.format_exc(), 3000)}"
        )


@_guarded
def pytest_collection_modifyitems(session, config, items):
    # The engine names the tests to run in a file (an argv of many parametrized IDs can
    # exceed the OS limit); every other collected test is deselected, as `-k` would.
    path = os.environ.get("PERFRL_SELECT_FILE")
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
    if (
        not _RECORDER.wrapped
        and _RECORDER.wrap_error is not None
        and (_RECORDER.config.mode == "capture")
    ):
        # Retry once after collection: a conftest deeper in the tree may have set sys.path.
        first_error = _RECORDER.wrap_error
        _RECORDER.wrap_error = None
        try:
            _RECORDER.install()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            _RECORDER.wrap_error = first_error
    _RECORDER.rebind_stale_references()


@_guarded
def pytest_collectreport(report):
    if report.failed:
        _RECORDER.collection_errors.append(
            {"nodeid": report.nodeid, "message": _short(report.longreprtext, 2000)}
        )


@_guarded
def pytest_runtest_logstart(nodeid, location):
    _RECORDER.current_test = nodeid


@_guarded
def pytest_runtest_logfinish(nodeid, location):
    _RECORDER.current_test = None


def _failure_excerpt(report):
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _short(crash.message, 600)
    text = getattr(report, "longreprtext", "") or ""
    lines = [line for line in text.splitlines() if line.strip()]
    return _short("\n".join(lines[-5:]), 600)


@_guarded
def pytest_runtest_logreport(report):
    entry = _RECORDER.tests.setdefault(
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
    _RECORDER.exitstatus = int(exitstatus)
    _RECORDER.write()


def pytest_unconfigure(config):
    # Usage errors skip sessionfinish; still leave a summary behind.
    if _RECORDER is not None and not _RECORDER.written:
        try:
            _RECORDER.write()
        except Exception:  # noqa: BLE001 - last resort: say so on stderr
            sys.stderr.write("perfrl_capture: could not write its summary:\n")
            traceback.print_exc()
