"""The PerfRL language server: one :class:`PerfServer` owns all state; features live in
``server/perfrl/lsp/features/`` and are registered by :func:`create_server`.

State owned here, all created in the constructor: typed settings, the function index of open
buffers, finished results, the job manager (with the listener that shows jobs to the user),
the background model handle and the report cache folder. Everything that talks to the client
goes through the helpers below, which check the client's capabilities first, so a feature
never sends a request the client did not announce.

The server runs its own loop (:meth:`PerfServer.serve_stdio`, :meth:`PerfServer.serve_tcp`
for one TCP client) instead of pygls' ``start_io``/``start_tcp``: frames are read by
:class:`~perfrl.lsp.framing.FrameReader` in a thread, checked by
:class:`~perfrl.lsp.protocol.PerfProtocol`, and the process ends through one path whatever the
order of ``shutdown``, ``exit``, end of input or SIGTERM: jobs cancelled (their sandboxes
killed and folders removed), their last messages sent while the client still listens, then
the exit code the protocol asks for.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from perfrl import __version__
from perfrl.engine.cache_dir import cache_dir
from perfrl.engine.source_files import SourceDecodeError, decode_source
from perfrl.lsp.config import LspSettings, SettingProblem
from perfrl.lsp.documents import FunctionIndex, uri_to_path
from perfrl.lsp.framing import FrameReader
from perfrl.lsp.hot_spots import HotSpots
from perfrl.lsp.jobs import JobManager
from perfrl.lsp.protocol import PerfProtocol, perf_converter
from perfrl.lsp.results import ResultStore

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "perfrl/status"
#: How long stopping waits for cancelled jobs to end (their sandboxes are killed at once; the
#: wait covers removing their folders and sending their last messages).
JOB_STOP_TIMEOUT_S = 5.0
#: Exit codes: after shutdown+exit, exit without shutdown (LSP), and a signal (128 + number).
EXIT_OK, EXIT_WITHOUT_SHUTDOWN = 0, 1


def default_cache_dir() -> Path:
    """The server's folder under the one cache rule (``engine/cache_dir.py``): ``lsp`` below
    ``$PERFRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/perfrl``, else ``~/.cache/perfrl``."""
    return cache_dir("lsp")


class PerfServer(LanguageServer):
    """The language server instance handlers receive as their first argument."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        super().__init__(
            "perfrl-lsp",
            __version__,
            # Full sync: pygls' incremental sync splits lines like str.splitlines (form feeds
            # and other separators too), which would disagree with the LSP's line numbers.
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            protocol_cls=PerfProtocol,
            converter_factory=perf_converter,
        )
        # The listener presents jobs to the user; it lives with the other features.
        from perfrl.lsp.features.job_events import JobEvents

        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        #: Settings from initializationOptions: the base the pulled configuration overrides.
        self.initial_settings = LspSettings()
        self.settings = LspSettings()
        #: Setting problems found in initializationOptions, shown once the client listens.
        self.pending_problems: list[SettingProblem] = []
        self.shown_problems: set[str] = set()
        self.functions = FunctionIndex()
        # Parsing buffers happens here, off the event loop (one at a time: they share the GIL).
        self._parse_executor = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="perfrl-parse")
        self.results = ResultStore()
        #: The last workspace profile (perfrl.profileProject), for hot-spot lenses.
        self.hot_spots = HotSpots()
        self.jobs = JobManager(JobEvents(self), self.settings.max_concurrent_jobs)
        #: The model handle: set only by perfrl.lsp.model (the one owner).
        self.model_handle: Any = None
        self.model_dir: Path | None = None
        #: Set once the handle for model_dir is known (jobs wait on it in their thread).
        self.model_handle_known = threading.Event()
        self.model_failure_shown: str | None = None
        #: Buffers above the size limit whose refusal was already told to the user.
        self.too_large_told: set[str] = set()
        #: Open buffers large enough that closing them should return memory to the system.
        self.large_documents: set[str] = set()
        self._last_status: dict | None = None
        self._refresh_pending = False
        self._stop: asyncio.Future[int] | None = None
        #: The exit code asked for so far (by exit, end of input or a signal).
        self.exit_code = EXIT_WITHOUT_SHUTDOWN

    protocol: PerfProtocol

    # --- lifecycle ------------------------------------------------------------------------------

    def serve_stdio(self, stdin: BinaryIO | None = None,
                    stdout: BinaryIO | None = None) -> int:
        """Serve on stdin/stdout until ``exit``, end of input or SIGTERM/SIGINT; returns the
        exit code (0 after shutdown+exit, 1 without shutdown, 128+n for signal n)."""
        return asyncio.run(self._serve(stdin or sys.stdin.buffer,
                                       stdout or sys.stdout.buffer))

    def serve_tcp(self, host: str, port: int) -> int:
        """Accept one client on ``host:port`` and serve it like :meth:`serve_stdio` (the same
        reader, checks and stopping); returns the exit code."""
        with socket.create_server((host, port)) as listener:
            log.info("listening on %s:%d", host, port)
            connection, peer = listener.accept()
        log.info("client connected from %s", peer)
        with connection, connection.makefile("rb") as reading, \
                connection.makefile("wb") as writing:
            return asyncio.run(self._serve(reading, writing))

    async def _serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        self.protocol.set_writer(SafeWriter(stdout))
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self.request_stop, 128 + signum,
                                        signal.Signals(signum).name)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        reader = threading.Thread(target=self._read_frames, args=(stdin.fileno(), loop),
                                  name="perfrl-stdin", daemon=True)
        reader.start()
        code = await self._stop
        await self.stop_jobs()
        # Handlers still waiting (for a client that is gone) are cancelled when the loop
        # ends; pygls reports each as an error in a callback. Nothing is left to tell.
        loop.set_exception_handler(
            lambda _loop, context: log.debug("after stop: %s", context.get("message")))
        return code

    def _read_frames(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        """The reader thread: frames to the loop, one at a time, in order."""
        frames = FrameReader(fd)
        try:
            while True:
                message = frames.next_message()
                for note in frames.notes:
                    log.warning("skipped input: %s", note)
                frames.notes.clear()
                if message is None:
                    loop.call_soon_threadsafe(self._input_ended)
                    return
                loop.call_soon_threadsafe(self.protocol.receive, message)
        except RuntimeError:  # the loop is closed: the server is already stopping
            return

    def _input_ended(self) -> None:
        if not self.protocol.exit_received:
            log.info("the client closed the connection")
        self.request_stop(EXIT_OK if self.protocol.shutdown_received else EXIT_WITHOUT_SHUTDOWN,
                          "end of input")

    def request_stop(self, code: int, reason: str) -> None:
        """Stop serving (the first reason wins); safe to call more than once."""
        if self._stop is not None and not self._stop.done():
            log.info("stopping (%s), exit code %d", reason, code)
            self.exit_code = code
            self._stop.set_result(code)

    async def stop_jobs(self) -> None:
        """Cancel every job and wait (bounded) until their worker threads have ended."""
        left = await self.jobs.close(JOB_STOP_TIMEOUT_S)
        if left:
            log.warning("%d job(s) still stopping after %.0f s: %s", len(left),
                        JOB_STOP_TIMEOUT_S, ", ".join(job.id for job in left))

    def report_server_error(self, error: Exception, source) -> None:
        """One log line; never a popup (pygls' default shows each to the user)."""
        log.debug("pygls reported: %s", error)

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
            # The file's own encoding (PEP 263 coding line, BOM), as Python reads it.
            return decode_source(path.read_bytes())[0], None
        except (OSError, SourceDecodeError):
            return None

    async def prepare_functions(self, uri: str) -> None:
        """Parse the document's current text off the event loop (unless already indexed), so
        the views of this request do not block other requests."""
        found = self.document_text(uri)
        if found is None:
            return
        text, version = found
        loop = asyncio.get_running_loop()
        await self.functions.prepare(
            uri, version, text,
            lambda function, arg: loop.run_in_executor(self._parse_executor, function, arg))

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
            "jobsRunning": self.jobs.running_count,
            "jobsQueued": self.jobs.queued_count,
        }

    def send_status(self, force: bool = False) -> None:
        """Send ``perfrl/status`` when it differs from the last one sent."""
        payload = self.status_payload()
        if payload == self._last_status and not force:
            return
        self._last_status = payload
        self.protocol.notify(STATUS_NOTIFICATION, payload)


class SafeWriter:
    """stdout for the protocol: once the client's end is gone, messages are dropped with one
    log line instead of an exception in every handler that still talks to the client."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self.closed = True
                log.warning("the client stopped reading (%s); later messages are dropped",
                            exc)

    def close(self) -> None:
        with self._lock:
            self.closed = True
