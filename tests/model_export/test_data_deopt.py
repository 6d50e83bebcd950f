"""De-optimising transforms keep behaviour (checked by executing both forms in a subprocess)."""

from __future__ import annotations

import ast
import textwrap

import pytest

from perfrl_train.data.deoptimize import (
    TRANSFORMS,
    build_deoptimized_pairs,
    deoptimize,
    extract_candidates,
)
from perfrl_train.data.executor import CallJob, run_calls, same_behaviour

# (transform, real-looking function, inputs); each function uses the construct in a
# statement where the transform may apply.
CASES = [
    (
        "comprehension_to_loop",
        "def f(xs, k):\n    ys = [x * k for x in xs if x % 2]\n    return len(ys), ys\n",
        ["([1, 2, 3], 2)", "([], 5)"],
    ),
    (
        "comprehension_to_loop",
        "def f(words):\n    return sorted({w.lower(): len(w) for w in words}.items())\n",
        ["(['A', 'bb', 'a'],)", "([],)"],
    ),
    (
        "sum_to_loop",
        "def f(xs):\n    return 1 + sum(x * x for x in xs if x > 0)\n",
        ["([1, -2, 3],)", "([],)"],
    ),
    (
        "minmax_to_loop",
        "def f(xs):\n    m = max(xs)\n    return m, min(xs)\n",
        ["([3, 1, 3, 2],)", "([],)", "(['b', 'a'],)"],
    ),
    (
        "join_to_concat",
        "def f(parts):\n    return '<' + ', '.join(parts) + '>'\n",
        ["(['a', 'b', 'c'],)", "([],)", "([1],)"],
    ),
    (
        "join_to_concat",
        "def f(s):\n    return ''.join(c for c in s if c.isalpha())\n",
        ["('a1b2',)", "('',)"],
    ),
    (
        "enumerate_to_range_len",
        "def f(seq):\n    out = 0\n    for i, x in enumerate(seq):\n"
        "        out += i * x\n    return out\n",
        ["([4, 5, 6],)", "([],)"],
    ),
    (
        "set_literal_to_list",
        "def f(c):\n    return c in {'a', 'e', 'i', 'o'} or c not in {1, 2, 3}\n",
        ["('a',)", "(2,)", "('z',)"],
    ),
    (
        "dict_get_to_ifelse",
        "def f(d, k):\n    return d.get(k, 0) + 1\n",
        ["({'a': 2}, 'a')", "({}, 'b')"],
    ),
]


@pytest.mark.parametrize("transform, source, inputs", CASES)
def test_transform_changes_code_but_keeps_behaviour(transform, source, inputs):
    fn = ast.parse(source).body[0]
    slow = deoptimize(fn, transform)
    assert slow is not None and ast.dump(ast.parse(slow)) != ast.dump(ast.parse(source))
    assert ast.parse(slow).body[0].name == "f"
    fast_out, slow_out = run_calls([CallJob(source, "f", inputs), CallJob(slow, "f", inputs)])
    for a, b in zip(fast_out, slow_out, strict=True):
        assert same_behaviour(a, b), (slow, a, b)


def test_every_transform_is_covered_by_a_case():
    assert {t for t, _, _ in CASES} == set(TRANSFORMS)


def test_transform_skips_unsafe_sites():
    # The comprehension variable is also used outside: a loop would clobber it.
    leak = ast.parse("def f(xs, x):\n    ys = [x for x in xs]\n    return x, ys\n").body[0]
    assert deoptimize(leak, "comprehension_to_loop") is None
    # Inside a short-circuit the comprehension may not run at all: no hoisting.
    cond = ast.parse("def f(xs):\n    return not xs or [1 / x for x in xs]\n").body[0]
    assert deoptimize(cond, "comprehension_to_loop") is None
    with pytest.raises(KeyError, match="unknown transform"):
        deoptimize(cond, "nope")


def test_extract_candidates_inlines_pure_imports_and_constants(tmp_path):
    (tmp_path / "mod.py").write_text(
        textwrap.dedent("""
        import math
        import os
        _TABLE = (1, 2, 3)

        def uses_math(x):
            return [math.floor(v) for v in x] + list(_TABLE)

        def uses_os(p):
            return os.path.join(p, "x")

        def writes(p):
            print(p)

        class K:
            @staticmethod
            def helper(a, b=2):
                return sum(a) * b
    """)
    )
    cands = {c.name: c for c in extract_candidates(tmp_path)}
    assert set(cands) == {"uses_math", "helper"}
    src = ast.unparse(cands["uses_math"].node)
    assert "import math" in src and "_TABLE = (1, 2, 3)" in src
    assert cands["helper"].n_required == 1 and cands["helper"].n_params == 2


@pytest.mark.slow
def test_stdlib_pairs_are_verified_real_functions():
    pairs, stats = build_deoptimized_pairs(seed=0)
    assert stats["candidates"] > 100
    assert len(pairs) >= 5 and stats["functions_used"] >= 5
    for p in pairs[:10]:
        assert p.origin == "deoptimized" and p.meta["module"]
        fast_out, slow_out = run_calls(
            [CallJob(p.fast, p.entry, p.inputs), CallJob(p.slow, p.entry, p.inputs)]
        )
        assert all(a.ok and same_behaviour(a, b) for a, b in zip(fast_out, slow_out, strict=True))
