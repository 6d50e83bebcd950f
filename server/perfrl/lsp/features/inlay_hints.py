"""An inlay hint after the signature of a function with a current verified rewrite: ``⚡3.1×``
(the tooltip gives the interval and what was checked)."""

from __future__ import annotations

from lsprotocol import types

from perfrl.engine.locate import split_lines
from perfrl.lsp.features.views import views_for
from perfrl.lsp.server import PerfServer


def register(server: PerfServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    async def inlay_hints(ls: PerfServer, params: types.InlayHintParams):
        uri = params.text_document.uri
        if ls.open_document(uri) is None:
            return []
        await ls.prepare_functions(uri)
        document = ls.open_document(uri)
        if document is None:  # closed meanwhile
            return []
        first, last = params.range.start.line, params.range.end.line
        lines = None
        hints: list[types.InlayHint] = []
        for view in views_for(ls, uri):
            best = view.applicable_best
            if best is None:
                continue
            line, col = view.function.span.signature_end
            if not first <= line - 1 <= last:
                continue
            if lines is None:
                lines = split_lines(document.source)
            if line - 1 >= len(lines):
                continue
            s = best.speedup
            label = f"⚡{s.median:.1f}×" if s else "⚡faster"
            tooltip = (
                f"PerfRL: {s.median:.2f}× faster (95% CI {s.low:.2f}–{s.high:.2f}×), "
                f"{best.tests.run} tests, {best.calls_compared} calls checked"
                if s else "PerfRL: verified faster"
            )
            hints.append(types.InlayHint(
                position=types.Position(line=line - 1,
                                        character=ls.num_units(lines[line - 1][:col])),
                label=label, padding_left=True, tooltip=tooltip,
            ))
        return hints
