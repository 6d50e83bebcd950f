"""Replay the calls recorded by ``perfrl_capture`` against a candidate, inside the sandbox.

Run in the candidate's workspace copy (the candidate is already spliced into the target file)
with the user's interpreter, so it uses the standard library only (numpy when importable, to
compare arrays) and keeps to Python 3.9 syntax::

    python -m perfrl_replay --capture calls.pkl --module pkg.mod --qualname Class.method \\
        --import-root DIR --original-source-file original.py --mode equivalence --out out.json

Both implementations live in this one process: the candidate is ``import pkg.mod``; the
original is executed from ``--original-source-file`` as a sibling module
``pkg._perfrl_original_mod`` (same package, so relative imports work). Recorded arguments are
unpickled afresh for every call; for the original, classes of the target module are mapped to
the original module's classes, so ``self`` and any object of the module run the original code.

``--mode equivalence`` writes ``{"status": "equivalent" | "mismatch" | "error", ...}``:
each call is first replayed on the original; a call the original itself does not reproduce
(randomness, time, state left by other tests) is set aside as *unreproducible*. The others are
replayed on the candidate and compared with the recording: the result (deep structural
comparison, floats within tolerance, NaN equal to NaN), the exception type when the original
raised, and the arguments after the call (mutation). The first mismatch stops the replay and is
explained (call, test, path inside the value, expected and got).

``--mode benchmark`` times the two implementations on the calls listed by ``--calls``: both
are warmed up, a loop count is calibrated per call so that a timed block lasts at least
``--min-block-ns`` (or taken from ``--loops``, an earlier process's calibration), then rounds
alternate the order (AB, BA, AB, ...). Fresh argument copies are unpickled before each
block, outside the timed region, and the garbage collector is off while timing (collected
between rounds). Output: per-round totals (sum over calls of the per-iteration time) and
per-call medians, in nanoseconds.

Progress lines ``perfrl-replay: ...`` go to stderr so a caller that had to kill this process
can say which call hung.
"""

import argparse
import gc
import importlib
import inspect
import io
import json
import math
import os
import pickle
import reprlib
import statistics
import sys
import time
import traceback
import types

ORIGINAL_PREFIX = "_perfrl_original_"

_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = 8
_REPR.maxtuple = 8
_REPR.maxdict = 6
_REPR.maxset = 8
_REPR.maxlevel = 3


def short_repr(value):
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not stop the report
        text = f"<{type(value).__name__} with a failing __repr__>"
    return text if len(text) <= 160 else text[:157] + "..."


def _progress(message):
    sys.stderr.write(f"perfrl-replay: {message}\n")
    sys.stderr.flush()


class _MappedUnpickler(pickle.Unpickler):
    """Unpickler that resolves classes of some modules in other modules (original copy)."""

    def __init__(self, data, mapping):
        super().__init__(io.BytesIO(data))
        self._mapping = mapping

    def find_class(self, module, name):
        return super().find_class(self._mapping.get(module, module), name)


# -- deep comparison ---------------------------------------------------------------------


def _is_numpy(value):
    return type(value).__module__.split(".")[0] == "numpy"


class Comparator:
    """Deep structural comparison; ``diff`` returns None when equal, else an explanation."""

    def __init__(self, rel_tol, abs_tol, aliases):
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.aliases = aliases  # module name of the original copy -> target module name
        self._active = set()

    def type_name(self, kind):
        module = getattr(kind, "__module__", None) or "?"
        module = self.aliases.get(module, module)
        name = getattr(kind, "__qualname__", None) or getattr(kind, "__name__", "?")
        return name if module == "builtins" else f"{module}.{name}"

    def describe(self, value):
        return f"{short_repr(value)} ({self.type_name(type(value))})"

    def diff(self, expected, got, path):
        if expected is got:
            return None
        if self.type_name(type(expected)) != self.type_name(type(got)):
            return f"{path}: expected {self.describe(expected)}, got {self.describe(got)}"
        key = (id(expected), id(got))
        if key in self._active:
            return None  # a cycle: the enclosing comparison decides
        self._active.add(key)
        try:
            return self._diff_same_type(expected, got, path)
        finally:
            self._active.discard(key)

    def _floats_equal(self, a, b):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b or math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def _diff_same_type(self, expected, got, path):
        if isinstance(expected, float):
            if self._floats_equal(expected, got):
                return None
            return f"{path}: expected {expected!r}, got {got!r}"
        if isinstance(expected, complex):
            if self._floats_equal(expected.real, got.real) and self._floats_equal(
                expected.imag, got.imag
            ):
                return None
            return f"{path}: expected {expected!r}, got {got!r}"
        if isinstance(expected, (str, bytes, bytearray)):
            return self._diff_text(expected, got, path)
        if isinstance(expected, (bool, int, type(None), range)):
            return None if expected == got else f"{path}: expected {expected!r}, got {got!r}"
        if _is_numpy(expected):
            outcome = self._diff_numpy(expected, got, path)
            if outcome is not NotImplemented:
                return outcome
        if isinstance(expected, (list, tuple)):
            return self._diff_sequence(expected, got, path)
        if isinstance(expected, dict):
            return self._diff_mapping(expected, got, path)
        if isinstance(expected, (set, frozenset)):
            if expected == got:
                return None
            missing = [short_repr(v) for v in list(expected - got)[:3]]
            extra = [short_repr(v) for v in list(got - expected)[:3]]
            return (
                f"{path}: sets differ; missing {', '.join(missing) or 'nothing'}, "
                f"unexpected {', '.join(extra) or 'nothing'}"
            )
        if isinstance(expected, BaseException):
            return self.diff(expected.args, got.args, f"{path}.args")
        if isinstance(
            expected,
            (
                types.FunctionType,
                types.BuiltinFunctionType,
                type,
                types.ModuleType,
                types.MethodType,
            ),
        ):
            names = [
                self.aliases.get(getattr(v, "__module__", None), getattr(v, "__module__", None))
                for v in (expected, got)
            ]
            quals = [
                getattr(v, "__qualname__", getattr(v, "__name__", None)) for v in (expected, got)
            ]
            if names[0] == names[1] and quals[0] == quals[1]:
                return None
            return f"{path}: expected {short_repr(expected)}, got {short_repr(got)}"
        return self._diff_object(expected, got, path)

    def _diff_text(self, expected, got, path):
        if expected == got:
            return None
        index = next(
            (i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
            min(len(expected), len(got)),
        )
        start = max(0, index - 20)
        return (
            f"{path}: differs at index {index} (lengths {len(expected)} and {len(got)}): "
            f"expected {short_repr(expected[start : index + 40])}, "
            f"got {short_repr(got[start : index + 40])}"
        )

    def _diff_sequence(self, expected, got, path):
        if len(expected) != len(got):
            return (
                f"{path}: expected {len(expected)} items, got {len(got)}: "
                f"expected {short_repr(expected)}, got {short_repr(got)}"
            )
        for index, (a, b) in enumerate(zip(expected, got)):
            found = self.diff(a, b, f"{path}[{index}]")
            if found:
                return found
        return None

    def _diff_mapping(self, expected, got, path):
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        if missing or extra:
            return (
                f"{path}: keys differ; missing {', '.join(short_repr(k) for k in missing[:3]) or 'none'}"
                f", unexpected {', '.join(short_repr(k) for k in extra[:3]) or 'none'}"
            )
        for key in expected:
            found = self.diff(expected[key], got[key], f"{path}[{short_repr(key)}]")
            if found:
                return found
        return None

    def _diff_numpy(self, expected, got, path):
        try:
            import numpy
        except ImportError:
            return NotImplemented
        if isinstance(expected, numpy.ndarray):
            if expected.shape != got.shape or expected.dtype != got.dtype:
                return (
                    f"{path}: expected an array of shape {expected.shape} and dtype "
                    f"{expected.dtype}, got shape {got.shape} and dtype {got.dtype}"
                )
            if expected.dtype.kind in "fc":
                same = numpy.allclose(
                    expected, got, rtol=self.rel_tol, atol=self.abs_tol, equal_nan=True
                )
            elif expected.dtype.kind == "O":
                return self.diff(expected.tolist(), got.tolist(), path)
            else:
                same = numpy.array_equal(expected, got)
            if same:
                return None
            return f"{path}: arrays differ: expected {short_repr(expected)}, got {short_repr(got)}"
        if isinstance(expected, numpy.generic):
            return self.diff(expected.item(), got.item(), path)
        return NotImplemented

    def _diff_object(self, expected, got, path):
        eq_said_no = False
        if type(expected).__eq__ is not object.__eq__:
            try:
                if bool(expected == got):
                    return None
            except Exception:  # noqa: BLE001, S110 - a failing __eq__ falls back to the state
                pass
            # __eq__ may be exact on floats (dataclasses): the state comparison, with the
            # tolerance, decides.
            eq_said_no = True
        state_expected, state_got = _object_state(expected), _object_state(got)
        if state_expected is None or state_got is None:
            if eq_said_no:
                return (
                    f"{path}: expected {short_repr(expected)}, got {short_repr(got)} (differ by ==)"
                )
            try:
                same = pickle.dumps(expected) == pickle.dumps(got)
            except Exception:  # noqa: BLE001 - no state, no pickle: nothing left to compare
                return None
            return (
                None if same else f"{path}: expected {short_repr(expected)}, got {short_repr(got)}"
            )
        missing = [k for k in state_expected if k not in state_got]
        extra = [k for k in state_got if k not in state_expected]
        if missing or extra:
            return (
                f"{path}: attributes differ; missing {', '.join(missing[:3]) or 'none'}, "
                f"unexpected {', '.join(extra[:3]) or 'none'}"
            )
        for name in state_expected:
            found = self.diff(state_expected[name], state_got[name], f"{path}.{name}")
            if found:
                return found
        return None


def _object_state(value):
    state = None
    if hasattr(value, "__dict__"):
        try:
            state = dict(vars(value))
        except TypeError:
            state = None
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for slot in slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            if state is None:
                state = {}
            if hasattr(value, slot):
                state[slot] = getattr(value, slot)
    return state


# -- loading -----------------------------------------------------------------------------


class Replayer:
    """The two implementations, the recorded calls and how to unpickle them for each side."""

    def __init__(self, options):
        self.options = options
        with open(options.capture, "rb") as handle:
            # Written by perfrl_capture: only dicts, strings and bytes at this level.
            self.payload = pickle.load(handle)
        self.calls = self.payload["calls"]
        self._set_sys_path()
        self.candidate_module = importlib.import_module(options.module)
        self.original_module = self._load_original()
        self.candidate = _resolve(self.candidate_module, options.qualname)
        self.original = _resolve(self.original_module, options.qualname)
        self.to_original = {options.module: self.original_module.__name__}
        self.aliases = {self.original_module.__name__: options.module}
        self.parameter_names = _parameter_names(self.original)

    def _set_sys_path(self):
        root = self.options.root or os.getcwd()
        entries = [self.options.import_root] + [
            os.path.normpath(os.path.join(root, rel)) for rel in self.payload.get("sys_path", [])
        ]
        for entry in reversed(entries):
            if entry in sys.path:
                sys.path.remove(entry)
            sys.path.insert(0, entry)
        # The import root must win over test directories pytest had prepended.
        sys.path.remove(self.options.import_root)
        sys.path.insert(0, self.options.import_root)

    def _load_original(self):
        module_name = self.options.module
        package, _, leaf = module_name.rpartition(".")
        is_package = hasattr(self.candidate_module, "__path__")
        name = (package + "." if package else "") + ORIGINAL_PREFIX + leaf
        module = types.ModuleType(name)
        module.__file__ = self.options.original_source_file
        module.__package__ = module_name if is_package else package
        sys.modules[name] = module
        with open(self.options.original_source_file, "rb") as handle:
            source = handle.read()
        exec(compile(source, self.options.original_source_file, "exec"), module.__dict__)  # noqa: S102 - the user's own original code, in the sandbox
        return module

    def load(self, blob, original):
        mapping = self.to_original if original else {}
        return _MappedUnpickler(blob, mapping).load()


def _resolve(module, qualname):
    parts = qualname.split(".")
    owner = module
    for part in parts[:-1]:
        owner = getattr(owner, part)
    raw = vars(owner)[parts[-1]]
    if isinstance(raw, (staticmethod, classmethod)):
        return raw.__func__  # the recorded arguments include cls for classmethods
    if isinstance(raw, property):
        return raw.fget
    return raw


def _parameter_names(func):
    try:
        return [
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return []


def _invoke(func, call_args):
    args, kwargs = call_args
    try:
        value = func(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a candidate is a behaviour too
        return {"kind": "raise", "exc": exc, "args_after": (args, kwargs)}
    return {"kind": "return", "value": value, "args_after": (args, kwargs)}


def _describe_exception(comparator, exc):
    text = str(exc)
    name = comparator.type_name(type(exc))
    return f"{name}: {short_repr(text)[1:-1]}" if text else name


def compare_outcome(comparator, recorded, raised, got, parameter_names):
    """Explain how ``got`` differs from the recorded outcome, or return None."""
    if recorded["kind"] == "raise":
        expected_type = raised["type"].removeprefix("builtins.")
        if got["kind"] == "return":
            return (
                f"the original raised {expected_type}: {raised['message']}; the candidate "
                f"returned {comparator.describe(got['value'])}"
            )
        got_type = comparator.type_name(type(got["exc"]))
        if got_type != expected_type:
            return (
                f"the original raised {expected_type}: {raised['message']}; the candidate "
                f"raised {_describe_exception(comparator, got['exc'])}"
            )
    elif got["kind"] == "raise":
        return (
            f"the original returned {comparator.describe(recorded['value'])}; the candidate "
            f"raised {_describe_exception(comparator, got['exc'])}"
        )
    else:
        found = _safe_diff(comparator, recorded["value"], got["value"], "the result")
        if found:
            return found
    expected_args, expected_kwargs = recorded["args_after"]
    got_args, got_kwargs = got["args_after"]
    pairs = [
        (parameter_names[i] if i < len(parameter_names) else f"argument #{i}", a, b)
        for i, (a, b) in enumerate(zip(expected_args, got_args))
    ] + [(key, expected_kwargs[key], got_kwargs.get(key)) for key in expected_kwargs]
    for name, a, b in pairs:
        found = _safe_diff(comparator, a, b, name)
        if found:
            return f"after the call, {found} (the arguments are changed differently)"
    return None


def _safe_diff(comparator, expected, got, path):
    """comparator.diff, falling back to == for structures too deep to walk recursively."""
    try:
        return comparator.diff(expected, got, path)
    except RecursionError:
        try:
            same = bool(expected == got)
        except Exception:  # noqa: BLE001 - cannot tell: count it as a difference, to be safe
            same = False
        return None if same else f"{path}: differs (too deeply nested to show where)"


# -- modes -------------------------------------------------------------------------------


def run_equivalence(replayer, options):
    comparator = Comparator(options.rel_tol, options.abs_tol, replayer.aliases)
    report = {
        "status": "equivalent",
        "calls_total": len(replayer.calls),
        "calls_compared": 0,
        "usable_calls": [],
        "unreproducible": [],
        "mismatch": None,
    }
    for index, call in enumerate(replayer.calls):
        _progress(f"call {index} on the original")
        try:
            original_args = replayer.load(call["args"], original=True)
            original_recorded = replayer.load(call["outcome"], original=True)
            candidate_args = replayer.load(call["args"], original=False)
            candidate_recorded = replayer.load(call["outcome"], original=False)
        except Exception as exc:  # noqa: BLE001 - a recording that cannot be loaded is set aside
            report["unreproducible"].append(
                {"call_index": index, "reason": f"cannot load the recording: {short_repr(exc)}"}
            )
            continue
        got = _invoke(replayer.original, original_args)
        why = compare_outcome(
            comparator, original_recorded, call["raised"], got, replayer.parameter_names
        )
        if why is not None:
            report["unreproducible"].append({"call_index": index, "reason": why})
            continue
        _progress(f"call {index} on the candidate")
        got = _invoke(replayer.candidate, candidate_args)
        why = compare_outcome(
            comparator, candidate_recorded, call["raised"], got, replayer.parameter_names
        )
        if why is not None:
            report["status"] = "mismatch"
            report["mismatch"] = {"call_index": index, "test": call["test"], "explanation": why}
            break
        report["calls_compared"] += 1
        report["usable_calls"].append(index)
    return report


def _time_block(func, copies):
    """(wall ns, this thread's CPU ns) for calling ``func`` on every copy."""
    gc.disable()
    try:
        cpu_start = time.thread_time_ns()
        start = time.perf_counter_ns()
        for args, kwargs in copies:
            try:
                func(*args, **kwargs)
            except Exception:  # noqa: BLE001, S112 - raising calls are timed like any other
                continue
        wall = time.perf_counter_ns() - start
        return wall, time.thread_time_ns() - cpu_start
    finally:
        gc.enable()


#: A block whose wall time exceeds its CPU time by more than this was descheduled.
_DISTURBED_FRACTION = 0.05
_DISTURBED_MIN_NS = 20_000


def _measure(func, make_copies, attempts):
    """Wall ns of one block, measured again when the OS took the CPU away meanwhile.

    On a loaded machine a block that straddles a preemption is inflated by the whole time
    slice of other processes; how often that happens depends on the block's length, which
    would bias the medians. Wall time stays the measure (so I/O and threads count), CPU time
    only flags disturbed blocks; after ``attempts`` the least disturbed one is kept.
    """
    best = None
    for _ in range(max(1, attempts)):
        batch = make_copies()
        wall, cpu = _time_block(func, batch)
        del batch
        if wall - cpu <= max(_DISTURBED_FRACTION * wall, _DISTURBED_MIN_NS):
            return wall
        best = wall if best is None else min(best, wall)
    return best


def _leaves_arguments_unchanged(replayer, comparator, func, index, original):
    blob = replayer.calls[index]["args"]
    probe = replayer.load(blob, original)
    untouched = replayer.load(blob, original)
    _invoke(func, probe)
    try:
        return comparator.diff(untouched, probe, "arguments") is None
    except Exception:  # noqa: BLE001 - when in doubt, use fresh copies
        return False


def _decided(rounds, options):
    """True when every round so far puts the speedup far on one side of the verdict.

    The caller passes ``--decisive-ratio`` well beyond its threshold (the engine: 1.5x the
    threshold). When at least ``--min-rounds`` paired rounds *each* show a ratio above it (or
    each below its inverse), the bootstrap interval over those rounds already lies on that
    side of the threshold, and more rounds would only narrow it: stopping here saves most of
    the budget for the large and the clearly negative effects without changing a verdict."""
    if options.decisive_ratio <= 1.0 or len(rounds) < options.min_rounds:
        return False
    ratios = [r["original_ns"] / max(r["candidate_ns"], 1e-9) for r in rounds]
    return min(ratios) >= options.decisive_ratio or max(ratios) <= 1.0 / options.decisive_ratio


def _given_loops(text, indices):
    """``--loops`` ("call:original:candidate,...") as {call: {side: count}}, for ``indices``."""
    given = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        index, original, candidate = (int(part) for part in item.split(":"))
        if index in indices:
            given[index] = {"original": max(1, original), "candidate": max(1, candidate)}
    return given


def run_benchmark(replayer, options):
    indices = (
        [int(i) for i in options.calls.split(",") if i.strip()]
        if options.calls
        else list(range(len(replayer.calls)))
    )
    sides = {"original": replayer.original, "candidate": replayer.candidate}
    comparator = Comparator(options.rel_tol, options.abs_tol, replayer.aliases)
    reusable = {}

    def copies(index, side, count):
        blob = replayer.calls[index]["args"]
        if options.reuse_arguments and reusable.get(index):
            # The arguments survive the call unchanged: one copy serves the whole block, so
            # unpickling does not dominate the wall time of cheap calls. Off by default: data
            # that stays hot in the CPU caches flatters fast candidates (measured: a 54x
            # kernel read as 96x), and real calls rarely get the same objects back to back.
            return [replayer.load(blob, original=side == "original")] * count
        return [replayer.load(blob, original=side == "original") for _ in range(count)]

    # Blocks of at least min_block_ns, shorter (down to floor_block_ns) when there are many
    # calls, so that the budget still buys about target_rounds rounds.
    budget_ns = options.budget_s * 1e9
    block_ns = min(
        options.min_block_ns,
        max(options.floor_block_ns, budget_ns / (options.target_rounds * 2 * max(1, len(indices)))),
    )
    loops = _given_loops(options.loops, indices)
    for index in indices:
        if options.reuse_arguments:
            reusable[index] = all(
                _leaves_arguments_unchanged(replayer, comparator, func, index, side == "original")
                for side, func in sides.items()
            )
        if index in loops:
            # Counts calibrated by an earlier process of the same benchmark: warm up only.
            for side, func in sides.items():
                _time_block(func, copies(index, side, 1))
            continue
        _progress(f"calibrating call {index}")
        blob_size = max(1, len(replayer.calls[index]["args"]))
        limit = max(1, min(options.max_loops, options.max_copy_bytes // blob_size))
        loops[index] = {}
        for side, func in sides.items():
            # Each side gets its own loop count: with one count for both, a 100x faster
            # candidate would make every block of the original 100x longer than needed.
            warm_up, _ = _time_block(func, copies(index, side, 1))
            if warm_up >= block_ns:
                loops[index][side] = 1  # a slow call: no further calibration needed
                continue
            _time_block(func, copies(index, side, 1))
            per_call = max(_measure(func, lambda i=index, s=side: copies(i, s, 1), 3), 1)
            count = max(1, min(limit, math.ceil(block_ns / per_call)))
            if count > 1:
                # Refine on real blocks (a single call over-estimates: cold caches), keeping
                # the fastest of three so one interruption does not skew the loop count.
                per_call = (
                    min(
                        max(_measure(func, lambda i=index, s=side, c=count: copies(i, s, c), 2), 1)
                        for _ in range(3)
                    )
                    / count
                )
                count = max(1, min(limit, math.ceil(block_ns / per_call)))
            loops[index][side] = count

    samples = {index: {"original": [], "candidate": []} for index in indices}
    rounds = []
    timed_ns = 0
    started = time.monotonic()
    while True:
        gc.collect()
        order = ("original", "candidate") if len(rounds) % 2 == 0 else ("candidate", "original")
        totals = {"original": 0.0, "candidate": 0.0}
        for index in indices:
            for side in order:
                count = loops[index][side]
                elapsed = _measure(
                    sides[side], lambda i=index, s=side, c=count: copies(i, s, c), options.attempts
                )
                timed_ns += elapsed
                per_iteration = elapsed / loops[index][side]
                totals[side] += per_iteration
                samples[index][side].append(per_iteration)
        rounds.append({"original_ns": totals["original"], "candidate_ns": totals["candidate"]})
        wall = time.monotonic() - started
        if len(rounds) >= options.max_rounds:
            break
        if len(rounds) >= options.min_rounds and timed_ns >= budget_ns:
            break
        if _decided(rounds, options) and timed_ns >= budget_ns / 4:
            break
        if wall >= options.max_seconds and len(rounds) >= 3:
            break
    return {
        "status": "ok",
        "rounds": rounds,
        "per_call": [
            {
                "call_index": index,
                "loops": loops[index],
                "original_ns": statistics.median(samples[index]["original"]),
                "candidate_ns": statistics.median(samples[index]["candidate"]),
            }
            for index in indices
        ],
        "timed_s": timed_ns / 1e9,
        "wall_s": time.monotonic() - started,
    }


def _parse(argv):
    parser = argparse.ArgumentParser(prog="perfrl_replay", description=__doc__.split("\n")[0])
    parser.add_argument("--capture", required=True, help="calls.pkl written by perfrl_capture")
    parser.add_argument("--module", required=True, help="dotted name of the target module")
    parser.add_argument("--qualname", required=True, help="qualified name in the module")
    parser.add_argument("--import-root", required=True, help="directory the module imports from")
    parser.add_argument("--root", default=None, help="project copy (default: cwd)")
    parser.add_argument(
        "--original-source-file", required=True, help="the original text of the target's file"
    )
    parser.add_argument("--mode", choices=("equivalence", "benchmark"), required=True)
    parser.add_argument("--out", required=True, help="JSON report written here")
    parser.add_argument("--rel-tol", type=float, default=1e-9)
    parser.add_argument("--abs-tol", type=float, default=1e-12)
    parser.add_argument("--calls", default="", help="benchmark: comma-separated call indices")
    parser.add_argument("--budget-s", type=float, default=1.5, help="benchmark: timed seconds")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="benchmark: wall cap")
    parser.add_argument(
        "--min-block-ns",
        type=float,
        default=2e6,
        help="benchmark: a timed block lasts at least this long...",
    )
    parser.add_argument(
        "--floor-block-ns",
        type=float,
        default=2e5,
        help="...unless many calls need shorter blocks, down to this",
    )
    parser.add_argument(
        "--target-rounds", type=int, default=20, help="benchmark: rounds the budget should buy"
    )
    parser.add_argument("--min-rounds", type=int, default=7)
    parser.add_argument(
        "--decisive-ratio",
        type=float,
        default=0.0,
        help="benchmark: stop before the budget once --min-rounds rounds are all faster than "
        "this ratio, or all slower than its inverse (0: off)",
    )
    parser.add_argument(
        "--loops",
        default="",
        help="benchmark: loop counts from an earlier process, call:original:candidate,... "
        "(calls listed here skip calibration)",
    )
    parser.add_argument("--max-rounds", type=int, default=400)
    parser.add_argument("--max-loops", type=int, default=100000)
    parser.add_argument(
        "--attempts", type=int, default=3, help="benchmark: tries for a block the OS interrupted"
    )
    parser.add_argument("--max-copy-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument(
        "--reuse-arguments",
        action="store_true",
        help="benchmark: one argument copy per block when the call does not mutate it",
    )
    return parser.parse_args(argv)


def _write(path, report):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    os.replace(tmp, path)


def main(argv=None):
    options = _parse(argv)
    try:
        replayer = Replayer(options)
    except BaseException as exc:  # noqa: BLE001 - e.g. the candidate breaks the module import
        _write(
            options.out,
            {
                "status": "error",
                "stage": "import",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:],
            },
        )
        return 0
    report_base = {
        "module_file": os.path.realpath(getattr(replayer.candidate_module, "__file__", "") or ""),
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
    }
    try:
        if options.mode == "equivalence":
            report = run_equivalence(replayer, options)
        else:
            report = run_benchmark(replayer, options)
    except BaseException as exc:  # noqa: BLE001 - reported to the engine as a crash
        report = {
            "status": "error",
            "stage": options.mode,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-3000:],
        }
    report.update(report_base)
    _write(options.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
