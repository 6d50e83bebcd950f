"""Shared fixtures: the example project copied into a temp dir, and helpers to hash trees."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPO_ROOT / "examples" / "inventory"


def require_module(name: str, reason: str = "needs the [train] extra"):
    """Import ``name``; without it the test is skipped, except under ``CI=true``, where CI
    installs every extra, so a missing one is a failure (the ImportError), not a skip."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=reason)


def needs_file(path: Path, what: str):
    """A marker skipping a test when ``path`` is missing, except under ``CI=true``: CI has the
    shared data (``../shared``), so there the test runs and a missing file fails it."""
    return pytest.mark.skipif(
        not path.is_file() and os.environ.get("CI") != "true",
        reason=f"{what} not present at {path}",
    )


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path relative to ``root`` -> text, dedented) under ``root``; ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def drain(generator) -> tuple[list, object]:
    """Everything ``generator`` yields, and the value it returns (a candidate source's note)."""
    items = []
    while True:
        try:
            items.append(next(generator))
        except StopIteration as stop:
            return items, stop.value


def run_output(project: Path, imports: str, output: str, call: str) -> subprocess.CompletedProcess:
    """A fresh interpreter with ``project`` importable runs ``imports``, defines the model
    output ``output`` and runs ``call``: how a test shows a dropped output really fails."""
    script = (f"import sys; sys.path.insert(0, {str(project)!r})\n{imports}\n"
              f"exec({output!r})\n{call}\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)


def project_pytest_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a pytest subprocess that runs a small test project (not this suite)
    outside the sandbox: ``base`` (default: this process's environment) with setuptools plugin
    autoloading off. The plugins installed with this suite's own tools (pytest-lsp,
    hypothesis, pytest-asyncio, pytest-timeout, pytest-xdist) take most of a small run's
    start-up (pytest-lsp and hypothesis alone about 80% of a one-test run here) and these
    projects use none of them; a plugin such a run needs is named with ``-p``."""
    env = dict(os.environ if base is None else base)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def whole_function_model(directory: Path) -> Path:
    """A copy of the shipped model in ``directory`` whose spec declares it a whole-function
    model reading the plain prompt (``output_format`` "function"), the form the memory's
    prompt formats (retrieval-v1, feedback-v1) extend; the shipped model writes edits, and an
    edit model reads only the plain prompt. Its weights were not trained for that form, so a
    test may check prompts and plumbing on it, never what it writes."""
    import json

    from perfrl.model_contract import PROMPT_PREFIX, SPEC_FILE, default_model_dir

    shutil.copytree(default_model_dir(), directory)
    spec = json.loads((directory / SPEC_FILE).read_text())
    spec.update(output_format="function", prompt_prefix=PROMPT_PREFIX)
    (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    return directory


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root (relative path -> digest), to prove nothing changed."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts:
            digests[path.relative_to(root).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return digests


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of examples/inventory (tests may modify it), without the virtual
    environment ``scripts/demo.sh`` gives it: tests choose their interpreter explicitly."""
    dest = tmp_path / "inventory_project"
    shutil.copytree(
        EXAMPLE_PROJECT,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".venv"),
    )
    return dest
