"""Builds a ready-to-start PerfRL language server."""

from __future__ import annotations

from pathlib import Path

from perfrl.lsp.features import register_features
from perfrl.lsp.server import PerfServer


def create_server(cache_dir: Path | None = None) -> PerfServer:
    """A :class:`PerfServer` with every feature registered."""
    server = PerfServer(cache_dir=cache_dir)
    register_features(server)
    return server
