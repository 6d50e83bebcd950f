"""End to end through the language server: a rewrite verified on one function of a project
(by a ``perfrl optimize`` run, stored in the project's memory) comes back through the server
as a ``replay`` candidate for a structurally similar function with other names and another
container, is verified faster there, and is offered as a lens and an applicable edit.

Nothing is faked: the first rewrite is verified by the real CLI (a hand-written candidate),
the server learns its rule from the SQLite memory the CLI wrote (the same cache folder), and
the second rewrite is the server's own replay candidate, verified in the sandbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lsp_helpers import apply_text_edits, server_env

from perfrl.engine.locate import locate_function

pytestmark = pytest.mark.timeout(900)

LISTS = "inventory/lists.py"

#: Two functions of one shape (a list grown by concatenation in a loop: quadratic); the
#: second has other names and walks a dict (its keys) where the first walks a list.
LISTS_CODE = textwrap.dedent('''\
    def shelf_labels(products):
        """One label per product, in catalog order."""
        labels = []
        for product in products:
            labels = labels + [product["sku"].upper()]
        return labels


    def restock_orders(stock_by_sku):
        """An order line for every SKU we stock."""
        orders = []
        for sku in stock_by_sku:
            orders = orders + [f"order {sku} x{stock_by_sku[sku]}"]
        return orders
''')

LISTS_TESTS = textwrap.dedent('''\
    from inventory.lists import restock_orders, shelf_labels


    def test_shelf_labels():
        products = [{"sku": f"sku-{i}"} for i in range(3000)]
        assert shelf_labels(products)[:2] == ["SKU-0", "SKU-1"]


    def test_restock_orders():
        stock = {f"s{i}": i % 7 for i in range(3000)}
        orders = restock_orders(stock)
        assert orders[:2] == ["order s0 x0", "order s1 x1"] and len(orders) == 3000
''')

#: The hand-written rewrite of the first function that the CLI verifies.
FAST_SHELF_LABELS = textwrap.dedent('''\
    def shelf_labels(products):
        """One label per product, in catalog order."""
        return [product["sku"].upper() for product in products]
''')


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.mark.slow
async def test_a_rewrite_verified_by_the_cli_is_replayed_by_the_server(
        start_session, example_project: Path, tmp_path: Path, monkeypatch):
    (example_project / LISTS).write_text(LISTS_CODE)
    (example_project / "tests" / "test_lists.py").write_text(LISTS_TESTS)
    # The first session's cache (see conftest.start_session): the CLI writes the memory there.
    env = server_env(tmp_path / "cache0")
    monkeypatch.delenv("PERFRL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    from perfrl.sources.replay import ReplayCandidateSource

    target = locate_function(f"{LISTS}::restock_orders", project_root=example_project)
    # Only shipped seed rules may apply before the CLI's verified rewrite (they know
    # `x = x + [e]` -> append); the rule "verified on" shelf_labels is learned below.
    assert not [c for c in ReplayCandidateSource().generate(target, 8)
                if c.label.startswith("replay: verified on")]

    hand = tmp_path / "shelf_labels.py"
    hand.write_text(FAST_SHELF_LABELS)
    first = subprocess.run(
        [sys.executable, "-m", "perfrl", "optimize", f"{LISTS}::shelf_labels", "--candidate",
         str(hand), "--python", sys.executable, "--json"],
        cwd=example_project, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, (first.stderr, first.stdout[-2000:])
    assert json.loads(first.stdout)["candidates"][0]["verdict"] == "faster"

    # The memory is one verified rewrite short of the number from which the server suggests
    # adapting a model to the project (earlier work on other functions of it).
    from perfrl.memory.store import (
        ADAPT_SUGGESTION_PAIRS,
        project_db,
        record_report,
        verified_pairs,
    )

    for i in range(ADAPT_SUGGESTION_PAIRS - 1 - len(verified_pairs(project_db(example_project)))):
        record_report({"function": f"inventory/old.py::f{i}",
                       "original_source": f"def f{i}(xs):\n    return sum([x for x in xs])\n",
                       "candidates": [{"source": "rules", "label": "r", "verdict": "faster",
                                       "reason": "", "speedup": None,
                                       "code": f"def f{i}(xs):\n    return sum(xs)\n"}]},
                      example_project)
    assert len(verified_pairs(project_db(example_project))) == ADAPT_SUGGESTION_PAIRS - 1

    s = await start_session("visual-studio-code", init_options={"perfrl": {
        "sources": ["replay"]}})
    original = (example_project / LISTS).read_text()
    uri = s.open(LISTS)
    line = _line_of(original, "orders = orders + [")
    before = len(s.client.messages)
    await s.command("perfrl.optimizeFunction", uri, line)
    done = await s.wait_message(lambda m: "restock_orders" in m, before, timeout=600)
    assert re.search(r"\d+\.\d× faster", done.message), done.message
    # This verified rewrite is the twentieth: the server says how a model can learn them.
    suggestion = await s.wait_message(lambda m: "perfrl-train adapt" in m, before, timeout=30)
    assert f"--project {example_project}" in suggestion.message, suggestion.message

    report = await s.command("perfrl.showReport", uri, line)
    # The project's learned rule comes first, and its rewrite is verified faster.
    assert "| 1 | replay | replay: verified on inventory/lists.py::shelf_labels | faster |" in (
        report["markdown"]), report["markdown"]
    lenses = await s.code_lenses(uri)
    apply_lens = next(lens for lens in lenses if lens.command.command == "perfrl.applyRewrite")
    assert await s.command(apply_lens.command.command, *apply_lens.command.arguments) == {
        "applied": True}
    (sent,) = s.applied_edits
    (change,) = sent.edit.document_changes
    rewritten = apply_text_edits(original, list(change.edits))
    # The best replayed rewrite: the learned comprehension, or the seed rules' append when it
    # measured faster still; either way the quadratic concatenation is gone.
    assert "orders = orders + [" not in rewritten, rewritten
    assert ("    return [f'order {sku} x{stock_by_sku[sku]}' for sku in stock_by_sku]\n"
            in rewritten) or "orders.append(" in rewritten, rewritten
    # Only the replayed function changed; the one the rule was learned from is as it was.
    assert rewritten.startswith(original.split("def restock_orders")[0])
