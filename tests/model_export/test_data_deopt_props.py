"""Property tests: de-optimised functions behave like the originals on generated inputs, one
transform or several composed, and keep their signature (both sides run in a subprocess)."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from perfrl_train.data.deopt import TRANSFORMS, deoptimize_source
from perfrl_train.data.executor import CallJob, run_calls, same_behaviour
from perfrl_train.data.real_pairs import applicable, signature

# Real-looking functions of lists of small ints, each using many constructs at once, so that
# most transforms apply and compose.
FUNCTIONS = [
    """def summary(xs, ys):
    n = len(xs)
    out = []
    add = out.append
    seen = set(ys)
    for i, x in enumerate(xs):
        if x in seen:
            add(i)
    hits = [x * 2 for x in xs if x % 2]
    pairs = {x: i for i, x in enumerate(ys)}
    total = sum(xs)
    label = f"{n}:{total!r}:{len(hits):>3}"
    best = max(xs) if xs else None
    low = min(ys, key=abs) if ys else None
    for k, v in pairs.items():
        if k in pairs and v > n:
            out.extend([k, v])
    return out, hits, label, best, low, sorted(set(map(abs, ys))), {"n": n, "t": total}
""",
    """def first_big(xs, ys):
    limit = len(ys) + 1
    text = ",".join(str(x) for x in xs)
    for y in ys[1:]:
        if y > limit:
            return y, text
    acc = []
    for i in range(0, len(xs)):
        acc.append(xs[i] - 1)
    for a, b in zip(xs, ys):
        acc.extend([a + b])
    return None, text, acc, list(filter(None, xs)), {v for v in ys if v}
""",
    """def tally(xs, ys):
    from collections import Counter, defaultdict, deque
    import bisect
    import re
    counts = Counter(xs)
    groups = defaultdict(list)
    for x in xs:
        groups[x].append(-x)
    queue = deque(ys)
    order = []
    while queue:
        order.append(queue.popleft())
    ranks = sorted(ys)
    where = bisect.bisect_left(ranks, 2)
    squares = {v: v * v for v in ys}
    flags = [str(w).startswith(("1", "2")) or w in {1, 2, 3} for w in xs]
    odd = {u for u in xs if u % 2}
    top = max(ys + [0])
    pattern = re.compile("[0-3]")
    digits = []
    for z in order:
        if pattern.match(str(z)):
            digits.append(z)
    return (sorted(counts.items()), sorted(groups.items()), order, where, squares, flags,
            odd, top, digits)
""",
    """def scan(xs, ys):
    import math
    acc = []
    for x in xs:
        acc.append(x + 1)
    scale = math.pi
    for y in ys:
        if y > scale:
            return [y]
    return acc
""",
    """def ledger(xs, ys):
    prices = {y: y * 2 for y in ys}
    total = 0
    text = ""
    for x in xs:
        if x in prices:
            total += prices[x]
        text += str(x) + ","
    ranked = sorted(xs)
    return total, text, ranked[::-1], list(reversed(ys))
""",
    """def last_first(words, extra):
    out = []
    for word in words:
        text = str(word)
        if text.endswith(("1", "3")):
            out.append(text)
    return out
""",
]

# Shrinking re-runs a subprocess per step: minutes on a busy machine; the failing batch
# (a handful of small lists) is readable as found.
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
small_lists = st.lists(st.integers(-4, 9), max_size=7)
input_batches = st.lists(st.tuples(small_lists, small_lists), min_size=4, max_size=12)


def _agree(cases: list[tuple[str, str]], inputs: list[str]) -> None:
    """Run every (original, slow) case on the inputs in ONE worker process; equal outcomes."""
    jobs = []
    for source, slow in cases:
        entry = ast.parse(source).body[0].name  # type: ignore[attr-defined]
        jobs += [CallJob(source, entry, inputs), CallJob(slow, entry, inputs)]
    results = run_calls(jobs)
    for k, (source, slow) in enumerate(cases):
        fast_out, slow_out = results[2 * k], results[2 * k + 1]
        assert any(o.ok for o in fast_out), (source, fast_out[0])
        for arg, a, b in zip(inputs, fast_out, slow_out, strict=True):
            assert same_behaviour(a, b), (arg, slow, a, b)


def test_the_functions_exercise_most_transforms():
    used = {name for source in FUNCTIONS for name in applicable(source)}
    assert len(used) >= 26, sorted(set(TRANSFORMS) - used)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=_NO_SHRINK)
@given(batch=input_batches)
def test_each_transform_keeps_behaviour(batch):
    cases = []
    for source in FUNCTIONS:
        for name in applicable(source):
            made = deoptimize_source(source, [name])
            assert made is not None
            slow, fast = made
            assert fast == source and signature(slow) == signature(source)
            cases.append((source, slow))
    _agree(cases, [repr(args) for args in batch])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=_NO_SHRINK)
@given(batch=input_batches, data=st.data())
def test_compositions_keep_behaviour(batch, data):
    cases = []
    for source in FUNCTIONS:
        names = data.draw(st.permutations(applicable(source)))
        count = data.draw(st.integers(1, 3))
        made = deoptimize_source(source, names[:count])
        if made is None:
            continue  # an earlier transform removed the site of a later one
        assert signature(made[0]) == signature(source)
        cases.append((source, made[0]))
    _agree(cases, [repr(args) for args in batch])
