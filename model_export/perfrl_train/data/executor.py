"""Run generated functions on literal inputs in a separate, time- and memory-bounded process.

The generating process never executes pair code itself: every call goes through
``_exec_worker.py`` started with ``python -I`` (isolated: no user site, no PYTHONPATH), one
process per batch so that thousands of calls cost one interpreter start.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_WORKER = Path(__file__).with_name("_exec_worker.py")


class ExecutionError(RuntimeError):
    """The worker process itself failed (not a call inside it)."""


@dataclass
class CallJob:
    source: str
    entry: str
    args: list[str]


@dataclass
class CallOutcome:
    ok: bool
    value_repr: str | None = None  # set when ok and the value is a round-trippable literal
    literal: bool = False
    error: str | None = None
    exc_type: str | None = None
    seconds: float | None = None
    type_name: str | None = None

    def value(self):
        """The returned value, rebuilt from its literal repr (ok and literal outcomes only)."""
        if not (self.ok and self.literal) or self.value_repr is None:
            raise ExecutionError(f"no literal value: {self.error or 'non-literal result'}")
        return ast.literal_eval(self.value_repr)


def run_calls(
    jobs: list[CallJob],
    *,
    call_timeout_s: float = 2.0,
    mode: str = "call",
    repeat: int = 1,
    total_timeout_s: float | None = None,
    python: str | None = None,
) -> list[list[CallOutcome]]:
    """Run every job's function on each of its argument tuples; outcomes in the same order.

    ``mode="time"`` also records the best of ``repeat`` wall times per call in ``seconds``.
    Raises ExecutionError when the worker dies (e.g. killed for memory) or overruns
    ``total_timeout_s`` (default: enough for every call to hit its own timeout).
    """
    if not jobs:
        return []
    n_calls = sum(len(j.args) for j in jobs) * max(1, repeat)
    if total_timeout_s is None:
        total_timeout_s = 30.0 + n_calls * call_timeout_s
    request = {
        "jobs": [j.__dict__ for j in jobs],
        "call_timeout_s": call_timeout_s,
        "mode": mode,
        "repeat": repeat,
    }
    try:
        proc = subprocess.run(
            [python or sys.executable, "-I", str(_WORKER)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
            timeout=total_timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExecutionError(f"worker exceeded {total_timeout_s:.0f}s for {n_calls} calls") from exc
    if proc.returncode != 0:
        raise ExecutionError(f"worker exited {proc.returncode}: {proc.stderr[-2000:]}")
    try:
        raw = json.loads(proc.stdout)["results"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise ExecutionError(f"worker answer unreadable: {proc.stdout[-500:]!r}") from exc
    return [
        [
            CallOutcome(
                ok=o["ok"],
                value_repr=o.get("repr"),
                literal=o.get("literal", False),
                error=o.get("error"),
                exc_type=o.get("exc_type"),
                seconds=o.get("seconds"),
                type_name=o.get("type"),
            )
            for o in job
        ]
        for job in raw
    ]


def same_behaviour(a: CallOutcome, b: CallOutcome) -> bool:
    """Equal literal results of the same type, or the same exception type on both sides."""
    if a.ok and b.ok:
        return a.literal and b.literal and a.type_name == b.type_name and a.value() == b.value()
    if not a.ok and not b.ok:
        return a.exc_type is not None and a.exc_type == b.exc_type
    return False
