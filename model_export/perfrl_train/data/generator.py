"""Procedural slow->fast function pairs from the idiom catalogue (:mod:`.idioms`).

:func:`generate_pairs` is pure and fast (no code is executed): it renders templates with
random identifiers, constants and decoration. Use :func:`perfrl_train.data.verify.verify_pairs`
to execute both sides and keep only pairs that agree.
"""

from __future__ import annotations

import random
import zlib

from ..errors import PerfRLError
from .idioms import ALL_IDIOMS, CATALOGUES, DEFAULT_CATALOGUES, render
from .inputs import expand_call
from .pairs import CodePair


class UnknownIdiomError(PerfRLError, KeyError):
    pass


def idiom_names(catalogues: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """The idioms of ``catalogues`` (default :data:`DEFAULT_CATALOGUES`), sorted."""
    chosen = DEFAULT_CATALOGUES if catalogues is None else catalogues
    unknown = [c for c in chosen if c not in CATALOGUES]
    if unknown:
        raise UnknownIdiomError(
            f"unknown idiom catalogue {unknown[0]!r}; known: {', '.join(sorted(CATALOGUES))}"
        )
    return sorted(name for c in chosen for name in CATALOGUES[c])


def _rng_for(seed: int, idiom: str, index: int) -> random.Random:
    # Stable across processes (unlike hash()), so a (seed, idiom, index) always gives one pair.
    return random.Random(zlib.crc32(f"{seed}:{idiom}:{index}".encode()))


def make_pair(idiom_name: str, seed: int, index: int) -> CodePair:
    """The ``index``-th pair of one idiom for a seed (deterministic)."""
    try:
        idiom = ALL_IDIOMS[idiom_name]
    except KeyError:
        raise UnknownIdiomError(
            f"unknown idiom {idiom_name!r}; known: {', '.join(sorted(ALL_IDIOMS))}"
        ) from None
    rng = _rng_for(seed, idiom_name, index)
    rendered = render(idiom, rng)
    small = [expand_call(call) for call in idiom.small_inputs(rng, rendered.consts)]
    bench = idiom.bench_inputs(rng, rendered.consts)
    return CodePair(
        id=f"syn-{idiom_name}-{seed}-{index}",
        origin="synthetic",
        idiom=idiom_name,
        slow=rendered.slow,
        fast=rendered.fast,
        entry=rendered.entry,
        inputs=small,
        split="train",
        meta={
            "category": idiom.category,
            "min_speedup": idiom.min_speedup,
            "bench_inputs": bench,
            "decoration": rendered.decoration,
            "seed": seed,
            "index": index,
        },
    )


def generate_pairs(
    n: int, seed: int, idioms: list[str] | None = None, catalogues: list[str] | None = None
) -> list[CodePair]:
    """``n`` pairs spread evenly (round-robin) over ``idioms`` (default: those of
    ``catalogues``, themselves by default :data:`DEFAULT_CATALOGUES`), deterministic.

    Pairs whose slow source duplicates an earlier one are skipped and replaced, so the result
    has exactly ``n`` distinct pairs unless an idiom runs out of variety (then fewer, after a
    bounded number of attempts).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    names = list(idioms) if idioms is not None else idiom_names(catalogues)
    for name in names:
        if name not in ALL_IDIOMS:
            known = ", ".join(sorted(ALL_IDIOMS))
            raise UnknownIdiomError(f"unknown idiom {name!r}; known: {known}")
    if not names:
        return []
    pairs: list[CodePair] = []
    seen: set[str] = set()
    next_index = dict.fromkeys(names, 0)
    attempts = 0
    while len(pairs) < n and attempts < n * 20 + 100:
        name = names[attempts % len(names)]
        attempts += 1
        pair = make_pair(name, seed, next_index[name])
        next_index[name] += 1
        if pair.slow in seen:
            continue
        seen.add(pair.slow)
        pairs.append(pair)
    return pairs
