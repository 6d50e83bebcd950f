"""Idioms about choosing the right container or algorithm for lookups, queues and order."""

from __future__ import annotations

from ..inputs import int_lists, ints, lit, strs
from .base import Idiom

IDIOMS = [
    Idiom(
        name="quadratic_membership",
        category="containers",
        func_names=("count_common", "count_shared", "overlap_count", "num_known"),
        params=(("xs", "list[int]"), ("ys", "list[int]")),
        returns="int",
        docs=(
            "Count how many elements of the first list occur in the second.",
            "Number of shared values.",
        ),
        slow=r"""
            $acc = 0
            for $x in $xs:
                if $x in $ys:
                    $acc += 1
            return $acc
        """,
        fast=r"""
            $lookup = set($ys)
            $acc = 0
            for $x in $xs:
                if $x in $lookup:
                    $acc += 1
            return $acc
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 8, 0, 9), ints(rng, 6, 0, 9)],
            [lit([]), lit([1, 2])],
            [ints(rng, 5, 0, 3), lit([])],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 1200, 0, 10**6), ints(rng, 1200, 0, 10**6)]],
    ),
    Idiom(
        name="list_intersection_comprehension",
        category="containers",
        func_names=("intersect", "keep_allowed", "common_items", "filter_known"),
        params=(("xs", "list[int]"), ("ys", "list[int]")),
        returns="list[int]",
        docs=("Elements of the first list that also appear in the second, in order.",),
        slow=r"""
            return [$x for $x in $xs if $x in $ys]
        """,
        fast=r"""
            $lookup = set($ys)
            return [$x for $x in $xs if $x in $lookup]
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 10, 0, 9), ints(rng, 5, 0, 9)],
            [lit([]), lit([3])],
            [lit([1, 1, 2]), lit([1])],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 1200, 0, 10**6), ints(rng, 1200, 0, 10**6)]],
    ),
    Idiom(
        name="rebuild_set_in_loop",
        category="containers",
        func_names=("select_present", "present_queries", "answer_queries", "which_exist"),
        params=(("qs", "list[int]"), ("xs", "list[int]")),
        returns="list[int]",
        docs=("Return the queries that occur in the data.",),
        slow=r"""
            $acc = []
            for $q in $qs:
                if $q in set($xs):
                    $acc.append($q)
            return $acc
        """,
        fast=r"""
            $lookup = set($xs)
            $acc = []
            for $q in $qs:
                if $q in $lookup:
                    $acc.append($q)
            return $acc
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 6, 0, 9), ints(rng, 6, 0, 9)],
            [lit([1]), lit([])],
            [lit([]), lit([1, 2])],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 300, 0, 4000), ints(rng, 2000, 0, 4000)]],
    ),
    Idiom(
        name="dedupe_preserve_order",
        category="containers",
        func_names=("unique", "dedupe", "distinct_in_order", "remove_duplicates"),
        params=(("xs", "list[int]"),),
        returns="list[int]",
        docs=("Drop repeated values, keeping the first occurrence of each.",),
        slow=r"""
            $acc = []
            for $x in $xs:
                if $x not in $acc:
                    $acc.append($x)
            return $acc
        """,
        fast=r"""
            return list(dict.fromkeys($xs))
        """,
        small_inputs=lambda rng, c: [[ints(rng, 12, 0, 5)], [lit([])], [lit([3, 3, 1, 3])]],
        bench_inputs=lambda rng, c: [[ints(rng, 3000, 0, 2000)]],
    ),
    Idiom(
        name="list_count_in_loop",
        category="containers",
        func_names=("word_frequencies", "frequencies", "count_each", "tally_words"),
        params=(("words", "list[str]"),),
        returns="dict[str, int]",
        docs=("Map each distinct word to the number of times it occurs.",),
        slow=r"""
            $d = {}
            for $w in $words:
                $d[$w] = $words.count($w)
            return $d
        """,
        fast=r"""
            from collections import Counter
            return dict(Counter($words))
        """,
        small_inputs=lambda rng, c: [[strs(rng, 8, 1, 2, "abc")], [lit([])], [lit(["x"])]],
        bench_inputs=lambda rng, c: [[strs(rng, 1400, 1, 3, "abcdefgh")]],
    ),
    Idiom(
        name="manual_count_dict",
        min_speedup=1.2,
        category="containers",
        func_names=("histogram", "count_words", "frequency_table", "build_counts"),
        params=(("words", "list[str]"),),
        returns="dict[str, int]",
        docs=("Count occurrences of every word.",),
        slow=r"""
            $d = {}
            for $w in $words:
                if $w in $d:
                    $d[$w] += 1
                else:
                    $d[$w] = 1
            return $d
        """,
        fast=r"""
            from collections import Counter
            return dict(Counter($words))
        """,
        small_inputs=lambda rng, c: [[strs(rng, 9, 1, 2, "ab")], [lit([])]],
        bench_inputs=lambda rng, c: [[strs(rng, 40000, 1, 2, "abcdefghij")]],
    ),
    Idiom(
        name="dict_keys_list_membership",
        category="containers",
        func_names=("sum_hits", "score_queries", "weighted_hits", "lookup_total"),
        params=(("xs", "list[int]"), ("qs", "list[int]")),
        returns="int",
        docs=("Sum the scaled weights of the queries that are keys.",),
        consts=lambda rng: {"k": rng.randint(2, 9)},
        slow=r"""
            $d = {$x: $x * $k for $x in $xs}
            $acc = 0
            for $q in $qs:
                if $q in list($d.keys()):
                    $acc += $d[$q]
            return $acc
        """,
        fast=r"""
            $d = {$x: $x * $k for $x in $xs}
            $acc = 0
            for $q in $qs:
                if $q in $d:
                    $acc += $d[$q]
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, 0, 9), ints(rng, 6, 0, 9)], [lit([]), lit([1])]],
        bench_inputs=lambda rng, c: [[ints(rng, 1500, 0, 5000), ints(rng, 400, 0, 5000)]],
    ),
    Idiom(
        name="list_pop0_queue",
        min_speedup=2.5,
        category="containers",
        func_names=("drain", "process_queue", "halve_all", "bfs_total"),
        params=(("xs", "list[int]"),),
        returns="int",
        docs=("Process a FIFO queue, re-queueing halves of large items; return the total.",),
        slow=r"""
            $queue = list($xs)
            $acc = 0
            while $queue:
                $x = $queue.pop(0)
                if $x > 1:
                    $queue.append($x // 2)
                $acc += $x
            return $acc
        """,
        fast=r"""
            from collections import deque
            $queue = deque($xs)
            $acc = 0
            while $queue:
                $x = $queue.popleft()
                if $x > 1:
                    $queue.append($x // 2)
                $acc += $x
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, 0, 20)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 6000, 0, 3)]],
    ),
    Idiom(
        name="sorted_in_loop",
        category="containers",
        func_names=("rank_lookup", "order_stats", "kth_values", "pick_ranked"),
        params=(("xs", "list[int]"), ("qs", "list[int]")),
        returns="list[int]",
        docs=("For each query q, the (q mod n)-th smallest value.",),
        slow=r"""
            $acc = []
            for $q in $qs:
                $acc.append(sorted($xs)[$q % len($xs)])
            return $acc
        """,
        fast=r"""
            $ordered = sorted($xs)
            $acc = []
            for $q in $qs:
                $acc.append($ordered[$q % len($ordered)])
            return $acc
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 7, -5, 9), ints(rng, 4, 0, 20)],
            [lit([4]), lit([0, 3])],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 1000, 0, 10**6), ints(rng, 200, 0, 10**6)]],
    ),
    Idiom(
        name="linear_insert_sorted",
        category="containers",
        func_names=("insertion_sorted", "sorted_by_insertion", "build_sorted", "ordered_insert"),
        params=(("xs", "list[int]"),),
        returns="list[int]",
        docs=("Insert values one by one into a sorted list.",),
        slow=r"""
            $acc = []
            for $x in $xs:
                $i = 0
                while $i < len($acc) and $acc[$i] < $x:
                    $i += 1
                $acc.insert($i, $x)
            return $acc
        """,
        fast=r"""
            import bisect
            $acc = []
            for $x in $xs:
                bisect.insort_left($acc, $x)
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 9, -5, 5)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 600, 0, 10**6)]],
    ),
    Idiom(
        name="linear_scan_sorted_search",
        category="containers",
        func_names=("count_at_most", "rank_queries", "how_many_below", "positions"),
        params=(("xs", "list[int]"), ("qs", "list[int]")),
        returns="list[int]",
        docs=("For each query, how many values of the sorted list are <= it.",),
        slow=r"""
            $acc = []
            for $q in $qs:
                $n = 0
                for $x in $xs:
                    if $x <= $q:
                        $n += 1
                    else:
                        break
                $acc.append($n)
            return $acc
        """,
        fast=r"""
            import bisect
            return [bisect.bisect_right($xs, $q) for $q in $qs]
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 8, 0, 9, sorted_=True), ints(rng, 4, -1, 10)],
            [lit([]), lit([1])],
        ],
        bench_inputs=lambda rng, c: [
            [ints(rng, 2000, 0, 10**6, sorted_=True), ints(rng, 150, 0, 10**6)]
        ],
    ),
    Idiom(
        name="extreme_via_sort",
        category="containers",
        func_names=("largest", "smallest", "extreme", "pick_extreme"),
        params=(("xs", "list[int]"),),
        returns="int",
        docs=("Return an extreme value of a non-empty list.",),
        consts=lambda rng: rng.choice([{"idx": "-1", "fn": "max"}, {"idx": "0", "fn": "min"}]),
        slow=r"""
            return sorted($xs)[$idx]
        """,
        fast=r"""
            return $fn($xs)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 7, -9, 9)], [lit([5])]],
        bench_inputs=lambda rng, c: [[ints(rng, 30000, 0, 10**9)]],
    ),
    Idiom(
        name="flatten_sum_lists",
        category="containers",
        func_names=("flatten", "concat_all", "merge_lists", "join_chunks"),
        params=(("lists", "list[list[int]]"),),
        returns="list[int]",
        docs=("Concatenate a list of lists.",),
        slow=r"""
            return sum($lists, [])
        """,
        fast=r"""
            return [$x for $sub in $lists for $x in $sub]
        """,
        small_inputs=lambda rng, c: [[int_lists(rng, 4, 3, 0, 9)], [lit([])], [lit([[], [1]])]],
        bench_inputs=lambda rng, c: [[int_lists(rng, 1500, 8, 0, 99)]],
    ),
    Idiom(
        name="reverse_via_insert0",
        category="containers",
        func_names=("reversed_copy", "reverse_list", "backwards", "flip"),
        params=(("xs", "list[int]"),),
        returns="list[int]",
        docs=("Return the values in reverse order.",),
        slow=r"""
            $acc = []
            for $x in $xs:
                $acc.insert(0, $x)
            return $acc
        """,
        fast=r"""
            return list(reversed($xs))
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, 0, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 8000, 0, 99)]],
    ),
    Idiom(
        name="prefix_sums_recomputed",
        category="containers",
        func_names=("prefix_sums", "running_totals", "cumulative", "cumsum"),
        params=(("xs", "list[int]"),),
        returns="list[int]",
        docs=("Running totals of the values.",),
        slow=r"""
            return [sum($xs[:$i + 1]) for $i in range(len($xs))]
        """,
        fast=r"""
            from itertools import accumulate
            return list(accumulate($xs))
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 1500, 0, 999)]],
    ),
    Idiom(
        name="copy_in_loop",
        category="containers",
        func_names=("weighted_index_sum", "position_weighted", "index_dot", "moment"),
        params=(("xs", "list[int]"),),
        returns="int",
        docs=("Sum of value times position.",),
        consts=lambda rng: {"copy": rng.choice(["$xs[:]", "list($xs)", "$xs.copy()"])},
        slow=r"""
            $acc = 0
            for $i in range(len($xs)):
                $tmp = $copy
                $acc += $tmp[$i] * $i
            return $acc
        """,
        fast=r"""
            $acc = 0
            for $i, $x in enumerate($xs):
                $acc += $x * $i
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 2000, 0, 999)]],
    ),
    Idiom(
        name="pair_sum_nested_loops",
        category="containers",
        func_names=("count_pairs", "pairs_with_sum", "two_sum_count", "matching_pairs"),
        params=(("xs", "list[int]"), ("t", "int")),
        returns="int",
        docs=("Number of index pairs i < j whose values sum to the target.",),
        slow=r"""
            $acc = 0
            for $i in range(len($xs)):
                for $j in range($i + 1, len($xs)):
                    if $xs[$i] + $xs[$j] == $t:
                        $acc += 1
            return $acc
        """,
        fast=r"""
            $d = {}
            $acc = 0
            for $x in $xs:
                $acc += $d.get($t - $x, 0)
                $d[$x] = $d.get($x, 0) + 1
            return $acc
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 8, 0, 6), lit(6)],
            [lit([]), lit(0)],
            [lit([2, 2, 2]), lit(4)],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 500, 0, 1000), lit(1000)]],
    ),
]
