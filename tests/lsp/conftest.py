"""pytest-lsp fixtures: the real server (``python -P -m perfrl.lsp``) in a subprocess, driven by a
client announcing the capabilities of a real editor (VS Code or Neovim, as recorded by
pytest-lsp)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_helpers import (
    CLIENTS,
    FAST_MISSING_SKUS,
    STATUS,
    WRONG_ACTIVE_SKUS,
    Session,
    _as_dict,
    fix_code_action_union,
    server_env,
)
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client


@pytest.fixture
def candidates_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "candidates"
    folder.mkdir()
    (folder / "missing_skus.py").write_text(FAST_MISSING_SKUS)
    (folder / "active_skus.py").write_text(WRONG_ACTIVE_SKUS)
    return folder


@pytest.fixture(params=CLIENTS)
def client_name(request) -> str:
    return request.param


@pytest_asyncio.fixture
async def start_session(tmp_path: Path, example_project: Path):
    """``await start_session(client_name, init_options=..., configuration=...)`` starts the
    server (``python -P -m perfrl.lsp``) and initializes it; every session is shut down after the
    test."""
    sessions: list[Session] = []

    async def start(name: str, init_options: dict | None = None,
                    configuration: dict | None = None,
                    client: LanguageClient | None = None) -> Session:
        client = client or make_test_lsp_client()
        fix_code_action_union(client)
        session = Session(client, example_project)

        @client.feature(STATUS)
        def on_status(params):
            session.statuses.append(_as_dict(params))

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def on_apply_edit(params: types.ApplyWorkspaceEditParams):
            session.applied_edits.append(params)
            return types.ApplyWorkspaceEditResult(applied=True)

        @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def on_lens_refresh(params):
            session.refreshes["codeLens"] += 1

        @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def on_hint_refresh(params):
            session.refreshes["inlayHint"] += 1

        if configuration is not None:
            client.set_configuration(configuration, section="perfrl")
        await client.start_io(sys.executable, "-P", "-m", "perfrl.lsp",
                              env=server_env(tmp_path / f"cache{len(sessions)}"))
        sessions.append(session)
        await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(name),
            root_uri=example_project.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=example_project.as_uri(),
                                                     name="inventory")],
            initialization_options=init_options,
        ))
        return session

    yield start
    for session in sessions:
        try:
            await asyncio.wait_for(session.client.shutdown_session(), 30)
        finally:
            await session.client.stop()


