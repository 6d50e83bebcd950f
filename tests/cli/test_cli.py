"""The `perfrl optimize` command, run as a real subprocess on a copy of the example project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tree_digest

FAST_MISSING_SKUS = '''
def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = {product["sku"] for product in products}
    return [sku for sku in wanted if sku not in carried]
'''

SAME_SPEED_MISSING_SKUS = '''
def missing_skus(wanted, products):
    carried = [product["sku"] for product in products]
    result = []
    for item in wanted:
        if item not in carried:
            result.append(item)
    return result
'''

WRONG_MISSING_SKUS = '''
def missing_skus(wanted, products):
    carried = {product["sku"] for product in products}
    return sorted({sku for sku in wanted if sku not in carried})
'''


def run_perfrl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perfrl.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )


def write_candidate(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(code.lstrip())
    return path


def test_bad_target_spec_exits_2(example_project: Path):
    proc = run_perfrl("optimize", "inventory/catalog.py", cwd=example_project)
    assert proc.returncode == 2
    assert "path/to/mod.py::Qualname" in proc.stderr


def test_missing_file_exits_2(example_project: Path):
    proc = run_perfrl("optimize", "nope.py::f", "--sources", "rules", cwd=example_project)
    assert proc.returncode == 2
    assert "nope.py" in proc.stderr


def test_missing_function_suggests_names(example_project: Path):
    proc = run_perfrl("optimize", "inventory/catalog.py::missing_sku", "--sources", "rules",
                      cwd=example_project)
    assert proc.returncode == 2
    assert "missing_skus" in proc.stderr


def test_unknown_source_exits_2(example_project: Path):
    proc = run_perfrl("optimize", "inventory/catalog.py::missing_skus", "--sources", "magic",
                      cwd=example_project)
    assert proc.returncode == 2
    assert "magic" in proc.stderr and "rules" in proc.stderr


@pytest.mark.slow
def test_json_report_verdicts_and_apply(example_project: Path, tmp_path: Path):
    fast = write_candidate(tmp_path, "fast.py", FAST_MISSING_SKUS)
    same = write_candidate(tmp_path, "same.py", SAME_SPEED_MISSING_SKUS)
    wrong = write_candidate(tmp_path, "wrong.py", WRONG_MISSING_SKUS)
    before = tree_digest(example_project)
    proc = run_perfrl(
        "optimize", "inventory/catalog.py::missing_skus",
        "--candidate", str(fast), "--candidate", str(same), "--candidate", str(wrong),
        "--json", "--quiet", cwd=example_project,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["function"] == "inventory/catalog.py::missing_skus"
    verdicts = [c["verdict"] for c in report["candidates"]]
    assert verdicts[0] == "faster"
    assert verdicts[1] == "not_faster"
    assert verdicts[2] in ("failed_tests", "not_equivalent")
    best = report["candidates"][report["best"]]
    assert report["best"] == 0
    assert best["speedup"]["low"] >= 1.10
    assert best["speedup"]["low"] <= best["speedup"]["median"] <= best["speedup"]["high"]
    assert best["tests"]["run"] == best["tests"]["passed"] >= 2
    assert best["calls_compared"] >= 2
    for key in ("source", "verdict", "reason", "tests", "calls_compared", "speedup"):
        assert key in report["candidates"][1]
    # Without --apply, nothing in the project changed.
    assert tree_digest(example_project) == before

    proc = run_perfrl(
        "optimize", "inventory/catalog.py::missing_skus", "--candidate", str(fast),
        "--apply", "--quiet", cwd=example_project,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Applied to" in proc.stdout
    # The text report fits a terminal: one short sandbox line, 1-based candidate numbers, and
    # no warning a user cannot act on (what the sandbox lacks is in --json only).
    sandbox_lines = [line for line in proc.stdout.splitlines() if line.startswith("sandbox:")]
    assert len(sandbox_lines) == 1 and len(sandbox_lines[0]) <= 160
    assert "warning: sandbox:" not in proc.stdout
    assert "Best: candidate 1 (" in proc.stdout
    assert "missing_protections" in report
    text = (example_project / "inventory" / "catalog.py").read_text()
    assert 'carried = {product["sku"] for product in products}' in text
    # Every other function is byte-for-byte what it was.
    assert "def has_backorder(products):" in text and "result.append(product" in text
    after = tree_digest(example_project)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"inventory/catalog.py"}


@pytest.mark.slow
def test_apply_refuses_when_nothing_is_faster(example_project: Path, tmp_path: Path):
    same = write_candidate(tmp_path, "same.py", SAME_SPEED_MISSING_SKUS)
    before = tree_digest(example_project)
    proc = run_perfrl(
        "optimize", "inventory/catalog.py::missing_skus", "--candidate", str(same),
        "--apply", "--quiet", cwd=example_project,
    )
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert "Nothing applied" in proc.stdout
    assert "not_faster" in proc.stdout
    assert tree_digest(example_project) == before


@pytest.mark.slow
def test_rules_source_on_method_by_line(example_project: Path):
    # Line of `low.append` inside Warehouse.low_stock: the editor's way of naming a function.
    source = (example_project / "inventory" / "stock.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "low.append" in text)
    proc = run_perfrl("optimize", f"inventory/stock.py:{line}", "--sources", "rules", "--json",
                      "--quiet", cwd=example_project)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["function"] == "inventory/stock.py::Warehouse.low_stock"
    assert report["baseline"]["tests_calling"] == 3


def test_project_without_markers_finds_the_tests_beside_the_package(tmp_path: Path):
    """No pyproject.toml, setup.py or .git: the root is the folder holding the package, where
    tests/ sits, not the package's own folder (which holds no tests)."""
    root = tmp_path / "plain"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "dedupe.py").write_text(
        "def dedupe(items):\n"
        "    out = []\n"
        "    for item in items:\n"
        "        if item not in out:\n"
        "            out.append(item)\n"
        "    return out\n"
    )
    (root / "tests" / "test_dedupe.py").write_text(
        "from pkg.dedupe import dedupe\n\n"
        "def test_dedupe():\n"
        "    assert dedupe(list(range(300)) * 2) == list(range(300))\n"
    )
    candidate = write_candidate(
        tmp_path, "fast.py", "def dedupe(items):\n    return list(dict.fromkeys(items))\n"
    )
    before = tree_digest(root)
    proc = run_perfrl("optimize", "pkg/dedupe.py::dedupe", "--candidate", str(candidate),
                      "--python", sys.executable, "--json", "--quiet", cwd=root)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["function"] == "pkg/dedupe.py::dedupe"
    assert report["baseline"]["tests_calling"] == 1
    assert report["candidates"][0]["verdict"] == "faster"
    assert tree_digest(root) == before
