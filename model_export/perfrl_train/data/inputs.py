"""Compact, deterministic specs for argument values, expanded to Python-literal source.

Small correctness inputs are stored expanded (``CodePair.inputs``); benchmark inputs are stored
as specs in ``meta["bench_inputs"]`` so a JSONL row stays small. A spec for one call is a list
of argument specs, each a dict with a ``"t"`` (kind) key:

- ``{"t": "lit", "v": "<python literal source>"}``
- ``{"t": "ints", "n", "lo", "hi", "seed", "sorted": bool}``: a list of ints
- ``{"t": "str", "n", "alphabet", "seed"}``: one string
- ``{"t": "strs", "n", "min_len", "max_len", "alphabet", "seed"}``: a list of strings
- ``{"t": "int_lists", "n", "m", "lo", "hi", "seed"}``: a list of ``n`` int lists of length <= m
- ``{"t": "records", "n", "fields", "seed"}``: a list of ``n`` dicts (rows of a table); each
  field is ``[key, kind, a, b]``: kind ``"code"`` a string of ``a``-``b`` characters from a
  small alphabet (so codes repeat), ``"int"`` an int in ``[a, b]``, ``"bool"`` True with
  probability ``a``, ``"tags"`` a list of at most ``b`` codes drawn from ``a`` distinct ones

Expansion is a pure function of the spec (``random.Random(seed)``), so a spec always yields
the same literal on every machine and Python version 3.11+.
"""

from __future__ import annotations

import ast
import random
from typing import Any


class InputSpecError(ValueError):
    """An argument spec is malformed."""


def lit(value: Any) -> dict:
    """Spec for a fixed value; the value must round-trip through repr/ast.literal_eval."""
    src = repr(value)
    if ast.literal_eval(src) != value:
        raise InputSpecError(f"{value!r} does not round-trip through ast.literal_eval")
    return {"t": "lit", "v": src}


def ints(rng: random.Random, n: int, lo: int, hi: int, *, sorted_: bool = False) -> dict:
    return {
        "t": "ints",
        "n": n,
        "lo": lo,
        "hi": hi,
        "seed": rng.randrange(2**31),
        "sorted": sorted_,
    }


def text(rng: random.Random, n: int, alphabet: str) -> dict:
    return {"t": "str", "n": n, "alphabet": alphabet, "seed": rng.randrange(2**31)}


def strs(rng: random.Random, n: int, min_len: int, max_len: int, alphabet: str) -> dict:
    return {
        "t": "strs",
        "n": n,
        "min_len": min_len,
        "max_len": max_len,
        "alphabet": alphabet,
        "seed": rng.randrange(2**31),
    }


def int_lists(rng: random.Random, n: int, m: int, lo: int, hi: int) -> dict:
    return {"t": "int_lists", "n": n, "m": m, "lo": lo, "hi": hi, "seed": rng.randrange(2**31)}


def records(rng: random.Random, n: int, fields: list[list]) -> dict:
    return {"t": "records", "n": n, "fields": fields, "seed": rng.randrange(2**31)}


def codes(rng: random.Random, n: int, min_len: int, max_len: int) -> dict:
    """A list of codes drawn like a records field of kind ``"code"`` (so some match)."""
    return strs(rng, n, min_len, max_len, CODE_ALPHABET)


#: Alphabet of "code" fields: small, so that short codes collide across rows and queries.
CODE_ALPHABET = "ABCDEF0123"


def _field_value(r: random.Random, kind: str, a, b):
    if kind == "code":
        return "".join(r.choice(CODE_ALPHABET) for _ in range(r.randint(a, b)))
    if kind == "int":
        return r.randint(a, b)
    if kind == "bool":
        return r.random() < a
    if kind == "tags":
        pool = [f"t{k}" for k in range(a)]
        return [r.choice(pool) for _ in range(r.randint(0, b))]
    raise InputSpecError(f"unknown records field kind {kind!r}")


def expand_value(spec: dict) -> Any:
    """The Python value an argument spec stands for."""
    try:
        kind = spec["t"]
        if kind == "lit":
            return ast.literal_eval(spec["v"])
        r = random.Random(spec["seed"])
        if kind == "ints":
            # choices() over a range is ~5x faster than randint() in a loop.
            values = r.choices(range(spec["lo"], spec["hi"] + 1), k=spec["n"])
            return sorted(values) if spec.get("sorted") else values
        if kind == "str":
            return "".join(r.choice(spec["alphabet"]) for _ in range(spec["n"]))
        if kind == "strs":
            return [
                "".join(
                    r.choice(spec["alphabet"])
                    for _ in range(r.randint(spec["min_len"], spec["max_len"]))
                )
                for _ in range(spec["n"])
            ]
        if kind == "records":
            return [
                {key: _field_value(r, field_kind, a, b) for key, field_kind, a, b in spec["fields"]}
                for _ in range(spec["n"])
            ]
        if kind == "int_lists":
            return [
                [r.randint(spec["lo"], spec["hi"]) for _ in range(r.randint(0, spec["m"]))]
                for _ in range(spec["n"])
            ]
    except (KeyError, TypeError, ValueError, SyntaxError) as exc:
        raise InputSpecError(f"bad argument spec {spec!r}: {exc}") from exc
    raise InputSpecError(f"unknown argument spec kind {kind!r} in {spec!r}")


def expand_call(call_spec: list[dict]) -> str:
    """Literal source of the argument tuple for one call spec."""
    return repr(tuple(expand_value(a) for a in call_spec))


def all_inputs(pair, *, include_bench: bool = True) -> list[str]:
    """A pair's small inputs, then (optionally) its expanded benchmark inputs."""
    out = list(pair.inputs)
    if include_bench:
        out.extend(expand_call(c) for c in pair.meta.get("bench_inputs", []))
    return out
