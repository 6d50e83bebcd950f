"""The candidate-source interface: anything that proposes rewrites of one function.

A source yields :class:`~perfrl.engine.types.Candidate` objects whose ``code`` is a whole
function definition dedented to column 0. Sources never run candidate code; the verifier
does that in a sandbox. A source that cannot work (no model, ruff missing) raises
:class:`CandidateSourceError` with a message for the user; the engine records it as a
warning and carries on with the other sources.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from perfrl.engine.types import Candidate, FunctionTarget, PerfRLError


class CandidateSourceError(PerfRLError):
    """A source could not produce candidates; the message says why and how to fix it."""


@runtime_checkable
class CandidateSource(Protocol):
    #: Short stable name used in settings and reports: "file", "rules", "model".
    name: str

    def generate(self, target: FunctionTarget, limit: int) -> Iterable[Candidate]:
        """Yield at most ``limit`` candidates for ``target``. May be slow; never blocks on I/O
        with the user."""
        ...
