"""Code actions (kind ``refactor.rewrite``) anywhere inside a function or method.

Offered, depending on what PerfRL knows about the function under the cursor:

- "Optimize `name` with PerfRL" (command ``perfrl.optimizeFunction``) when no job runs;
- "Cancel PerfRL job for `name` (...)" (``perfrl.cancelJob``) while one runs;
- "Apply PerfRL rewrite: `name` 3.1× faster (12 tests, 40 calls checked)" when a
  verified-faster rewrite of exactly the current text exists. It carries the workspace edit
  itself, a versioned ``TextDocumentEdit`` so the client refuses it once the buffer changed;
  for clients without ``documentChanges`` (Neovim) it carries ``perfrl.applyRewrite`` with
  the buffer version instead, which the server checks before sending ``workspace/applyEdit``;
- "Show PerfRL report" (``perfrl.showReport``) once any result exists.
"""

from __future__ import annotations

from lsprotocol import types

from perfrl.lsp.features.commands import APPLY_REWRITE, CANCEL_JOB, OPTIMIZE, SHOW_REPORT
from perfrl.lsp.features.progress import describe
from perfrl.lsp.features.views import FunctionView, apply_edit_for, view_at
from perfrl.lsp.results import Freshness
from perfrl.lsp.server import PerfServer

KIND = types.CodeActionKind.RefactorRewrite


def _wanted(context: types.CodeActionContext | None) -> bool:
    """Whether the client's ``only`` filter admits ``refactor.rewrite``."""
    only = context.only if context is not None else None
    if not only:
        return True
    return any(KIND == kind or KIND.startswith(f"{kind}.") for kind in only)


def actions_for(ls: PerfServer, view: FunctionView) -> list[types.CodeAction]:
    name = view.function.name
    uri, line0 = view.uri, view.function.span.def_line - 1
    actions: list[types.CodeAction] = []
    rewrite = apply_edit_for(ls, view)
    best = view.applicable_best  # not None whenever there is a rewrite
    if rewrite is not None and best is not None:
        speed = f"{best.speedup.median:.1f}× faster" if best.speedup else "faster"
        title = (f"Apply PerfRL rewrite: `{name}` {speed} ({best.tests.run} tests, "
                 f"{best.calls_compared} calls checked)")
        if ls.supports_document_changes:
            actions.append(types.CodeAction(title=title, kind=KIND, edit=rewrite.edit,
                                            is_preferred=True))
        else:
            # Without documentChanges an edit cannot carry the buffer version, so the client
            # could apply it to a changed buffer; the command checks the version first.
            actions.append(types.CodeAction(
                title=title, kind=KIND, is_preferred=True,
                command=types.Command(title=title, command=APPLY_REWRITE,
                                      arguments=[uri, line0, view.version]),
            ))
    if view.running:
        job = view.job
        assert job is not None
        stage = "queued" if job.last_event is None else describe(job.last_event)
        actions.append(types.CodeAction(
            title=f"Cancel PerfRL job for `{name}` ({stage})", kind=KIND,
            command=types.Command(title="Cancel PerfRL job", command=CANCEL_JOB,
                                  arguments=[job.id]),
        ))
    else:
        again = view.result is not None and view.freshness is not Freshness.APPLIED
        actions.append(types.CodeAction(
            title=f"Optimize `{name}` with PerfRL" + (" again" if again else ""), kind=KIND,
            command=types.Command(title="Optimize with PerfRL", command=OPTIMIZE,
                                  arguments=[uri, line0]),
        ))
    if view.result is not None:
        actions.append(types.CodeAction(
            title="Show PerfRL report", kind=KIND,
            command=types.Command(title="Show PerfRL report", command=SHOW_REPORT,
                                  arguments=[uri, line0]),
        ))
    return actions


def register(server: PerfServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[KIND], resolve_provider=False),
    )
    async def code_action(ls: PerfServer, params: types.CodeActionParams):
        # Listing actions changes nothing: no edit is remembered until one is applied.
        if ls.open_document(params.text_document.uri) is None or not _wanted(params.context):
            return []
        await ls.prepare_functions(params.text_document.uri)
        view = view_at(ls, params.text_document.uri, params.range.start.line)
        if view is None:
            return []
        return actions_for(ls, view)
