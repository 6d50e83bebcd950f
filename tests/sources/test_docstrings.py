"""A function's docstring is kept out of the model's input and put back into its rewrites."""

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


def test_the_model_reads_no_docstring_and_its_strings_are_numbered_from_the_code():
    text, table = abstract(WITH_DOCSTRING)
    assert text.splitlines()[1].strip() == "# the scan"
    # The first string of the code is "s0", as in a training pair written without docstring.
    assert '"s0"' in text and table.strings['"s0"'] == '"sku"'
    assert concretize(text, table) == WITH_DOCSTRING


def test_a_served_rewrite_keeps_the_users_docstring():
    _, table = model_input(WITH_DOCSTRING, "identifiers")
    output = 'def v0(v1, v2):\n    v4 = set(v2)\n    return [v3 for v3 in v1 if v3["s0"] in v4]\n'
    rewrite = model_output(output, table)
    assert rewrite.startswith('def shipped(orders, skus):\n    """Orders whose SKU is in')
    assert 'new_0 = set(skus)' in rewrite and 'o["sku"] in new_0' in rewrite
    # A docstring the model writes (where its training targets had "s0") is not kept, and
    # its placeholder is not an invented string: the user's docstring takes its place.
    written = ('def v0(v1, v2):\n    "s5"\n    v4 = set(v2)\n'
               '    return [v3 for v3 in v1 if v3 in v4]\n')
    assert invented_strings(written, table) == []
    assert model_output(written, table).splitlines()[1] == '    """Orders whose SKU is in ``skus``.'
    assert '"s5"' not in model_output(written, table)
    # An abstraction of "none" shows the function as written, docstring included.
    assert model_input(WITH_DOCSTRING, "none") == (WITH_DOCSTRING, None)
