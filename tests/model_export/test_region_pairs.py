"""Region pairs (model_export/perfrl_train/data/region_pairs.py): real-code pairs cut down to
the loop region that holds their change, read exactly as the server reads a region."""

from __future__ import annotations

import ast
import json
import textwrap

from perfrl.sources.abstraction import model_input, names_kept_for
from perfrl.sources.regions import extract_regions, region_function
from perfrl_train.data.corpus import normalised_key
from perfrl_train.data.deopt import deoptimize_source
from perfrl_train.data.real_pairs import pairs_of_row
from perfrl_train.data.region_pairs import REGION_ID_PREFIX, main, region_pair, region_rows

MODULE = textwrap.dedent('''
    import re

    WORD = re.compile(r"[a-z]+")


    def tally(lines, stop):
        """Lower-case words of the lines before ``stop``, and how many lines were read."""
        read = 0
        if stop is None:
            stop = len(lines)
        words = []
        for line in lines[:stop]:
            words.extend(WORD.findall(line.lower()))
        read = stop
        return words, read
''').lstrip()
FUNCTION = MODULE[MODULE.index("def tally"):]


def _random():
    import random
    return random.Random(0)


def test_the_region_holds_the_change_and_splices_back_to_the_fast_function():
    slow, fast = deoptimize_source(FUNCTION, ["extend_to_append_loop"])
    assert slow != fast
    found = region_pair(slow, fast)
    assert found is not None
    region, slow_function, fast_function = found
    assert slow_function.startswith("def tally(lines, stop):\n    words = []\n")
    assert "words.extend(WORD.findall(line.lower()))" in fast_function
    assert "words.append(" in slow_function and "extend" not in slow_function
    # Nothing outside the region is in either side: the `if stop is None` lines stay out.
    assert "if stop is None" not in slow_function + fast_function
    assert (region.start_line, region.end_line) == (6, 9)  # the loop nests one more in slow


def test_a_hoisted_invariant_inserted_before_the_region_belongs_to_it():
    fast = textwrap.dedent('''
        def shout(words, suffix):
            out = []
            tail = suffix.upper()
            for word in words:
                out.append(word + tail)
            return out
    ''').lstrip()
    slow = fast.replace("    tail = suffix.upper()\n", "").replace("word + tail",
                                                                  "word + suffix.upper()")
    found = region_pair(slow, fast)
    assert found is not None
    _, slow_function, fast_function = found
    assert slow_function.startswith("def shout(words, suffix):")
    assert "tail = suffix.upper()" in fast_function


def test_no_pair_for_a_change_outside_every_region_or_a_read_of_what_the_region_lacks():
    outside = FUNCTION.replace("stop = len(lines)", "stop = len(lines) + 0")
    assert region_pair(outside, FUNCTION) is None  # the slow side differs outside the loop
    # The fast lines read `read`, set before the region and not among what it receives.
    reads_more = FUNCTION.replace("words.extend(WORD.findall(line.lower()))",
                                  "words.extend(WORD.findall(line.lower())[read:])")
    assert region_pair(FUNCTION, reads_more) is None
    assert region_pair(FUNCTION, FUNCTION) is None  # nothing changed


def test_rows_read_as_the_server_reads_the_region_and_apply_back_exactly(tmp_path):
    kept = sorted(names_kept_for("identifiers-v2", MODULE, FUNCTION))
    row = {"id": "pypi:demo:m.py:tally:6", "package": "pypi:demo", "licence": "MIT",
           "path": "m.py", "qualname": "tally", "code": FUNCTION, "kept": kept}
    pairs = list(pairs_of_row(row, _random()))
    assert pairs
    from collections import Counter
    report: Counter[str] = Counter()
    rows = list(region_rows(pairs, report))
    assert rows and report["written"] == len(rows)
    for region_row, pair in zip(rows, [p for p in pairs if region_pair(p["slow_code"],
                                                                        p["fast_code"])]):
        assert region_row["id"] == REGION_ID_PREFIX + pair["id"]
        assert region_row["transforms"] == pair["transforms"]
        # What the server sends the model for this region of the slow function: the same text.
        region = next(r for r in extract_regions(pair["slow_code"])
                      if [r.start_line, r.end_line] == region_row["region"])
        served = region_function(region, "tally")
        served_text, _ = model_input(served, "identifiers-v2",
                                     names_kept_for("identifiers-v2", MODULE, served))
        assert served_text == region_row["slow"]
        assert "WORD" in region_row["slow"]  # a module name reaches the model as written
        assert normalised_key(region_row["fast"]) is not None

    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    assert main(["--pairs", str(pairs_file), "--out", str(tmp_path / "r" / "train.jsonl")]) == 0
    written = [json.loads(line) for line in (tmp_path / "r" / "train.jsonl").read_text()
               .splitlines()]
    assert [r["id"] for r in written] == [r["id"] for r in rows]
    assert all(ast.parse(r["slow"]) and ast.parse(r["fast"]) for r in written)


def test_a_synthetic_row_is_cut_from_its_sides_written_back_with_its_own_table():
    from collections import Counter

    slow = ('def v0(v1: list[str]) -> dict[str, int]:\n    "s0"\n    v2 = {}\n'
            '    for v3 in v1:\n        v2[v3] = v1.count(v3)\n    return v2\n')
    fast = ('def v0(v1: list[str]) -> dict[str, int]:\n    "s0"\n'
            '    from collections import Counter\n    return dict(Counter(v1))\n')
    row = {"id": "syn-list_count_in_loop-1-47", "origin": "synthetic", "slow": slow,
           "fast": fast, "meta": {"abstraction": {
               "names": {"v0": "tally", "v1": "words", "v2": "seen", "v3": "word"},
               "strings": {'"s0"': '"Count each word."'}}}}
    report: Counter[str] = Counter()
    [region_row] = region_rows([row], report)
    assert region_row["slow_code"].startswith("def tally(words: list[str]):\n    seen = {}\n")
    assert region_row["slow"] == ("def v0(v1: list[str]):\n    v2 = {}\n    for v3 in v1:\n"
                                  "        v2[v3] = v1.count(v3)\n    return v2\n")
    assert region_row["fast"] == ("def v0(v1: list[str]):\n    from collections import Counter\n"
                                  "    return dict(Counter(v1))\n")
    assert region_row["id"] == REGION_ID_PREFIX + row["id"]
