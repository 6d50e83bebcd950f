"""Idioms about building, scanning and matching strings."""

from __future__ import annotations

from ..inputs import ints, lit, strs, text
from .base import Idiom

_SEPS = ('","', '";"', '" "', '"|"', '", "')
# "$$" because constants pass through a second string.Template pass (it becomes "$").
_PATTERNS = ('r"[ab]+c"', 'r"a.*z$$"', 'r"(ab)+"', 'r"[aeiou]{2}"', 'r"b\\w*d"')

IDIOMS = [
    Idiom(
        name="string_concat_loop",
        category="strings",
        func_names=("to_csv", "serialize", "render_values", "dump_values"),
        params=(("xs", "list[int]"),),
        returns="str",
        docs=("Render the values, each followed by a separator.",),
        consts=lambda rng: {"sep": rng.choice(_SEPS)},
        slow=r"""
            $acc = ""
            for $x in $xs:
                $acc = $acc + str($x) + $sep
            return $acc
        """,
        fast=r"""
            return "".join([str($x) + $sep for $x in $xs])
        """,
        small_inputs=lambda rng, c: [[ints(rng, 5, -9, 99)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 8000, 0, 10**6)]],
    ),
    Idiom(
        name="lines_concat",
        min_speedup=1.1,
        category="strings",
        func_names=("to_text", "join_lines", "render_lines", "as_document"),
        params=(("words", "list[str]"),),
        returns="str",
        docs=("One line per entry, each terminated by a newline.",),
        slow=r"""
            $s = ""
            for $w in $words:
                $s += $w + "\n"
            return $s
        """,
        fast=r"""
            return "".join([$w + "\n" for $w in $words])
        """,
        small_inputs=lambda rng, c: [[strs(rng, 4, 0, 5, "abc ")], [lit([])]],
        bench_inputs=lambda rng, c: [[strs(rng, 20000, 0, 12, "abcdefgh ")]],
    ),
    Idiom(
        name="manual_join_separator",
        category="strings",
        func_names=("join_words", "comma_join", "make_sentence", "glue_tokens"),
        params=(("words", "list[str]"),),
        returns="str",
        docs=("Join the words with a separator between them.",),
        consts=lambda rng: {"sep": rng.choice(_SEPS)},
        slow=r"""
            $s = ""
            for $i, $w in enumerate($words):
                if $i > 0:
                    $s += $sep
                $s += $w
            return $s
        """,
        fast=r"""
            return $sep.join($words)
        """,
        small_inputs=lambda rng, c: [[strs(rng, 4, 1, 4, "xyz")], [lit([])], [lit(["a"])]],
        bench_inputs=lambda rng, c: [[strs(rng, 20000, 1, 8, "abcdefgh")]],
    ),
    Idiom(
        name="string_reverse_chars",
        category="strings",
        func_names=("reverse_string", "backwards_text", "mirror", "reversed_text"),
        params=(("s", "str"),),
        returns="str",
        docs=("The characters in reverse order.",),
        slow=r"""
            $acc = ""
            for $tmp in $s:
                $acc = $tmp + $acc
            return $acc
        """,
        fast=r"""
            return $s[::-1]
        """,
        small_inputs=lambda rng, c: [[text(rng, 7, "abcdef")], [lit("")]],
        bench_inputs=lambda rng, c: [[text(rng, 12000, "abcdefghij")]],
    ),
    Idiom(
        name="format_in_loop",
        min_speedup=1.2,
        category="strings",
        func_names=("describe", "index_report", "label_values", "format_all"),
        params=(("xs", "list[int]"),),
        returns="str",
        docs=("'index:value;' for every element.",),
        slow=r"""
            $acc = ""
            for $i, $x in enumerate($xs):
                $acc += "{}:{};".format($i, $x)
            return $acc
        """,
        fast=r"""
            return "".join([f"{$i}:{$x};" for $i, $x in enumerate($xs)])
        """,
        small_inputs=lambda rng, c: [[ints(rng, 4, -9, 9)], [lit([])]],
        bench_inputs=lambda rng, c: [[ints(rng, 15000, 0, 10**6)]],
    ),
    Idiom(
        name="count_chars_loop",
        min_speedup=2.5,
        category="strings",
        func_names=("count_vowels", "count_letters", "letter_hits", "char_count"),
        params=(("s", "str"),),
        returns="int",
        docs=("How many characters belong to a fixed set.",),
        consts=lambda rng: {"chars": rng.choice(['"aeiou"', '"xyz"', '"ab"', '"01"'])},
        slow=r"""
            $acc = 0
            for $tmp in $s:
                if $tmp in $chars:
                    $acc += 1
            return $acc
        """,
        fast=r"""
            return sum(map($s.count, $chars))
        """,
        small_inputs=lambda rng, c: [[text(rng, 12, "abexyz01uo")], [lit("")]],
        bench_inputs=lambda rng, c: [[text(rng, 80000, "abcdeiouxyz01")]],
    ),
    Idiom(
        name="regex_compile_in_loop",
        min_speedup=2.0,
        category="strings",
        func_names=("matching", "filter_matching", "grep", "select_pattern"),
        params=(("words", "list[str]"),),
        returns="list[str]",
        docs=("The words that match a fixed pattern at their start.",),
        consts=lambda rng: {"pat": rng.choice(_PATTERNS)},
        slow=r"""
            import re
            $acc = []
            for $w in $words:
                if re.compile($pat).match($w):
                    $acc.append($w)
            return $acc
        """,
        fast=r"""
            import re
            $matcher = re.compile($pat).match
            return [$w for $w in $words if $matcher($w)]
        """,
        small_inputs=lambda rng, c: [[strs(rng, 8, 1, 5, "abcdz")], [lit([])]],
        bench_inputs=lambda rng, c: [[strs(rng, 20000, 1, 6, "abcdz")]],
    ),
]
