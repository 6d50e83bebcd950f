"""Rewrite rules by anti-unification: learned from pairs, generalized, applied to functions
with other names and containers, and served as candidates (``--sources replay``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from perfrl.memory.patterns import RewriteRule, apply_rule, generalize, rule_from_pair
from perfrl.memory.rules_store import load_rules
from perfrl.sources.replay import ReplayCandidateSource

FIRST = ('''
def evens_doubled(values):
    out = []
    for v in values:
        if v % 2 == 0:
            out.append(v * 2)
    return out
''', '''
def evens_doubled(values):
    return [v * 2 for v in values if v % 2 == 0]
''')

SECOND = ('''
def long_words(words, n):
    picked = []
    for w in words:
        if len(w) > n:
            picked.append(w.upper())
    return picked
''', '''
def long_words(words, n):
    return [w.upper() for w in words if len(w) > n]
''')

THIRD = '''
def overdue_ids(invoices: dict, today):
    """Ids of invoices past their due date."""
    # Walk every invoice once.
    late = []
    for key in invoices:
        if invoices[key]["due"] < today:
            late.append(str(key))
    return late
'''


def _run(source: str, name: str, *args):
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), "<test>", "exec"), namespace)  # noqa: S102 - ours
    return namespace[name](*args)


def test_a_pattern_from_two_pairs_rewrites_a_third_function_with_other_names():
    first, second = rule_from_pair(*FIRST, "a"), rule_from_pair(*SECOND, "b")
    assert first is not None and second is not None
    rule = generalize(first, second)
    assert rule is not None
    (rewritten,) = apply_rule(rule, THIRD)
    assert "return [str(key) for key in invoices if invoices[key]['due'] < today]" in rewritten
    # Everything outside the matched statements is kept byte for byte (docstring, comment).
    assert rewritten.startswith(textwrap.dedent(THIRD).split("    late = []")[0])
    invoices = {1: {"due": 3}, 2: {"due": 9}, "x": {"due": 1}}
    assert _run(rewritten, "overdue_ids", invoices, 5) == _run(THIRD, "overdue_ids", invoices, 5)


def test_a_set_container_and_a_method_match_too():
    rule = rule_from_pair(*FIRST)
    method = textwrap.indent(textwrap.dedent('''
        class Inbox:
            def unread(self, messages):
                found = []
                for m in messages:
                    if not m.read:
                        found.append(m.subject)
                return found
    '''), "")
    method_src = "\n".join(method.splitlines()[2:])  # the def, indented as in its class
    (rewritten,) = apply_rule(rule, method_src)
    assert rewritten.startswith("def unread(self, messages):")
    assert "return [m.subject for m in messages if not m.read]" in rewritten


def test_rules_survive_json_and_do_not_match_other_shapes():
    rule = rule_from_pair(*FIRST, "origin")
    again = RewriteRule.from_json(json.loads(json.dumps(rule.to_json())))
    assert again.key() == rule.key() and again.origin == "origin"
    other = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    assert apply_rule(again, other) == []


def test_pairs_that_change_the_signature_or_nothing_teach_no_rule():
    assert rule_from_pair(FIRST[0], FIRST[0]) is None
    assert rule_from_pair(FIRST[0], FIRST[1].replace("(values)", "(values, extra)")) is None
    assert generalize(rule_from_pair(*FIRST),
                      rule_from_pair("def f(x):\n    y = []\n    y.append(x)\n    y.sort()\n"
                                     "    return y\n",
                                     "def f(x):\n    return [x]\n")) is None


def test_the_shipped_seed_rules_load_and_serve_candidates(example_project):
    rules = load_rules()
    assert len(rules) >= 20
    from perfrl.engine.locate import locate_function

    target = locate_function("inventory/reports.py::render_lines", project_root=example_project)
    candidates = list(ReplayCandidateSource(rules).generate(target, 8))
    assert candidates and all(c.source == "replay" for c in candidates)
    assert all(c.code.startswith("def render_lines(") for c in candidates)


@pytest.mark.timeout(600)
def test_replay_gives_a_verified_faster_rewrite_end_to_end(tmp_path):
    project = tmp_path / "shop"
    (project / "shop").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "orders.py").write_text(textwrap.dedent('''\
        def customers_in_order(emails):
            """Each customer's e-mail once, in the order they first ordered."""
            customers = []
            for email in emails:
                if email not in customers:
                    customers.append(email)
            return customers
    '''))
    (project / "tests" / "test_orders.py").write_text(textwrap.dedent('''\
        from shop.orders import customers_in_order


        def test_customers():
            emails = [f"c{i % 1500}@shop.test" for i in range(6000)]
            assert customers_in_order(emails)[:2] == ["c0@shop.test", "c1@shop.test"]
            assert len(customers_in_order(emails)) == 1500
    '''))
    run = subprocess.run(
        [sys.executable, "-m", "perfrl", "optimize", "shop/orders.py::customers_in_order",
         "--sources", "replay", "--python", sys.executable, "--json"],
        cwd=project, capture_output=True, text=True, timeout=600,
        env={"PERFRL_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    report = json.loads(run.stdout)
    best = report["candidates"][report["best"]] if report["best"] is not None else None
    assert run.returncode == 0, (run.stderr, [c["reason"] for c in report["candidates"]])
    assert best["source"] == "replay" and best["verdict"] == "faster"


def _real_pair(name: str, transform: str, slow: str, fast: str) -> dict:
    return {"id": f"pkg:m.py:{name}:1:{transform}", "transforms": [transform],
            "slow_code": slow, "fast_code": fast, "slow": slow, "fast": fast}


def test_rules_learnt_from_real_pairs_generalise_and_drop_deoptimiser_guards(tmp_path):
    import json

    from perfrl_train.patterns import learn_real_rules

    loops = [("names_of", "users", "u", "u.name", "u.active"),
             ("ids_of", "rows", "row", "row['id']", "row['id'] > 0"),
             ("sizes", "files", "f", "f.size", "not f.hidden")]
    rows = [_real_pair(
        name, "listcomp_to_loop",
        f"def {name}({seq}):\n    out = []\n    for {var} in {seq}:\n        if {cond}:\n"
        f"            out.append({elt})\n    return out\n",
        f"def {name}({seq}):\n    out = [{elt} for {var} in {seq} if {cond}]\n    return out\n")
        for name, seq, var, elt, cond in loops]
    # The de-optimiser's min -> sorted keeps min's ValueError with a guard no one writes.
    rows += [_real_pair(
        name, "min_to_sorted",
        f"def {name}(xs):\n    s = sorted({arg})\n    if not s:\n"
        "        raise ValueError('min() arg is an empty sequence')\n    best = s[0]\n"
        "    return best\n",
        f"def {name}(xs):\n    best = min({arg})\n    return best\n")
        for name, arg in (("lo", "xs"), ("first", "set(xs)"), ("low", "xs[1:]"))]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    learned = learn_real_rules(path)
    assert {rule.origin for rule, _ in learned} == {"listcomp_to_loop"}
    assert all(support >= 2 for _, support in learned)
    # A fourth function, written by hand with other names and expressions, gets the rewrite.
    target = ("def emails(accounts):\n    out = []\n    for a in accounts:\n"
              "        if a.verified:\n            out.append(a.email.lower())\n    return out\n")
    rewrites = {code for rule, _ in learned for code in apply_rule(rule, target)}
    assert ("def emails(accounts):\n    out = [a.email.lower() for a in accounts if a.verified]\n"
            "    return out\n") in rewrites
