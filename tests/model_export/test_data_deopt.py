"""De-optimising transforms keep behaviour (checked by executing both forms in a subprocess)."""

from __future__ import annotations

import ast
import textwrap

import pytest

from perfrl_train.data.deopt import TRANSFORMS, deoptimize_source
from perfrl_train.data.deoptimize import (
    build_deoptimized_pairs,
    deoptimize,
    extract_candidates,
)
from perfrl_train.data.executor import CallJob, run_calls, same_behaviour

# (transform, real-looking function, inputs); each function uses the construct in a
# statement where the transform may apply.
CASES = [
    ("listcomp_to_loop",
     "def f(xs, k):\n    ys = [x * k for x in xs if x % 2]\n    return len(ys), ys\n",
     ["([1, 2, 3], 2)", "([], 5)"]),
    ("setcomp_to_loop",
     "def f(words):\n    return sorted({w.lower() for w in words})\n",
     ["(['A', 'bb', 'a'],)", "([],)"]),
    ("dictcomp_to_loop",
     "def f(words):\n    return sorted({w.lower(): len(w) for w in words}.items())\n",
     ["(['A', 'bb', 'a'],)", "([],)"]),
    ("sum_to_loop",
     "def f(xs):\n    return 1 + sum(xs)\n",
     ["([1, -2, 3],)", "([],)", "([1.5, 2],)"]),
    ("minmax_to_loop",
     "def f(xs):\n    m = max(xs)\n    return m, min(xs)\n",
     ["([3, 1, 3, 2],)", "([],)", "(['b', 'a'],)"]),
    ("min_to_sorted",
     "def f(xs):\n    return min(xs, key=abs), max(xs)\n",
     ["([3, -1, 1, 2],)", "([5],)"]),
    ("min_to_sorted_index",
     "def f(quotes, n):\n    if not quotes:\n        raise IndexError\n"
     "    best = max(quotes, key=lambda q: q['cents'])\n    return best['id'] + n\n",
     ["([{'cents': 3, 'id': 1}, {'cents': 9, 'id': 2}, {'cents': 9, 'id': 3}], 1)",
      "([], 2)"]),
    ("reversed_map_to_insert_front",
     "def f(payments, tag):\n    ids = [p['id'] + tag for p in reversed(payments) if p['ok']]\n"
     "    return ids, [q['id'] for q in payments[::-1]]\n",
     ["([{'id': 'a', 'ok': True}, {'id': 'b', 'ok': False}, {'id': 'c', 'ok': True}], '!')",
      "([], '')"]),
    ("loop_to_pop_queue",
     "def f(holds, copies):\n    left = dict(copies)\n    filled = []\n"
     "    for member, isbn in holds:\n        if left.get(isbn, 0) <= 0:\n            continue\n"
     "        left[isbn] -= 1\n        filled.append(member)\n        if len(filled) > 2:\n"
     "            break\n    else:\n        filled.append('all')\n    return filled, holds\n",
     ["([(1, 'a'), (2, 'b'), (3, 'a'), (4, 'a')], {'a': 2, 'b': 1})",
      "([(1, 'a'), (2, 'a'), (3, 'a'), (4, 'a')], {'a': 9})", "([], {})"]),
    ("join_to_concat",
     "def f(parts):\n    return '<' + ', '.join(parts) + '>'\n",
     ["(['a', 'b', 'c'],)", "([],)", "([1],)"]),
    ("join_to_concat",
     "def f(s):\n    return ''.join(c for c in s if c.isalpha())\n",
     ["('a1b2',)", "('',)"]),
    ("builtin_collect_to_loop",
     "def f(xs):\n    return list(map(str, xs)), set(filter(None, xs)), list(xs)\n",
     ["([0, 1, 2],)", "([],)"]),
    ("enumerate_to_range_len",
     "def f(seq):\n    out = 0\n    for i, x in enumerate(seq):\n"
     "        out += i * x\n    return out, len(seq)\n",
     ["([4, 5, 6],)", "([],)"]),
    ("zip_to_index_loop",
     "def f(a, b):\n    out = []\n    for x, y in zip(a, b):\n        out.append(x - y)\n"
     "    return out, len(a), len(b)\n",
     ["([4, 5, 6], [1, 1])", "([], [1])"]),
    ("items_to_key_lookup",
     "def f(d):\n    total = 0\n    for k, v in d.items():\n        total += len(k) * v\n"
     "    return total\n",
     ["({'a': 1, 'bb': 2},)", "({},)"]),
    ("range_to_while",
     "def f(n):\n    acc = []\n    for i in range(1, n):\n        if i % 3 == 0:\n"
     "            break\n        acc.append(i * i)\n    return acc\n",
     ["(5,)", "(0,)", "(2,)"]),
    ("slice_iteration_to_index",
     "def f(xs):\n    out = 0\n    for x in xs[1:]:\n        out += x\n    return out\n",
     ["([1, 2, 3],)", "([],)", "((4, 5),)"]),
    ("set_literal_to_list",
     "def f(c):\n    return c in {'a', 'e', 'i', 'o'} or c not in {1, 2, 3}\n",
     ["('a',)", "(2,)", "('z',)"]),
    ("local_set_to_list",
     "def f(xs, ys):\n    seen = set(ys)\n    seen.add(0)\n"
     "    return [x for x in xs if x in seen]\n",
     ["([0, 1, 2, 3], [2, 3, 3])", "([], [])"]),
    ("local_dict_membership_to_scan",
     "def f(pairs, keys):\n    d = dict(pairs)\n    return [d[k] for k in keys if k in d]\n",
     ["([(1, 'a'), (2, 'b')], [2, 3])", "([], [1])"]),
    ("counter_to_dict_loop",
     "from collections import Counter\n"
     "def f(words):\n    c = Counter(words)\n    return sorted(c.items())\n",
     ["(['a', 'b', 'a'],)", "('hello',)", "([],)"]),
    ("defaultdict_to_dict",
     "from collections import defaultdict\n"
     "def f(pairs):\n    groups = defaultdict(list)\n    for k, v in pairs:\n"
     "        groups[k].append(v)\n    return sorted(groups.items())\n",
     ["([(1, 'a'), (2, 'b'), (1, 'c')],)", "([],)"]),
    ("deque_to_list",
     "from collections import deque\n"
     "def f(start, edges):\n    queue = deque([start])\n    seen = [start]\n"
     "    while queue:\n        node = queue.popleft()\n"
     "        for nxt in edges.get(node, ()):\n            if nxt not in seen:\n"
     "                seen.append(nxt)\n                queue.append(nxt)\n    return seen\n",
     ["(1, {1: [2, 3], 2: [4], 3: [4]})", "(5, {})"]),
    ("append_to_concat",
     "def f(xs):\n    out = []\n    for x in xs:\n        if x > 0:\n"
     "            out.append(x)\n        out.extend([x] * 2)\n    return out\n",
     ["([1, -2, 3],)", "([],)"]),
    ("bisect_to_scan",
     "import bisect\n"
     "def f(xs, v):\n    i = bisect.bisect_left(xs, v)\n    j = bisect.bisect_right(xs, v)\n"
     "    return i, j\n",
     ["([1, 2, 2, 3], 2)", "([], 1)", "([1, 3], 5)"]),
    ("hoisted_len_to_loop",
     "def f(xs):\n    n = len(xs)\n    i = 0\n    total = 0\n    while i < n:\n"
     "        total += xs[i]\n        i += 2\n    return total\n",
     ["([1, 2, 3],)", "([],)"]),
    ("alias_to_attribute",
     "def f(xs):\n    out = []\n    add = out.append\n    for x in xs:\n"
     "        add(x * 2)\n    return out\n",
     ["([1, 2],)", "([],)"]),
    ("hoisted_attribute_to_loop",
     "import math\n"
     "def f(xs):\n    pi = math.pi\n    return [x * pi for x in xs]\n"
     "def g(xs):\n    total = 0\n    pi = math.pi\n    for x in xs:\n        total += x * pi\n"
     "    return total\n",
     ["([1, 2],)", "([],)"]),
    ("regex_compile_to_call",
     "import re\n"
     "def f(lines):\n    pat = re.compile(r'(\\w+)=(\\d+)', re.I)\n    out = []\n"
     "    for line in lines:\n        m = pat.match(line)\n        if m:\n"
     "            out.append(m.groups())\n    return out, pat.sub('-', ' '.join(lines))\n",
     ["(['a=1', 'b', 'C=22'],)", "([],)"]),
    ("startswith_tuple_to_or",
     "def f(name):\n    return name.startswith(('_', 'test')), name.endswith(('.py', '.pyi'))\n",
     ["('_x.py',)", "('test_a',)", "('b.txt',)"]),
    ("fstring_to_format",
     "def f(name, n):\n    return f'{name!r}: {n:>4} {{braces}} {n + 1}'\n",
     ["('a', 3)", "('', -1)"]),
    ("early_exit_to_flag",
     "def f(xs, limit):\n    for i, x in enumerate(xs):\n        if x > limit:\n"
     "            return i\n    return -1\n",
     ["([1, 5, 9], 4)", "([], 0)", "([1], 3)"]),
    ("extend_to_append_loop",
     "def f(xs, ys):\n    out = list(xs)\n    out.extend(y * 2 for y in ys)\n    return out\n",
     ["([1], [2, 3])", "([], [])"]),
    ("invariant_into_loop",
     "def f(xs, banned):\n    out = []\n    blocked = set(banned)\n    for x in xs:\n"
     "        if x not in blocked:\n            out.append(x)\n    return out\n",
     ["([1, 2, 3], [2])", "([], [])"]),
    ("dict_display_to_call",
     "def f(a, b):\n    return {'first': a, 'second': [b]}\n",
     ["(1, 2)", "('x', None)"]),
    ("reversed_to_insert_front",
     "def f(xs, text):\n    ranked = sorted(xs)\n    for x in ranked[::-1]:\n"
     "        if x < 0:\n            break\n    return list(reversed(text)), ranked[::-1], x\n",
     ["([3, -1, 2], 'abc')", "([5], '')", "([-2, 0], 'z')"]),
    ("concat_to_rebinding",
     "def f(rows, sep):\n    text = ''\n    for name, qty in rows:\n"
     "        text += name + sep + str(qty) + '\\n'\n    return text\n",
     ["([('a', 1), ('b', 22)], ': ')", "([], ',')", "([('x', 0)], 1)"]),
    ("dict_membership_to_keys_list",
     "def f(prices, wanted):\n    total = 0\n    for sku in wanted:\n"
     "        if sku in prices:\n            total += prices[sku]\n"
     "    return total, [k for k, v in prices.items() if v > 1]\n",
     ["({'a': 2, 'b': 1}, ['a', 'c', 'a'])", "({}, ['x'])", "({1: 5}, [])"]),
    ("set_of_name_to_scan",
     "def f(orders, customer_ids):\n    wanted = set(customer_ids)\n    found = []\n"
     "    for order in orders:\n        if order[0] in wanted and order[1] not in wanted:\n"
     "            found.append(order)\n    return found, len(customer_ids)\n",
     ["([(1, 2), (2, 2), (3, 1)], [1, 3])", "([], [])", "([(1, 1)], (1,))"]),
    ("set_of_name_to_scan",
     "class Book:\n    def __init__(self, ids):\n        self.ids = ids\n\n"
     "def g(book, xs):\n    known = frozenset(book.ids)\n"
     "    return [x for x in xs if x not in known]\n",
     ["(Book([1, 2]), [2, 3, 1, 4])", "(Book(()), [])"]),
    # Both scan shapes (the key's spelling picks one), the loop's variable read after.
    ("group_to_rescan",
     "def f(books):\n    grouped = {}\n    for book in books:\n"
     "        grouped.setdefault(book[0], []).append(book[1])\n    return grouped, book\n",
     ["([('a', 1), ('b', 2), ('a', 3)],)", "([(1, 'x')],)"]),
    ("group_to_rescan",
     "def f(rows):\n    by = dict()\n    for r in rows:\n"
     "        by.setdefault(r['k'], []).append(r)\n    return by\n",
     ["([{'k': 1}, {'k': 2}, {'k': 1, 'v': 0}],)", "([],)"]),
    # A key whose shape is the re-scan per new key (len of a filtered comprehension).
    ("counter_to_dict_loop",
     "from collections import Counter\n"
     "def f(invoices):\n    return dict(Counter([x['customer'] for x in invoices]))\n",
     ["([{'customer': 'a'}, {'customer': 'b'}, {'customer': 'a'}],)", "([],)"]),
    ("seen_set_to_list_scan",
     "def f(orders):\n    seen = set()\n    skus = []\n    for order in orders:\n"
     "        for sku in order:\n            if sku in seen:\n                continue\n"
     "            seen.add(sku)\n            skus.append(sku)\n    return skus\n",
     ["([['a', 'b'], ['b', 'c', 'a']],)", "([],)", "([[1, 1.0, True]],)"]),
]


def _entry(source: str) -> str:
    """The function a case runs: the last ``def`` whose name is ``f`` or ``g`` (a case may
    define helpers and a second function for the transform to reach)."""
    names = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    return names[-1]


def _deoptimize_module(source: str, transform: str) -> str:
    """The module with every function the transform applies to de-optimised in place."""
    tree = ast.parse(source)
    changed = False
    for k, node in enumerate(tree.body):
        if not isinstance(node, ast.FunctionDef):
            continue
        done = deoptimize_source(ast.unparse(node), [transform])
        if done is not None:
            tree.body[k] = ast.parse(done[0]).body[0]
            changed = True
    assert changed, f"{transform} did not apply"
    return ast.unparse(tree) + "\n"


@pytest.mark.parametrize("transform, source, inputs", CASES)
def test_transform_changes_code_but_keeps_behaviour(transform, source, inputs):
    slow = _deoptimize_module(source, transform)
    assert ast.dump(ast.parse(slow)) != ast.dump(ast.parse(source))
    entry = _entry(source)
    fast_out, slow_out = run_calls([CallJob(source, entry, inputs), CallJob(slow, entry, inputs)])
    assert all(o.ok or o.exc_type for o in fast_out), fast_out
    for a, b in zip(fast_out, slow_out, strict=True):
        assert same_behaviour(a, b), (slow, a, b)


def test_range_to_while_steps_the_index_both_ways_real_code_does():
    """Written-out loops step their index with ``i += 1`` or ``i = i + 1`` (real slow code has
    both, and a model trained on one form leaves the other behind), each function always the
    same way, and both forms keep behaviour."""
    forms = {}
    for k in range(8):
        source = (f"def scaled_{k}(xs):\n    out = []\n    for i in range(len(xs)):\n"
                  f"        out.append(xs[i] * {k + 2})\n    return out\n")
        slow = _deoptimize_module(source, "range_to_while")
        assert slow == _deoptimize_module(source, "range_to_while")  # stable
        assert "while i < len(xs):" in slow
        forms[k] = "i += 1" if "i += 1" in slow else "i = i + 1" if "i = i + 1" in slow else ""
        inputs = ["([1, 2, 3],)", "([],)"]
        fast_out, slow_out = run_calls([CallJob(source, f"scaled_{k}", inputs),
                                        CallJob(slow, f"scaled_{k}", inputs)])
        for a, b in zip(fast_out, slow_out, strict=True):
            assert a.ok and same_behaviour(a, b), (slow, a, b)
    assert set(forms.values()) == {"i += 1", "i = i + 1"}, forms


def test_every_transform_is_covered_by_a_case():
    assert {t for t, _, _ in CASES} == set(TRANSFORMS)


def test_counting_loops_come_in_every_shape_and_rescan_only_a_plain_reference():
    from perfrl_train.data.deopt.common import Names
    from perfrl_train.data.deopt.tallies import dict_of_counter_to_loop

    def undone(source: str) -> str:
        fn = ast.parse(source).body[0]
        assert dict_of_counter_to_loop(fn, Names(fn))
        return ast.unparse(fn)

    shapes = set()
    for key in ("kind", "status", "customer", "ip", "sku", "path", "owner", "author"):
        made = undone(f"def f(self):\n    return dict(Counter([x.{key} for x in self.rows]))\n")
        shapes.add(next((shape for shape, mark in (("get", ".get("), ("else", "else:"),
                                                    ("rescan", "len(["))
                         if mark in made), "zero"))
        if "len([" in made:
            assert f"for other in self.rows if other.{key} == x.{key}" in made, made
    assert shapes == {"get", "else", "rescan", "zero"}, shapes
    # Items from a call may not come back the same a second time: never re-scanned.
    for key in ("kind", "status", "customer", "ip", "sku", "path", "owner", "author"):
        made = undone(f"def f(load):\n    return dict(Counter([x.{key} for x in load()]))\n")
        assert "len([" not in made and made.count("load()") == 1, made


def test_grouping_is_undone_into_both_scan_shapes_and_only_where_it_is_the_same():
    shapes = set()
    for key in ("author", "genre", "shelf", "year", "path", "status"):
        source = (f"def f(books):\n    grouped = {{}}\n    for book in books:\n"
                  f"        grouped.setdefault(book.{key}, []).append(book.title)\n"
                  f"    return grouped\n")
        made = deoptimize_source(source, ["group_to_rescan"])
        assert made is not None and "setdefault" not in made[0], made
        assert f"if book.{key} not in " in made[0], made[0]
        shapes.add("comprehension" if "if book." in made[0].split("grouped = {}")[1]
                   and "[book.title for book in books" in made[0] else "nested")
    assert shapes == {"comprehension", "nested"}
    fixed = ("def f(books, {init}):\n    grouped = {{}}\n    for book in {items}:\n"
             "        grouped.setdefault({key}, []).append(book)\n{more}    return grouped\n")
    unsafe = [
        {"items": "load(books)"},  # a call may not give the same items again
        {"key": "init"},  # a key not read from the item
        {"more": "        grouped.setdefault(0, []).append(book)\n"},
        {"key": "len(grouped)"},  # the key reads the dict being filled
    ]
    for change in unsafe:
        fields = {"init": "init", "items": "books", "key": "book.k", "more": ""} | change
        source = fixed.format(**fields)
        assert deoptimize_source(source, ["group_to_rescan"]) is None, source
    # A dict not empty before the loop: the scan would overwrite its lists.
    kept = ("def f(books):\n    grouped = {'a': [1]}\n    for book in books:\n"
            "        grouped.setdefault(book.k, []).append(book)\n    return grouped\n")
    assert deoptimize_source(kept, ["group_to_rescan"]) is None


def test_transform_skips_unsafe_sites():
    # The comprehension variable is also used outside: a loop would clobber it.
    leak = "def f(xs, x):\n    ys = [x for x in xs]\n    return x, ys\n"
    assert deoptimize_source(leak, ["listcomp_to_loop"]) is None
    # A loop whose body grows the list it walks (the copy would not see the new items), and
    # one over a call (which might never end, copied in full first): no queue.
    grows = "def f(xs):\n    for x in xs:\n        if x > 0:\n            xs.append(x - 1)\n"
    assert deoptimize_source(grows, ["loop_to_pop_queue"]) is None
    endless = ("def f(n):\n    import itertools\n    for i in itertools.count():\n"
               "        if i > n:\n            return i\n")
    assert deoptimize_source(endless, ["loop_to_pop_queue"]) is None
    # Inside a short-circuit the comprehension may not run at all: no hoisting.
    cond = "def f(xs):\n    return not xs or [1 / x for x in xs]\n"
    assert deoptimize_source(cond, ["listcomp_to_loop"]) is None
    # A call that runs before the comprehension in the same expression: order would change.
    order = "def f(xs, log):\n    return log.pop() + [x for x in xs]\n"
    assert deoptimize_source(order, ["listcomp_to_loop"]) is None
    # A set that escapes (returned) must stay a set.
    escapes = "def f(xs):\n    s = set(xs)\n    if 1 in s:\n        return s\n"
    assert deoptimize_source(escapes, ["local_set_to_list"]) is None
    # enumerate over something not known to be a sequence (a set, an iterator): no indexing.
    unknown = "def f(items):\n    for i, x in enumerate(items):\n        print(i, x)\n"
    assert deoptimize_source(unknown, ["enumerate_to_range_len"]) is None
    # A builtin the templates call is rebound: nothing is transformed.
    shadow = "def f(xs, len):\n    return [x for x in xs]\n"
    assert deoptimize_source(shadow, ["listcomp_to_loop"]) is None
    # A Counter read by subscript (0 for a missing key, KeyError on a dict): left alone.
    counter = "def f(ws):\n    c = Counter(ws)\n    return c['x']\n"
    assert deoptimize_source(counter, ["counter_to_dict_loop"], ["Counter"]) is None
    # A Counter of mapped getters: the imports it alone needed go, one still read stays.
    mapped = ("def f(rows):\n    from collections import Counter\n"
              "    from operator import itemgetter\n"
              "    c = Counter(map(itemgetter('k'), rows))\n"
              "    return dict(c), Counter(rows[0])\n")
    made = deoptimize_source(mapped, ["counter_to_dict_loop"], ["Counter"])
    assert made is not None and "itemgetter" not in made[0], made
    assert "from collections import Counter" in made[0] and "for row in rows:" in made[0]
    # A comprehension's item keeps its name, unless the function uses that name elsewhere.
    comp = ("def f(rows, row):\n    c = Counter([r.k for r in rows])\n"
            "    d = Counter([row.k for row in rows])\n    return dict(c), dict(d), row\n")
    made = deoptimize_source(comp, ["counter_to_dict_loop"], ["Counter"])
    assert made is not None and "for r in rows:" in made[0], made
    made = deoptimize_source(made[0], ["counter_to_dict_loop"], ["Counter"])
    assert made is not None and "for row in rows" not in made[0], made
    # dict(Counter(...)) returned or named: a plain dict either way, read however after; not
    # of a plain name (Counter of a mapping copies its counts, a loop would count its keys).
    returned = "def f(rows):\n    return dict(Counter([r['k'] for r in rows]))\n"
    made = deoptimize_source(returned, ["counter_to_dict_loop"], ["Counter"])
    assert made is not None and "return counts" in made[0] and "Counter" not in made[0], made
    named = ("def f(rows):\n    c = dict(Counter([r['k'] for r in rows]))\n"
             "    return c['a'], c\n")
    made = deoptimize_source(named, ["counter_to_dict_loop"], ["Counter"])
    assert made is not None and "c = {}" in made[0] and "c['a']" in made[0], made
    plain = "def f(rows):\n    return dict(Counter(rows))\n"
    assert deoptimize_source(plain, ["counter_to_dict_loop"], ["Counter"]) is None
    # A getter of several keys (a tuple per item) is not counted by a loop.
    pairs = ("def f(rows):\n    c = Counter(map(itemgetter('a', 'b'), rows))\n"
             "    return dict(c)\n")
    made = deoptimize_source(pairs, ["counter_to_dict_loop"], ["Counter"])
    assert made is None or "map(itemgetter" in made[0]
    # `xs[::-1]` of a parameter may be a string or a tuple: only lists it builds itself.
    param = "def f(xs):\n    return xs[::-1]\n"
    assert deoptimize_source(param, ["reversed_to_insert_front"]) is None
    # `text += a + b` outside a loop, or on a name that may not be a string: left alone.
    once = "def f(a, b):\n    text = ''\n    text += a + b\n    return text\n"
    assert deoptimize_source(once, ["concat_to_rebinding"]) is None
    numbers = ("def f(xs, total):\n    for x in xs:\n        total += x + 1\n"
               "    return total\n")
    assert deoptimize_source(numbers, ["concat_to_rebinding"]) is None
    # `in` against a name with no sign of being a dict (a list, a set): left alone.
    unknown_in = "def f(xs, allowed):\n    return [x for x in xs if x in allowed]\n"
    assert deoptimize_source(unknown_in, ["dict_membership_to_keys_list"]) is None
    # The list a set was made of changes between tests (appended to): the set is a snapshot.
    grows = ("def f(xs, ids):\n    wanted = set(ids)\n    for x in xs:\n"
             "        if x in wanted:\n            ids.append(x)\n    return ids\n")
    assert deoptimize_source(grows, ["set_of_name_to_scan"]) is None
    # The set is returned (not only tested): it must stay a set.
    kept = ("def f(xs, ids):\n    wanted = set(ids)\n    for x in xs:\n"
            "        if x in wanted:\n            pass\n    return wanted\n")
    assert deoptimize_source(kept, ["set_of_name_to_scan"]) is None
    # `seen` guards keys while the list gets something else: the list cannot answer for it.
    other = ("def f(rows):\n    seen = set()\n    out = []\n    for k, v in rows:\n"
             "        if k not in seen:\n            seen.add(k)\n            out.append(v)\n"
             "    return out\n")
    assert deoptimize_source(other, ["seen_set_to_list_scan"]) is None
    # The list also gets items that never went through `seen`.
    extra = ("def f(rows):\n    seen = set()\n    out = []\n    for k in rows:\n"
             "        if k not in seen:\n            seen.add(k)\n            out.append(k)\n"
             "    out.append(None)\n    return out\n")
    assert deoptimize_source(extra, ["seen_set_to_list_scan"]) is None
    with pytest.raises(KeyError, match="unknown transform"):
        deoptimize_source(cond, ["nope"])


def test_extract_candidates_inlines_pure_imports_and_constants(tmp_path):
    (tmp_path / "mod.py").write_text(
        textwrap.dedent("""
        import math
        import os
        _TABLE = (1, 2, 3)

        def uses_math(x):
            return [math.floor(v) for v in x] + list(_TABLE)

        def uses_os(p):
            return os.path.join(p, "x")

        def writes(p):
            print(p)

        class K:
            @staticmethod
            def helper(a, b=2):
                return sum(a) * b
    """)
    )
    cands = {c.name: c for c in extract_candidates(tmp_path)}
    assert set(cands) == {"uses_math", "helper"}
    src = ast.unparse(cands["uses_math"].node)
    assert "import math" in src and "_TABLE = (1, 2, 3)" in src
    assert cands["helper"].n_required == 1 and cands["helper"].n_params == 2
    slow = deoptimize(cands["uses_math"].node, "listcomp_to_loop")
    assert slow is not None and ".append(" in slow


@pytest.mark.slow
def test_stdlib_pairs_are_verified_real_functions():
    pairs, stats = build_deoptimized_pairs(seed=0)
    assert stats["candidates"] > 100
    assert len(pairs) >= 5 and stats["functions_used"] >= 5
    for p in pairs[:10]:
        assert p.origin == "deoptimized" and p.meta["module"]
        fast_out, slow_out = run_calls(
            [CallJob(p.fast, p.entry, p.inputs), CallJob(p.slow, p.entry, p.inputs)]
        )
        assert all(a.ok and same_behaviour(a, b) for a, b in zip(fast_out, slow_out, strict=True))
