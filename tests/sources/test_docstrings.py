"""Every rewrite a model writes gets the original function's docstring, word for word."""

from __future__ import annotations

import pytest

from perfrl.sources.abstraction import (
    abstract,
    concretize,
    invented_strings,
    model_input,
    model_output,
)
from perfrl.sources.docstrings import restore_docstring, split_docstring

WITH_DOCSTRING = '''def shipped(orders, skus):
    """Orders whose SKU is in ``skus``.

    Keeps the order of ``orders``.
    """
    # the scan
    return [o for o in orders if o["sku"] in skus]
'''


def test_the_docstring_is_taken_out_and_put_back_word_for_word():
    code, docstring = split_docstring(WITH_DOCSTRING)
    assert '"""' not in code and "# the scan" in code
    assert docstring.startswith('    """Orders') and docstring.endswith('    """\n')
    assert restore_docstring(code, docstring) == WITH_DOCSTRING


@pytest.mark.parametrize("code", [
    'def f(a): return a\n',                                    # one-line body
    'def f(a):\n    """Only a docstring."""\n',                # nothing else to rewrite
    'def f(a):\n    "x" + a\n    return a\n',                  # a string in an expression
    'def f(a):\n    """d"""; return a\n',                      # code on the docstring's line
    'def f(a):\n    # first\n    """d"""\n    return a\n',     # would swap with the comment
    'x = 1\n',                                                  # not a function
    'def f(a:\n',                                               # does not tokenize
])
def test_other_shapes_keep_their_docstring_in_the_code(code):
    assert split_docstring(code) == (code, "")


def test_a_rewrite_gets_the_docstring_at_its_own_indentation_with_the_string_unchanged():
    _, docstring = split_docstring(WITH_DOCSTRING)
    rewrite = "def shipped(orders, skus):\n  wanted = set(skus)\n  return wanted\n"
    restored = restore_docstring(rewrite, docstring)
    lines = restored.splitlines()
    assert lines[1] == '  """Orders whose SKU is in ``skus``.'
    # The lines inside the literal are the docstring's own text: not re-indented.
    assert lines[3] == "    Keeps the order of ``orders``."
    assert lines[5] == "  wanted = set(skus)"
    compile(restored, "<rewrite>", "exec")


def test_a_rewrite_that_writes_its_own_docstring_or_a_one_line_body_is_left_alone():
    _, docstring = split_docstring(WITH_DOCSTRING)
    own = 'def shipped(orders, skus):\n    """Mine."""\n    return []\n'
    assert restore_docstring(own, docstring) == own
    assert restore_docstring("def shipped(o, s): return []\n", docstring) == (
        "def shipped(o, s): return []\n")


def test_the_model_reads_the_docstring_as_in_training_and_the_table_keeps_it():
    text, table = abstract(WITH_DOCSTRING)
    # The first string placeholder is the docstring, as in every training pair.
    assert text.splitlines()[1].strip() == '"s0"' and table.strings['"s1"'] == '"sku"'
    assert table.docstring.startswith('    """Orders') and concretize(text, table) == (
        WITH_DOCSTRING)


def test_a_served_rewrite_keeps_the_users_docstring_whatever_the_model_wrote():
    _, table = model_input(WITH_DOCSTRING, "identifiers")
    body = '    v4 = set(v2)\n    return [v3 for v3 in v1 if v3["s1"] in v4]\n'
    expected_start = 'def shipped(orders, skus):\n    """Orders whose SKU is in'
    # Without a docstring, with the original one, with a code string in its slot: the same.
    for docstring in ("", '    "s0"\n', '    "s1"\n', '    "s7"\n'):
        rewrite = model_output("def v0(v1, v2):\n" + docstring + body, table)
        assert rewrite.startswith(expected_start), rewrite
        assert rewrite.count('"""') == 2 and 'new_0 = set(skus)' in rewrite, rewrite
        assert 'o["sku"] in new_0' in rewrite and "s7" not in rewrite
    # A docstring the model writes is not an invented string, even when it is no string of
    # the input: it is replaced, not kept.
    assert invented_strings("def v0(v1, v2):\n" + '    "s7"\n' + body, table) == []
    # An abstraction of "none" shows the function as written, docstring included.
    assert model_input(WITH_DOCSTRING, "none") == (WITH_DOCSTRING, None)


def test_a_model_declared_to_read_no_docstring_gets_the_function_without_it():
    text, table = model_input(WITH_DOCSTRING, "identifiers", docstrings="omitted")
    assert text.splitlines()[1].strip() == "# the scan"
    # The code's first string is "s0", as in a training pair written without docstring.
    assert table is not None and table.strings['"s0"'] == '"sku"'
    assert concretize(text, table) == WITH_DOCSTRING
    # The other side of a pair (or a failed candidate) is written the same way.
    fast = WITH_DOCSTRING.replace("in skus]", "in set(skus)]")
    assert '"""' not in table.extend(fast) and '"s0"' in table.extend(fast)


def test_the_spec_says_which_and_knows_only_the_two_modes():
    from perfrl.model_contract import ModelContractError, ModelSpec

    spec = ModelSpec(input_abstraction="identifiers-v1").to_json()
    assert ModelSpec.from_json(spec).docstrings == "read"  # what every model was trained on
    assert ModelSpec.from_json({**spec, "docstrings": "omitted"}).docstrings == "omitted"
    with pytest.raises(ModelContractError, match="docstrings 'sometimes'"):
        ModelSpec.from_json({**spec, "docstrings": "sometimes"})


def test_a_hostile_output_cannot_hide_code_in_the_docstring_slot_or_drop_the_users():
    """The slot the original's docstring goes back into is only ever a lone string statement:
    code written on the docstring's line, or a triple-quoted "docstring" that closes early and
    runs code, stays in the candidate for the checks and the sandboxed verifier to see, and the
    user's docstring is put back without removing any of it."""
    _, table = model_input(WITH_DOCSTRING, "identifiers")
    body = "    return [v3 for v3 in v1 if v3 in v2]\n"
    on_its_line = 'def v0(v1, v2):\n    "s0"; __import__("os").system("touch /tmp/x")\n' + body
    rewrite = model_output(on_its_line, table)
    assert '__import__("os").system("touch /tmp/x")' in rewrite
    closes_early = ('def v0(v1, v2):\n    """doc""" + str(__import__("os").getpid())\n' + body)
    rewrite = model_output(closes_early, table)
    assert 'str(__import__("os").getpid())' in rewrite
    # A real docstring followed by a smuggled statement: the docstring is replaced, the
    # statement stays where the model put it.
    after = 'def v0(v1, v2):\n    "s0"\n    __import__("os").getpid()\n' + body
    rewrite = model_output(after, table)
    assert rewrite.count('"""Orders whose SKU') == 1 and '__import__("os").getpid()' in rewrite


def test_the_docstrings_placeholder_written_in_the_code_counts_as_invented():
    _, table = model_input(WITH_DOCSTRING, "identifiers")
    assert table.strings['"s0"'].startswith('"""Orders')
    # As a dict key (what a small model writes): prose, no string the code uses.
    misuse = 'def v0(v1, v2):\n    "s0"\n    return [v3 for v3 in v1 if v3["s0"] in v2]\n'
    assert invented_strings(misuse, table) == ['"s0"']
    # In its own slot it is the docstring, and the code's own strings are fine.
    fine = 'def v0(v1, v2):\n    "s0"\n    return [v3 for v3 in v1 if v3["s1"] in set(v2)]\n'
    assert invented_strings(fine, table) == []
