"""Idioms over rows of a table (lists of dicts): what application code is made of.

The other catalogues work on ints and strings with short names; a model trained only on them
recognises an idiom but does not copy expressions such as ``row["sku"]`` that it has never
seen. Here every pair draws its keys from pools (so the model must copy them from the input,
not remember them), and its rows and row names independently of each other.
"""

from __future__ import annotations

from ..inputs import codes, lit, records
from .base import Idiom

_CODE_KEYS = ('"id"', '"sku"', '"code"', '"name"', '"email"', '"slug"', '"isbn"', '"ref"',
              '"login"', '"zip"')
_NUM_KEYS = ('"qty"', '"count"', '"age"', '"price"', '"score"', '"stock"', '"size"', '"level"',
             '"total"', '"amount"')
_FLAG_KEYS = ('"active"', '"enabled"', '"visible"', '"paid"', '"valid"', '"open"', '"in_stock"')
_TAG_KEYS = ('"tags"', '"labels"', '"groups"', '"roles"', '"topics"')
_STR_METHODS = ("upper", "lower", "strip", "title", "casefold")
_SEPS = ('" "', '"  "', '", "', '";"', '"\\t"', '" | "')


def _keys(rng) -> dict:
    """One key of each kind, as Python string literals."""
    return {
        "kc": rng.choice(_CODE_KEYS),
        "kn": rng.choice(_NUM_KEYS),
        "kf": rng.choice(_FLAG_KEYS),
        "kt": rng.choice(_TAG_KEYS),
    }


def _fields(c: dict, tag_pool: int = 12) -> list[list]:
    """The records fields for the keys in ``c`` (string literals -> plain keys)."""
    return [
        [c["kc"].strip('"'), "code", 2, 4],
        [c["kn"].strip('"'), "int", -5, 50],
        [c["kf"].strip('"'), "bool", 0.6, 0],
        [c["kt"].strip('"'), "tags", tag_pool, 3],
    ]


def _small_rows(rng, c: dict, n: int = 7) -> dict:
    return records(rng, n, _fields(c))


IDIOMS = [
    Idiom(
        name="records_missing_keys",
        category="records",
        func_names=("missing", "unknown_codes", "not_listed", "absent_ids", "unmatched"),
        params=(("qs", "list[str]"), ("rows", "list[dict]")),
        returns="list[str]",
        docs=("Queries that no row carries, in the order asked.",
              "The requested codes the table does not have."),
        consts=_keys,
        slow=r"""
            $lookup = [$row[$kc] for $row in $rows]
            $acc = []
            for $q in $qs:
                if $q not in $lookup:
                    $acc.append($q)
            return $acc
        """,
        fast=r"""
            $lookup = {$row[$kc] for $row in $rows}
            return [$q for $q in $qs if $q not in $lookup]
        """,
        small_inputs=lambda rng, c: [
            [codes(rng, 6, 2, 3), _small_rows(rng, c)],
            [lit([]), _small_rows(rng, c, 3)],
            [codes(rng, 3, 2, 2), lit([])],
        ],
        bench_inputs=lambda rng, c: [
            [codes(rng, 400, 3, 6), records(rng, 2000, _fields(c))],
        ],
    ),
    Idiom(
        name="records_known_filter",
        category="records",
        func_names=("known", "listed_only", "present_codes", "keep_carried", "matching_ids"),
        params=(("qs", "list[str]"), ("rows", "list[dict]")),
        returns="list[str]",
        docs=("Queries that some row carries, in the order asked.",),
        consts=_keys,
        slow=r"""
            return [$q for $q in $qs if $q in [$row[$kc] for $row in $rows]]
        """,
        fast=r"""
            $lookup = {$row[$kc] for $row in $rows}
            return [$q for $q in $qs if $q in $lookup]
        """,
        small_inputs=lambda rng, c: [
            [codes(rng, 6, 2, 3), _small_rows(rng, c)],
            [lit(["A"]), lit([])],
        ],
        bench_inputs=lambda rng, c: [[codes(rng, 200, 3, 5), records(rng, 600, _fields(c))]],
    ),
    Idiom(
        name="records_filter_map_loop",
        min_speedup=0.0,  # about 1.3x on 3.11: the loop is specialised too
        category="records",
        func_names=("enabled_codes", "selected", "flagged_ids", "active_names", "shown"),
        params=(("rows", "list[dict]"),),
        returns="list[str]",
        docs=("Normalised codes of the flagged rows, in table order.",),
        consts=lambda rng: {**_keys(rng), "method": rng.choice(_STR_METHODS)},
        slow=r"""
            $acc = []
            for $row in $rows:
                if $row[$kf]:
                    $acc.append($row[$kc].$method())
            return $acc
        """,
        fast=r"""
            return [$row[$kc].$method() for $row in $rows if $row[$kf]]
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c)], [lit([])]],
        bench_inputs=lambda rng, c: [[records(rng, 20000, _fields(c))]],
    ),
    Idiom(
        name="records_dict_from_tuples",
        min_speedup=0.0,  # about 1.3x: no intermediate list of tuples
        category="records",
        func_names=("by_code", "index_rows", "code_to_amount", "lookup_table", "as_mapping"),
        params=(("rows", "list[dict]"),),
        returns="dict",
        docs=("Map each row's code to its number (the last row wins).",),
        consts=_keys,
        slow=r"""
            return dict([($row[$kc], $row[$kn]) for $row in $rows])
        """,
        fast=r"""
            return {$row[$kc]: $row[$kn] for $row in $rows}
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c)], [lit([])]],
        bench_inputs=lambda rng, c: [[records(rng, 20000, _fields(c))]],
    ),
    Idiom(
        name="records_concat_lines",
        min_speedup=0.0,  # CPython's in-place += makes this close; the join is never slower
        category="records",
        func_names=("report", "format_rows", "as_text", "dump_table", "listing"),
        params=(("rows", "list[dict]"),),
        returns="str",
        docs=("One line per row, newline-terminated.",),
        consts=lambda rng: {**_keys(rng), "sep": rng.choice(_SEPS)},
        slow=r"""
            $s = ""
            for $row in $rows:
                $s += $row[$kc] + $sep + str($row[$kn]) + "\n"
            return $s
        """,
        fast=r"""
            return "".join([$row[$kc] + $sep + str($row[$kn]) + "\n" for $row in $rows])
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c)], [lit([])]],
        bench_inputs=lambda rng, c: [[records(rng, 20000, _fields(c))]],
    ),
    Idiom(
        name="records_unique_nested",
        category="records",
        func_names=("all_tags", "distinct_labels", "used_groups", "every_role", "topics_seen"),
        params=(("rows", "list[dict]"),),
        returns="list[str]",
        docs=("Every value of the list field, once each, in first-seen order.",),
        consts=_keys,
        slow=r"""
            $acc = []
            for $row in $rows:
                for $w in $row[$kt]:
                    if $w not in $acc:
                        $acc.append($w)
            return $acc
        """,
        fast=r"""
            return list(dict.fromkeys($w for $row in $rows for $w in $row[$kt]))
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c)], [lit([])]],
        bench_inputs=lambda rng, c: [[records(rng, 3000, _fields(c, tag_pool=600))]],
    ),
    Idiom(
        name="records_scan_per_query",
        category="records",
        func_names=("amounts_for", "lookup_many", "fetch_counts", "resolve_codes", "values_of"),
        params=(("qs", "list[str]"), ("rows", "list[dict]")),
        returns="list[int]",
        docs=("For each query, the number of the first row with that code (or the default).",),
        consts=lambda rng: {**_keys(rng), "default": rng.choice(("0", "-1", "None"))},
        slow=r"""
            $acc = []
            for $q in $qs:
                for $row in $rows:
                    if $row[$kc] == $q:
                        $acc.append($row[$kn])
                        break
                else:
                    $acc.append($default)
            return $acc
        """,
        fast=r"""
            $lookup = {}
            for $row in $rows:
                $lookup.setdefault($row[$kc], $row[$kn])
            return [$lookup.get($q, $default) for $q in $qs]
        """,
        small_inputs=lambda rng, c: [
            [codes(rng, 6, 2, 3), _small_rows(rng, c)],
            [lit(["A"]), lit([])],
        ],
        bench_inputs=lambda rng, c: [[codes(rng, 300, 3, 6), records(rng, 2000, _fields(c))]],
    ),
    Idiom(
        name="records_sort_in_loop",
        category="records",
        func_names=("lowest", "below_threshold", "short_list", "ranked_low", "needs_refill"),
        params=(("rows", "list[dict]"), ("t", "int")),
        returns="list[str]",
        docs=("Codes of the rows whose number is below the threshold, smallest first.",),
        consts=_keys,
        slow=r"""
            $acc = []
            for $row in $rows:
                if $row[$kn] < $t:
                    $acc.append(($row[$kn], $row[$kc]))
                    $acc = sorted($acc)
            return [$w for $n, $w in $acc]
        """,
        fast=r"""
            $acc = []
            for $row in $rows:
                if $row[$kn] < $t:
                    $acc.append(($row[$kn], $row[$kc]))
            $acc.sort()
            return [$w for $n, $w in $acc]
        """,
        small_inputs=lambda rng, c: [[_small_rows(rng, c), lit(20)], [lit([]), lit(3)]],
        bench_inputs=lambda rng, c: [[records(rng, 1500, _fields(c)), lit(40)]],
    ),
]
