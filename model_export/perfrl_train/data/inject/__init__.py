"""Real functions grown by one fast idiom the mined corpus rarely holds, so that the
de-optimiser has something to undo inside real loop bodies.

The de-optimiser (:mod:`..deopt`) can only take away an optimisation a real function already
has. One slow idiom of application code, a membership test against a list the function was
given, made once per item of a loop (``if order.customer_id in customer_ids``), comes from
``set_of_name_to_scan``, which needs ``s = set(xs)`` and a test of ``s`` in a loop: 9 rows of a
13,395-row training mix had it, all of them short, and the model rewrote the idiom only where
the loop held nothing else. :func:`inject_list_guard` writes that fast idiom into a real
function's loop (or comprehension): a new parameter ``P: list[str]``, its set made once
(``P_set = set(P)``) and a test of a value the loop already reads (the loop variable, one of
its attributes or constant subscripts) against the set: ``if E not in P_set: continue`` or
``if E in P_set: continue`` at the top of the loop body, or ``if E in P_set`` added to a
comprehension. The surrounding real code is left byte for byte as it was; ``real_pairs
--only set_of_name_to_scan`` then writes the slow side.

The second idiom, order-keeping de-duplication (``seen_set_to_list_scan``: 2 rows of that mix),
is grown the same way by :func:`inject_seen_set`: where a loop appends a plain value to a list
the function built empty (``out.append(item.sku)``), the append is guarded by a set kept beside
the list (``seen = set()`` after ``out = []``; ``if E not in seen: seen.add(E); out.append(E)``);
the de-optimiser's slow side then scans ``out``.

The third, ``min``/``max`` for application code's ``sorted(xs, key=...)[0]``
(``min_to_sorted_index``), is grown by :func:`inject_empty_guard`: ``if not xs: raise
IndexError`` before a statement reading ``min(xs, key=...)`` (what ``sorted(xs)[0]`` raises on
an empty list, so both sides fail alike), or, where the function has no such statement, the
extreme item of a loop's list picked before the loop (``lowest = min(orders, key=lambda order:
order.total)``, the key a value the loop reads of the item: application code's pickers
always have a key, so only loops that read something of their item are grown) and skipped in
it (``if order is lowest: continue``), returned before the loop when a new ``bool`` parameter
asks for only it, or returned in place of the loop and the rest of the function.

The fourth, a comprehension run newest first (``[p.id for p in reversed(payments)]``) for
application code's loop inserting each item at the front (``reversed_map_to_insert_front``),
is grown by :func:`inject_reversed`: one comprehension over a parameter or a list the
function builds is given ``reversed(xs)`` or ``xs[::-1]`` to iterate.

The fifth, a dict given to the function and tested directly, for application code's ``E in
list(P.keys())`` (``dict_membership_to_keys_list``), is grown by :func:`inject_dict_guard`: a
new last parameter ``P: dict[str, str]`` and, at the top of a loop's body, ``if E not in P:
continue`` / ``if E in P: continue`` or ``E = P[E] if E in P else E``.

The sixth, a tally made with ``Counter``, for application code's counting loops
(``counter_to_dict_loop``), is grown by :func:`inject_counter`: ``counts =
Counter(map(itemgetter("k"), xs))`` of a value a loop reads of its item, returned as a dict in
place of the loop or read in it to skip repeated values.

The seventh, a one-pass group-by, for application code's grouping by a scan of every item per
key (``group_to_rescan``), is grown by :func:`inject_group`: ``groups = {}`` and a loop of
``groups.setdefault(x.k, []).append(x)`` on a value a loop reads of its item, returned in place
of that loop and all after it.

Where each lives: :mod:`.membership` (list guard, seen set, dict guard), :mod:`.pickers` (empty
guard), :mod:`.reversal`, :mod:`.counting`, :mod:`.grouping`, and :mod:`.text`, the text edits
they share.

    python -m perfrl_train.data.inject --corpus corpus.jsonl --out injected.jsonl \
        [--idiom list-guard|seen-set|empty-guard|reversed|dict-guard|counter|group]

A caller may rely on: every row written is a corpus row (:mod:`.corpus`'s fields, its
``package``/``licence``/``kept`` unchanged, ``id`` ending ``:inject``, ``:inject-seen``,
``:inject-empty``, ``:inject-reversed``, ``:inject-dict``, ``:inject-counter`` or
``:inject-group``) whose code
parses; a list guard's has exactly one more parameter than the original (annotated
``list[str]``, after the others) and ``set_of_name_to_scan`` removes its set again; a seen
set's has the original's parameters and ``seen_set_to_list_scan`` removes its set again; an
empty guard's has the original's parameters (or one more, a ``bool`` flag, last) and
``min_to_sorted_index`` removes it again; a reversed one's differs from the original in one
comprehension's iterable and ``reversed_map_to_insert_front`` undoes it; a dict guard's has one
more parameter (annotated ``dict[str, str]``, last) and ``dict_membership_to_keys_list`` lists
its keys again; a tally's has the original's parameters and ``counter_to_dict_loop`` counts in
a loop again; a group-by's has the original's parameters and ``group_to_rescan`` scans per key
again. The slow and fast sides of such a pair behave the same on every input whose
tested values are hashable (the set raises ``TypeError`` on an unhashable one, the scan does
not; the values real loops test are mostly strings, numbers and objects) and, for the empty
guard, that are lists or other sequences.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from .counting import inject_counter
from .grouping import inject_group
from .membership import inject_dict_guard, inject_list_guard, inject_seen_set
from .pickers import inject_empty_guard
from .reversal import inject_reversed

__all__ = ["IDIOMS", "inject_counter", "inject_dict_guard", "inject_empty_guard", "inject_group",
           "inject_list_guard",
           "inject_reversed", "inject_seen_set", "injected_rows", "main"]


#: The idioms a corpus can be grown by: the function, and the suffix of the grown rows' ids.
IDIOMS = {"list-guard": (inject_list_guard, "inject"),
          "seen-set": (inject_seen_set, "inject-seen"),
          "empty-guard": (inject_empty_guard, "inject-empty"),
          "reversed": (inject_reversed, "inject-reversed"),
          "dict-guard": (inject_dict_guard, "inject-dict"),
          "counter": (inject_counter, "inject-counter"),
          "group": (inject_group, "inject-group")}


def injected_rows(rows: Iterator[dict], seed: int = 0,
                  idiom: str = "list-guard") -> Iterator[dict]:
    """One grown copy of each corpus row that has a site for ``idiom`` (:data:`IDIOMS`), as a
    corpus row (``id`` + the idiom's suffix: ``:inject``, ``:inject-seen`` ...)."""
    grow, suffix = IDIOMS[idiom]
    for row in rows:
        rng = random.Random(f"{seed}:{row['id']}")
        grown = grow(row["code"], rng)
        if grown is None:
            continue
        yield {**row, "id": f"{row['id']}:{suffix}", "code": grown, "abstract": ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus JSONL (corpus.py)")
    parser.add_argument("--out", type=Path, required=True, help="grown corpus JSONL to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of each function's choices")
    parser.add_argument("--idiom", choices=sorted(IDIOMS), default="list-guard",
                        help="the fast idiom to grow the functions by")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"inject: corpus {args.corpus} does not exist", file=sys.stderr)
        return 2
    from ..real_pairs import iter_corpus

    grown = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in injected_rows(iter_corpus(args.corpus), args.seed, args.idiom):
            grown += 1
            out.write(json.dumps(row) + "\n")
    print(f"inject: {grown} functions grown -> {args.out}")
    return 0

