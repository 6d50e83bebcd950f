"""The ``workspace/executeCommand`` commands of ``docs/lsp-protocol.md``.

Contract (shared with the editor clients):

- ``perfrl.optimizeFunction [uri, line]`` -> ``{"jobId", "joined"}``, or null when refused;
- ``perfrl.showReport [uri, line]`` -> ``{"uri": "perfrl-report:<path>", "markdown", "path"}``
  and a ``window/showDocument`` of the report file (when the client supports it), or null;
- ``perfrl.cancelJob [jobId]`` -> ``{"cancelled": bool}``;
- ``perfrl.applyRewrite [uri, line, version]`` -> ``{"applied": bool}``.

Lines are 0-based. A refusal (no function there, nothing to apply, document changed, ...) is
told to the user with ``window/showMessage`` and logged; malformed arguments are a -32602
JSON-RPC error (a client bug, not a user mistake), never shown to the user.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from perfrl.engine.source_files import SourceDecodeError, decode_source
from perfrl.engine.types import CancelToken, PerfRLError, ProgressCallback
from perfrl.lsp.documents import (
    MAX_ANALYSED_CHARS,
    function_target,
    syntax_problem,
    too_large,
    uri_to_path,
)
from perfrl.lsp.features.report import render_markdown, report_uri, write_report
from perfrl.lsp.features.views import apply_edit_for, view_at
from perfrl.lsp.model import UnavailableModel, model_handle_for_job
from perfrl.lsp.protocol import CommandInt, CommandText
from perfrl.lsp.results import Freshness
from perfrl.lsp.server import PerfServer

OPTIMIZE = "perfrl.optimizeFunction"
SHOW_REPORT = "perfrl.showReport"
CANCEL_JOB = "perfrl.cancelJob"
APPLY_REWRITE = "perfrl.applyRewrite"
COMMANDS = (OPTIMIZE, SHOW_REPORT, CANCEL_JOB, APPLY_REWRITE)


def _in_range(command: str, what: str, value: int) -> int:
    if value < 0:
        raise JsonRpcInvalidParams(f"Invalid params for {command}: {what} must be >= 0, "
                                   f"got {value}")
    return value


def _engine_work(settings, engine_settings, target, names, files, model_handle_for_job):
    """The blocking body of a job (runs in a worker thread).

    The model comes only from the server's handle (perfrl.lsp.model owns it); when there is
    none, or it stands for an inference package that cannot be imported, the job runs with the
    other sources and its report says so."""

    def work(progress: ProgressCallback, cancel: CancelToken):
        from perfrl.engine.optimize import optimize_function
        from perfrl.sources.registry import build_sources

        used, warnings = list(names), []
        handle = model_handle_for_job() if "model" in used else None
        if "model" in used and (handle is None or isinstance(handle, UnavailableModel)):
            used.remove("model")
            reason = handle.error if handle is not None else "it is not set up"
            warnings.append(f"the model source was skipped: the model is unavailable "
                            f"({reason}); other sources ran")
            if not used and not files:
                raise PerfRLError(
                    f"no candidate source can run: the model is unavailable ({reason}) and "
                    "perfrl.sources names no other source; add \"rules\" to perfrl.sources")
        sources = build_sources(used, candidate_files=files, model_handle=handle,
                                temperature=settings.temperature, seed=settings.seed)
        report = optimize_function(
            target, sources, engine_settings, progress=progress, cancel=cancel,
            candidates_per_source=settings.num_candidates,
        )
        report.warnings.extend(warnings)
        return report

    return work


def _refuse(ls, message: str) -> None:
    ls.tell_user(f"PerfRL: {message}", types.MessageType.Error)


def _document_for_job(ls, uri: str) -> tuple[Path, str, int | None] | None:
    """(path, text, version) of a file PerfRL can optimize in, else None after telling the
    user why not (each reason said as it is)."""
    path = uri_to_path(uri)
    if path is None:
        _refuse(ls, f"cannot optimize {uri}: it is not a file on disk; save it as a .py file "
                    "inside a project first")
        return None
    if path.suffix != ".py":
        _refuse(ls, f"cannot optimize {path.name}: PerfRL optimizes functions in .py files")
        return None
    document = ls.open_document(uri)
    if document is not None:
        return path, document.source, document.version
    if not path.is_file():
        _refuse(ls, f"cannot optimize {path}: the file does not exist (save it first)")
        return None
    try:
        text = decode_source(path.read_bytes())[0]
    except (OSError, SourceDecodeError) as exc:
        _refuse(ls, f"cannot read {path}: {exc}")
        return None
    return path, text, None


def start_optimize(ls, uri: str, line0: int) -> dict | None:
    """Start (or join) the job for the function at ``line0``; None when refused."""
    if ls.jobs.closed:
        return None
    found = _document_for_job(ls, uri)
    if found is None:
        return None
    path, text, version = found
    if too_large(text):
        _refuse(ls, f"{path.name} is above the size PerfRL analyses "
                    f"({MAX_ANALYSED_CHARS:,} characters); move the function to a smaller "
                    "module to optimize it")
        return None
    functions = ls.functions.functions(uri, version, text)
    function = next((f for f in functions if f.contains(line0)), None)
    if function is None:
        problem = syntax_problem(text, path.name) if not functions else None
        if problem:
            _refuse(ls, f"{problem}. Fix it before optimizing a function in this file.")
        else:
            _refuse(ls, f"line {line0 + 1} of {path.name} is not inside a function or method; "
                        "put the cursor inside the function to optimize")
        return None
    try:
        target = function_target(path, text, function, functions)
    except PerfRLError as exc:
        _refuse(ls, str(exc))
        return None
    settings = ls.settings
    names = list(settings.sources)
    files = settings.candidate_files(target.qualname)
    if not names and not files:
        _refuse(ls, "no candidate sources: set perfrl.sources to [\"rules\", \"model\"]")
        return None
    engine_settings = settings.engine_settings(cache_dir=ls.cache_dir / "baselines")
    work = _engine_work(settings, engine_settings, target, names, files,
                        model_handle_for_job(ls))
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


def register(server: PerfServer) -> None:
    # Arguments are converted by pygls from these annotations (a wrong type or count is a
    # -32602 answer); the handlers check ranges only.
    @server.command(OPTIMIZE)
    def optimize_command(ls: PerfServer, uri: CommandText, line: CommandInt):
        return start_optimize(ls, uri, _in_range(OPTIMIZE, "line", line))

    @server.command(SHOW_REPORT)
    async def show_report_command(ls: PerfServer, uri: CommandText, line: CommandInt):
        return await show_report(ls, uri, _in_range(SHOW_REPORT, "line", line))

    @server.command(CANCEL_JOB)
    def cancel_command(ls: PerfServer, job_id: CommandText):
        return cancel_job(ls, job_id)

    @server.command(APPLY_REWRITE)
    async def apply_command(ls: PerfServer, uri: CommandText, line: CommandInt,
                            version: CommandInt):
        return await apply_rewrite(ls, uri, _in_range(APPLY_REWRITE, "line", line),
                                   _in_range(APPLY_REWRITE, "version", version))
