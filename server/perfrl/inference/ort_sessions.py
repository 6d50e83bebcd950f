"""Opening onnxruntime sessions the way every model file of the server is run.

A caller may rely on :func:`open_session` either returning a CPU session configured for a
small model on a shared machine or raising :class:`ModelLoadError` that names the file, and on
:func:`require_names` raising :class:`ModelLoadError` that lists what a graph lacks.
"""

from __future__ import annotations

import os
from pathlib import Path

from perfrl.engine.types import PerfRLError

_THREADS_ENV = "PERFRL_ORT_THREADS"


class ModelLoadError(PerfRLError):
    """The model directory cannot be used; the message says which piece and why."""


def default_threads() -> int:
    """Intra-op threads: ``$PERFRL_ORT_THREADS`` or 2 (1 on a single core).

    More threads barely help a model this small and hurt when the machine is busy.
    """
    configured = os.environ.get(_THREADS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            pass
    return max(1, min(2, os.cpu_count() or 1))


def open_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads collapse when other processes compete for the cores (measured:
    # 6.2 ms -> 3.3 ms per token on a loaded 2-core machine with spinning off).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise ModelLoadError(
            f"cannot load {path}: {type(exc).__name__}: {str(exc).strip()[:300]} "
            "(the file may be truncated or corrupt; export the model again)"
        ) from exc


def names(items) -> list[str]:
    """The names of a session's ``get_inputs()`` or ``get_outputs()``."""
    return [item.name for item in items]


def require_names(path: Path, have: list[str], wanted: set[str], kind: str) -> None:
    """Raise :class:`ModelLoadError` when the graph at ``path`` lacks some of ``wanted``."""
    missing = wanted - set(have)
    if missing:
        raise ModelLoadError(
            f"{path} is not {kind}: it lacks {sorted(missing)}; it has {have}"
        )
