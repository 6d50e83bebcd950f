"""Renamed copies of training pairs: same behaviour, new names, nothing unsafe renamed."""

from __future__ import annotations

import ast
import random

import pytest

from perfrl_train.data import CodePair, generate_pairs, verify_pairs
from perfrl_train.data.augment import NamePool, harvest_pool, renamed_copy, renamed_variants
from perfrl_train.data.build import BuildConfig, build_dataset
from perfrl_train.data.pairs import read_jsonl

POOL = NamePool(
    identifiers=tuple(f"name_{i}" for i in range(200)),
    docstrings=("Return the thing the caller asked for.",),
)


def _pair(slow: str, fast: str, entry: str = "f") -> CodePair:
    return CodePair(id="p", origin="synthetic", idiom="demo", slow=slow, fast=fast, entry=entry,
                    inputs=["([3, 1, 2],)"])


def _bound(code: str) -> set[str]:
    tree = ast.parse(code)
    return {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)} | {
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_rename_is_consistent_on_both_sides_and_keeps_behaviour():
    pairs = verify_pairs(generate_pairs(60, seed=3)).kept
    for pair in pairs:
        pair.split = "train"
    copies = renamed_variants(pairs, 1, seed=0, pool=POOL)
    assert len(copies) >= 55
    by_id = {p.id: p for p in pairs}
    for copy in copies:
        original = by_id[copy.meta["renamed_from"]]
        assert copy.slow != original.slow
        assert copy.entry != original.entry and f"def {copy.entry}(" in copy.slow
        assert _bound(copy.slow) & _bound(original.slow) == set()
    report = verify_pairs(copies)
    assert not report.dropped
    for copy in report.kept:
        assert copy.meta["expected"] == by_id[copy.meta["renamed_from"]].meta["expected"]


def test_unsafe_names_stay_put():
    slow = (
        "import bisect\n\n\ndef f(key, xs):\n    \"\"\"Doc.\"\"\"\n    out = sorted(xs, key=abs)\n"
        "    label = f'{key}:{len(out)}'\n    out.sort()\n"
        "    return label, out, bisect.bisect(out, 1)\n"
    )
    fast = slow.replace("    out.sort()\n", "")
    copy = renamed_copy(_pair(slow, fast), random.Random(0), POOL, 0)
    assert copy is not None
    # `key` and `out` are read in an f-string (and `key` is a keyword-argument name): kept;
    # `sort` is an attribute, `bisect` an import, `sorted`/`abs`/`len` builtins: kept. `f`,
    # `xs` and `label` are renamed, and the docstring is replaced on both sides.
    assert "def name_" in copy.slow and "(key, name_" in copy.slow
    assert "key=abs" in copy.slow and "f'{key}:{len(" in copy.slow
    assert ".sort()" in copy.slow and "bisect.bisect(" in copy.slow
    assert all(name not in _bound(copy.slow) for name in ("f", "xs"))
    assert '"""Return the thing the caller asked for."""' in copy.slow
    assert '"""Return the thing the caller asked for."""' in copy.fast
    namespace: dict = {}
    exec(compile(copy.slow, "slow", "exec"), namespace)  # noqa: S102 - generated test code
    assert namespace[copy.entry]("k", [3, -1, 2]) == ("k:3", [-1, 2, 3], 1)


def test_recursive_calls_follow_the_new_name():
    slow = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    fast = ("def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
            "    return a\n")
    copy = renamed_copy(_pair(slow, fast, "fib"), random.Random(1), POOL, 0)
    namespace: dict = {}
    exec(copy.slow, namespace)  # noqa: S102 - generated test code
    assert "fib" not in copy.slow and namespace[copy.entry](10) == 55


def test_harvested_pool_has_real_names_and_docstrings():
    pool = harvest_pool(max_files=40)
    assert len(pool.identifiers) > 200 and len(pool.docstrings) > 20
    assert "self" not in pool.identifiers and "list" not in pool.identifiers
    assert all(name.isidentifier() for name in pool.identifiers)


@pytest.mark.slow
def test_build_adds_variants_to_train_only(tmp_path):
    plain = build_dataset(BuildConfig(out=tmp_path / "plain", n_synthetic=80, seed=1,
                                      deoptimize=False), log=lambda m: None)
    renamed = build_dataset(BuildConfig(out=tmp_path / "renamed", n_synthetic=80, seed=1,
                                        deoptimize=False, rename_variants=2), log=lambda m: None)
    for split in ("valid", "test"):
        assert (tmp_path / "plain" / f"{split}.jsonl").read_bytes() == (
            tmp_path / "renamed" / f"{split}.jsonl").read_bytes()
    train = read_jsonl(renamed.files["train"])
    assert len(train) == 3 * plain.counts["train"]
    assert {p.split for p in train} == {"train"}
