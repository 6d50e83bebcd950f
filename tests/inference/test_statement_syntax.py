"""One logical line as a statement (server/perfrl/inference/statement_syntax.py): every
statement line of real functions is accepted; lines Python cannot read are not."""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import json.decoder
import textwrap

import pytest

from perfrl.inference.statement_syntax import line_prefix_viable, statement_parses


def _statement_lines(module) -> list[tuple[str, bool]]:
    """Each statement's first logical line in ``module``'s functions: (text, opens a block)."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt) or isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        body = getattr(node, "body", None)
        if body:
            # A compound statement's header: its lines up to the first of its body's.
            end = body[0].lineno - 1
            header = "\n".join(lines[node.lineno - 1:end])
            if header.rstrip().endswith(":"):
                found.append((header, True))
            # `else:` / `finally:` headers stand alone on their lines.
            for branch in ("orelse", "finalbody"):
                rest = getattr(node, branch, [])
                if rest and not isinstance(rest[0], ast.If):
                    clause = lines[rest[0].lineno - 2]
                    if clause.strip().endswith(":"):
                        found.append((clause, True))
        else:
            assert node.end_lineno is not None
            found.append(("\n".join(lines[node.lineno - 1:node.end_lineno]), False))
    return found


@pytest.mark.parametrize("module", [textwrap, json.decoder])
def test_every_statement_line_of_real_functions_is_accepted(module):
    found = _statement_lines(module)
    assert len(found) > 50
    refused = [text for text, opens in found if not statement_parses(text, opens)]
    assert refused == []


@pytest.mark.parametrize("line,opens", [
    ("    for item in items", False),
    ("    for item in items:", True),  # accepted: see below
    ("total = = 1", False),
    ("value = order.is", False),
    ("return [x for x in]", False),
    ("else", False),
    ("if x", False),
])
def test_lines_python_cannot_read_are_refused(line, opens):
    assert statement_parses(line, opens) == (line.rstrip().endswith(":") and opens)


def test_clauses_and_soft_keywords_are_judged_where_they_could_stand():
    assert statement_parses("        else:", True)
    assert statement_parses("elif a < b:", True)
    assert statement_parses("except (KeyError, IndexError) as exc:", True)
    assert statement_parses("finally:", True)
    assert not statement_parses("except KeyError as:", True)
    assert statement_parses("case [x, y]:", True)  # needs its `match`: accepted unread
    assert statement_parses("@functools.cache", False)
    assert statement_parses("x = 1if y else 2", False)  # a SyntaxWarning, not an error


@pytest.mark.parametrize("module", [textwrap, json.decoder, inspect, argparse, difflib])
def test_every_prefix_of_a_real_statement_line_can_still_end_as_one(module):
    refused = []
    for text, _ in _statement_lines(module):
        for cut in range(1, len(text) + 1):
            if not line_prefix_viable(text[:cut]):
                refused.append(text[:cut])
                break
    assert refused == []


@pytest.mark.parametrize("prefix", [
    "value = order.is.",  # a keyword as an attribute, once the word is whole
    "total = = ",
    "for item in items x:",
    "v2.extend(v4.is) +",
    "if a == b else:",
    "return [x for x in xs]]",
    'v3 = f("s1", "s1",\\_ [',  # a backslash before text: answered by one parse, not hundreds
])
def test_a_prefix_nothing_can_complete_is_refused(prefix):
    assert not line_prefix_viable(prefix)


def test_text_nested_past_what_the_parser_builds_is_refused_not_raised():
    # A hostile or runaway output: Python's parser raises RecursionError or MemoryError on
    # these, which would end the decoding (and the job) if they escaped.
    for text in ["x" + ".a" * 100_000, "1+" * 100_000 + "1", "-" * 100_000 + "x"]:
        assert not statement_parses(text, False)
        assert not line_prefix_viable(text + ".")
