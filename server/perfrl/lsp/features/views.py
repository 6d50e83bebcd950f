"""What PerfRL knows about each function of a buffer: its active job and its last result with
the result's freshness. Code lenses, inlay hints and code actions are all rendered from these
views, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfrl.engine.types import CandidateResult
from perfrl.lsp.documents import BufferFunction
from perfrl.lsp.edits import RewriteEdit, rewrite_edit
from perfrl.lsp.jobs import Job, JobState
from perfrl.lsp.results import Freshness, FunctionResult


@dataclass(frozen=True)
class FunctionView:
    uri: str
    version: int | None
    function: BufferFunction
    job: Job | None
    result: FunctionResult | None

    @property
    def freshness(self) -> Freshness | None:
        if self.result is None:
            return None
        return self.result.freshness(self.function.source)

    @property
    def applicable_best(self) -> CandidateResult | None:
        """The verified-faster candidate whose rewrite is of exactly this text, or None
        (None exactly when :attr:`applicable` is false)."""
        if self.result is None:
            return None
        best = self.result.best
        if best is None or self.freshness is not Freshness.CURRENT:
            return None
        return best

    @property
    def applicable(self) -> bool:
        """A verified-faster rewrite of exactly this text exists."""
        return self.applicable_best is not None

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.state.finished


def _view(server, uri: str, version: int | None, function: BufferFunction) -> FunctionView:
    job = server.jobs.active_for(uri, function.qualname)
    if job is not None and job.state is JobState.CANCELLED:
        job = None
    return FunctionView(uri, version, function, job,
                        server.results.get(uri, function.qualname))


def views_for(server, uri: str) -> list[FunctionView]:
    """Views of every function of an open buffer ([] for buffers the client has not opened)."""
    document = server.open_document(uri)
    if document is None:
        return []
    text, version = document.source, document.version
    return [_view(server, uri, version, f) for f in server.functions.functions(uri, version, text)]


def view_at(server, uri: str, line0: int) -> FunctionView | None:
    """The view of the function containing 0-based ``line0`` of an open buffer (or the file
    on disk when the buffer is not open), or None."""
    found = server.document_text(uri)
    if found is None:
        return None
    text, version = found
    function = server.functions.at(uri, version, text, line0)
    if function is None:
        return None
    return _view(server, uri, version, function)


def apply_edit_for(server, view: FunctionView) -> RewriteEdit | None:
    """The workspace edit applying the view's verified rewrite, or None when there is none
    (or it no longer fits). Changes nothing: the result recognises the rewritten text as
    *applied* on its own (:attr:`FunctionResult.applied_source`)."""
    if not view.applicable:
        return None
    found = server.document_text(view.uri)
    if found is None:
        return None
    text, _ = found
    result = view.result
    assert result is not None and result.best is not None
    try:
        edit = rewrite_edit(
            view.uri, view.version, text, view.function, result.target,
            result.best.candidate.code, server.num_units, server.supports_document_changes,
        )
    except ValueError as exc:
        server.log_to_client(f"PerfRL: the rewrite of {view.function.qualname} no longer "
                             f"fits the buffer: {exc}")
        return None
    return edit
