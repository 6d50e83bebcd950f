"""Impacted tests: the static import graph, the scope rule, and the check before "faster" stands.

The end-to-end tests run the real engine (real sandbox, real pytest) on a project where the
rewrite of ``apply_discount`` sets the module global ``RATE`` that ``add_vat`` reads: the tests
that call ``apply_discount`` pass, two other tests of the project break (issue 12, finding 8).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import perfrl.engine.impacted_tests as impacted_module
from perfrl.engine.impacted_tests import (
    build_import_graph,
    choose_scope,
    impacted_test_files,
    is_test_file,
)
from perfrl.engine.locate import locate_function
from perfrl.engine.optimize import optimize_function
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Verdict
from perfrl.sources.files import FileCandidateSource
from tests.conftest import tree_digest


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


# -- the import graph ------------------------------------------------------------------------


LAYOUT = {
    "shop/__init__.py": "",
    "shop/pricing.py": "RATE = 0.2\n",
    "shop/checkout.py": "from .pricing import RATE\n",  # relative, one level
    "shop/sub/__init__.py": "",
    "shop/sub/report.py": "from ..checkout import RATE\n",  # relative, two levels
    "shop/unrelated.py": "import json\n",
    "tests/test_direct.py": "import shop.pricing\n",
    "tests/test_from_package.py": "from shop import pricing\n",  # from pkg import module
    "tests/test_from_module.py": "from shop.pricing import RATE\n",
    "tests/test_through_checkout.py": "from shop.checkout import RATE\n",
    "tests/test_through_two_levels.py": "import shop.sub.report\n",
    "tests/test_in_function.py": "def test_x():\n    import shop.pricing\n",
    "tests/test_dynamic.py": "import importlib\nm = importlib.import_module('shop.pricing')\n",
    "tests/test_unrelated.py": "import shop.unrelated\nimport pricing\n",
    "tests/test_nothing.py": "def test_ok():\n    pass\n",
}


def test_tests_that_import_the_target_directly_or_through_project_modules(tmp_path):
    root = _write(tmp_path / "p", LAYOUT)
    assert impacted_test_files(root, "shop/pricing.py") == [
        "tests/test_direct.py",
        "tests/test_dynamic.py",
        "tests/test_from_module.py",
        "tests/test_from_package.py",
        "tests/test_in_function.py",
        "tests/test_through_checkout.py",
        "tests/test_through_two_levels.py",
    ]


def test_the_graph_resolves_relative_imports_and_package_inits(tmp_path):
    root = _write(tmp_path / "p", LAYOUT)
    graph = build_import_graph(root)
    assert graph.imports["shop/checkout.py"] == {"shop/__init__.py", "shop/pricing.py"}
    assert "shop/checkout.py" in graph.imports["shop/sub/report.py"]
    # `import shop.sub.report` runs every package __init__ on the way
    assert graph.imports["tests/test_through_two_levels.py"] == {
        "shop/__init__.py",
        "shop/sub/__init__.py",
        "shop/sub/report.py",
    }
    # a top-level `import pricing` is not shop/pricing.py
    assert graph.imports["tests/test_unrelated.py"] == {"shop/__init__.py", "shop/unrelated.py"}


def test_a_package_init_that_imports_the_target_impacts_importers_of_the_package(tmp_path):
    root = _write(
        tmp_path / "p",
        {
            "lib/__init__.py": "from . import core\n",
            "lib/core.py": "X = 1\n",
            "lib/other.py": "Y = 2\n",
            "tests/test_pkg.py": "import lib.other\n",
            "tests/test_none.py": "import os\n",
        },
    )
    assert impacted_test_files(root, "lib/core.py") == ["tests/test_pkg.py"]


def test_a_conftest_that_imports_the_target_impacts_every_test_below_it(tmp_path):
    root = _write(
        tmp_path / "p",
        {
            "app/__init__.py": "",
            "app/core.py": "",
            "tests/unit/conftest.py": "from app.core import *\n",
            "tests/unit/test_a.py": "",
            "tests/unit/deep/test_b.py": "",
            "tests/other/test_c.py": "",
        },
    )
    assert impacted_test_files(root, "app/core.py") == [
        "tests/unit/deep/test_b.py",
        "tests/unit/test_a.py",
    ]


def test_test_helpers_on_pytests_base_dir_src_layout_and_namespace_packages(tmp_path):
    root = _write(
        tmp_path / "p",
        {
            "src/calc/__init__.py": "",
            "src/calc/ops.py": "",
            "tests/helpers.py": "from calc import ops\n",  # tests/ has no __init__.py
            "tests/tools/fixtures.py": "import calc.ops\n",  # a namespace package
            "tests/test_via_helper.py": "import helpers\n",
            "tests/test_via_namespace.py": "from tools.fixtures import *\n",
            "tests/test_plain.py": "import calc\n",
        },
    )
    assert impacted_test_files(root, "src/calc/ops.py") == [
        "tests/test_via_helper.py",
        "tests/test_via_namespace.py",
    ]


def test_the_import_root_counts_as_a_sys_path_entry(tmp_path):
    root = _write(
        tmp_path / "p",
        {"lib/python/mod.py": "", "tests/test_m.py": "import mod\n"},
    )
    assert impacted_test_files(root, "lib/python/mod.py") == []
    assert impacted_test_files(root, "lib/python/mod.py", extra_roots=[root / "lib/python"]) == [
        "tests/test_m.py"
    ]


def test_unparsable_and_non_utf8_files_are_handled_without_importing_anything(tmp_path):
    root = _write(
        tmp_path / "p",
        {
            "m.py": "",
            "tests/test_broken.py": "import m\ndef (:\n",  # does not parse: skipped
            "tests/test_latin.py": b"# -*- coding: latin-1 -*-\nimport m\nS = '\xe9'\n",
            "tests/test_bomb.py": "import sys\nsys.exit('imported!')\nimport m\n",
        },
    )
    assert impacted_test_files(root, "m.py") == ["tests/test_bomb.py", "tests/test_latin.py"]


def test_the_collected_test_files_replace_the_default_name_patterns(tmp_path):
    root = _write(tmp_path / "p", {"m.py": "", "checks/check_m.py": "import m\n"})
    assert impacted_test_files(root, "m.py") == []
    assert impacted_test_files(root, "m.py", test_files=["checks/check_m.py"]) == [
        "checks/check_m.py"
    ]
    assert is_test_file("a/test_x.py") and is_test_file("x_test.py")
    assert not is_test_file("a/testing.py")


def test_scope_is_the_whole_suite_when_quick_else_the_impacted_files(tmp_path):
    root = _write(tmp_path / "p", LAYOUT)
    quick = choose_scope(root, "shop/pricing.py", 4.2)
    assert quick.whole_suite and "whole test suite" in quick.description
    slow = choose_scope(root, "shop/pricing.py", 95.0)
    assert not slow.whole_suite
    assert "tests/test_through_checkout.py" in slow.files
    assert "tests/test_nothing.py" not in slow.files
    unknown = choose_scope(root, "shop/pricing.py", 0.0)
    assert not unknown.whole_suite


# -- end to end: a rewrite that sets a module global other code reads --------------------------


SHOP = {
    "pyproject.toml": '[project]\nname = "ratesshop"\nversion = "0"\n',
    "ratesshop/__init__.py": "",
    "ratesshop/pricing.py": """
        RATE = 0.2  # VAT, read by add_vat


        def apply_discount(prices, percent):
            discounted = []
            for p in prices:
                discounted = discounted + [round(p - p * percent / 100, 2)]
            return discounted


        def add_vat(amount):
            return round(amount * (1 + RATE), 2)
    """,
    "ratesshop/checkout.py": """
        from .pricing import add_vat


        def checkout_total(prices):
            return add_vat(sum(prices))
    """,
    "tests/test_discount.py": """
        from ratesshop.pricing import apply_discount


        def test_apply_discount():
            prices = [float(i % 97) for i in range(3000)]
            assert apply_discount(prices, 10)[:3] == [0.0, 0.9, 1.8]
    """,
    "tests/test_known_broken.py": """
        def test_fails_on_the_original_too():
            assert 1 + 1 == 3
    """,
    "tests/test_totals.py": """
        from ratesshop.checkout import checkout_total


        def test_checkout_total():
            assert checkout_total([50.0, 50.0]) == 120.0
    """,
    "tests/test_vat.py": """
        from ratesshop import pricing


        def test_add_vat():
            assert pricing.add_vat(100.0) == 120.0
    """,
}

# Faster, and resets a module global another function reads.
SETS_RATE = """
def apply_discount(prices, percent):
    global RATE
    RATE = 0
    return [round(p - p * percent / 100, 2) for p in prices]
"""

# Faster too, by far less (it keeps the quadratic loop for half the list, about 4x against
# 30x, so it ranks second), and touches nothing else.
HONEST = """
def apply_discount(prices, percent):
    half = len(prices) // 2
    head = [round(p - p * percent / 100, 2) for p in prices[:half]]
    tail = []
    for p in prices[half:]:
        tail = tail + [round(p - p * percent / 100, 2)]
    return head + tail
"""


@pytest.fixture(scope="module")
def rates_shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("wider")
    root = _write(base / "ratesshop", SHOP)
    candidates = _write(base / "candidates", {"sets_rate.py": SETS_RATE, "honest.py": HONEST})
    settings = EngineSettings(
        interpreter=sys.executable,
        cache_dir=base / "cache",
        test_timeout_s=120,
        bench_timeout_s=60,
        bench_budget_s=1.0,
    )
    return root, candidates, settings


def _optimize(root, candidate_paths, settings):
    target = locate_function("ratesshop/pricing.py::apply_discount", root)
    return optimize_function(target, [FileCandidateSource(candidate_paths)], settings)


def test_a_rewrite_that_breaks_other_tests_is_not_the_best(rates_shop):
    root, candidates, settings = rates_shop
    before = tree_digest(root)
    report = _optimize(root, [candidates / "sets_rate.py", candidates / "honest.py"], settings)
    sets_rate, honest = report.candidates
    assert sets_rate.verdict is Verdict.FAILED_TESTS, sets_rate.reason
    # Named: the first test it breaks, in the suite's order; the known-broken one is not blamed.
    assert "tests/test_totals.py::test_checkout_total passes on the original" in sets_rate.reason
    assert "and 1 more" in sets_rate.reason
    assert "test_known_broken" not in sets_rate.reason
    assert "whole test suite" in sets_rate.reason
    assert sets_rate.speedup is not None  # it was measured faster; the wider tests decided
    # The next best got the same check and stands.
    assert honest.verdict is Verdict.FASTER, honest.reason
    assert report.best == 1
    assert "also passed 3 test(s) of the whole test suite" in honest.reason
    assert tree_digest(root) == before


def test_slow_suites_run_the_files_that_import_the_module(rates_shop, monkeypatch):
    root, candidates, settings = rates_shop
    monkeypatch.setattr(impacted_module, "QUICK_SUITE_S", 0.0)
    report = _optimize(root, [candidates / "sets_rate.py"], settings)
    (sets_rate,) = report.candidates
    assert sets_rate.verdict is Verdict.FAILED_TESTS, sets_rate.reason
    assert "tests/test_totals.py::test_checkout_total" in sets_rate.reason
    assert "the 3 test file(s) that import ratesshop/pricing.py" in sets_rate.reason
    assert report.best is None


# Breaks the same tests, and makes the capture plugin report every test as passed.
FORGES_REPORT = """
def apply_discount(prices, percent):
    global RATE
    RATE = 0
    import sys
    # Spelled so that the static tampering check (engine/tampering.py) does not see it: the
    # pytest exit status must catch the forged report on its own (defence in depth).
    capture = getattr(sys, "mod" + "ules").get("perfrl_capture")
    if capture is not None and not getattr(capture, "forged", False):
        capture.forged = True
        real_write = capture._Recorder.write

        def write(self):
            for entry in self.tests.values():
                entry["outcome"] = "passed"
            return real_write(self)

        capture._Recorder.write = write
    return [round(p - p * percent / 100, 2) for p in prices]
"""


def test_a_report_changed_by_the_candidate_is_caught_by_pytests_exit_status(rates_shop, tmp_path):
    root, _candidates, settings = rates_shop
    forger = _write(tmp_path, {"forges.py": FORGES_REPORT}) / "forges.py"
    report = _optimize(root, [forger], settings)
    (forged,) = report.candidates
    assert forged.verdict is Verdict.FAILED_TESTS, forged.reason
    assert "pytest exited with status 1" in forged.reason
    assert report.best is None


def test_a_baseline_cached_without_outcomes_asks_the_original(rates_shop):
    """Cache entries written before outcomes were kept: the original runs the scope once."""
    root, candidates, settings = rates_shop
    _optimize(root, [candidates / "honest.py"], settings)  # makes sure the cache is filled
    entries = list(Path(settings.cache_dir).glob("*.json"))
    assert entries
    for entry in entries:
        meta = json.loads(entry.read_text(encoding="utf-8"))
        meta.pop("test_outcomes", None)
        entry.write_text(json.dumps(meta), encoding="utf-8")
    report = _optimize(root, [candidates / "sets_rate.py"], settings)
    assert report.baseline is not None and report.baseline.from_cache
    (sets_rate,) = report.candidates
    assert sets_rate.verdict is Verdict.FAILED_TESTS, sets_rate.reason
    assert "tests/test_totals.py::test_checkout_total passes on the original" in sets_rate.reason
    assert "test_known_broken" not in sets_rate.reason
