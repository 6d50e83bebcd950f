"""The PerfRL language server: one :class:`PerfServer` owns all state; features live in
``server/perfrl/lsp/features/`` and are registered by :func:`create_server`.

State owned here: typed settings, the function index of open buffers, finished results, the
job manager, the background model handle and the report cache folder. Everything that talks
to the client goes through the helpers below, which check the client's capabilities first, so
a feature never sends a request the client did not announce.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from perfrl import __version__
from perfrl.lsp.config import LspSettings, SettingProblem
from perfrl.lsp.documents import FunctionIndex, uri_to_path
from perfrl.lsp.jobs import JobListener, JobManager
from perfrl.lsp.results import ResultStore

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "perfrl/status"


def default_cache_dir() -> Path:
    """``$PERFRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/perfrl/lsp`` (``~/.cache/perfrl/lsp``)."""
    explicit = os.environ.get("PERFRL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "perfrl" / "lsp"


class PerfServer(LanguageServer):
    """The language server instance handlers receive as their first argument."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        super().__init__(
            "perfrl-lsp",
            __version__,
            # Full sync: pygls' incremental sync splits lines like str.splitlines (form feeds
            # and other separators too), which would disagree with the LSP's line numbers.
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
        )
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        #: Settings from initializationOptions: the base the pulled configuration overrides.
        self.initial_settings = LspSettings()
        self.settings = LspSettings()
        self.functions = FunctionIndex()
        self.results = ResultStore()
        self.jobs: JobManager | None = None
        self.model_handle: Any = None
        self.model_dir: Path | None = None
        self._model_failure_shown: str | None = None
        self._last_status: dict | None = None
        self._refresh_pending = False

    # --- lifecycle ------------------------------------------------------------------------------

    def attach_jobs(self, listener: JobListener) -> None:
        self.jobs = JobManager(listener, self.settings.max_concurrent_jobs)

    # --- client capabilities --------------------------------------------------------------------

    def client_supports(self, *path: str) -> bool:
        """Whether the client's capabilities have a truthy value at ``path``, for example
        ``client_supports("workspace", "code_lens", "refresh_support")``."""
        node: Any = self.client_capabilities
        for name in path:
            node = getattr(node, name, None)
            if node is None:
                return False
        return bool(node)

    @property
    def supports_document_changes(self) -> bool:
        return self.client_supports("workspace", "workspace_edit", "document_changes")

    # --- messages -------------------------------------------------------------------------------

    def log_to_client(self, message: str,
                      kind: types.MessageType = types.MessageType.Log) -> None:
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, "%s", message)
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def tell_user(self, message: str,
                  kind: types.MessageType = types.MessageType.Info) -> None:
        """``window/showMessage`` plus the same line in the log (``window/logMessage``).

        The log line goes first, so a client that reacts to the message finds it logged."""
        self.log_to_client(message, kind)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def report_setting_problems(self, problems: list[SettingProblem]) -> None:
        for problem in problems:
            self.tell_user(f"PerfRL: {problem.message}", types.MessageType.Warning)

    # --- documents ------------------------------------------------------------------------------

    def open_document(self, uri: str):
        """The open buffer for ``uri``, or None when the client has not opened it."""
        return self.workspace.text_documents.get(uri)

    def document_text(self, uri: str) -> tuple[str, int | None] | None:
        """(text, version) of the open buffer, else of the ``.py`` file on disk (version
        None), else None."""
        document = self.open_document(uri)
        if document is not None:
            return document.source, document.version
        path = uri_to_path(uri)
        if path is None or path.suffix != ".py" or not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError):
            return None

    def num_units(self, text: str) -> int:
        """Length of ``text`` in the negotiated position encoding (UTF-16 by default)."""
        return self.workspace.position_codec.client_num_units(text)

    # --- views ----------------------------------------------------------------------------------

    def refresh_views(self) -> None:
        """Ask the client to re-pull code lenses and inlay hints (when it supports refresh).

        Coalesced: many changes within one loop iteration send one pair of requests.
        """
        if self._refresh_pending:
            return
        self._refresh_pending = True
        asyncio.get_running_loop().call_soon(self._send_refresh)

    def _send_refresh(self) -> None:
        self._refresh_pending = False
        if self.client_supports("workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)
        if self.client_supports("workspace", "inlay_hint", "refresh_support"):
            self.workspace_inlay_hint_refresh(None)

    # --- status ---------------------------------------------------------------------------------

    def status_payload(self) -> dict:
        model_state, model_error = "not_loaded", None
        if self.model_handle is not None:
            model_state = getattr(self.model_handle, "state", "not_loaded")
            model_error = getattr(self.model_handle, "error", None)
        return {
            "model": model_state,
            "modelError": model_error,
            "jobsRunning": self.jobs.running_count if self.jobs else 0,
            "jobsQueued": self.jobs.queued_count if self.jobs else 0,
        }

    def send_status(self, force: bool = False) -> None:
        """Send ``perfrl/status`` when it differs from the last one sent."""
        payload = self.status_payload()
        if payload == self._last_status and not force:
            return
        self._last_status = payload
        self.protocol.notify(STATUS_NOTIFICATION, payload)
