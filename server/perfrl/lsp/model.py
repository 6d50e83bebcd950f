"""The model behind the ``model`` candidate source, loaded in the background at start.

The server keeps one :class:`perfrl.inference.background.ModelHandle` while ``model`` is among
``perfrl.sources``. Its state changes (reported by the handle's listener from the loader
thread) are carried onto the event loop and sent as ``perfrl/status``. A failure to load is
shown to the user once per model directory and reason (and logged); jobs then run with the
other sources and say so in their report's warnings.

This module is the one owner of ``PerfServer.model_handle``: jobs never load a model of
their own (:func:`model_handle_for_job`), so what ``perfrl/status`` says is what jobs use.
"""


from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from perfrl.lsp.server import PerfServer

#: How long a job started while the inference package is still being imported waits for the
#: server's model handle before running without the model.
HANDLE_WAIT_S = 120.0

#: Model loads in flight (strong references, see set_model_dir).
_LOADS: set[asyncio.Future] = set()


class UnavailableModel:
    """Stands for a model that cannot even be attempted (the inference package is broken)."""

    def __init__(self, model_dir: Path, error: str) -> None:
        self.model_dir = model_dir
        self.state = "failed"
        self.error = error

    def start(self) -> None:
        pass


def wanted_model_dir(ls: PerfServer) -> Path | None:
    if "model" not in ls.settings.sources:
        return None
    if ls.settings.model_path:
        return Path(ls.settings.model_path).expanduser()
    from perfrl.model_contract import default_model_dir

    return default_model_dir()


def ensure_model(ls: PerfServer) -> None:
    """Start loading the configured model unless it is the one already held (or loading)."""
    model_dir = wanted_model_dir(ls)
    if model_dir == ls.model_dir:
        return
    ls.model_dir = model_dir
    ls.model_handle = None
    previous, ls.model_handle_known = ls.model_handle_known, threading.Event()
    # Jobs waiting on the previous load (or, at start, on the settings not yet applied) wake
    # up and wait on this one (model_handle_for_job).
    previous.set()
    if model_dir is None:
        ls.model_handle_known.set()
    ls.send_status()
    if model_dir is not None:
        # Kept until done: the event loop holds tasks only weakly.
        task = asyncio.ensure_future(_load(ls, model_dir))
        _LOADS.add(task)
        task.add_done_callback(_LOADS.discard)


async def _load(ls: PerfServer, model_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    try:
        # Importing the inference package pulls in numpy: keep it off the event loop.
        background = await loop.run_in_executor(
            None, importlib.import_module, "perfrl.inference.background")
        handle = background.ModelHandle(model_dir)
    except Exception as exc:  # noqa: BLE001 - report it, keep serving
        handle = UnavailableModel(model_dir, f"{type(exc).__name__}: {exc}")
    if ls.model_dir != model_dir:  # settings changed while importing
        return
    ls.model_handle = handle
    ls.model_handle_known.set()
    ls.log_to_client(f"PerfRL: loading the model from {model_dir}")
    if hasattr(handle, "add_listener"):
        handle.add_listener(lambda h: loop.call_soon_threadsafe(_state_changed, ls, h))
    handle.start()
    _state_changed(ls, handle)


def model_handle_for_job(ls: PerfServer) -> Callable[[], Any]:
    """For a job's worker thread: returns the handle of the model the settings name when the
    job runs, once it is known (None when no model is configured, or none is known within
    HANDLE_WAIT_S). A job submitted before the editor's settings arrived (right after
    ``initialized``, while the server asks for them) waits for them rather than running
    without the model."""

    def handle() -> Any:
        deadline = time.monotonic() + HANDLE_WAIT_S
        while True:
            known = ls.model_handle_known
            if not known.wait(max(0.0, deadline - time.monotonic())):
                return None
            if known is ls.model_handle_known:  # not replaced by newer settings meanwhile
                return ls.model_handle

    return handle


def _state_changed(ls: PerfServer, handle) -> None:
    if ls.model_handle is not handle:
        return
    ls.send_status()
    if handle.state == "failed":
        error = handle.error or "unknown error"
        key = f"{handle.model_dir}:{error}"
        if ls.model_failure_shown == key:
            return
        ls.model_failure_shown = key
        ls.tell_user(
            f"PerfRL: the model could not be loaded ({error}). Set perfrl.modelPath to a "
            "model directory, or remove \"model\" from perfrl.sources; rule-based candidates "
            "still work.", types.MessageType.Warning)
    elif handle.state == "ready":
        ls.log_to_client(f"PerfRL: model ready ({handle.model_dir})")
