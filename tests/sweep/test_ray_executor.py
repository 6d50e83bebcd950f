"""``--executor ray`` against a real local Ray cluster started here: the same functions get
the same verdicts and chosen rewrites as with the local executor."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_PROJECT, require_module

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

TARGETS = ["inventory/catalog.py::missing_skus", "inventory/catalog.py::active_skus",
           "inventory/reports.py::unique_tags"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path_factory):
    require_module("ray", reason="needs the [distributed] extra")
    ray_cli = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = _free_port()
    # Ray's socket paths must stay short: a temp dir of its own under /tmp.
    temp = Path(f"/tmp/perfrl-ray-{os.getpid()}")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run(
        [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2",
         '--resources={"perfrl": 1}', "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"], capture_output=True, text=True, timeout=300, env=env)
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120, env=env)
        shutil.rmtree(temp, ignore_errors=True)


def _sweep(project: Path, cache: Path, *extra: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "perfrl", "optimize", *TARGETS, "--candidate",
         str(EXAMPLE_PROJECT / "candidates" / "missing_skus.py"), "--sources", "rules",
         "--python", sys.executable, "--gain-rounds", "0", "--json", *extra],
        cwd=project, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PERFRL_CACHE_DIR": str(cache), "RAY_USAGE_STATS_ENABLED": "0"})
    assert run.returncode in (0, 1), run.stderr[-3000:]
    return json.loads(run.stdout)


def _verdicts(payload: dict) -> list[tuple[str, list[str], str | None]]:
    out = []
    for entry in payload["functions"]:
        report = entry["report"]
        assert report is not None, entry["error"]
        best = report["best"]
        out.append((entry["spec"], [c["verdict"] for c in report["candidates"]],
                    None if best is None else report["candidates"][best]["label"]))
    return out


def test_ray_executor_gives_the_local_results(example_project, tmp_path, ray_cluster):
    on_ray = _sweep(example_project, tmp_path / "ray-cache", "--executor", "ray",
                    "--address", ray_cluster)
    local = _sweep(example_project, tmp_path / "local-cache")
    assert [f["spec"] for f in on_ray["functions"]] == TARGETS
    assert _verdicts(on_ray) == _verdicts(local)
    assert _verdicts(local)[0][2] is not None  # missing_skus: the hand-written rewrite wins
    assert not any(f["from_store"] for f in on_ray["functions"])


def test_an_unreachable_cluster_is_a_clear_error(example_project, tmp_path):
    require_module("ray", reason="needs the [distributed] extra")
    run = subprocess.run(
        [sys.executable, "-m", "perfrl", "optimize", *TARGETS[:2], "--python", sys.executable,
         "--executor", "ray", "--address", f"127.0.0.1:{_free_port()}"],
        cwd=example_project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PERFRL_CACHE_DIR": str(tmp_path / "c"), "RAY_USAGE_STATS_ENABLED": "0"})
    assert run.returncode == 2, run.stderr[-2000:]
    assert "cannot reach the Ray cluster" in run.stderr
