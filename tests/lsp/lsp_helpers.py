"""Helpers for the pytest-lsp tests: the real server in a subprocess, driven by a client
announcing the capabilities of a real editor (VS Code or Neovim, as recorded by pytest-lsp).

Synchronisation never sleeps: :class:`Session` waits for notifications, registering each
waiter before it inspects what already arrived (a notification cannot slip in between).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import LanguageClient

CLIENTS = ["visual-studio-code", "neovim"]
STATUS = "perfrl/status"

#: Hand-written candidates (``<qualname>.py``) for deterministic jobs.
FAST_MISSING_SKUS = '''\
def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = {product["sku"] for product in products}
    return [sku for sku in wanted if sku not in carried]
'''

#: Wrong on purpose: it drops the upper-casing, so the project's tests fail.
WRONG_ACTIVE_SKUS = '''\
def active_skus(products):
    return [product["sku"] for product in products if product["active"]]
'''


class Session:
    """A started client plus helpers to open documents and wait for server messages."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.statuses: list[dict] = []
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.refreshes: dict[str, int] = {"codeLens": 0, "inlayHint": 0}

    # --- documents ----------------------------------------------------------------------------

    def uri(self, relpath: str) -> str:
        return (self.root / relpath).as_uri()

    def open(self, relpath: str, text: str | None = None) -> str:
        uri = self.uri(relpath)
        text = (self.root / relpath).read_text() if text is None else text
        self.versions[uri] = 1
        self.texts[uri] = text
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=text)))
        return uri

    def change(self, uri: str, text: str) -> int:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
        return self.versions[uri]

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    # --- requests -----------------------------------------------------------------------------

    async def code_actions(self, uri: str, line: int, character: int = 4) -> list:
        pos = types.Position(line=line, character=character)
        result = await self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=pos, end=pos),
            context=types.CodeActionContext(diagnostics=[])))
        return list(result or [])

    async def code_lenses(self, uri: str) -> list[types.CodeLens]:
        result = await self.client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        return list(result or [])

    async def inlay_hints(self, uri: str) -> list[types.InlayHint]:
        lines = self.texts[uri].count("\n") + 1
        result = await self.client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0),
                              end=types.Position(line=lines, character=0))))
        return list(result or [])

    async def command(self, name: str, *arguments: Any) -> Any:
        return await self.client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=name, arguments=list(arguments)))

    # --- waiting ------------------------------------------------------------------------------

    async def wait_for(self, method: str, seen: Callable[[], Any], timeout: float) -> Any:
        """Wait until ``seen()`` returns something truthy, re-checking after each
        notification of ``method``; returns that value."""
        deadline = time.monotonic() + timeout
        while True:
            future = self.client.protocol.wait_for_notification_async(method)
            found = seen()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out waiting on {method}")
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                found = seen()
                if found:
                    return found
                raise

    async def wait_message(self, predicate: Callable[[str], bool], start: int = 0,
                           timeout: float = 240.0) -> types.ShowMessageParams:
        def seen():
            return next((m for m in self.client.messages[start:] if predicate(m.message)), None)

        return await self.wait_for(types.WINDOW_SHOW_MESSAGE, seen, timeout)

    async def wait_progress(self, token: str, kind: type, timeout: float = 240.0):
        def seen():
            return next((v for v in self.client.progress_reports.get(token, [])
                         if isinstance(v, kind)), None)

        return await self.wait_for(types.PROGRESS, seen, timeout)

    async def wait_status(self, predicate: Callable[[dict], bool], start: int = 0,
                          timeout: float = 60.0) -> dict:
        def seen():
            return next((s for s in self.statuses[start:] if predicate(s)), None)

        return await self.wait_for(STATUS, seen, timeout)


def _as_dict(params: Any) -> dict:
    if isinstance(params, dict):
        return params
    # pygls hands unknown notifications over as a namedtuple-like object.
    if hasattr(params, "_asdict"):
        return {k: _as_dict(v) if hasattr(v, "_asdict") else v
                for k, v in params._asdict().items()}
    return dict(vars(params))


def fix_code_action_union(client: LanguageClient) -> None:
    """Make the test client tell a ``CodeAction`` carrying a command from a bare ``Command``.

    lsprotocol 2025.0.0 structures every item with a ``command`` key as ``Command``, which
    drops a code action's ``kind``, ``edit`` and ``isPreferred``. A bare command has a string
    ``command``; a code action has an object there (or none).
    """
    converter = client.protocol._converter

    def hook(obj: Any, _type: Any):
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    # typing.Union, not X | Y: the key must match how lsprotocol spells the union.
    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


def server_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache)
    env.pop("PERFRL_CACHE_DIR", None)
    return env


def edit_of(action_or_edit: Any) -> tuple[str, int | None, list[types.TextEdit]]:
    """(uri, version, edits) of a workspace edit (or a code action's) for one document; the
    version is None for the unversioned ``changes`` form."""
    edit = getattr(action_or_edit, "edit", action_or_edit)
    if edit.document_changes:
        (change,) = edit.document_changes
        return change.text_document.uri, change.text_document.version, list(change.edits)
    ((uri, edits),) = edit.changes.items()
    return uri, None, list(edits)


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (UTF-16 positions, LSP line breaks) to ``text``."""
    from perfrl.engine.locate import split_lines

    lines = split_lines(text)
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line)
    starts.append(offset)

    def index(pos: types.Position) -> int:
        if pos.line >= len(lines):
            return len(text)
        line = lines[pos.line]
        units, col = 0, 0
        while col < len(line) and units < pos.character and line[col] not in "\r\n":
            units += 2 if ord(line[col]) > 0xFFFF else 1
            col += 1
        return starts[pos.line] + col

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                       reverse=True):
        text = text[: index(edit.range.start)] + edit.new_text + text[index(edit.range.end):]
    return text
