"""What an idiom template is and how one is rendered into a concrete slow/fast pair.

An :class:`Idiom` holds a slow and a fast function BODY as ``string.Template`` text
(``$name`` placeholders, so Python braces need no escaping). Placeholders are either *roles*
(identifiers such as ``$xs`` or ``$acc``, drawn from :data:`ROLE_POOLS` so every pair uses
different names) or *constants* returned by ``Idiom.consts(rng)``. ``$f`` is the function name.
The signature, optional type hints, docstring and leading comment are added by :func:`render`
identically on both sides, so the only difference between slow and fast is the idiom itself.
"""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from string import Template

# Identifier pools per role. Names never collide within one pair (see _pick_names).
ROLE_POOLS: dict[str, tuple[str, ...]] = {
    "xs": (
        "items",
        "values",
        "data",
        "nums",
        "xs",
        "seq",
        "arr",
        "elements",
        "numbers",
        "records",
        "samples",
        "entries",
    ),
    "ys": (
        "others",
        "candidates",
        "allowed",
        "pool",
        "ys",
        "reference",
        "targets_list",
        "second",
        "known",
        "blocked",
    ),
    "x": ("x", "item", "value", "v", "elem", "n", "num", "entry"),
    "y": ("y", "other", "w", "u", "b"),
    "i": ("i", "idx", "k", "pos", "j"),
    "j": ("j2", "jj", "inner", "m", "q"),
    "acc": ("result", "out", "acc", "res", "total", "answer", "ret", "buf", "collected"),
    "tmp": ("tmp", "current", "cur", "cand", "probe", "best_so_far"),
    "s": ("s", "text", "line", "word", "string", "msg", "source"),
    "words": ("words", "tokens", "names", "labels", "keys_list", "terms", "strings"),
    "w": ("w", "word", "tok", "token", "name", "label", "term"),
    "d": ("counts", "freq", "table", "mapping", "seen_counts", "tally", "histogram"),
    "n": ("n", "count", "size", "limit", "steps", "depth"),
    "t": ("threshold", "target", "bound", "cutoff", "goal", "key_value", "pivot"),
    "qs": ("queries", "probes", "lookups", "asks", "requests"),
    "q": ("query", "probe", "needle", "ask", "req"),
    "lookup": ("lookup", "index", "member_set", "fast_set", "seen_set", "table_set"),
    "sep": ("sep", "delimiter", "joiner", "glue"),
    "lists": ("lists", "chunks", "groups", "rows", "batches", "parts"),
    "sub": ("sub", "chunk", "group", "row", "batch", "part"),
    "queue": ("queue", "pending", "todo", "frontier", "work"),
    "a": ("a", "prev", "left", "first", "lo_val"),
    "b": ("b", "curr", "right", "second_val", "hi_val"),
    "m": ("mod", "modulus", "m", "base_mod"),
    "pat": ("pattern", "regex", "rx", "expr"),
    "matcher": ("matcher", "compiled", "prog", "match_fn"),
    "ordered": ("ordered", "sorted_vals", "ranked", "sorted_items", "sorted_copy"),
    "flag": ("found", "flag", "hit", "seen_any", "matched"),
    # Rows of a table and one row (idioms/records.py), drawn independently of each other
    # (``orders`` with ``product`` happens): the model has to copy names, not pair them.
    "rows": ("rows", "records", "products", "users", "orders", "entries", "people", "books",
             "table", "catalog", "inventory", "accounts"),
    "row": ("row", "rec", "product", "user", "order", "entry", "person", "book", "item",
            "account", "r", "p"),
    # A second table whose rows are read through a key (idioms/keyed.py).
    "orders": ("orders", "requests", "lines", "picks", "basket", "cart", "shipments"),
    "o": ("o", "line", "pick", "ln", "it", "req_row"),
}

# Functions names per idiom are given by the idiom; these prefixes add variety.
NAME_PREFIXES = ("", "", "", "compute_", "get_", "calc_", "do_", "find_", "_")

COMMENTS = (
    "# main loop",
    "# accumulate the answer",
    "# straightforward implementation",
    "# TODO: check performance",
    "# process every element",
    "# build the result",
)


@dataclass(frozen=True)
class Idiom:
    """One slow->fast rewrite template.

    ``params``: (role, type hint) for each parameter in order. ``slow`` / ``fast``: body
    templates (dedented). ``consts``: rng -> extra placeholder values (source text).
    ``small_inputs`` / ``bench_inputs``: (rng, consts) -> list of call specs (lists of
    argument specs from :mod:`perfrl_train.data.inputs`).
    """

    name: str
    category: str
    func_names: tuple[str, ...]
    params: tuple[tuple[str, str], ...]
    returns: str
    slow: str
    fast: str
    small_inputs: Callable[[random.Random, dict], list[list[dict]]]
    bench_inputs: Callable[[random.Random, dict], list[list[dict]]]
    docs: tuple[str, ...] = ()
    consts: Callable[[random.Random], dict] = field(default=lambda rng: {})
    # Lower bound on slow/fast time on the bench inputs (CPython 3.11), measured by
    # benchmarks/bench_idioms.py (a timing: never asserted by a test). 0 means "no reliable
    # gain on 3.11" (e.g. loop -> max(): the specialising interpreter made such loops nearly
    # as fast as the builtin).
    min_speedup: float = 3.0


_PLACEHOLDER = re.compile(r"\$([a-z_]+)")


def _roles_used(idiom: Idiom, consts: dict) -> list[str]:
    found = []
    texts = idiom.slow + idiom.fast + "".join(str(v) for v in consts.values())
    for name in _PLACEHOLDER.findall(texts):
        if name in ROLE_POOLS and name not in found:
            found.append(name)
    for role, _hint in idiom.params:
        if role not in found:
            found.insert(0, role)
    return found


def _pick_names(rng: random.Random, roles: list[str], fname: str) -> dict[str, str]:
    taken = {fname}
    names = {}
    for role in roles:
        options = [n for n in ROLE_POOLS[role] if n not in taken]
        names[role] = rng.choice(options)
        taken.add(names[role])
    return names


@dataclass
class RenderedPair:
    slow: str
    fast: str
    entry: str
    consts: dict
    names: dict
    decoration: dict


def render(idiom: Idiom, rng: random.Random) -> RenderedPair:
    """Pick names, constants and decoration, and fill both templates identically."""
    consts = dict(idiom.consts(rng))
    fname = rng.choice(NAME_PREFIXES) + rng.choice(idiom.func_names)
    names = _pick_names(rng, _roles_used(idiom, consts), fname)
    hints = rng.random() < 0.5
    params = ", ".join(f"{names[r]}: {h}" if hints else names[r] for r, h in idiom.params)
    ret = f" -> {idiom.returns}" if hints and idiom.returns else ""
    header = f"def {fname}({params}){ret}:\n"
    prologue = ""
    doc = rng.choice(idiom.docs) if idiom.docs and rng.random() < 0.45 else None
    if doc:
        prologue += f'    """{doc}"""\n'
    comment = rng.choice(COMMENTS) if rng.random() < 0.25 else None
    if comment:
        prologue += f"    {comment}\n"
    mapping = {"f": fname, **names, **{k: str(v) for k, v in consts.items()}}

    def fill(body: str) -> str:
        # Constants first: a constant may itself hold role placeholders (e.g. "$xs[:]").
        body = Template(textwrap.dedent(body).strip("\n")).safe_substitute(
            {k: str(v) for k, v in consts.items()}
        )
        text_ = Template(body).substitute(mapping)
        return header + prologue + textwrap.indent(text_, "    ") + "\n"

    return RenderedPair(
        slow=fill(idiom.slow),
        fast=fill(idiom.fast),
        entry=fname,
        consts=consts,
        names=names,
        decoration={
            "type_hints": hints,
            "docstring": doc is not None,
            "comment": comment is not None,
        },
    )
