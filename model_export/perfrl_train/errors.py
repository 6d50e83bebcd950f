"""The one base class of the training pipeline's user-facing errors.

Every exception of ``perfrl_train`` whose message is meant for the user (a bad flag, a data
file in the wrong format, a checkpoint or model directory that does not load, an architecture
the exporter cannot handle) derives from :class:`PerfRLError`, the same base the engine uses
(:class:`perfrl.engine.types.PerfRLError`). A caller may rely on: ``perfrl-train`` prints such
an error's message and exits 2, never a traceback; anything else is a bug and exits 1 with its
traceback.
"""

from __future__ import annotations

from perfrl.engine.types import PerfRLError

__all__ = ["PerfRLError"]
