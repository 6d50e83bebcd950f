"""Idioms over table rows where the loop reads each element through a key, or filters what it
looks up: the ``records`` idioms with more structure around the same rewrite.

The shipped model, trained on ``records``, writes the right rewrite of a function shaped like
a training idiom but drops what the idiom did not have: a membership test on ``order["sku"]``
came back as a test on ``order``, a lookup list built with a filter lost the filter, a sum over
a field became ``sum(rows)``. Each idiom here is one of those shapes, with keys, names and
flags drawn per pair so that the model must copy them from its input. (A fourth, the
de-duplication of a field, was dropped: abstracted, it is one of the held-out functions, which
tests/model_export/test_heldout_leakage.py caught.)
"""

from __future__ import annotations

from ..inputs import codes, lit, records
from .base import Idiom
from .records import _fields, _keys, _small_rows

_ORDER_KEYS = ('"sku"', '"code"', '"ref"', '"item"', '"product"', '"isbn"', '"part"')


def _order_keys(rng) -> dict:
    return {**_keys(rng), "ko": rng.choice(_ORDER_KEYS)}


def _orders(rng, c: dict, n: int) -> dict:
    return records(rng, n, [[c["ko"].strip('"'), "code", 2, 4], ["qty", "int", 1, 9]])


IDIOMS = [
    Idiom(
        name="keyed_missing_of_rows",
        category="records",
        func_names=("unknown_items", "missing_products", "unmatched_refs", "not_stocked",
                    "orphans"),
        params=(("orders", "list[dict]"), ("rows", "list[dict]")),
        returns="list[str]",
        docs=("Codes ordered that no row carries, in order.",),
        consts=_order_keys,
        slow=r"""
            $lookup = [$row[$kc] for $row in $rows]
            $acc = []
            for $o in $orders:
                if $o[$ko] not in $lookup:
                    $acc.append($o[$ko])
            return $acc
        """,
        fast=r"""
            $lookup = {$row[$kc] for $row in $rows}
            return [$o[$ko] for $o in $orders if $o[$ko] not in $lookup]
        """,
        small_inputs=lambda rng, c: [
            [_orders(rng, c, 6), _small_rows(rng, c)],
            [lit([]), _small_rows(rng, c, 3)],
            [_orders(rng, c, 3), lit([])],
        ],
        bench_inputs=lambda rng, c: [[_orders(rng, c, 400), records(rng, 2000, _fields(c))]],
    ),
    Idiom(
        name="keyed_filtered_lookup",
        category="records",
        func_names=("still_open", "inactive_matches", "flagged_hits", "enabled_only",
                    "retired_codes"),
        params=(("qs", "list[str]"), ("rows", "list[dict]")),
        returns="list[str]",
        docs=("Queries that match a row with (or without) the flag, in the order asked.",),
        consts=lambda rng: {**_keys(rng), "neg": rng.choice(("", "not "))},
        slow=r"""
            $lookup = [$row[$kc] for $row in $rows if $neg$row[$kf]]
            $acc = []
            for $q in $qs:
                if $q in $lookup:
                    $acc.append($q)
            return $acc
        """,
        fast=r"""
            $lookup = {$row[$kc] for $row in $rows if $neg$row[$kf]}
            return [$q for $q in $qs if $q in $lookup]
        """,
        small_inputs=lambda rng, c: [
            [codes(rng, 8, 2, 3), _small_rows(rng, c)],
            [lit([]), _small_rows(rng, c, 3)],
        ],
        bench_inputs=lambda rng, c: [[codes(rng, 400, 3, 6), records(rng, 2000, _fields(c))]],
    ),
    Idiom(
        name="keyed_sum_field",
        category="records",
        func_names=("units_on_hand", "total_of", "sum_amounts", "stock_level", "grand_total"),
        params=(("rows", "list[dict]"),),
        returns="int",
        docs=("The number field added up over the rows.",),
        consts=_keys,
        slow=r"""
            $acc = 0
            for $row in $rows:
                $acc += $row[$kn]
            return $acc
        """,
        fast=r"""
            return sum([$row[$kn] for $row in $rows])
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c)], [lit([])]],
        bench_inputs=lambda rng, c: [[records(rng, 5000, _fields(c))]],
    ),
]
