"""The model behind the ``model`` candidate source, loaded in the background at start.

The server keeps one :class:`server.inference.background.ModelHandle` while ``model`` is among
``perfrl.sources``; its state is watched from the event loop and sent as ``perfrl/status``.
A failure to load is shown to the user once per model directory (and logged); jobs then run
with the other sources and say so in their report's warnings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from server.lsp.server import PerfServer

POLL_S = 0.2
TERMINAL_STATES = ("ready", "failed")


class UnavailableModel:
    """Stands for a model that cannot even be attempted (the inference package is missing)."""

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
    from server.model_contract import default_model_dir

    return default_model_dir()


def ensure_model(ls: PerfServer) -> None:
    """Start loading the configured model when it is not the one already held."""
    model_dir = wanted_model_dir(ls)
    if model_dir == ls.model_dir and (ls.model_handle is not None or model_dir is None):
        return
    ls.model_dir = model_dir
    if model_dir is None:
        ls.model_handle = None
        ls.send_status()
        return
    try:
        from server.inference.background import ModelHandle

        handle = ModelHandle(model_dir)
    except Exception as exc:  # noqa: BLE001 - report it, keep serving
        handle = UnavailableModel(model_dir, f"{type(exc).__name__}: {exc}")
    ls.model_handle = handle
    ls.log_to_client(f"PerfRL: loading the model from {model_dir}")
    try:
        handle.start()
    except Exception as exc:  # noqa: BLE001
        handle = UnavailableModel(model_dir, f"{type(exc).__name__}: {exc}")
        ls.model_handle = handle
    ls.send_status()
    asyncio.ensure_future(_watch(ls, handle))


async def _watch(ls: PerfServer, handle) -> None:
    """Send ``perfrl/status`` on every state change until the handle settles."""
    last = None
    while ls.model_handle is handle:
        state = getattr(handle, "state", "failed")
        if state != last:
            last = state
            ls.send_status()
            if state == "failed":
                _report_failure(ls, handle)
            elif state == "ready":
                ls.log_to_client(f"PerfRL: model ready ({ls.model_dir})")
        if state in TERMINAL_STATES:
            return
        await asyncio.sleep(POLL_S)


def _report_failure(ls: PerfServer, handle) -> None:
    error = getattr(handle, "error", None) or "unknown error"
    key = f"{ls.model_dir}:{error}"
    if ls._model_failure_shown == key:
        return
    ls._model_failure_shown = key
    ls.tell_user(
        f"PerfRL: the model could not be loaded ({error}). Set perfrl.modelPath to a model "
        "directory, or remove \"model\" from perfrl.sources; rule-based candidates still work.",
        types.MessageType.Warning,
    )
