"""What names a candidate as tampering (perfrl.engine.tampering): the attacks of the hostile
candidates read as such, honest rewrites never do."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perfrl.engine.tampering import runtime_signs, static_signs, tampering_reason
from tests.engine.hostile_candidates import FOUND, HONEST_WEIGH, NEW

REPO = Path(__file__).resolve().parents[2]

ORIGINAL_WEIGH = """
def weigh(values):
    total = 0
    for i in range(len(values)):
        total += values[i] * values[i]
    return total
"""

#: Hostile candidates whose source alone shows the reach (the others are caught otherwise:
#: not equivalent, stateful, or by what their process rebinds at run time).
SEEN_IN_THE_SOURCE = {
    "forged_reports": "uses sys.argv",
    "bent_clock": "assigns time.perf_counter_ns",
    "detects_benchmark": "uses sys._getframe",
    "memo_module_global": "uses globals",
    "reads_recorded_results": "imports pickle",
    "slows_original_code": "uses .__code__",
    "slows_builtin_range": "assigns builtins.range",
    "rewrites_original_source": "uses open",
    "burns_cpu_while_idle": "imports threading",
    "writes_fifo_out_of_turn": "imports os",
    "patches_the_encoder": "uses sys.modules",
    "exits_mid_batch": "imports os",
    "huge_output": "uses sys.stdout",
    "reads_proc_of_others": "uses open",
    "memo_hidden_in_sys_modules": "uses sys.modules",
    "signals_everything": "imports signal",
}


@pytest.mark.parametrize("name", sorted(SEEN_IN_THE_SOURCE))
def test_the_reach_of_hostile_candidates_shows_in_their_source(name):
    _, code = {**FOUND, **NEW}[name]
    assert SEEN_IN_THE_SOURCE[name] in static_signs(ORIGINAL_WEIGH, code)


HONEST = {
    "generator sum": (ORIGINAL_WEIGH, HONEST_WEIGH),
    "example: set membership": (
        (REPO / "examples/inventory/inventory/catalog.py").read_text(encoding="utf-8"),
        (REPO / "examples/inventory/candidates/missing_skus.py").read_text(encoding="utf-8"),
    ),
    # What the original itself uses is never a sign: here os and open.
    "keeps the original's os and open": (
        """
def size(paths):
    import os
    total = 0
    for p in paths:
        with open(p, "rb") as handle:
            total += len(handle.read())
    return total + len(os.sep)
""",
        """
def size(paths):
    import os
    return sum(len(open(p, "rb").read()) for p in paths) + len(os.sep)
""",
    ),
    "itertools, math, collections, bisect": (
        ORIGINAL_WEIGH,
        """
def weigh(values):
    import math, bisect
    from itertools import accumulate
    from collections import Counter
    return math.fsum(v * v for v in values) if Counter() else sum(v * v for v in values)
""",
    ),
    "io.StringIO for string building": (
        "def join(xs):\n    s = ''\n    for x in xs:\n        s += x\n    return s\n",
        "def join(xs):\n    import io\n    from io import StringIO\n    buf = io.StringIO()\n"
        "    for x in xs:\n        buf.write(x)\n    return buf.getvalue() + StringIO().read()\n",
    ),
    "sys.maxsize": (
        "def low(xs):\n    m = float('inf')\n    for x in xs:\n"
        "        m = min(m, x)\n    return m\n",
        "def low(xs):\n    import sys\n    return min(xs, default=sys.maxsize)\n",
    ),
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_rewrites_show_no_sign(name):
    original, code = HONEST[name]
    assert static_signs(textwrap.dedent(original), textwrap.dedent(code)) == []


def test_io_beyond_in_memory_buffers_is_a_sign():
    original = "def f(xs):\n    return ''.join(xs)\n"
    assert static_signs(original, "def f(xs):\n    import io\n    return io.open(xs[0]).read()\n")
    assert static_signs(original, "def f(xs):\n    from io import FileIO\n    return FileIO\n")


def test_runtime_signs_are_what_only_the_candidate_rebound():
    assert runtime_signs(["time.perf_counter_ns", "builtins.range"], ["builtins.range"]) == [
        "time.perf_counter_ns"]
    assert runtime_signs("not a list", []) == []
    assert runtime_signs([], ["builtins.range"]) == []


def test_the_reason_names_both_kinds_of_sign():
    assert tampering_reason([], []) == ""
    reason = tampering_reason(["imports time"], ["time.perf_counter_ns"])
    assert "time.perf_counter_ns" in reason and "imports time" in reason


def test_a_source_that_does_not_parse_shows_no_sign():
    assert static_signs(ORIGINAL_WEIGH, "def weigh(:\n") == []
