"""Idioms about hand-written loops that a builtin, a formula or a better algorithm replaces."""

from __future__ import annotations

from ..inputs import ints, lit
from .base import Idiom

IDIOMS = [
    Idiom(
        name="manual_sum",
        min_speedup=2.0,
        category="builtins",
        func_names=("total", "sum_values", "add_all", "grand_total"),
        params=(("xs", "list[int]"),),
        returns="int",
        docs=("Sum of the values.",),
        slow=r"""
            $acc = 0
            for $x in $xs:
                $acc += $x
            return $acc
        """,
        fast=r"""
            return sum($xs)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 999)]],
    ),
    Idiom(
        name="manual_max",
        min_speedup=0.0,
        category="builtins",
        func_names=("maximum", "largest_value", "peak", "highest"),
        params=(("xs", "list[int]"),),
        returns="int | None",
        docs=("Largest value, or None for an empty list.",),
        slow=r"""
            $tmp = None
            for $x in $xs:
                if $tmp is None or $x > $tmp:
                    $tmp = $x
            return $tmp
        """,
        fast=r"""
            return max($xs, default=None)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([3])], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 10**6)]],
    ),
    Idiom(
        name="manual_min",
        min_speedup=0.0,
        category="builtins",
        func_names=("minimum", "smallest_value", "lowest", "floor_value"),
        params=(("xs", "list[int]"),),
        returns="int | None",
        docs=("Smallest value, or None for an empty list.",),
        slow=r"""
            $tmp = None
            for $x in $xs:
                if $tmp is None or $x < $tmp:
                    $tmp = $x
            return $tmp
        """,
        fast=r"""
            return min($xs, default=None)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([3])], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 10**6)]],
    ),
    Idiom(
        name="manual_any_flag",
        category="builtins",
        func_names=("exceeds", "any_above", "has_large", "contains_big"),
        params=(("xs", "list[int]"), ("t", "int")),
        returns="bool",
        docs=("Whether some value is above the threshold.",),
        slow=r"""
            $flag = False
            for $x in $xs:
                if $x > $t:
                    $flag = True
            return $flag
        """,
        fast=r"""
            return any($x > $t for $x in $xs)
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 6, 0, 9), lit(7)],
            [lit([1, 2]), lit(5)],
            [lit([]), lit(0)],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 1000), lit(990)]],
    ),
    Idiom(
        name="manual_all_flag",
        category="builtins",
        func_names=("none_divisible", "all_coprime_to", "no_multiples", "all_indivisible"),
        params=(("xs", "list[int]"),),
        returns="bool",
        docs=("Whether no value is a multiple of the modulus.",),
        consts=lambda rng: {"k": rng.randint(3, 13)},
        slow=r"""
            $flag = True
            for $x in $xs:
                if $x % $k == 0:
                    $flag = False
            return $flag
        """,
        fast=r"""
            return all($x % $k != 0 for $x in $xs)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 5, 1, 30)], [lit([1, 2])], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 10**6)]],
    ),
    Idiom(
        name="append_loop_comprehension",
        min_speedup=0.0,
        category="builtins",
        func_names=("scaled_matches", "select_scaled", "transform_filtered", "pick_and_scale"),
        params=(("xs", "list[int]"),),
        returns="list[int]",
        docs=("Scale the values that fall in one residue class.",),
        consts=lambda rng: {"k": rng.randint(2, 9), "m": rng.randint(2, 5), "r": rng.randint(0, 1)},
        slow=r"""
            $acc = []
            for $x in $xs:
                if $x % $m != $r:
                    $acc.append($x * $k + $r)
            return $acc
        """,
        fast=r"""
            return [$x * $k + $r for $x in $xs if $x % $m != $r]
        """,
        small_inputs=lambda rng, c: [[ints(rng, 8, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 10**6)]],
    ),
    Idiom(
        name="map_builtin",
        min_speedup=0.0,
        category="builtins",
        func_names=("convert_all", "apply_each", "normalize_all", "map_values"),
        params=(("xs", "list[int]"),),
        returns="list",
        docs=("Apply a builtin to every value.",),
        consts=lambda rng: {"fn": rng.choice(["abs", "str", "hex", "bool", "float"])},
        slow=r"""
            $acc = []
            for $x in $xs:
                $acc.append($fn($x))
            return $acc
        """,
        fast=r"""
            return list(map($fn, $xs))
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 40000, -(10**6), 10**6)]],
    ),
    Idiom(
        name="while_len_index",
        min_speedup=2.0,
        category="loops",
        func_names=("scaled_total", "weighted_sum", "sum_scaled", "accumulate_scaled"),
        params=(("xs", "list[int]"),),
        returns="int",
        docs=("Sum of the values times a constant factor.",),
        consts=lambda rng: {"k": rng.randint(2, 9)},
        slow=r"""
            $acc = 0
            $i = 0
            while $i < len($xs):
                $acc += $xs[$i] * $k
                $i += 1
            return $acc
        """,
        fast=r"""
            $acc = 0
            for $x in $xs:
                $acc += $x * $k
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 999)]],
    ),
    Idiom(
        name="range_len_zip",
        min_speedup=1.2,
        category="loops",
        func_names=("dot", "dot_product", "inner_product", "pairwise_sum"),
        params=(("xs", "list[int]"), ("ys", "list[int]")),
        returns="int",
        docs=("Dot product of two equally long lists.",),
        slow=r"""
            $acc = 0
            for $i in range(len($xs)):
                $acc += $xs[$i] * $ys[$i]
            return $acc
        """,
        fast=r"""
            import operator
            return sum(map(operator.mul, $xs, $ys))
        """,
        small_inputs=lambda rng, c: [
            [ints(rng, 5, -9, 9), ints(rng, 5, -9, 9)],
            [lit([]), lit([])],
        ],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 999), ints(rng, 60000, 0, 999)]],
    ),
    Idiom(
        name="loop_invariant_hoist",
        category="loops",
        func_names=("count_above_max", "beats_all", "count_record_breakers", "above_ceiling"),
        params=(("xs", "list[int]"), ("ys", "list[int]")),
        returns="int",
        docs=("How many values exceed every reference value (reference non-empty).",),
        consts=lambda rng: {"fn": rng.choice(["max", "min"])},
        slow=r"""
            $acc = 0
            for $x in $xs:
                if $x > $fn($ys):
                    $acc += 1
            return $acc
        """,
        fast=r"""
            $tmp = $fn($ys)
            $acc = 0
            for $x in $xs:
                if $x > $tmp:
                    $acc += 1
            return $acc
        """,
        small_inputs=lambda rng, c: [[ints(rng, 6, 0, 9), ints(rng, 3, 0, 9)], [lit([]), lit([1])]],
        bench_inputs=lambda rng, c: [[ints(rng, 2000, 0, 999), ints(rng, 400, 0, 999)]],
    ),
    Idiom(
        name="count_equal_loop",
        min_speedup=1.2,
        category="builtins",
        func_names=("occurrences", "count_value", "how_many", "frequency_of"),
        params=(("xs", "list[int]"), ("t", "int")),
        returns="int",
        docs=("How many times the target occurs.",),
        slow=r"""
            $acc = 0
            for $x in $xs:
                if $x == $t:
                    $acc += 1
            return $acc
        """,
        fast=r"""
            return $xs.count($t)
        """,
        small_inputs=lambda rng, c: [[ints(rng, 8, 0, 3), lit(2)], [lit([]), lit(1)]],
        bench_inputs=lambda rng, c: [[ints(rng, 60000, 0, 9), lit(3)]],
    ),
    Idiom(
        name="arithmetic_series_loop",
        category="math",
        func_names=("series_sum", "triangular", "sum_multiples", "scaled_range_sum"),
        params=(("n", "int"),),
        returns="int",
        docs=("k * (0 + 1 + ... + (n - 1)).",),
        consts=lambda rng: {"k": rng.randint(1, 9)},
        slow=r"""
            $acc = 0
            for $i in range($n):
                $acc += $i * $k
            return $acc
        """,
        fast=r"""
            if $n <= 0:
                return 0
            return $k * $n * ($n - 1) // 2
        """,
        small_inputs=lambda rng, c: [[lit(0)], [lit(1)], [lit(rng.randint(2, 50))], [lit(-3)]],
        bench_inputs=lambda rng, c: [[lit(200000)]],
    ),
    Idiom(
        name="modpow_loop",
        category="math",
        func_names=("power_mod", "mod_exp", "modular_power", "pow_mod"),
        params=(("a", "int"), ("n", "int")),
        returns="int",
        docs=("a ** n modulo a fixed prime, for n >= 0.",),
        consts=lambda rng: {"m": rng.choice([1_000_000_007, 998_244_353, 10_007, 65_537])},
        slow=r"""
            $acc = 1
            for _ in range($n):
                $acc = $acc * $a % $m
            return $acc
        """,
        fast=r"""
            return pow($a, $n, $m)
        """,
        small_inputs=lambda rng, c: [
            [lit(rng.randint(2, 99)), lit(rng.randint(0, 20))],
            [lit(3), lit(0)],
        ],
        bench_inputs=lambda rng, c: [[lit(rng.randint(2, 10**6)), lit(200000)]],
    ),
    Idiom(
        name="fib_recursive_memo",
        category="recursion",
        func_names=("fib", "fibonacci", "fib_number", "nth_fib"),
        params=(("n", "int"),),
        returns="int",
        docs=("The n-th Fibonacci number (n >= 0).",),
        slow=r"""
            if $n < 2:
                return $n
            return $f($n - 1) + $f($n - 2)
        """,
        fast=r"""
            $a, $b = 0, 1
            for _ in range($n):
                $a, $b = $b, $a + $b
            return $a
        """,
        small_inputs=lambda rng, c: [[lit(0)], [lit(1)], [lit(rng.randint(2, 12))]],
        bench_inputs=lambda rng, c: [[lit(21)]],
    ),
    Idiom(
        name="grid_paths_recursive",
        category="recursion",
        func_names=("grid_paths", "lattice_paths", "count_routes", "paths"),
        params=(("a", "int"), ("b", "int")),
        returns="int",
        docs=("Monotone lattice paths in an a-by-b grid (a, b >= 0).",),
        slow=r"""
            if $a == 0 or $b == 0:
                return 1
            return $f($a - 1, $b) + $f($a, $b - 1)
        """,
        fast=r"""
            $acc = [1] * ($b + 1)
            for _ in range($a):
                for $i in range(1, $b + 1):
                    $acc[$i] += $acc[$i - 1]
            return $acc[$b]
        """,
        small_inputs=lambda rng, c: [
            [lit(0), lit(3)],
            [lit(2), lit(0)],
            [lit(rng.randint(1, 5)), lit(rng.randint(1, 5))],
        ],
        bench_inputs=lambda rng, c: [[lit(9), lit(8)]],
    ),
    Idiom(
        name="gcd_subtraction",
        category="math",
        func_names=("gcd", "greatest_common_divisor", "common_divisor", "hcf"),
        params=(("a", "int"), ("b", "int")),
        returns="int",
        docs=("Greatest common divisor of two positive integers.",),
        slow=r"""
            while $a != $b:
                if $a > $b:
                    $a -= $b
                else:
                    $b -= $a
            return $a
        """,
        fast=r"""
            import math
            return math.gcd($a, $b)
        """,
        small_inputs=lambda rng, c: [
            [lit(12), lit(18)],
            [lit(7), lit(7)],
            [lit(rng.randint(1, 99)), lit(rng.randint(1, 99))],
        ],
        bench_inputs=lambda rng, c: [[lit(rng.randint(10**6, 2 * 10**6)), lit(rng.randint(3, 7))]],
    ),
]
