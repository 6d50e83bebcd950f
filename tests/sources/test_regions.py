"""Regions of long functions (server/perfrl/sources/regions.py): extraction and splicing."""

from __future__ import annotations

import ast
import textwrap

from perfrl.engine.candidate_text import FunctionNode, parse_candidate_text
from perfrl.sources.regions import (
    extract_regions,
    region_function,
    region_statements,
    splice_region,
)

LONG = textwrap.dedent('''
    def report(orders, wanted, limit=10):
        """Totals, and the wanted SKUs that are missing."""
        # Validate first: this comment must survive any splice.
        if limit <= 0:
            raise ValueError("limit")
        carried = []
        for order in orders:
            carried.append(order["sku"])
        total = 0
        count = 0
        for order in orders:
            total = total + order["price"]
            count += 1
        label = "orders: %d" % count  # uses what the loop built
        missing = []
        for sku in wanted:
            if sku not in carried:
                missing.append(sku)
        result = missing[:limit]
        return result, total, label
''').lstrip()


def rewrite_of(text: str) -> FunctionNode | None:
    """A model's rewrite of a region as ``region_statements`` gets it: its parsed ``def``."""
    return parse_candidate_text(text).function


def test_regions_are_loops_with_their_setup_and_results():
    regions = extract_regions(LONG)
    # The second loop's region takes `label = ...` (it passes on what the loop built); the
    # third's stops before `result = missing[:limit]` (it reads `limit`, set up elsewhere).
    assert [(r.start_line, r.end_line) for r in regions] == [(6, 8), (9, 14), (15, 18)]
    first, second, third = regions
    assert first.source.startswith("carried = []\nfor order in orders:")
    assert first.reads == ("orders",) and first.gives == ("carried",) and not first.returns
    assert second.source.startswith("total = 0\ncount = 0\nfor order in orders:")
    assert second.gives == ("label", "total") and second.reads == ("orders",)
    # In the order the region reads them: the loop scans `wanted` before it tests `carried`.
    assert third.reads == ("wanted", "carried") and third.gives == ("missing",)
    assert third.indent == "    "


def test_a_loop_followed_by_return_takes_the_return():
    code = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n"
    [region] = extract_regions(code)
    assert (region.start_line, region.end_line, region.returns, region.gives) == (2, 5, True, ())
    assert region_function(region, "f_region") == code.replace("def f(", "def f_region(")


def test_a_loop_takes_the_assignment_that_passes_on_its_result_and_the_return_after():
    code = textwrap.dedent('''
        def f(names, n):
            result = []
            for item in names[:n]:
                result.append(item)
            args = result
            return args
    ''').lstrip()
    [region] = extract_regions(code)
    assert (region.start_line, region.end_line, region.returns) == (2, 6, True)
    assert region.reads == ("names", "n")


def test_nested_loops_give_the_outer_one_only_and_nested_functions_none():
    code = textwrap.dedent('''
        def f(rows):
            def key(r):
                for c in r:
                    return c
            seen = []
            for row in rows:
                for tag in row:
                    if tag not in seen:
                        seen.append(tag)
            return sorted(seen, key=key)
    ''').lstrip()
    regions = extract_regions(code)
    assert [(r.start_line, r.end_line) for r in regions] == [(5, 10)]
    assert regions[0].returns and regions[0].gives == ()


def test_a_spliced_rewrite_parses_and_keeps_everything_else_byte_for_byte():
    lines = LONG.splitlines(keepends=True)
    for region in extract_regions(LONG):
        wrapper = region_function(region, "part")
        ast.parse(wrapper)  # the model's input is a real function
        # The model giving the wrapper back unchanged gives the region's statements back.
        statements = region_statements(region, rewrite_of(wrapper))
        assert statements is not None
        spliced = splice_region(LONG, region, statements)
        assert ast.dump(ast.parse(spliced)) == ast.dump(ast.parse(LONG))
        # Any rewrite: only the region's lines change.
        spliced = splice_region(LONG, region, "pass\nx = [1,\n     2]\n")
        ast.parse(spliced)
        out = spliced.splitlines(keepends=True)
        before, after = region.start_line - 1, len(lines) - region.end_line
        assert out[:before] == lines[:before]
        assert out[len(out) - after :] == lines[len(lines) - after :]
        assert out[before : len(out) - after] == ["    pass\n", "    x = [1,\n", "         2]\n"]


def test_region_statements_from_a_real_rewrite():
    [_, _, missing] = extract_regions(LONG)
    rewrite = (
        "def part(carried, wanted):\n"
        "    carried_set = set(carried)\n"
        "    return [sku for sku in wanted if sku not in carried_set]\n"
    )
    statements = region_statements(missing, rewrite_of(rewrite))
    assert statements == (
        "carried_set = set(carried)\nmissing = [sku for sku in wanted if sku not in carried_set]\n"
    )
    spliced = splice_region(LONG, missing, statements)
    namespace: dict = {}
    exec(compile(spliced, "<spliced>", "exec"), namespace)  # noqa: S102 (the test's own code)
    orders = [{"sku": "a", "price": 2}, {"sku": "b", "price": 3}]
    assert namespace["report"](orders, ["c", "a", "d"], 1) == (["c"], 5, "orders: 2")
    # The rewrite keeps the rest of the function, comment included.
    assert "# Validate first: this comment must survive any splice." in spliced
    assert "label = \"orders: %d\" % count  # uses what the loop built" in spliced


def test_region_statements_refuses_what_cannot_replace_the_region():
    [first, second, _] = extract_regions(LONG)
    assert region_statements(first, rewrite_of("not python (")) is None
    assert region_statements(first, rewrite_of("x = 1\n")) is None  # no function
    # Gives two names, but the rewrite returns nothing.
    assert region_statements(second, rewrite_of("def part(orders):\n    pass\n")) is None


def test_no_regions_without_loops_or_function():
    assert extract_regions("def f(x):\n    return x + 1\n") == []
    assert extract_regions("x = 1\n") == []
    assert extract_regions("def broken(:\n") == []


def test_statement_blocks_skip_nested_definitions_and_give_each_block_once():
    import ast

    from perfrl.sources.regions import statement_blocks

    function = ast.parse(
        "def f(xs):\n"
        "    try:\n        a = 1\n    except ValueError:\n        b = 2\n"
        "    def inner():\n        for x in xs:\n            c = 3\n"
        "    class K:\n        d = 4\n"
        "    for x in xs:\n        e = 5\n    else:\n        g = 6\n"
    ).body[0]
    blocks = list(statement_blocks(function))
    firsts = [ast.unparse(block[0]).split(" =")[0] for block in blocks]
    assert len(blocks) == len({id(block) for block in blocks})
    assert sorted(firsts[1:]) == ["a", "b", "e", "g"]
    assert not {"c", "d", "for x in xs:\n    c"} & set(firsts)


def test_the_spec_says_from_which_length_regions_are_rewritten():
    import pytest

    from perfrl.model_contract import ModelContractError, ModelSpec

    assert ModelSpec.from_json({}).region_min_lines == 15  # every model before the field
    assert ModelSpec.from_json({"region_min_lines": 0}).region_min_lines == 0
    for bad in (-1, "all", 2.5):
        with pytest.raises(ModelContractError, match="region_min_lines"):
            ModelSpec.from_json({"region_min_lines": bad})


def test_a_region_reads_its_parameters_with_the_enclosing_function_s_annotations():
    code = textwrap.dedent('''
        def restock(lines: list[dict], stock: dict[str, int], *extra: int, limit=3) -> list:
            if limit <= 0:
                return []
            short = []
            for line in lines:
                if line["sku"] not in list(stock.keys()) or extra:
                    short.append(line["sku"])
            return short[:limit]
    ''').lstrip()
    [region] = extract_regions(code)
    # `*extra` is annotated by its items' type, `limit` not at all: both stay bare.
    assert region.reads == ("lines", "stock", "extra", "limit")
    assert region_function(region, "restock").splitlines()[0] == (
        "def restock(lines: list[dict], stock: dict[str, int], extra, limit):")
    # A rewrite of the annotated region splices back as any other.
    rewrite = rewrite_of("def restock(lines: list[dict], stock: dict[str, int], extra, limit):\n"
                         "    short = [line['sku'] for line in lines\n"
                         "             if line['sku'] not in stock or extra]\n"
                         "    return short[:limit]\n")
    statements = region_statements(region, rewrite)
    assert statements is not None
    ast.parse(splice_region(code, region, statements))


def test_the_function_s_own_imports_open_the_region_instead_of_being_its_parameters():
    code = textwrap.dedent('''
        def codes(lines, prefix):
            import re
            from os import path as p
            import json as q
            if not prefix:
                q = None  # not only an import: stays a parameter
            found = []
            for line in lines:
                if re.match(prefix, line) and p.basename(line) and q is not None:
                    found.append(line)
            return found
    ''').lstrip()
    [region] = extract_regions(code)
    assert region.reads == ("lines", "prefix", "q")
    assert region.imports == (("re", "import re"), ("p", "from os import path as p"))
    assert region.imported == {"re", "p"}
    function = region_function(region, "codes")
    assert function.splitlines()[:3] == ["def codes(lines, prefix, q):", "    import re",
                                         "    from os import path as p"]
    # The model sees the imports as written, not placeholders (imports inside are kept).
    from perfrl.sources.abstraction import abstract
    assert "re.match(" in abstract(function)[0] and ".basename(" in abstract(function)[0]
    # A rewrite that keeps the opening imports splices back without them (the function has
    # them), and one that adds an import of its own keeps that one.
    rewrite = rewrite_of("def codes(lines, prefix, q):\n"
                         "    import re\n"
                         "    from os import path as p\n"
                         "    import itertools\n"
                         "    return [l for l in lines if re.match(prefix, l) and p.basename(l)\n"
                         "            and q is not None]\n")
    statements = region_statements(region, rewrite)
    assert statements is not None and statements.startswith("import itertools\nreturn [")
    spliced = splice_region(code, region, statements)
    namespace: dict = {}
    exec(compile(spliced, "<spliced>", "exec"), namespace)  # noqa: S102 (the test's own code)
    assert namespace["codes"](["ab/c", "xb", "a"], "a") == ["ab/c", "a"]
    assert spliced.count("import re") == 1
