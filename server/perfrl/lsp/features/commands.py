"""The ``workspace/executeCommand`` commands of ``docs/lsp-protocol.md``.

Contract (shared with the editor clients):

- ``perfrl.optimizeFunction [uri, line]`` -> ``{"jobId", "joined"}``, or null when refused;
- ``perfrl.showReport [uri, line]`` -> ``{"uri": "perfrl-report:<path>", "markdown", "path"}``
  and a ``window/showDocument`` of the report file (when the client supports it), or null;
- ``perfrl.cancelJob [jobId]`` -> ``{"cancelled": bool}``;
- ``perfrl.applyRewrite [uri, line, version]`` -> ``{"applied": bool}``.

Lines are 0-based. A refusal (no function there, nothing to apply, document changed, ...) is
told to the user with ``window/showMessage`` and logged; malformed arguments are a JSON-RPC
error (a client bug, not a user mistake).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from perfrl.engine.types import CancelToken, PerfRLError, ProgressCallback
from perfrl.lsp.documents import uri_to_path
from perfrl.lsp.features.report import render_markdown, report_uri, write_report
from perfrl.lsp.features.views import apply_edit_for, view_at
from perfrl.lsp.results import Freshness

OPTIMIZE = "perfrl.optimizeFunction"
SHOW_REPORT = "perfrl.showReport"
CANCEL_JOB = "perfrl.cancelJob"
APPLY_REWRITE = "perfrl.applyRewrite"
COMMANDS = (OPTIMIZE, SHOW_REPORT, CANCEL_JOB, APPLY_REWRITE)


class CommandArgumentError(ValueError):
    """The client sent arguments that do not match the command's contract."""


def _args(command: str, args: tuple, names: tuple[str, ...]) -> tuple:
    if len(args) != len(names):
        raise CommandArgumentError(
            f"{command} takes {len(names)} arguments [{', '.join(names)}], got {len(args)}")
    return args


def _uri(command: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise CommandArgumentError(f"{command}: uri must be a non-empty string, got {value!r}")
    return value


def _int(command: str, what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CommandArgumentError(f"{command}: {what} must be an integer >= 0, got {value!r}")
    return value


def _engine_work(settings, engine_settings, target, names, files, model_handle):
    """The blocking body of a job (runs in a worker thread)."""

    def work(progress: ProgressCallback, cancel: CancelToken):
        from perfrl.engine.optimize import optimize_function
        from perfrl.sources.registry import build_sources

        # Without a handle (the model is still being set up) the registry loads the
        # configured directory itself.
        sources = build_sources(
            names, candidate_files=files, model_handle=model_handle,
            model_dir=Path(settings.model_path).expanduser() if settings.model_path else None,
            temperature=settings.temperature,
        )
        return optimize_function(
            target, sources, engine_settings, progress=progress, cancel=cancel,
            candidates_per_source=settings.num_candidates,
        )

    return work


def start_optimize(ls, uri: str, line0: int) -> dict | None:
    """Start (or join) the job for the function at ``line0``; None when refused."""
    from perfrl.engine.locate import locate_function_at

    path = uri_to_path(uri)
    found = ls.document_text(uri)
    if path is None or found is None:
        ls.tell_user(f"PerfRL: cannot optimize {uri}: it is not a Python file on disk; save "
                     "it as a .py file inside a project first", types.MessageType.Error)
        return None
    text, _ = found
    try:
        target = locate_function_at(path, line0 + 1, text=text)
    except PerfRLError as exc:
        ls.tell_user(f"PerfRL: {exc}", types.MessageType.Error)
        return None
    settings = ls.settings
    names = [n for n in settings.sources]
    files = settings.candidate_files(target.qualname)
    if not names and not files:
        ls.tell_user("PerfRL: no candidate sources: set perfrl.sources to [\"rules\", "
                     "\"model\"]", types.MessageType.Error)
        return None
    model_handle = ls.model_handle if "model" in names else None
    engine_settings = settings.engine_settings(cache_dir=ls.cache_dir / "baselines")
    work = _engine_work(settings, engine_settings, target, names, files, model_handle)
    job, joined = ls.jobs.submit(uri, target, work)
    if joined:
        ls.log_to_client(f"PerfRL: {target.display} is already being optimized ({job.id})")
    return {"jobId": job.id, "joined": joined}


def cancel_job(ls, job_id: str) -> dict:
    cancelled = ls.jobs.cancel(job_id)
    if not cancelled:
        ls.log_to_client(f"PerfRL: no running job {job_id} to cancel")
    return {"cancelled": cancelled}


async def apply_rewrite(ls, uri: str, line0: int, version: int) -> dict:
    """Apply the current verified rewrite through ``workspace/applyEdit``."""
    document = ls.open_document(uri)
    if document is None:
        ls.tell_user("PerfRL: open the file to apply a rewrite", types.MessageType.Warning)
        return {"applied": False}
    if document.version != version:
        ls.tell_user("PerfRL: the document changed since this rewrite was offered; nothing "
                     "was applied. Use the refreshed lens or code action.",
                     types.MessageType.Warning)
        return {"applied": False}
    view = view_at(ls, uri, line0)
    if view is None or not view.applicable:
        what = "the function was edited after it was verified; optimize it again" if (
            view is not None and view.freshness is Freshness.OUTDATED
        ) else "there is no verified faster rewrite for this function"
        ls.tell_user(f"PerfRL: nothing applied: {what}", types.MessageType.Warning)
        return {"applied": False}
    if not ls.client_supports("workspace", "apply_edit"):
        ls.tell_user("PerfRL: this editor cannot apply edits sent by the server; use the "
                     "code action instead", types.MessageType.Warning)
        return {"applied": False}
    rewrite = apply_edit_for(ls, view)
    if rewrite is None:
        ls.tell_user("PerfRL: the rewrite no longer fits the file; optimize again",
                     types.MessageType.Warning)
        return {"applied": False}
    response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
        edit=rewrite.edit, label=f"PerfRL: apply rewrite of {view.function.name}"))
    if not response.applied:
        reason = response.failure_reason or "the editor refused the edit"
        ls.tell_user(f"PerfRL: the rewrite was not applied: {reason}",
                     types.MessageType.Warning)
        return {"applied": False}
    ls.log_to_client(f"PerfRL: applied the rewrite of {view.function.qualname}")
    return {"applied": True}


async def show_report(ls, uri: str, line0: int) -> dict | None:
    view = view_at(ls, uri, line0)
    if view is None or view.result is None:
        ls.tell_user("PerfRL: no report for this function yet; run \"Optimize with PerfRL\" "
                     "first", types.MessageType.Info)
        return None
    markdown = render_markdown(view.result, view.freshness)
    path: Path = write_report(ls.cache_dir, view.result, markdown)
    if ls.client_supports("window", "show_document", "support"):
        try:
            await ls.window_show_document_async(types.ShowDocumentParams(
                uri=path.as_uri(), take_focus=True))
        except Exception as exc:  # noqa: BLE001 - the report is returned anyway
            ls.log_to_client(f"PerfRL: the editor could not open {path}: {exc}")
    else:  # e.g. Neovim 0.7: say where the report is
        ls.tell_user(f"PerfRL report for {view.function.qualname}: {path}")
    return {"uri": report_uri(path), "markdown": markdown, "path": str(path)}


def register(server) -> None:
    @server.command(OPTIMIZE)
    def optimize_command(ls, *args):
        uri, line = _args(OPTIMIZE, args, ("uri", "line"))
        return start_optimize(ls, _uri(OPTIMIZE, uri), _int(OPTIMIZE, "line", line))

    @server.command(SHOW_REPORT)
    async def show_report_command(ls, *args):
        uri, line = _args(SHOW_REPORT, args, ("uri", "line"))
        return await show_report(ls, _uri(SHOW_REPORT, uri), _int(SHOW_REPORT, "line", line))

    @server.command(CANCEL_JOB)
    def cancel_command(ls, *args):
        (job_id,) = _args(CANCEL_JOB, args, ("jobId",))
        if not isinstance(job_id, str):
            raise CommandArgumentError(f"{CANCEL_JOB}: jobId must be a string, got {job_id!r}")
        return cancel_job(ls, job_id)

    @server.command(APPLY_REWRITE)
    async def apply_command(ls, *args):
        uri, line, version = _args(APPLY_REWRITE, args, ("uri", "line", "version"))
        return await apply_rewrite(ls, _uri(APPLY_REWRITE, uri),
                                   _int(APPLY_REWRITE, "line", line),
                                   _int(APPLY_REWRITE, "version", version))
