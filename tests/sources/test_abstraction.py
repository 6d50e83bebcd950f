"""Identifier abstraction (server/perfrl/sources/abstraction.py) and the spec field that asks
for it."""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from pathlib import Path

import pytest

from perfrl.model_contract import ModelContractError, ModelSpec
from perfrl.sources.abstraction import abstract, concretize, model_input, model_output

ROOT = Path(__file__).resolve().parents[2]

FUNCTION = textwrap.dedent('''
    import re

    def missing_skus(wanted, products, *, limit=10):
        """SKUs not carried."""  # a comment stays
        carried = [product["sku"] for product in products]
        pattern = re.compile(r"[A-Z]+")
        out = sorted(wanted, key=lambda sku: sku.lower(), reverse=True)
        return [sku for sku in out if sku not in carried and pattern.match(sku)][:limit]
''').lstrip()


def test_round_trip_is_exact_on_the_example_project():
    for path in sorted((ROOT / "examples" / "inventory" / "inventory").glob("*.py")):
        code = path.read_text(encoding="utf-8")
        text, table = abstract(code)
        assert concretize(text, table) == code, path


def test_names_and_strings_become_placeholders_in_order_of_appearance():
    text, table = abstract(FUNCTION)
    assert text.splitlines()[2] == "def v0(v1, v2, *, v3=10):"
    assert table.names["v0"] == "missing_skus"
    assert [table.names[f"v{i}"] for i in range(1, 4)] == ["wanted", "products", "limit"]
    assert '"s1"' in text and table.strings['"s1"'] == '"sku"'
    assert "# a comment stays" in text
    # Kept: keywords, builtins, attribute names, call keyword arguments, imported modules.
    for kept in ("import re", "re.compile(", "sorted(", "key=lambda", "reverse=True",
                 ".lower()", ".match("):
        assert kept in text, kept
    assert concretize(text, table) == FUNCTION


def test_the_rewritten_side_extends_the_table():
    slow = "def f(xs, ys):\n    return [x for x in xs if x in ys]\n"
    fast = "def f(xs, ys):\n    lookup = set(ys)\n    return [x for x in xs if x in lookup]\n"
    abstract_slow, table = abstract(slow)
    abstract_fast = table.extend(fast)
    assert abstract_slow == "def v0(v1, v2):\n    return [v3 for v3 in v1 if v3 in v2]\n"
    assert abstract_fast == (
        "def v0(v1, v2):\n    v4 = set(v2)\n    return [v3 for v3 in v1 if v3 in v4]\n"
    )
    assert concretize(abstract_fast, table) == fast


def test_a_string_is_one_placeholder_whatever_its_quotes():
    # A rewrite printed by ast.unparse (replay, rules) quotes "amount" as 'amount': the same
    # string, so the same placeholder; an f-string stays its own text.
    slow = 'def f(row):\n    return {"amount": row["amount"], "at": f"{row}"}\n'
    fast = "def f(row):\n    return {'amount': row['amount'], 'at': f'{row}', 'n': 1}\n"
    abstract_slow, table = abstract(slow)
    assert abstract_slow == 'def v0(v1):\n    return {"s0": v1["s0"], "s1": "s2"}\n'
    assert table.extend(fast) == 'def v0(v1):\n    return {"s0": v1["s0"], "s1": "s3", "s4": 1}\n'
    assert concretize(table.extend(fast), table) == \
        'def f(row):\n    return {"amount": row["amount"], "at": f\'{row}\', \'n\': 1}\n'


def test_placeholders_the_output_invents_get_fresh_names_that_clash_with_nothing():
    _text, table = abstract("def f(new_0, xs):\n    return new_0 + xs\n")
    output = "def v0(v1, v2):\n    v7 = v1\n    v9 = v2\n    return v7 + v9\n"
    assert concretize(output, table) == (
        "def f(new_0, xs):\n    new_1 = new_0\n    new_2 = xs\n    return new_1 + new_2\n"
    )


def test_code_that_already_uses_placeholder_names_is_refused():
    with pytest.raises(ValueError, match="placeholder"):
        abstract("def f(v0):\n    return v0\n")


def test_model_input_and_output_for_each_mode():
    assert model_input(FUNCTION, "none") == (FUNCTION, None)
    assert model_output("anything at all", None) == "anything at all"
    text, table = model_input(FUNCTION, "identifiers-v1")
    assert model_output(text, table) == FUNCTION
    # An output that does not even tokenize comes back untouched (and will be dropped).
    assert model_output('def v0(:\n    """unterminated', table) == 'def v0(:\n    """unterminated'



@pytest.mark.parametrize(
    "source",
    ['def f(x):\n    return """unterminated\n', "def f(x):\n    y = 1\n  return y\n",
     "def f(v1):\n    return v1\n"],
    ids=["does-not-tokenize", "bad-indent", "placeholder-like-name"],
)
def test_model_input_refuses_what_the_model_cannot_read_with_value_error(source):
    """One exception type for every input the model cannot read, so that callers (the
    server's model source, the evaluation) need to know only that one."""
    assert model_input(source, "none") == (source, None)
    with pytest.raises(ValueError):
        model_input(source, "identifiers-v1")

def test_spec_accepts_known_abstractions_only():
    spec = ModelSpec(input_abstraction="identifiers-v1").to_json()
    assert ModelSpec.from_json(spec).input_abstraction == "identifiers-v1"
    assert ModelSpec.from_json({k: v for k, v in spec.items() if k != "input_abstraction"}
                               ).input_abstraction == "none"
    with pytest.raises(ModelContractError, match="input_abstraction 'words-v9'"):
        ModelSpec.from_json({**spec, "input_abstraction": "words-v9"})


def test_module_scope_imports_the_function_uses_stay_as_written():
    from perfrl.sources.abstraction import module_imports_used

    module = textwrap.dedent('''
        import re
        import os.path
        import statistics as stats
        from collections import Counter, deque
        try:
            import numpy as np
        except ImportError:
            np = None
        LIMIT = 3

        def pick(words, deque=None):
            import json
            counts = Counter(words)
            out = [w for w in words if re.match("x", w) and os.path.isfile(w)]
            return json.dumps(out), stats.fmean(counts.values()), np, LIMIT, deque
    ''')
    function = module[module.index("def pick"):]
    used = module_imports_used(module, function)
    # deque is a parameter here, json a local import, LIMIT a constant: not module imports.
    assert used == {"re", "os", "stats", "Counter", "np"}
    text, table = model_input(function, "identifiers-v1", used)
    for kept in ("Counter(", "re.match(", "os.path.isfile(", "stats.fmean(", " np,"):
        assert kept in text, kept
    assert "LIMIT" not in text and "deque" not in text  # still placeholders
    assert model_output(text, table) == function
    # Without the module's names, they become placeholders (how it was before).
    plain, _ = model_input(function, "identifiers-v1")
    assert "re.match(" not in plain and "Counter(" not in plain
    assert module_imports_used("def broken(:", function) == frozenset()


def test_a_hostile_candidates_strings_cannot_break_the_table():
    """A failed candidate is written in the target's placeholders for the feedback round's
    prompt (``table.extend``): its string literals are read for their value, so a model's (an
    attacker's) text must not raise, hang or merge strings that differ. Invalid escapes, a
    megabyte of text, bytes equal to a str's text, f-strings and raw strings each stay what
    they are."""
    _, table = abstract('def f(x):\n    return x + "a"\n')
    hostile = ('def f(x):\n'
               '    s = "\\d\\q" + r"\\d\\w" + \'\\N{NOT A NAME}\'\n'
               '    big = "' + "z" * 1_000_000 + '"\n'
               '    return (b"a", "a", f"{x!r:>{10}}", \'a\', "\\x", u"a")\n')
    written = table.extend(hostile)
    back = concretize(written, table)

    def strings(code: str) -> list[str]:
        return [tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline)
                if tok.type == tokenize.STRING]

    # Mapped back, every literal is itself or one of the same value (the first spelling).
    for before, after in zip(strings(hostile), strings(back), strict=True):
        assert before == after or ast.literal_eval(before) == ast.literal_eval(after), before
    assert back.replace("u\"a\"", "\"a\"").replace("'a'", "\"a\"") == hostile.replace(
        "u\"a\"", "\"a\"").replace("'a'", "\"a\"")
    strings = set(re.findall(r'"s\d+"', written))
    # "a", 'a' and u"a" are one string; b"a" another; the rest each their own.
    assert written.count('"s0"') == 3 and len(strings) == 8, written[:300]
