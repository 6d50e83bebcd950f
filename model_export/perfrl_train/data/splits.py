"""Train/valid/test assignment that never lets evaluation see a training template.

- synthetic pairs are split BY IDIOM: whole idioms are held out for test (and for valid);
- deoptimized pairs are split BY SOURCE MODULE (``meta["module"]``);
- PIE pairs are evaluation-only: they always get ``test``, and :func:`assert_no_pie_in_training`
  is called by the build before anything is written.

Assignment is a pure function of (seed, group names), so it is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from .pairs import CodePair


class SplitLeakError(AssertionError):
    """Evaluation-only data ended up in a training split, or groups overlap across splits."""


def split_groups(
    groups: Iterable[str], seed: int, *, test_frac: float = 0.2, valid_frac: float = 0.1
) -> dict[str, str]:
    """Map each distinct group name to a split; at least one group each when >= 3 groups."""
    names = sorted(set(groups))
    rng = random.Random(f"perfrl-split:{seed}")
    rng.shuffle(names)
    n = len(names)
    if n >= 3:
        n_test = max(1, round(n * test_frac))
        n_valid = max(1, round(n * valid_frac))
    else:
        n_test, n_valid = (1 if n >= 2 else 0), 0
    out = {}
    for k, name in enumerate(names):
        out[name] = "test" if k < n_test else "valid" if k < n_test + n_valid else "train"
    return out


def group_of(pair: CodePair) -> str:
    """The unit a pair is split by: idiom (synthetic), module (deoptimized), problem (pie)."""
    if pair.origin == "synthetic":
        return f"idiom:{pair.idiom}"
    if pair.origin == "deoptimized":
        return f"module:{pair.meta.get('module', pair.idiom)}"
    return f"pie:{pair.idiom}"


def assign_splits(
    pairs: list[CodePair], seed: int, *, test_frac: float = 0.2, valid_frac: float = 0.1
) -> list[CodePair]:
    """Set ``split`` on every pair in place (and return the list)."""
    for origin in ("synthetic", "deoptimized"):
        members = [p for p in pairs if p.origin == origin]
        mapping = split_groups(
            (group_of(p) for p in members), seed, test_frac=test_frac, valid_frac=valid_frac
        )
        for p in members:
            p.split = mapping[group_of(p)]
    for p in pairs:
        if p.origin == "pie":
            p.split = "test"
    assert_no_pie_in_training(pairs)
    assert_disjoint_groups(pairs)
    return pairs


def assert_no_pie_in_training(pairs: Iterable[CodePair]) -> None:
    """PIE is for evaluation only; raise SplitLeakError if any PIE pair is train/valid."""
    leaked = [p.id for p in pairs if p.origin == "pie" and p.split != "test"]
    if leaked:
        raise SplitLeakError(f"PIE pairs in a training split: {leaked[:5]} ({len(leaked)})")


def assert_disjoint_groups(pairs: Iterable[CodePair]) -> None:
    """No idiom/module may appear in two splits."""
    seen: dict[str, str] = {}
    for p in pairs:
        g = group_of(p)
        if seen.setdefault(g, p.split) != p.split:
            raise SplitLeakError(f"{g} appears in both {seen[g]} and {p.split}")
