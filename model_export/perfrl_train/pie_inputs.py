"""Larger inputs for PIE problems, made from their public tests, so that a speedup can be timed.

PIE's public tests are the problems' samples: on 52 of the evaluation third's 62 problems the
original finishes them in less work than :data:`~perfrl_train.pie_timing.MIN_MEASURABLE_S`,
so no speedup could be told from noise. Here a public input is scaled up by the shapes
competitive-programming inputs mostly have (:func:`scale_input`):

- **a count, then that many item lines** (``N`` on the first line, ``N`` lines of the same
  width after it, and no more of that width): ``N * factor`` item lines;
- **a count, then lines of that many tokens** (``N`` then ``a1 ... aN``; every line of ``N``
  tokens, for problems with two such lists): ``N * factor`` tokens on each;
- **a count, then a string of that length**, or **one word on its own**: a string that long.

New items are drawn from the input's own: each numeric column uniformly between its smallest
and largest value, every other token or character from those present. Lines the shape does
not cover are kept as they are. The input may still break a constraint the statement states
(distinct values, a connected graph), so a scaled input is **kept only where the problem's two
accepted solutions (the PIE pair's slow and fast programs) both run on it and print the same
thing** (:func:`choose_scaled_input`); the original's output there is what a candidate must
print. The factor is the smallest of :data:`FACTORS` at which the original works at least
:data:`TARGET_WORK_S`, or the largest at which both still run within the time limit.

A caller may rely on: :func:`scale_input` is deterministic for a given ``rng`` state, returns
None when no shape applies, and never gives more than ``cap`` items;
:func:`choose_scaled_input` runs programs only through the ``run`` it is given (the harness's
sandboxed driver) and returns None rather than an input the two solutions disagree on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

#: Scale factors tried, smallest first.
FACTORS = (10, 100, 1000, 10000)
#: The original's work on a scaled input (start-up subtracted) worth aiming for: a few times
#: the floor, so that a 1.1x speedup stands out, and short enough for many rounds.
TARGET_WORK_S = 0.05
#: No scaled input has more items than this.
MAX_ITEMS = 200_000

_INTEGER = re.compile(r"-?\d+")


def _is_integer(token: str) -> bool:
    return _INTEGER.fullmatch(token) is not None


def _draw_like(values: list[str], rng: random.Random) -> Callable[[], str]:
    """A drawer of new values like ``values``: integers uniformly between their extremes,
    anything else chosen among them."""
    if all(_is_integer(v) for v in values):
        low, high = min(map(int, values)), max(map(int, values))
        return lambda: str(rng.randint(low, high))
    return lambda: rng.choice(values)


def _with_count(header: list[str], position: int, count: int) -> str:
    return " ".join([*header[:position], str(count), *header[position + 1:]])


def scale_input(text: str, factor: int, rng: random.Random, cap: int = MAX_ITEMS) -> str | None:
    """``text`` (one test's stdin) with its items multiplied by ``factor`` (at most ``cap``),
    in the first of the module's shapes that fits; None when none does."""
    lines = text.rstrip("\n").split("\n")
    tokens = [line.split() for line in lines]
    if not tokens or not tokens[0]:
        return None
    header = tokens[0]
    for position, token in enumerate(header):
        if not _is_integer(token) or int(token) < 2:
            continue
        count = int(token)
        scaled = min(count * factor, cap)
        rows = tokens[1:1 + count]
        # Item lines, unless the line after them is as wide (``2 / 1 5 / 2 4 / 3 6``: three
        # lists of two, not two items).
        after = tokens[1 + count] if len(tokens) > 1 + count else None
        if len(rows) == count and all(len(row) == len(rows[0]) > 0 for row in rows) and (
                after is None or len(after) != len(rows[0])):
            columns = [_draw_like([row[c] for row in rows], rng) for c in range(len(rows[0]))]
            items = [" ".join(draw() for draw in columns) for _ in range(scaled)]
            return "\n".join([_with_count(header, position, scaled), *items,
                              *lines[1 + count:]]) + "\n"
        lists = [k for k in range(1, len(tokens)) if len(tokens[k]) == count]
        if lists:
            new = list(lines)
            for k in lists:
                draw = _draw_like(tokens[k], rng)
                new[k] = " ".join(draw() for _ in range(scaled))
            new[0] = _with_count(header, position, scaled)
            return "\n".join(new) + "\n"
        words = [k for k in range(1, len(tokens)) if len(tokens[k]) == 1
                 and len(tokens[k][0]) == count and not _is_integer(tokens[k][0])]
        if words:
            new = list(lines)
            for k in words:
                new[k] = "".join(rng.choice(tokens[k][0]) for _ in range(scaled))
            new[0] = _with_count(header, position, scaled)
            return "\n".join(new) + "\n"
    if len(tokens) == 1 and len(header) == 1 and not _is_integer(header[0]) and len(header[0]) > 1:
        word = header[0]
        return "".join(rng.choice(word) for _ in range(min(len(word) * factor, cap))) + "\n"
    return None


@dataclass(frozen=True)
class SolutionRun:
    """One program's run on one input: its output when it exited 0 in time (else None) and
    its work (wall time minus the interpreter's start-up)."""

    stdout: str | None
    work_s: float


@dataclass(frozen=True)
class ScaledInput:
    """A scaled public input, the output both solutions print on it, and its factor."""

    text: str
    expected: str
    factor: int
    original_work_s: float


#: Runs the pair's two solutions on some inputs: per input, (slow's run, fast's run).
SolutionRunner = Callable[[list[str]], list[tuple[SolutionRun, SolutionRun]]]


def choose_scaled_input(public_input: str, run: SolutionRunner,
                        agree: Callable[[str, str], bool], seed: int = 0) -> ScaledInput | None:
    """The scaled version of ``public_input`` to time on (see the module docstring), or None
    when it has no shape to scale or the solutions disagree or fail at the first factor.
    ``agree(a, b)`` says whether two outputs are the same answer (the harness's comparison)."""
    chosen: ScaledInput | None = None
    for factor in FACTORS:
        text = scale_input(public_input, factor, random.Random(seed * 100_003 + factor))
        if text is None:
            return None
        [(slow, fast)] = run([text])
        if slow.stdout is None or fast.stdout is None or not agree(slow.stdout, fast.stdout):
            break
        chosen = ScaledInput(text, slow.stdout, factor, slow.work_s)
        if slow.work_s >= TARGET_WORK_S:
            break
    return chosen
