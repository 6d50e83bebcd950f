"""Code lenses above functions PerfRL has worked on (none for untouched functions).

While a job runs: "PerfRL: verifying 3/8… · cancel". After it: "⚡ 3.1× faster (2.9–3.3×) ·
apply" (runs ``perfrl.applyRewrite`` with the buffer version) plus "PerfRL report", or
"PerfRL: no faster verified version (8 tried: 5 failed tests, 3 not faster)". An edited
function shows "PerfRL: outdated (function edited) · optimize again".
"""

from __future__ import annotations

from lsprotocol import types

from perfrl.lsp.features.commands import APPLY_REWRITE, CANCEL_JOB, OPTIMIZE, SHOW_REPORT
from perfrl.lsp.features.hot_spots import hot_lens
from perfrl.lsp.features.progress import describe
from perfrl.lsp.features.views import FunctionView, views_for
from perfrl.lsp.jobs import JobState
from perfrl.lsp.results import Freshness, speedup_text, summarize_verdicts
from perfrl.lsp.server import PerfServer

MAX_ERROR_CHARS = 80


def running_text(view: FunctionView) -> str:
    job = view.job
    assert job is not None
    if job.cancel_requested:
        return "PerfRL: cancelling…"
    if job.state is JobState.QUEUED:
        return "PerfRL: queued…"
    event = job.last_event
    if event is None:
        return "PerfRL: starting…"
    if event.stage in ("testing", "benchmarking") and event.total:
        return f"PerfRL: verifying {min((event.done or 0) + 1, event.total)}/{event.total}…"
    return f"PerfRL: {describe(event)}…"


def _lens(line0: int, title: str, command: str, arguments: list) -> types.CodeLens:
    return types.CodeLens(
        range=types.Range(start=types.Position(line=line0, character=0),
                          end=types.Position(line=line0, character=0)),
        command=types.Command(title=title, command=command, arguments=arguments),
    )


def lenses_for(view: FunctionView) -> list[types.CodeLens]:
    span = view.function.span
    line0, def0, uri = span.start_line - 1, span.def_line - 1, view.uri
    if view.running and view.job is not None:  # running implies a job
        return [_lens(line0, f"{running_text(view)} · cancel", CANCEL_JOB, [view.job.id])]
    result = view.result
    if result is None:
        return []
    report_lens = _lens(line0, "PerfRL report", SHOW_REPORT, [uri, def0])
    freshness = view.freshness
    if freshness is Freshness.OUTDATED:
        return [_lens(line0, "PerfRL: outdated (function edited) · optimize again", OPTIMIZE,
                      [uri, def0])]
    best = result.best
    if freshness is Freshness.APPLIED:
        speed = f" ({best.speedup.median:.1f}× faster)" if best and best.speedup else ""
        return [_lens(line0, f"⚡ PerfRL rewrite applied{speed}", SHOW_REPORT, [uri, def0])]
    if result.report is None:
        error = (result.error or "failed").splitlines()[0]
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        return [_lens(line0, f"PerfRL: failed: {error} · retry", OPTIMIZE, [uri, def0])]
    if best is None:
        return [_lens(line0, f"PerfRL: no faster verified version "
                             f"({summarize_verdicts(result.report)})", SHOW_REPORT, [uri, def0])]
    return [
        _lens(line0, f"⚡ {speedup_text(best)} · apply", APPLY_REWRITE, [uri, def0, view.version]),
        report_lens,
    ]


def register(server: PerfServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: PerfServer, params: types.CodeLensParams):
        await ls.prepare_functions(params.text_document.uri)
        lenses: list[types.CodeLens] = []
        for view in views_for(ls, params.text_document.uri):
            lenses.extend(lenses_for(view))
            hot = hot_lens(ls, view)
            if hot is not None:
                lenses.append(hot)
        return lenses
