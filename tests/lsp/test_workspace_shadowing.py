"""A workspace with its own ``server/`` and ``perfrl/`` packages cannot shadow the language
server: editors start the server with the workspace as working folder, through the command
line the VS Code client builds (read from the client's own source) and through ``perfrl-lsp``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from perfrl import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = REPO_ROOT / "vscode-client"

pytestmark = pytest.mark.timeout(300)

IMPOSTOR = """\
import pathlib, sys
pathlib.Path(__file__).resolve().parents[{depth}].joinpath("HIJACKED").write_text(__name__)
sys.exit(7)
"""


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the client's command line must be checked)")
    pytest.skip(reason)


@pytest.fixture
def hostile_workspace(tmp_path: Path) -> Path:
    """A user project whose top-level packages carry PerfRL's old and new import names; any of
    their modules that runs writes ``HIJACKED`` and exits 7."""
    ws = tmp_path / "workspace"
    for package in ("server", "perfrl"):
        lsp = ws / package / "lsp"
        lsp.mkdir(parents=True)
        (ws / package / "__init__.py").write_text(IMPOSTOR.format(depth=1))
        (ws / package / "__main__.py").write_text(IMPOSTOR.format(depth=1))
        (lsp / "__init__.py").write_text(IMPOSTOR.format(depth=2))
        (lsp / "__main__.py").write_text(IMPOSTOR.format(depth=2))
        (lsp / "main.py").write_text(IMPOSTOR.format(depth=2))
    return ws


def _client_launch_args(tmp_path: Path) -> list[str]:
    """The interpreter arguments ``buildServerLaunch`` in ``vscode-client/src/serverCommand.ts``
    returns, compiled with the client's own esbuild and run with node."""
    node = shutil.which("node")
    esbuild = CLIENT_DIR / "node_modules" / ".bin" / "esbuild"
    if node is None:
        _missing("node is not installed")
    if not esbuild.exists():
        _missing("vscode-client/node_modules missing: run scripts/setup_vscode_e2e.sh (npm ci)")
    bundle = tmp_path / "serverCommand.cjs"
    subprocess.run([str(esbuild), str(CLIENT_DIR / "src" / "serverCommand.ts"), "--bundle",
                    "--platform=node", "--format=cjs", "--log-level=error",
                    f"--outfile={bundle}"], check=True, timeout=120)
    out = subprocess.run(
        [node, "-e", f"console.log(JSON.stringify(require({json.dumps(str(bundle))})"
                     ".buildServerLaunch('python').args))"],
        capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


async def _server_info(command: list[str], cwd: Path) -> types.ServerInfo | None:
    client = LanguageClient("shadowing-test", "1")
    await client.start_io(command[0], *command[1:], cwd=str(cwd),
                          env={**os.environ, "PERFRL_CACHE_DIR": str(cwd.parent / "cache")})
    try:
        result = await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=cwd.as_uri()))
        client.shutdown(None)
        client.exit(None)
        return result.server_info
    finally:
        await client.stop()


async def test_vscode_client_command_starts_perfrl_in_a_hostile_workspace(tmp_path,
                                                                          hostile_workspace):
    args = _client_launch_args(tmp_path)
    info = await _server_info([sys.executable, *args], hostile_workspace)
    assert not (hostile_workspace / "HIJACKED").exists(), "the workspace's package ran"
    assert info is not None and (info.name, info.version) == ("perfrl-lsp", __version__)


async def test_perfrl_lsp_starts_perfrl_in_a_hostile_workspace(hostile_workspace):
    entry = shutil.which("perfrl-lsp") or str(Path(sys.executable).parent / "perfrl-lsp")
    info = await _server_info([entry], hostile_workspace)
    assert not (hostile_workspace / "HIJACKED").exists(), "the workspace's package ran"
    assert info is not None and (info.name, info.version) == ("perfrl-lsp", __version__)


def test_perfrl_cli_module_ignores_the_workspace(hostile_workspace):
    out = subprocess.run([sys.executable, "-P", "-m", "perfrl", "--version"], cwd=hostile_workspace,
                         capture_output=True, text=True, timeout=60)
    assert not (hostile_workspace / "HIJACKED").exists()
    assert out.returncode == 0 and __version__ in out.stdout
