"""Entry points: ``perfrl-lsp`` and ``python -P -m perfrl.lsp`` (stdio is what every other test in
this folder uses), ``--version``, TCP mode, and a bad port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from perfrl import __version__

# A hung server or editor must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(600)


def test_version_from_both_entry_points():
    for command in ([sys.executable, "-P", "-m", "perfrl.lsp", "--version"],
                    [shutil.which("perfrl-lsp") or "perfrl-lsp", "--version"]):
        out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.strip() == f"perfrl-lsp {__version__}"


def test_bad_port_is_refused():
    out = subprocess.run([sys.executable, "-P", "-m", "perfrl.lsp", "--tcp", "--port", "70000"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "--port must be between 1 and 65535" in out.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_tcp_mode_serves_initialize(tmp_path):
    port = _free_port()
    log_file = tmp_path / "server.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-P", "-m", "perfrl.lsp", "--tcp", "--host", "127.0.0.1",
        "--port", str(port),
        "--log-file", str(log_file), "--cache-dir", str(tmp_path / "cache"))
    client = LanguageClient("tcp-test", "1")
    try:
        for _ in range(200):  # the server needs a moment to listen; bounded retries
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                if proc.returncode is not None:
                    pytest.fail(f"server exited with {proc.returncode}")
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the TCP server never accepted a connection")
        result = await asyncio.wait_for(client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities())), 30)
        assert result.server_info.name == "perfrl-lsp"
        assert list(result.capabilities.execute_command_provider.commands) == [
            "perfrl.optimizeFunction", "perfrl.showReport", "perfrl.cancelJob",
            "perfrl.applyRewrite", "perfrl.profileProject", "perfrl.optimizeHottest"]
        assert result.capabilities.code_lens_provider is not None
        assert result.capabilities.inlay_hint_provider is not None
        await client.shutdown_async(None)
        client.exit(None)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await client.stop()
    assert log_file.exists()
