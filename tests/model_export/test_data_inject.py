"""Grown functions (perfrl_train.data.inject): the fast idiom written into real code, the
real code kept, the de-optimiser able to undo it, and both sides behaving alike by execution."""

from __future__ import annotations

import ast
import json
import random
import re
import subprocess
import sys

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from perfrl_train.data.deopt import deoptimize_source
from perfrl_train.data.deopt.behaviour import fuzz_inputs
from perfrl_train.data.executor import CallJob, run_calls, same_behaviour
from perfrl_train.data.inject import (
    inject_counter,
    inject_dict_guard,
    inject_empty_guard,
    inject_group,
    inject_list_guard,
    inject_reversed,
    inject_seen_set,
)

# Real-looking functions: loops over records (attributes, subscripts), nested loops, a
# comprehension, a loop under an `if`.
FUNCTIONS = [
    '''def open_orders(orders):
    """Orders not closed, in order."""
    found = []
    for order in orders:
        if order["status"] == "closed":
            continue
        found.append(order)
    return found
''',
    '''def lengths(words) -> list:
    return [len(word) for word in words]
''',
    '''def pairs(xs, ys):
    out = []
    if xs:
        for x in xs:
            for y in ys:
                out.append((x, y))
    return out
''',
    '''def totals(rows):
    total = 0
    names = []
    for name, amount in rows:
        total += amount
        names.append(name)
    return total, names
''',
]


_ADDED_TEST = re.compile(r" if [\w.\[\]'\"]+ in \w+_(set|lookup|index)(?=[\]})])")


def _parameters(code: str) -> list[ast.arg]:
    fn = ast.parse(code).body[0]
    assert isinstance(fn, ast.FunctionDef)
    return fn.args.args


def _grown_by(grow, sources: list[str], seeds: int = 6):
    """(source, grown) for each source and seed; every source must have a site."""
    for source in sources:
        for seed in range(seeds):
            grown = grow(source, random.Random(seed))
            assert grown is not None, source
            yield source, grown


def test_grown_function_keeps_the_real_code_and_adds_one_list_parameter():
    for source, grown in _grown_by(inject_list_guard, FUNCTIONS):
        before, after = _parameters(source), _parameters(grown)
        assert [a.arg for a in after[:-1]] == [a.arg for a in before]
        assert ast.unparse(after[-1].annotation) == "list[str]"
        # Every original line is still there, in order, apart from the header (and a
        # comprehension's added test).
        remaining = iter(_ADDED_TEST.sub("", line) for line in grown.splitlines()[1:])
        for line in source.splitlines()[1:]:
            assert any(line == other for other in remaining), (line, grown)
        assert len(grown.splitlines()) - len(source.splitlines()) in (1, 3)


def test_the_de_optimiser_undoes_what_was_grown():
    for _source, grown in _grown_by(inject_list_guard, FUNCTIONS):
        made = deoptimize_source(grown, ["set_of_name_to_scan"])
        assert made is not None, grown
        slow, fast = made
        assert fast == grown
        listed = _parameters(grown)[-1].arg
        assert "set(" not in slow and f" in {listed}" in slow, slow


def test_functions_without_a_place_for_the_idiom_are_left_alone():
    rng = random.Random(0)
    assert inject_list_guard("def f(x):\n    return x + 1\n", rng) is None  # no loop
    assert inject_list_guard("def f(xs, n=2):\n    for x in xs:\n        print(x)\n",
                             rng) is None  # a default
    assert inject_list_guard("def f(\n    xs,\n):\n    for x in xs:\n        print(x)\n",
                             rng) is None  # header over several lines
    assert inject_list_guard("def f(xs):\n    for x in xs: print(x)\n", rng) is None
    assert inject_list_guard("def f(xs):\n    for _ in xs:\n        pass\n",
                             rng) is not None  # the loop variable itself can be tested
    assert inject_list_guard("x = (", rng) is None


SEEN_FUNCTIONS = [
    '''def skus(orders):
    """Every SKU ordered, in order."""
    out = []
    for order in orders:
        for sku in order["lines"]:
            out.append(sku)  # as ordered
    return out
''',
    '''def firsts(rows):
    heads = []
    count = 0
    for row in rows:
        count += 1
        if row:
            heads.append(row[0])
    return heads, count
''',
]


def test_seen_set_guards_an_append_and_the_de_optimiser_scans_the_list_instead():
    for source in SEEN_FUNCTIONS:
        for seed in range(5):
            grown = inject_seen_set(source, random.Random(seed))
            assert grown is not None, source
            assert [a.arg for a in _parameters(grown)] == [a.arg for a in _parameters(source)]
            assert len(grown.splitlines()) == len(source.splitlines()) + 3
            made = deoptimize_source(grown, ["seen_set_to_list_scan"])
            assert made is not None, grown
            assert "set()" not in made[0] and ".add(" not in made[0]
    # A list with another method called, a value with a call in it, no list built empty.
    rng = random.Random(0)
    assert inject_seen_set("def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n"
                           "    out.sort()\n    return out\n", rng) is None
    assert inject_seen_set("def f(xs):\n    out = []\n    for x in xs:\n"
                           "        out.append(g(x))\n    return out\n", rng) is None
    assert inject_seen_set("def f(xs, out):\n    for x in xs:\n        out.append(x)\n",
                           rng) is None


EMPTY_GUARD_FUNCTIONS = [
    # A real min/max already there: only the guard is grown before it.
    '''def cheapest(quotes, fee):
    """The cheapest quote's price with the fee."""
    best = min(quotes, key=lambda quote: quote["cents"])
    return best["cents"] + fee
''',
    # None there: the extreme item is picked before a loop and skipped in it.
    '''def labels(orders, prefix):
    out = []
    for order in orders:
        out.append(prefix + order["sku"])
    return out
''',
]


def test_empty_guard_is_grown_and_the_de_optimiser_sorts_and_indexes_instead():
    forms = set()
    for source, grown in _grown_by(inject_empty_guard, EMPTY_GUARD_FUNCTIONS, seeds=12):
        before, after = _parameters(source), _parameters(grown)
        if len(after) > len(before):
            forms.add("returned when a flag asks")
        elif " is " in grown:
            forms.add("skipped in the loop")
        assert [a.arg for a in after[:len(before)]] == [a.arg for a in before]
        # At most one more: a flag asking for only the extreme item.
        assert len(after) == len(before) or (
            len(after) == len(before) + 1 and ast.unparse(after[-1].annotation) == "bool")
        assert re.search(r"\n( +)if not (quotes|orders):\n\1    raise IndexError\n", grown)
        # Every original line is still there, in order, apart from the header; where the
        # extreme item is returned in place of the loop, those before the loop.
        original = source.splitlines()[1:]
        if "    for " in source and "    for " not in grown:
            forms.add("returned instead of the loop")
            original = original[:next(k for k, line in enumerate(original) if "for " in line)]
            assert grown.rstrip().splitlines()[-1].lstrip().startswith("return m")
        remaining = iter(grown.splitlines()[1:])
        for line in original:
            assert any(line == other for other in remaining), (line, grown)
        made = deoptimize_source(grown, ["min_to_sorted_index"])
        assert made is not None, grown
        slow, fast = made
        assert fast == grown
        assert "IndexError" not in slow
        assert re.search(r"sorted\(\w+(, key=.*?)?(, reverse=True)?\)\[0\]", slow), slow
        assert "min(" not in slow and "max(" not in slow, slow
    assert forms == {"returned instead of the loop", "returned when a flag asks",
                     "skipped in the loop"}, forms
    # The transform needs the guard: a real min keeps its ValueError on an empty list.
    assert deoptimize_source(EMPTY_GUARD_FUNCTIONS[0], ["min_to_sorted_index"]) is None
    rng = random.Random(0)
    assert inject_empty_guard("def f(x):\n    return x + 1\n", rng) is None
    assert inject_empty_guard("def f(xs):\n    return min(xs[1:])\n", rng) is None
    assert inject_empty_guard("def f(xs, IndexError):\n    return min(xs)\n", rng) is None


def test_a_grown_extreme_item_is_always_picked_by_a_key_the_loop_reads():
    reads_a_method = ("def tags(words):\n    out = []\n    for word in words:\n"
                      "        out.append(word.lower())\n    return out\n")
    keys = set()
    for seed in range(16):
        grown = inject_empty_guard(reads_a_method, random.Random(seed))
        assert grown is not None
        keys.add(re.search(r"key=lambda \w+: (.*?)\)\n", grown).group(1))
    assert keys == {"word.lower()"}
    # A loop that reads nothing of its item has no key to copy: not grown.
    reads_nothing = ("def ids(items):\n    out = []\n    for item in items:\n"
                     "        out.append(item)\n    return out\n")
    assert all(inject_empty_guard(reads_nothing, random.Random(seed)) is None
               for seed in range(8))


REVERSED_FUNCTIONS = [
    # A comprehension over a parameter, with a condition, the rest of the function after it.
    '''def recent_ids(payments, limit):
    ids = [p["id"] for p in payments if p["ok"]]
    return ids[:limit]
''',
    # Over a list the function builds (a generator given to it could not be reversed).
    '''def labels(rows):
    kept = list(rows)
    return ", ".join([str(row) for row in kept])
''',
]


def test_reversed_is_grown_into_a_comprehension_and_undone_by_inserting_at_the_front():
    spellings = set()
    for source, grown in _grown_by(inject_reversed, REVERSED_FUNCTIONS, seeds=8):
        changed = [(a, b) for a, b in zip(source.splitlines(), grown.splitlines(), strict=True)
                   if a != b]
        assert len(changed) == 1, grown  # one line, the comprehension's iterable only
        before, after = changed[0]
        spelling = re.search(r"in (reversed\(\w+\)|\w+\[::-1\])", after).group(1)
        spellings.add(spelling.startswith("reversed"))
        assert after.replace(spelling, re.sub(r"reversed\((\w+)\)|(\w+)\[::-1\]", r"\1\2",
                                              spelling)) == before
        made = deoptimize_source(grown, ["reversed_map_to_insert_front"])
        assert made is not None, grown
        assert ".insert(0, " in made[0] and "reversed(" not in made[0] and "[::-1]" not in made[0]
    assert spellings == {True, False}
    rng = random.Random(0)
    # A generator's or a set's name is not a sequence; nor is a name the function rebinds.
    assert inject_reversed("def f(xs):\n    ys = (x for x in xs)\n    return [y for y in ys]\n",
                           rng) is None
    assert inject_reversed("def f(xs):\n    xs = set(xs)\n    return [x for x in xs]\n",
                           rng) is None
    assert inject_reversed("def f(xs, reversed):\n    return [x for x in xs]\n", rng) is None


DICT_FUNCTIONS = [
    # A loop variable (looked up itself, or remapped) and a record's attribute.
    '''def tag_line(tags, sep):
    out = []
    for tag in tags:
        out.append(tag.strip())
    return sep.join(out)
''',
    '''def total(lines) -> int:
    cents = 0
    for line in lines:
        cents += line["cents"]
    return cents
''',
]


def test_dict_guard_adds_a_mapping_and_the_de_optimiser_lists_its_keys_for_each_test():
    forms = set()
    for source, grown in _grown_by(inject_dict_guard, DICT_FUNCTIONS, seeds=10):
        before, after = _parameters(source), _parameters(grown)
        assert [a.arg for a in after[:-1]] == [a.arg for a in before]
        assert ast.unparse(after[-1].annotation) == "dict[str, str]"
        mapping = after[-1].arg
        added = [line for line in grown.splitlines()[1:] if line not in source]
        assert added and all(mapping in line or line.strip() == "continue" for line in added)
        forms.add("remapped" if " else " in grown else "guarded")
        made = deoptimize_source(grown, ["dict_membership_to_keys_list"])
        assert made is not None, grown
        assert f"in list({mapping}.keys())" in made[0], made[0]
    assert forms == {"remapped", "guarded"}
    # No loop, or a header the parameter cannot be added to.
    rng = random.Random(0)
    assert inject_dict_guard("def f(xs):\n    return len(xs)\n", rng) is None
    assert inject_dict_guard("def f(*xs):\n    for x in xs:\n        print(x)\n", rng) is None


COUNTER_FUNCTIONS = [
    '''def late_orders(orders, limit):
    """Orders past their due day, at most ``limit``."""
    late = []
    for order in orders:
        if order["due"] < order["paid"]:
            late.append(order)
    return late[:limit]
''',
    '''def shelf_marks(books):
    marks = []
    for book in books:
        marks.append(book.shelf + "/" + book.code)
    return marks
''',
]


def test_a_tally_is_grown_with_counter_and_undone_into_a_counting_loop():
    forms, shapes = set(), set()
    for source, grown in _grown_by(inject_counter, COUNTER_FUNCTIONS, seeds=12):
        assert [a.arg for a in _parameters(grown)] == [a.arg for a in _parameters(source)]
        assert "from collections import Counter" in grown
        # The tally counts a value the loop reads of its item, never the item itself.
        tally = re.search(r"(?:return |(\w+) = )(dict\()?Counter\(\[(.+) for (\w+) in (\w+)\]\)",
                          grown)
        assert tally is not None, grown
        name, as_dict, value, item, items = tally.groups()
        assert value in source and value.startswith((f"{item}.", f"{item}[")), grown
        forms.add("returned" if name is None else "named" if as_dict else "skipped")
        made = deoptimize_source(grown, ["counter_to_dict_loop"], ["Counter"])
        assert made is not None, grown
        slow = made[0]
        assert "Counter" not in slow, slow
        assert re.search(rf"\n    for \w+ in {items}:\n", slow), slow
        shapes.add(next(shape for shape, mark in (("get", ".get("), ("else", "else:"),
                                                   ("zero", "] = 0"), ("rescan", "len(["))
                        if mark in slow))
    assert forms == {"returned", "named", "skipped"}
    assert len(shapes) >= 2
    rng = random.Random(0)
    # No loop over a plain name, a loop reading nothing of its item, or a function that
    # binds a name the tally needs.
    assert inject_counter("def f(xs):\n    return len(xs)\n", rng) is None
    assert inject_counter("def f(xs):\n    for x in xs:\n        print(x)\n", rng) is None
    assert inject_counter("def f(xs, Counter):\n    for x in xs:\n        print(x.a)\n",
                          rng) is None


def test_a_group_by_is_grown_in_one_pass_and_undone_into_a_scan_per_key():
    grouped_values = set()
    for source, grown in _grown_by(inject_group, COUNTER_FUNCTIONS, seeds=12):
        assert [a.arg for a in _parameters(grown)] == [a.arg for a in _parameters(source)]
        found = re.search(r"\n    (\w+) = \{\}\n    for (\w+) in (\w+):\n"
                          r"        \1\.setdefault\((.+), \[\]\)\.append\((.+)\)\n"
                          r"    return \1\n$", grown)
        assert found is not None, grown
        _, item, _, key, value = found.groups()
        # Grouped on a value the loop reads of its item; the item itself or another value.
        assert key in source and key.startswith((f"{item}.", f"{item}[")), grown
        assert value == item or (value in source and value != key), grown
        grouped_values.add("item" if value == item else "value")
        made = deoptimize_source(grown, ["group_to_rescan"])
        assert made is not None, grown
        assert "setdefault" not in made[0] and " not in " in made[0], made[0]
    assert grouped_values == {"item", "value"}
    rng = random.Random(0)
    # A loop inside another statement (the rest of the function would be cut from the middle
    # of it), a loop over a call, or a loop reading nothing of its item: not grown.
    assert inject_group("def f(xs):\n    if xs:\n        for x in xs:\n"
                        "            print(x.a)\n", rng) is None
    assert inject_group("def f(xs):\n    for x in g(xs):\n        print(x.a)\n", rng) is None
    assert inject_group("def f(xs):\n    for x in xs:\n        print(x)\n", rng) is None


def test_an_annotated_dict_parameter_is_a_dict_to_the_de_optimiser_and_the_fuzzer():
    code = ("def f(keys, table: dict[str, int]):\n    return [k for k in keys if k in table]\n")
    made = deoptimize_source(code, ["dict_membership_to_keys_list"])
    assert made is not None and "list(table.keys())" in made[0]
    # Unannotated, the parameter could be a list: left alone.
    assert deoptimize_source(code.replace(": dict[str, int]", ""),
                             ["dict_membership_to_keys_list"]) is None
    fuzzed = [ast.literal_eval(args) for args in fuzz_inputs(
        "def f(a, m: dict[str, str]):\n    return a\n", random.Random(1), count=30)]
    assert all(isinstance(values[1], dict) for values in fuzzed if len(values) == 2)


def test_a_list_of_strings_parameter_is_fuzzed_with_lists_of_strings():
    code = "def f(a, wanted: list[str]):\n    return a\n"
    for args in fuzz_inputs(code, random.Random(3), count=40):
        values = ast.literal_eval(args)
        if len(values) == 2:
            assert isinstance(values[1], list) and all(isinstance(v, str) for v in values[1])


_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
_values = st.sampled_from(["a", "abc", "", "x", "zz", 1, 2])
_records = st.fixed_dictionaries({"status": st.sampled_from(["open", "closed"]),
                                  "id": _values})
_strings = st.lists(st.sampled_from(["a", "abc", "", "x", "open", "closed"]), max_size=4)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=_NO_SHRINK)
@given(data=st.data())
def test_grown_and_de_optimised_sides_behave_alike(data):
    grows = [(inject_list_guard, "set_of_name_to_scan", source, inputs) for source, inputs in zip(
        FUNCTIONS, [
            st.tuples(st.lists(_records, max_size=5), _strings),
            st.tuples(st.lists(st.sampled_from(["a", "abc", "x"]), max_size=5), _strings),
            st.tuples(st.lists(_values, max_size=4), st.lists(_values, max_size=3), _strings),
            st.tuples(st.lists(st.tuples(_values, st.integers(0, 9)), max_size=4), _strings),
        ], strict=True)]
    grows += [(inject_seen_set, "seen_set_to_list_scan", source, inputs) for source, inputs in zip(
        SEEN_FUNCTIONS, [
            st.tuples(st.lists(st.fixed_dictionaries({"lines": st.lists(_values, max_size=3)}),
                               max_size=4)),
            st.tuples(st.lists(st.lists(_values, max_size=2), max_size=5)),
        ], strict=True)]
    priced = st.fixed_dictionaries({"cents": st.integers(0, 5), "sku": _values.map(str)})
    grows += [(inject_empty_guard, "min_to_sorted_index", source, inputs) for source, inputs in zip(
        EMPTY_GUARD_FUNCTIONS, [
            st.tuples(st.lists(priced, max_size=5), st.integers(0, 9)),
            st.tuples(st.lists(priced, max_size=5), st.sampled_from(["", "#"]), st.booleans()),
        ], strict=True)]
    grows += [(inject_reversed, "reversed_map_to_insert_front", source, inputs)
              for source, inputs in zip(REVERSED_FUNCTIONS, [
                  st.tuples(st.lists(st.fixed_dictionaries({"id": _values, "ok": st.booleans()}),
                                     max_size=5), st.integers(0, 6)),
                  st.tuples(st.lists(_values, max_size=5)),
              ], strict=True)]
    mappings = st.dictionaries(st.sampled_from(["a", "abc", "x", " a "]),
                               st.sampled_from(["b", ""]), max_size=3)
    grows += [(inject_dict_guard, "dict_membership_to_keys_list", source, inputs)
              for source, inputs in zip(DICT_FUNCTIONS, [
                  st.tuples(st.lists(st.sampled_from(["a", " abc", "x "]), max_size=4),
                            st.sampled_from([",", ""]), mappings),
                  st.tuples(st.lists(priced, max_size=4), mappings),
              ], strict=True)]
    dated = st.fixed_dictionaries({"due": st.integers(0, 3), "paid": st.integers(0, 3)})
    grows += [(inject_counter, "counter_to_dict_loop", COUNTER_FUNCTIONS[0],
               st.tuples(st.lists(dated, max_size=5), st.integers(0, 4)))]
    grows += [(inject_group, "group_to_rescan", COUNTER_FUNCTIONS[0],
               st.tuples(st.lists(dated, max_size=5), st.integers(0, 4)))]
    jobs, cases = [], []
    for grow, transform, source, inputs in grows:
        grown = grow(source, random.Random(data.draw(st.integers(0, 99))))
        assert grown is not None
        made = deoptimize_source(grown, [transform])
        assert made is not None
        # A flag may or may not have been grown: each call passes as many values as it takes.
        arity = len(_parameters(grown))
        batch = [repr(tuple(args)[:arity])
                 for args in data.draw(st.lists(inputs, min_size=3, max_size=6))]
        entry = ast.parse(grown).body[0].name  # type: ignore[attr-defined]
        jobs += [CallJob(grown, entry, batch), CallJob(made[0], entry, batch)]
        cases.append((grown, made[0], batch))
    results = run_calls(jobs)
    for k, (grown, slow, batch) in enumerate(cases):
        fast_out, slow_out = results[2 * k], results[2 * k + 1]
        for args, a, b in zip(batch, fast_out, slow_out, strict=True):
            if not a.ok and "unhashable" in (a.error or ""):
                continue  # the documented exception: a set cannot hold a dict record
            if not a.ok and a.exc_type in ("IndexError", "TypeError"):
                # An empty list, or records compared without a key: both sides fail alike.
                assert same_behaviour(a, b), (args, slow, a, b)
                continue
            assert a.ok, (grown, args, a)
            assert same_behaviour(a, b), (args, slow, a, b)


def test_command_writes_grown_corpus_rows(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": f"pkg:m.py:f{i}:1", "package": "pkg", "licence": "MIT", "path": "m.py",
             "qualname": "f", "code": code, "abstract": "", "kept": ["len"]}
            for i, code in enumerate([*FUNCTIONS, "def f(x):\n    return x\n"])]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "grown.jsonl"
    done = subprocess.run([sys.executable, "-m", "perfrl_train.data.inject", "--corpus",
                           str(corpus), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    grown = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in grown] == [f"pkg:m.py:f{i}:1:inject" for i in range(4)]
    assert all(row["kept"] == ["len"] and row["licence"] == "MIT" for row in grown)
    missing = subprocess.run([sys.executable, "-m", "perfrl_train.data.inject", "--corpus",
                              str(tmp_path / "nope.jsonl"), "--out", str(out)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
