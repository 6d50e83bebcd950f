"""LSP features by area; :func:`register_features` wires them all onto one server."""

from __future__ import annotations

from perfrl.lsp.server import PerfServer


def register_features(server: PerfServer) -> None:
    from perfrl.lsp.features import (
        code_actions,
        code_lens,
        commands,
        documents,
        hot_spots,
        inlay_hints,
        lifecycle,
    )

    lifecycle.register(server)
    documents.register(server)
    commands.register(server)
    hot_spots.register(server)
    code_actions.register(server)
    code_lens.register(server)
    inlay_hints.register(server)
