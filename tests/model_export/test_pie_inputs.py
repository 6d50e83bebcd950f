"""Larger PIE inputs (model_export/perfrl_train/pie_inputs.py): the shapes scaled, and the
choice of a size on which the problem's two solutions agree, with real program runs."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from perfrl_train.data.pie import outputs_match
from perfrl_train.pie_inputs import (
    FACTORS,
    TARGET_WORK_S,
    SolutionRun,
    choose_scaled_input,
    scale_input,
)


def scaled(text: str, factor: int = 10, cap: int = 10_000) -> str | None:
    return scale_input(text, factor, random.Random(0), cap)


def test_a_count_then_item_lines_gets_that_many_more_lines_drawn_from_their_columns() -> None:
    text = scaled("3 7\nAB 4\nCD 9\nAB 6\nend\n")
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "30 7" and lines[-1] == "end" and len(lines) == 32
    for line in lines[1:-1]:
        word, number = line.split()
        assert word in {"AB", "CD"} and 4 <= int(number) <= 9


def test_lists_of_the_counted_length_all_grow_and_other_lines_stay() -> None:
    text = scaled("4\n1 5 2 8\nx y z w\n10 20\n", factor=100)
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "400" and lines[3] == "10 20"
    assert len(lines[1].split()) == 400 and all(1 <= int(v) <= 8 for v in lines[1].split())
    assert len(lines[2].split()) == 400 and set(lines[2].split()) <= set("xyzw")


def test_a_counted_string_or_a_lone_word_grows_from_its_own_letters() -> None:
    counted = scaled("5\nBWBWW\n")
    assert counted is not None
    count, word = counted.split()
    assert count == "50" and len(word) == 50 and set(word) <= {"B", "W"}
    lone = scaled("abcab\n")
    assert lone is not None and len(lone.strip()) == 50 and set(lone.strip()) <= set("abc")


def test_inputs_without_a_shape_to_scale_give_none_and_the_cap_holds() -> None:
    assert scaled("2 2\n") is None  # two numbers: nothing counted
    assert scaled("1\n7\n") is None  # a count of one says nothing about the shape
    assert scaled("") is None
    big = scaled("3\n1 2 3\n", factor=10_000, cap=500)
    assert big is not None
    assert big.split("\n")[0] == "500" and len(big.split("\n")[1].split()) == 500
    # Deterministic for a given generator state.
    assert scale_input("3\n1 2 3\n", 10, random.Random(4)) == scale_input(
        "3\n1 2 3\n", 10, random.Random(4))


# Two accepted solutions of "print the number of distinct values": a quadratic one and a set.
SLOW = ("n = int(input())\nxs = input().split()\nseen = []\n"
        "for x in xs:\n    if x not in seen:\n        seen.append(x)\nprint(len(seen))\n")
FAST = "input()\nprint(len(set(input().split())))\n"
WRONG_ON_BIG = ("n = int(input())\nxs = input().split()\n"
                "print(len(set(xs)) if n < 50 else 0)\n")


def runner(tmp_path: Path, slow: str, fast: str, timeout_s: float = 20.0):
    """Runs the two programs on each input in real subprocesses, as the sandboxed driver does."""
    startup = min(_run(tmp_path, "pass\n", "", timeout_s)[1] for _ in range(3))

    def run(inputs: list[str]) -> list[tuple[SolutionRun, SolutionRun]]:
        result = []
        for text in inputs:
            pair = []
            for code in (slow, fast):
                out, wall = _run(tmp_path, code, text, timeout_s)
                pair.append(SolutionRun(out, max(wall - startup, 0.0)))
            result.append((pair[0], pair[1]))
        return result

    return run


def _run(folder: Path, code: str, stdin: str, timeout_s: float) -> tuple[str | None, float]:
    (folder / "main.py").write_text(code)
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "main.py"], input=stdin, cwd=folder,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, timeout_s
    return (done.stdout if done.returncode == 0 else None), time.perf_counter() - started


def test_the_chosen_input_is_one_both_solutions_agree_on_and_large_enough(tmp_path) -> None:
    public = "5\n1 2 1 3 2\n"
    chosen = choose_scaled_input(public, runner(tmp_path, SLOW, FAST), outputs_match)
    assert chosen is not None and chosen.factor in FACTORS
    count = int(chosen.text.split()[0])
    assert count == 5 * chosen.factor
    # What a candidate must print there: the distinct values of the scaled list (1..3).
    assert chosen.expected == "3\n"
    # Grown until the slow solution works enough to time, or to the largest factor.
    assert chosen.original_work_s >= TARGET_WORK_S or chosen.factor == FACTORS[-1]


def test_solutions_that_disagree_give_no_input_or_the_last_size_they_agreed_on(tmp_path) -> None:
    public = "5\n1 2 1 3 2\n"
    # They disagree from the first factor on (50 items): no scaled input.
    assert choose_scaled_input(public, runner(tmp_path, FAST, WRONG_ON_BIG), outputs_match) is None
    # Agreeing at 10x only when the count stays under 60: the 10x input is kept.
    wrong_from_100 = WRONG_ON_BIG.replace("n < 50", "n < 60")
    chosen = choose_scaled_input(public, runner(tmp_path, SLOW, wrong_from_100), outputs_match)
    assert chosen is not None and chosen.factor == 10
    # A solution that times out at a larger size keeps the size before it as well.
    sleepy = FAST.replace("input()\n", "import time\nn = int(input())\n"
                          "time.sleep(5 if n > 60 else 0)\n", 1)
    chosen = choose_scaled_input(public, runner(tmp_path, SLOW, sleepy, timeout_s=2.0),
                                 outputs_match)
    assert chosen is not None and chosen.factor == 10


def test_lines_as_wide_as_the_count_after_it_are_lists_not_items() -> None:
    # p03559's shape: N, then three lists of N values (not N item lines and a third line).
    text = scaled("2\n1 5\n2 4\n3 6\n")
    assert text is not None
    assert [len(line.split()) for line in text.splitlines()] == [1, 20, 20, 20]
