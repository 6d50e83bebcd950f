"""What crosses the process boundary between the engine and its runtime scripts.

The only module shared by the engine (``perfrl.engine.*``, in the server's process) and the
scripts that run in the user's interpreter inside the sandbox (``perfrl_capture``,
``perfrl_worker``). So it imports the standard library only and keeps to Python 3.9 syntax.

It holds:

- the ``PERFRL_*`` environment variables that configure the capture plugin (:data:`ENV`);
- the names of the files the scripts leave behind (:data:`SUMMARY_FILE`, :data:`CALLS_FILE`);
- the shape of ``summary.json`` (:class:`Summary`), with :func:`parse_summary`, the reader the
  engine uses: it checks every key and type and never trusts the file (a candidate's own code
  runs in the process that writes it), so a malformed summary is a :class:`ProtocolError`,
  never a ``KeyError`` or ``TypeError`` deep in the engine;
- :func:`read_report_file`, which reads a report only when it is a regular file below a size
  cap (never a FIFO, a device or a symlink the candidate planted);
- (below) the worker channel: the FIFO names and the requests and replies the engine and a
  ``perfrl_worker`` exchange (:data:`WORKER_REPLIES`).
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any, TypedDict

# -- environment ---------------------------------------------------------------------------


class ENV:
    """Names of the environment variables the engine sets for ``perfrl_capture``.

    Without :attr:`OUT_DIR` the plugin does nothing (a user's own pytest run is unaffected).
    """

    #: Directory for ``summary.json`` (and in capture mode ``calls.pkl``).
    OUT_DIR = "PERFRL_OUT_DIR"
    #: Dotted module name of the target (``pkg.mod``).
    TARGET_MODULE = "PERFRL_TARGET_MODULE"
    #: Qualified name inside the module (``f``, ``Class.method``).
    TARGET_QUALNAME = "PERFRL_TARGET_QUALNAME"
    #: Directory put first on ``sys.path`` so the target module resolves in the copy.
    IMPORT_ROOT = "PERFRL_IMPORT_ROOT"
    #: The project copy; ``sys.path`` entries under it are reported relative to it.
    ROOT = "PERFRL_ROOT"
    #: :data:`MODE_CAPTURE` or :data:`MODE_OBSERVE`.
    MODE = "PERFRL_MODE"
    #: Most calls recorded in all (default :data:`DEFAULT_MAX_CALLS`).
    MAX_CALLS = "PERFRL_MAX_CALLS"
    #: Most pickled bytes for one call (default :data:`DEFAULT_MAX_CALL_BYTES`).
    MAX_CALL_BYTES = "PERFRL_MAX_CALL_BYTES"
    #: A file of pytest node ids, one a line: every other collected test is deselected.
    SELECT_FILE = "PERFRL_SELECT_FILE"
    #: How calls are found: ``auto`` (default: the first that applies of ``monitoring``,
    #: ``redirect``, ``profile``, ``wrapper``), ``code`` (any way but the wrapper), or one of
    #: :data:`WATCH_KINDS` to force it (for measurements and tests).
    WATCH = "PERFRL_WATCH"


#: Watch the target, record which tests call it and a sample of its calls.
MODE_CAPTURE = "capture"
#: Record test outcomes only (the candidate's test run).
MODE_OBSERVE = "observe"

DEFAULT_MAX_CALLS = 64
DEFAULT_MAX_CALL_BYTES = 1024 * 1024

SUMMARY_FILE = "summary.json"
CALLS_FILE = "calls.pkl"

#: ``summary.json`` is never this large honestly (failure excerpts are capped by the plugin).
MAX_SUMMARY_BYTES = 32 * 1024 * 1024

# -- summary.json --------------------------------------------------------------------------

#: Per-test outcomes the plugin writes.
TEST_OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "unknown")
#: How the plugin found the target's calls: through its code object with ``sys.monitoring``
#: (3.12+), by redirecting the function object's ``__code__`` through the recorder (3.11 and
#: older: every reference to the function is seen), with a profile hook comparing code
#: objects (when the redirect is impossible), or by a wrapper put in its place by name (a
#: target whose code is not its own, e.g. a decorator's wrapper).
WATCH_KINDS = ("monitoring", "redirect", "profile", "wrapper", "")


class TestEntry(TypedDict):
    outcome: str  # one of TEST_OUTCOMES
    duration: float  # seconds, setup + call + teardown
    message: str  # a short failure excerpt, "" when it passed


class CollectionError(TypedDict):
    nodeid: str
    message: str


class Summary(TypedDict):
    """``summary.json`` as :func:`parse_summary` returns it: every key present, types exact."""

    plugin_version: str
    python_version: str
    mode: str
    module: str
    qualname: str
    module_file: str | None
    #: The target was watched (by code object or by wrapper).
    wrapped: bool
    #: How: one of WATCH_KINDS ("" when it was not watched).
    watch: str
    wrap_error: str | None
    exitstatus: int | None
    #: node id -> entry, in run order.
    tests: dict[str, TestEntry]
    #: node id -> number of calls of the target made while that test ran, first-call order.
    calling_tests: dict[str, int]
    #: node id -> number of its calls kept in calls.pkl.
    recorded_by_test: dict[str, int]
    calls_total: int
    calls_recorded: int
    #: Recorded calls whose arguments (as pickled before the call) differ from each other.
    calls_distinct: int
    calls_not_recorded: int
    calls_outside_tests: int
    #: reason ("with arguments that cannot be pickled", ...) -> count.
    skipped_reasons: dict[str, int]
    collection_errors: list[CollectionError]
    plugin_errors: list[str]
    sys_path: list[str]


class ProtocolError(ValueError):
    """A report file does not have the documented shape (the message names what is wrong)."""


def _expect(value, kinds, where):
    # bool is an int subclass: an int field must not accept True, nor a bool field 1.
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(f"{where}: expected {kinds[0].__name__}, got bool")
    if not isinstance(value, kinds):
        raise ProtocolError(f"{where}: expected {kinds[0].__name__}, got {type(value).__name__}")
    return value


def _str_map(value, kinds, where):
    _expect(value, (dict,), where)
    out = {}
    for key, item in value.items():
        _expect(key, (str,), f"{where} key")
        out[key] = _expect(item, kinds, f"{where}[{key!r}]")
    return out


def _str_list(value, where):
    _expect(value, (list,), where)
    return [_expect(item, (str,), f"{where}[{i}]") for i, item in enumerate(value)]


# (key, accepted types, default when absent). Optional fields accept None.
_SCALARS = (
    ("plugin_version", (str,), ""),
    ("python_version", (str,), ""),
    ("mode", (str,), MODE_CAPTURE),
    ("module", (str,), ""),
    ("qualname", (str,), ""),
    ("module_file", (str, type(None)), None),
    ("wrapped", (bool,), False),
    ("watch", (str,), ""),
    ("wrap_error", (str, type(None)), None),
    ("exitstatus", (int, type(None)), None),
    ("calls_total", (int,), 0),
    ("calls_recorded", (int,), 0),
    ("calls_distinct", (int,), 0),
    ("calls_not_recorded", (int,), 0),
    ("calls_outside_tests", (int,), 0),
)


def parse_summary(data):
    """Check ``data`` (decoded JSON) against :class:`Summary`; return it with every key present.

    Keys a plugin of an older version did not write get their defaults; a present key of the
    wrong type, an unknown outcome or a negative count raise :class:`ProtocolError`.
    """
    _expect(data, (dict,), "summary")
    out: dict[str, Any] = {}  # filled key by key from _SCALARS, each value checked there
    for key, kinds, default in _SCALARS:
        out[key] = _expect(data[key], kinds, key) if key in data else default
        if key.startswith("calls_") and out[key] < 0:
            raise ProtocolError(f"{key}: negative count")
    if out["watch"] not in WATCH_KINDS:
        raise ProtocolError(f"watch: unknown kind {out['watch']!r}")
    tests = {}
    for nodeid, entry in _str_map(data.get("tests", {}), (dict,), "tests").items():
        where = f"tests[{nodeid!r}]"
        outcome = _expect(entry.get("outcome", "unknown"), (str,), where + ".outcome")
        if outcome not in TEST_OUTCOMES:
            raise ProtocolError(f"{where}.outcome: unknown outcome {outcome!r}")
        duration = _expect(entry.get("duration", 0.0), (float, int), where + ".duration")
        message = _expect(entry.get("message", ""), (str,), where + ".message")
        tests[nodeid] = {"outcome": outcome, "duration": float(duration), "message": message}
    out["tests"] = tests
    for key in ("calling_tests", "recorded_by_test", "skipped_reasons"):
        counts = _str_map(data.get(key, {}), (int,), key)
        if any(n < 0 for n in counts.values()):
            raise ProtocolError(f"{key}: negative count")
        out[key] = counts
    errors = []
    listed = _expect(data.get("collection_errors", []), (list,), "collection_errors")
    for i, error in enumerate(listed):
        where = f"collection_errors[{i}]"
        _expect(error, (dict,), where)
        errors.append(
            {
                "nodeid": _expect(error.get("nodeid", ""), (str,), where + ".nodeid"),
                "message": _expect(error.get("message", ""), (str,), where + ".message"),
            }
        )
    out["collection_errors"] = errors
    out["plugin_errors"] = _str_list(data.get("plugin_errors", []), "plugin_errors")
    out["sys_path"] = _str_list(data.get("sys_path", []), "sys_path")
    return out


# -- reading report files ------------------------------------------------------------------


def read_report_file(path, max_bytes):
    """The bytes of ``path`` when it is a regular file of at most ``max_bytes``; else None.

    Never follows a symlink, never blocks on a FIFO, never reads a device: the directory it
    sits in may have been written by a candidate.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > max_bytes else data
    except OSError:
        return None
    finally:
        os.close(fd)


def load_summary(path):
    """``(summary, problem)``: the parsed ``summary.json`` at ``path``, or None and why not."""
    data = read_report_file(path, MAX_SUMMARY_BYTES)
    if data is None:
        return None, "no summary was written (or it is not a regular file under the size cap)"
    try:
        return parse_summary(json.loads(data.decode("utf-8"))), None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"the summary is malformed: {exc}"


# == Worker channel (issue 12: verify's trust boundary) ===================================
# One ``perfrl_worker`` process per side (the original in a pristine copy of the project, the
# candidate in its own copy), driven by the engine over two FIFOs in a channel folder, one
# JSON object per line. The engine opens both FIFOs itself before the worker starts.

#: FIFO names inside the channel folder: engine -> worker, worker -> engine.
CHANNEL_REQUESTS = "in"
CHANNEL_REPLIES = "out"

#: request op -> the reply op(s) it gets. Shapes:
#:   hello (first message, unasked): {"module_file", "params", "python", "generator"} or
#:       {"error", "traceback"}
#:   replay {"calls": [i], "source": "recorded"|"generated", "keep": bool} -> outcome* then
#:       end; outcome {"index", "outcome": PRINTED, "recorded": PRINTED (original side only),
#:                     "load_error": str (instead of outcome)}
#:   detail {"keys": [[source, i] | ["recorded-outcome", i] | ["timed", position]]}
#:       -> detail {"outcomes": [OUTCOME or None]}
#:   generate {"calls": [i], "budget", "seed"} -> generated {"blobs": [hex pickle], "why"}
#:   add_inputs {"blobs": [hex pickle]} -> end
#:   state -> state {"sizes": {what: int}, "replaced": [built-ins and clocks rebound]}
#:   prepare {"items": [[source, index], ...]} -> ready; go -> done;
#:   report -> results {"table": [PRINTED without args_digest], "order": [table index]}
#:   quit (no reply)
#: PRINTED: {"kind": "return", "digest": FP, "args_digest": FP}
#:        | {"kind": "raise", "type": "module.Qualname", "message": str, "args_digest": FP}
#:        | {"kind": "unencodable", "why": str}; FP: perfrl_canon.fingerprint
#: OUTCOME: {"kind": "return", "value": CANON, "args_after": CANON}
#:        | {"kind": "raise", "type": "module.Qualname", "message": str, "args_after": CANON}
#:        | {"kind": "unencodable", "why": str}; CANON: see perfrl_canon.
WORKER_REPLIES = {
    "replay": ("outcome", "end"),
    "detail": ("detail",),
    "generate": ("generated",),
    "add_inputs": ("end",),
    "state": ("state",),
    "prepare": ("ready",),
    "go": ("done",),
    "report": ("results",),
    "quit": (),
}
