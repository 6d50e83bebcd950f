"""One side of a verification (the original *or* the candidate), driven by the engine.

Run in a sandbox with the user's interpreter (standard library only, Python 3.9 syntax)::

    python -m perfrl_worker --channel DIR --calls FILE --module pkg.mod --qualname Class.method \\
        --import-root DIR --root DIR

The original and the candidate never share a process: the engine starts one worker in a
pristine copy of the project (the original) and one in the candidate's copy, and talks to
each over two FIFOs in ``DIR`` (``in``: requests, ``out``: replies), one JSON object a line.
The candidate's worker gets the recorded *arguments* only (``FILE`` without outcomes); only
the original's worker sees the recorded outcomes, to tell which calls it reproduces.

Nothing this process says is trusted by the engine: outcomes leave it as fingerprints of
their canonical encoding (:func:`perfrl_canon.fingerprint`; equal fingerprints mean equal
encodings) and, when the engine asks for them (``detail``), as the canonical encoding of
:mod:`perfrl_canon` itself; the engine compares them. Timings are taken by the
engine around a request, by the kernel's CPU accounting of the whole sandboxed run (or the
engine's wall clock without it): ``prepare`` unpickles the copies, ``go`` runs them and
answers ``done`` as soon as the last call returned, ``report`` sends the fingerprinted
outcome of *every* timed call. Requests:

``replay``  ``{"calls": [i, ...], "source": "recorded"|"generated", "keep": bool}`` -> one
            ``outcome`` per call (``recorded`` too where the file holds the recorded
            outcome), then ``end``; unless ``keep`` is false, what ``detail`` needs is kept
            for ``[source, i]`` (and ``["recorded-outcome", i]``)
``detail``  ``{"keys": [[source, i] | ["recorded-outcome", i] | ["timed", position], ...]}``
            -> ``detail`` with the full ``outcomes`` (canonical encodings), None where
            nothing is kept
``generate`` (original side) ``{"calls": [i, ...], "budget": n, "seed": s}`` -> ``generated``
            with pickled new arguments (hex) from ``perfrl_inputs`` when it is installed;
            with ``"per_place": k, "most": m`` the budget grows with the arguments varied
            (``perfrl_inputs.budget_for``, ``n`` the least)
``add_inputs`` (candidate side) ``{"blobs": [hex, ...]}`` -> ``end``
``state``   -> ``state``: sizes of the module's globals, function attributes, defaults,
            closures and caches (a memo that grows across calls shows here), and
            ``replaced``: built-ins and clocks rebound since the process started
``prepare`` ``{"items": [[source, index], ...]}`` -> ``ready``; ``go`` -> ``done``;
            ``report`` -> ``results`` (``table`` of distinct fingerprinted outcomes, ``order``)
``quit``
"""

import argparse
import json
import os
import pickle
import sys
import traceback
import types

import perfrl_canon
from perfrl_protocol import CHANNEL_REPLIES, CHANNEL_REQUESTS

try:  # the generator of new inputs (issue 12, build 3); optional
    import perfrl_inputs
except Exception:  # noqa: BLE001 - missing or broken: only recorded calls are used
    perfrl_inputs = None

# typeshed declares ``ModuleType.__dict__`` as the instances' attribute; on the class it is
# the mappingproxy of its slots, whose "__dict__" descriptor reads any module's namespace.
_MODULE_DICT = types.ModuleType.__dict__["__dict__"].__get__  # type: ignore[index]


def _call_text(args, kwargs):
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _short(text, limit=300):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Channel:
    def __init__(self, directory):
        self._in = os.open(os.path.join(directory, CHANNEL_REQUESTS), os.O_RDONLY)
        self._out = os.open(os.path.join(directory, CHANNEL_REPLIES), os.O_WRONLY)
        self._buffer = b""

    def receive(self):
        while b"\n" not in self._buffer:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise EOFError("the engine closed the channel")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line.decode("utf-8"))

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._out, view)
            view = view[written:]


def _resolve(module, qualname):
    owner = module
    parts = qualname.split(".")
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
        import inspect

        return [
            p.name
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except Exception:  # noqa: BLE001
        return []


def _invoke(func, call_args):
    args, kwargs = call_args
    try:
        value = func(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a candidate is a behaviour too
        return ("raise", exc, (args, kwargs))
    return ("return", value, (args, kwargs))


def fingerprint_outcome(kind, value, args_after, with_args=True):
    """(outcome, kept): the outcome of one call with fingerprints (``digest`` of the value,
    ``args_digest`` of the arguments after the call) in place of encodings, and what
    :func:`expand_outcome` needs to rebuild the full encoding (a tuple of strings, bytes and
    None only: keeping it holds no object of the call alive). Never raises."""
    try:
        if kind == "raise":
            try:
                message = _short(BaseException.__str__(value))
            except Exception:  # noqa: BLE001
                message = ""
            outcome = {"kind": "raise", "type": perfrl_canon.type_name(type(value)),
                       "message": message}
            kept_value = None
        else:
            outcome = {"kind": "return"}
            outcome["digest"], kept_value = perfrl_canon.fingerprint(value)
        kept_args = None
        if with_args:
            outcome["args_digest"], kept_args = perfrl_canon.fingerprint(args_after)
    except perfrl_canon.EncodeError as exc:
        return {"kind": "unencodable", "why": str(exc)}, ("unencodable", str(exc), "", None, None)
    kept = (kind, outcome.get("type", ""), outcome.get("message", ""), kept_value, kept_args)
    return outcome, kept


def expand_outcome(kept):
    """The outcome in full (OUTCOME in ``perfrl_protocol``: canonical encodings) from what
    ``fingerprint_outcome`` kept."""
    kind, type_or_why, message, kept_value, kept_args = kept
    try:
        if kind == "unencodable":
            return {"kind": "unencodable", "why": type_or_why}
        if kind == "raise":
            outcome = {"kind": "raise", "type": type_or_why, "message": message}
        else:
            outcome = {"kind": "return", "value": perfrl_canon.expand(kept_value)}
        if kept_args is not None:
            outcome["args_after"] = perfrl_canon.expand(kept_args)
        return outcome
    except perfrl_canon.EncodeError as exc:
        return {"kind": "unencodable", "why": str(exc)}
    except Exception as exc:  # noqa: BLE001 - e.g. a kept text this process garbled
        return {"kind": "unencodable", "why": _short(f"{type(exc).__name__}: {exc}")}


# -- what a candidate replaced in its process --------------------------------------------

_CLOCKS = ("time", "time_ns", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
           "process_time", "process_time_ns", "thread_time", "thread_time_ns", "sleep")


def _identities():
    import builtins
    import time

    found = {"builtins." + k: v for k, v in _MODULE_DICT(builtins).items() if type(k) is str}
    clocks = _MODULE_DICT(time)
    found.update({"time." + name: clocks.get(name) for name in _CLOCKS})
    return found


# Taken when this script starts, before the user's module (or the candidate) is imported.
_STARTING_IDENTITIES = _identities()


def replaced_names():
    """The built-ins and clocks bound to other objects than when this process started (the
    engine names a candidate that does this; nothing here is trusted to catch every way)."""
    now = _identities()
    return sorted(n for n, obj in _STARTING_IDENTITIES.items() if now.get(n) is not obj)[:50]


# -- state across calls ------------------------------------------------------------------


def _container_size(value):
    kind = type(value)
    for base in (dict, list, set, bytearray, frozenset, tuple):
        if kind is base:
            return base.__len__(value)
    return None


def _function_state(prefix, function, sizes):
    if type(function) is not types.FunctionType:
        if type(function).__name__ == "_lru_cache_wrapper":
            try:
                sizes[prefix + " (cache)"] = function.cache_info().currsize
            except Exception:  # noqa: BLE001, S110
                pass
            wrapped = getattr(function, "__wrapped__", None)
            if type(wrapped) is types.FunctionType:
                _function_state(prefix, wrapped, sizes)
        return
    attributes = types.FunctionType.__dict__["__dict__"].__get__(function)
    sizes[prefix + " attributes"] = len(attributes)
    for key, item in list(attributes.items())[:50]:
        size = _container_size(item)
        if size is not None:
            sizes[f"{prefix}.{key}"] = size
    defaults = types.FunctionType.__dict__["__defaults__"].__get__(function) or ()
    for position, item in enumerate(defaults):
        size = _container_size(item)
        if size is not None:
            sizes[f"{prefix} default #{position}"] = size
    kwdefaults = types.FunctionType.__dict__["__kwdefaults__"].__get__(function) or {}
    for key, item in list(kwdefaults.items()):
        size = _container_size(item)
        if size is not None:
            sizes[f"{prefix} default {key}"] = size
    closure = types.FunctionType.__dict__["__closure__"].__get__(function) or ()
    for position, cell in enumerate(closure):
        try:
            item = cell.cell_contents
        except ValueError:
            continue
        size = _container_size(item)
        if size is not None:
            sizes[f"{prefix} closure #{position}"] = size
        if type(item) is types.FunctionType or type(item).__name__ == "_lru_cache_wrapper":
            _function_state(f"{prefix} closure #{position}", item, sizes)


def state_sizes(module, function, qualname):
    """{what: size} for everything a call could leave state in (see the module docstring)."""
    sizes = {}
    namespace = _MODULE_DICT(module)
    sizes["module globals"] = len(namespace)
    sizes["sys.modules"] = len(sys.modules)
    sizes["builtins"] = len(_MODULE_DICT(sys.modules["builtins"]))
    sizes["sys attributes"] = len(_MODULE_DICT(sys))
    module_name = namespace.get("__name__")
    for key, item in list(namespace.items())[:2000]:
        if type(key) is not str:
            continue
        size = _container_size(item)
        if size is not None:
            sizes["global " + key] = size
        elif type(item) is types.FunctionType or type(item).__name__ == "_lru_cache_wrapper":
            _function_state("function " + key, item, sizes)
        elif isinstance(item, type) and getattr(item, "__module__", None) == module_name:
            members = type.__dict__["__dict__"].__get__(item)
            sizes[f"class {key} attributes"] = len(members)
            for member, value in list(members.items())[:200]:
                size = _container_size(value)
                if size is not None:
                    sizes[f"class {key}.{member}"] = size
                elif type(value) in (staticmethod, classmethod):
                    _function_state(f"{key}.{member}", value.__func__, sizes)
                elif (
                    type(value) is types.FunctionType
                    or type(value).__name__ == "_lru_cache_wrapper"
                ):
                    _function_state(f"{key}.{member}", value, sizes)
    _function_state("target " + qualname, function, sizes)
    # State hidden elsewhere: containers held by any module (one of its own in sys.modules,
    # a stdlib module), and objects kept alive at all.
    for name, other in list(sys.modules.items())[:3000]:
        if other is module or type(other) is not types.ModuleType:
            continue
        try:
            other_namespace = _MODULE_DICT(other)
        except Exception:  # noqa: BLE001, S112
            continue
        sizes[f"module {name} globals"] = len(other_namespace)
        for key, item in list(other_namespace.items())[:500]:
            size = _container_size(item)
            if size is not None and type(key) is str:
                sizes[f"{name}.{key}"] = size
    import gc

    gc.collect()
    sizes["objects kept alive"] = len(gc.get_objects())
    return sizes


# -- the worker --------------------------------------------------------------------------


class Worker:
    def __init__(self, options, channel):
        self.options = options
        self.channel = channel
        with open(options.calls, "rb") as handle:
            payload = pickle.load(handle)
        self.calls = payload["calls"]
        self.generated = []  # pickled arguments of generated inputs
        self._set_sys_path(payload.get("sys_path", []))
        import importlib

        self.module = importlib.import_module(options.module)
        self.function = _resolve(self.module, options.qualname)
        self.prepared = []
        self.results = []
        # What ``detail`` rebuilds full outcomes from: (source, index) -> kept, and the last
        # report's table (see fingerprint_outcome).
        self.kept = {}
        self.timed_kept = []

    def _set_sys_path(self, relative):
        root = self.options.root or os.getcwd()
        entries = [self.options.import_root] + [
            os.path.normpath(os.path.join(root, rel)) for rel in relative
        ]
        for entry in reversed(entries):
            if entry in sys.path:
                sys.path.remove(entry)
            sys.path.insert(0, entry)
        sys.path.remove(self.options.import_root)
        sys.path.insert(0, self.options.import_root)

    def blob(self, source, index):
        if source == "generated":
            return self.generated[index]
        return self.calls[index]["args"]

    def replay(self, request):
        source = request.get("source", "recorded")
        keep = request.get("keep", True) is not False
        for index in request["calls"]:
            message = {"op": "outcome", "index": index}
            try:
                call_args = pickle.loads(self.blob(source, index))
            except Exception as exc:  # noqa: BLE001 - a recording that cannot be loaded
                message["load_error"] = _short(f"{type(exc).__name__}: {exc}")
                self.channel.send(message)
                continue
            kind, value, after = _invoke(self.function, call_args)
            message["outcome"], kept = fingerprint_outcome(kind, value, after)
            del value, after, call_args
            if keep:
                self.kept[(source, index)] = kept
            recorded = self.calls[index].get("outcome") if source == "recorded" else None
            if recorded is not None:
                try:
                    data = pickle.loads(recorded)
                except Exception as exc:  # noqa: BLE001
                    message["load_error"] = _short(f"{type(exc).__name__}: {exc}")
                else:
                    if data["kind"] == "raise":
                        raised = self.calls[index].get("raised") or {}
                        args, kept_args = fingerprint_outcome("return", None, data["args_after"])
                        outcome = {
                            "kind": "raise",
                            "type": raised.get("type", "?").replace("builtins.", "", 1),
                            "message": raised.get("message", ""),
                        }
                        if "args_digest" in args:  # else the arguments are not compared
                            outcome["args_digest"] = args["args_digest"]
                        kept = ("raise", outcome["type"], outcome["message"], None, kept_args[4])
                    else:
                        outcome, kept = fingerprint_outcome(
                            "return", data["value"], data["args_after"])
                    message["recorded"] = outcome
                    if keep:
                        self.kept[("recorded-outcome", index)] = kept
                    del data
            self.channel.send(message)
        self.channel.send({"op": "end"})

    def detail(self, request):
        outcomes = []
        for key in request["keys"]:
            source, index = key
            if source == "timed":
                kept = self.timed_kept[index] if 0 <= index < len(self.timed_kept) else None
            else:
                kept = self.kept.get((source, index))
            outcomes.append(None if kept is None else expand_outcome(kept))
        self.channel.send({"op": "detail", "outcomes": outcomes})

    def generate(self, request):
        generator = getattr(perfrl_inputs, "generate_inputs", None)
        if generator is None:
            self.channel.send({"op": "generated", "blobs": [], "why": "no input generator"})
            return
        recorded = []
        recorded_bytes = 0
        for index in request["calls"]:
            try:
                blob = self.calls[index]["args"]
                args, kwargs = pickle.loads(blob)
                recorded.append((tuple(args), dict(kwargs)))
                recorded_bytes += len(blob)
            except Exception:  # noqa: BLE001, S112 - such a call only seeds nothing
                continue
        budget = int(request["budget"])
        sizer = getattr(perfrl_inputs, "budget_for", None)
        try:
            if sizer is not None and "per_place" in request:
                budget = sizer(recorded, budget, int(request["per_place"]),
                               int(request["most"]), recorded_bytes)
            inputs = generator(recorded, budget, int(request["seed"]))
        except Exception as exc:  # noqa: BLE001 - a generator bug must not stop verification
            self.channel.send({"op": "generated", "blobs": [], "why": _short(exc)})
            return
        blobs, shown = [], []
        for args, kwargs in inputs:
            try:
                blobs.append(pickle.dumps((args, kwargs), pickle.HIGHEST_PROTOCOL))
            except Exception:  # noqa: BLE001, S112
                continue
            # How the input reads, for the user's message: made here, on the original's side,
            # so the engine never has to unpickle anything to show it.
            try:
                shown.append(_short(_call_text(args, kwargs), 200))
            except Exception:  # noqa: BLE001 - an unprintable value still gets compared
                shown.append("(an input that cannot be shown)")
        self.generated.extend(blobs)
        self.channel.send({"op": "generated", "blobs": [b.hex() for b in blobs],
                           "shown": shown})

    def prepare(self, request):
        self.prepared = []
        self.prepared = [
            pickle.loads(self.blob(source, index)) for source, index in request["items"]
        ]
        self.channel.send({"op": "ready"})

    def go(self):
        func = self.function
        results: list = []
        append = results.append
        import gc

        gc.disable()
        try:
            for args, kwargs in self.prepared:
                try:
                    append(("return", func(*args, **kwargs)))
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - raising calls are timed too
                    append(("raise", exc))
        finally:
            gc.enable()
        self.results = results
        self.channel.send({"op": "done"})

    def report(self):
        # The copies are freed here, outside the timed window (freeing large arguments costs
        # about as much as a fast call).
        self.prepared = []
        results, self.results = self.results, []
        table: list = []
        order: list = []
        seen: dict = {}
        by_id: dict = {}
        self.timed_kept = []
        for kind, value in results:
            key = (kind, id(value))
            position = by_id.get(key)
            if position is None:
                outcome, kept = fingerprint_outcome(kind, value, None, with_args=False)
                same = tuple(sorted(outcome.items()))
                position = seen.get(same)
                if position is None:
                    position = seen[same] = len(table)
                    table.append(outcome)
                    self.timed_kept.append(kept)
                by_id[key] = position
            order.append(position)
        del results
        self.channel.send({"op": "results", "table": table, "order": order})

    def add_inputs(self, request):
        self.generated.extend(bytes.fromhex(b) for b in request["blobs"])
        self.channel.send({"op": "end"})

    def serve(self):
        handlers = {
            "replay": self.replay,
            "generate": self.generate,
            "add_inputs": self.add_inputs,
            "state": lambda r: self.channel.send(
                {
                    "op": "state",
                    "sizes": state_sizes(self.module, self.function, self.options.qualname),
                    "replaced": replaced_names(),
                }
            ),
            "detail": self.detail,
            "prepare": self.prepare,
            "go": lambda r: self.go(),
            "report": lambda r: self.report(),
        }
        while True:
            request = self.channel.receive()
            if request.get("op") == "quit":
                return
            handlers[request["op"]](request)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="perfrl_worker")
    parser.add_argument("--channel", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--qualname", required=True)
    parser.add_argument("--import-root", required=True)
    parser.add_argument("--root", default=None)
    return parser.parse_args(argv)


def main(argv=None):
    options = _parse(argv)
    channel = Channel(options.channel)
    try:
        worker = Worker(options, channel)
    except BaseException as exc:  # noqa: BLE001 - e.g. the module does not import
        channel.send(
            {
                "op": "hello",
                "error": _short(f"{type(exc).__name__}: {exc}", 600),
                "traceback": traceback.format_exc()[-3000:],
            }
        )
        return 0
    channel.send(
        {
            "op": "hello",
            "module_file": os.path.realpath(getattr(worker.module, "__file__", "") or ""),
            "params": _parameter_names(worker.function),
            "python": ".".join(str(part) for part in sys.version_info[:3]),
            "generator": perfrl_inputs is not None,
        }
    )
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
