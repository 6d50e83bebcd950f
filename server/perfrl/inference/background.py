"""Loading the model in a background thread, so that the server answers while it loads.

A caller may rely on:

- :attr:`ModelHandle.state` going ``"not_loaded"`` -> ``"loading"`` -> ``"ready"`` or
  ``"failed"``, never back, and :attr:`ModelHandle.error` being a message for the user
  whenever the state is ``"failed"`` (``None`` otherwise);
- :meth:`ModelHandle.start` being idempotent and never raising for a bad model: every load
  problem (missing directory, bad spec, corrupt ONNX file, anything the loader raises)
  ends as ``"failed"`` with its reason;
- listeners added with :meth:`ModelHandle.add_listener` being called with the handle after
  every state change, from the thread that made the change (the loader thread for
  ``"ready"``/``"failed"``); a listener that raises is ignored, it cannot break loading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from perfrl.engine.types import PerfRLError
from perfrl.inference.onnx_seq2seq import ModelLoadError, OnnxSeq2SeqModel

log = logging.getLogger(__name__)

STATES = ("not_loaded", "loading", "ready", "failed")

Listener = Callable[["ModelHandle"], None]


class ModelNotReady(PerfRLError):
    """The model is still loading after the time the caller was willing to wait."""


class ModelHandle:
    """One model directory, loaded at most once, shared by every job of a process."""

    def __init__(
        self,
        model_dir: Path | str,
        loader: Callable[[Path], OnnxSeq2SeqModel] = OnnxSeq2SeqModel.load,
    ) -> None:
        self.model_dir = Path(model_dir)
        self._loader = loader
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._state = "not_loaded"
        self._error: str | None = None
        self._model: OnnxSeq2SeqModel | None = None
        self._listeners: list[Listener] = []
        self.load_seconds: float | None = None

    @property
    def state(self) -> str:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def model(self) -> OnnxSeq2SeqModel | None:
        """The model once ``"ready"``, else ``None``."""
        return self._model

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        """Begin loading in a daemon thread (nothing happens if already started)."""
        with self._lock:
            if self._state != "not_loaded":
                return
            self._state = "loading"
        self._notify()
        threading.Thread(
            target=self._load, name=f"perfrl-model-load:{self.model_dir.name}", daemon=True
        ).start()

    def wait(self, timeout: float | None = None) -> OnnxSeq2SeqModel:
        """The loaded model, starting the load if needed.

        Raises :class:`ModelLoadError` with the reason when loading failed, and
        :class:`ModelNotReady` when it is still loading after ``timeout`` seconds.
        """
        self.start()
        if not self._done.wait(timeout):
            raise ModelNotReady(
                f"the model at {self.model_dir} is still loading after {timeout:g} s"
            )
        if self._model is None:
            raise ModelLoadError(self._error or f"the model at {self.model_dir} failed to load")
        return self._model

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            model = self._loader(self.model_dir)
        except ModelLoadError as exc:
            self._finish(None, str(exc))
        except Exception as exc:  # any loader failure is a reason for the user
            log.exception("loading the model from %s failed", self.model_dir)
            self._finish(
                None, f"cannot load the model at {self.model_dir}: {type(exc).__name__}: {exc}"
            )
        else:
            self.load_seconds = time.perf_counter() - started
            self._finish(model, None)

    def _finish(self, model: OnnxSeq2SeqModel | None, error: str | None) -> None:
        with self._lock:
            self._model = model
            self._error = error
            self._state = "ready" if model is not None else "failed"
        self._done.set()
        self._notify()

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self)
            except Exception:  # a broken listener must not break loading
                log.exception("model state listener failed")

    def __repr__(self) -> str:
        return f"ModelHandle({str(self.model_dir)!r}, state={self._state!r})"
