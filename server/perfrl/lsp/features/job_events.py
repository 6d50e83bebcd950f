"""What the user sees of a job's life: progress bar, status notification, refreshed lenses and
hints, and one message when it ends (result, error or cancellation), also written to the log.
When a verified rewrite brings the project's memory to enough of them
(:func:`perfrl.memory.store.adapt_suggestion`), one more message, once per project and server
session, says how a model can learn from them (``perfrl-train adapt``).
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from perfrl.engine.types import ProgressEvent, Verdict
from perfrl.lsp.features.progress import JobProgress, describe
from perfrl.lsp.jobs import Job, JobState
from perfrl.lsp.results import speedup_text, summarize_verdicts
from perfrl.presentation import candidate_line


class JobEvents:
    """The :class:`~perfrl.lsp.jobs.JobListener` of a :class:`~perfrl.lsp.server.PerfServer`."""

    def __init__(self, server) -> None:
        self._server = server
        self._progress: dict[str, JobProgress] = {}
        self._lens_text: dict[str, str] = {}
        #: Projects told this session that their memory can adapt a model.
        self._adapt_suggested: set[Path] = set()

    def jobs_changed(self) -> None:
        self._server.send_status()
        self._server.refresh_views()

    async def job_started(self, job: Job) -> None:
        self._server.log_to_client(f"PerfRL: optimizing {job.target.display} ({job.id})")
        progress = JobProgress(self._server, job.id, f"PerfRL: optimizing {job.name}")
        self._progress[job.id] = progress
        await progress.begin()

    def job_progress(self, job: Job, event: ProgressEvent) -> None:
        progress = self._progress.get(job.id)
        if progress is not None:
            progress.report(event)
        # Lenses show the stage; refresh only when their text would change.
        text = describe(event)
        if self._lens_text.get(job.id) != text:
            self._lens_text[job.id] = text
            self._server.refresh_views()

    async def job_finished(self, job: Job) -> None:
        server = self._server
        server.results.record(job)
        self._lens_text.pop(job.id, None)
        message, kind = self._final_message(job, self._edited_since(job))
        if job.report is not None:
            # Each candidate's verdict and why, in the log only (before the final message, so
            # a client reacting to that finds them): why no rewrite was offered, or why the
            # others lost, without opening the report.
            for index, result in enumerate(job.report.candidates):
                server.log_to_client(f"PerfRL ({job.name}): {candidate_line(index, result)}")
        progress = self._progress.pop(job.id, None)
        if progress is not None:
            progress.end(message)
        server.tell_user(message, kind)
        if job.report is not None:
            for warning in job.report.warnings:
                server.log_to_client(f"PerfRL ({job.name}): {warning}",
                                     types.MessageType.Warning)
        if job.error_detail:
            server.log_to_client(job.error_detail, types.MessageType.Error)
        self._suggest_adapting(job)
        server.send_status()
        server.refresh_views()

    def _suggest_adapting(self, job: Job) -> None:
        """After a rewrite verified faster (and remembered), the line suggesting
        ``perfrl-train adapt`` when the project's memory holds enough verified rewrites; once
        per project while the server runs."""
        from perfrl.memory.store import adapt_suggestion, project_db

        best = job.report.best_result() if job.report is not None else None
        root = job.target.project_root
        if best is None or best.verdict is not Verdict.FASTER or root in \
                self._adapt_suggested or self._server.settings.engine_settings().memory == "off":
            return
        line = adapt_suggestion(project_db(root), root)
        if line is not None:
            self._adapt_suggested.add(root)
            self._server.tell_user(f"PerfRL: {line}")

    def _edited_since(self, job: Job) -> bool:
        """Whether the function's text in the buffer (or file) differs from what the job
        verified: its rewrite can then no longer be applied."""
        found = self._server.document_text(job.uri)
        if found is None:
            return True
        text, version = found
        function = self._server.functions.named(job.uri, version, text, job.qualname)
        return function is None or function.source != job.source

    @staticmethod
    def _final_message(job: Job, edited: bool = False) -> tuple[str, types.MessageType]:
        name = f"`{job.name}`"
        if job.state is JobState.CANCELLED:
            return f"PerfRL: optimization of {name} cancelled", types.MessageType.Info
        if job.state is JobState.FAILED:
            if job.error_kind == "input":
                return f"PerfRL could not optimize {name}: {job.error}", types.MessageType.Error
            return ((f"PerfRL: the job for {name} crashed ({job.error}); the server keeps "
                    "running, details are in the log"), types.MessageType.Error)
        report = job.report
        assert report is not None
        best = report.best_result()
        if best is None:
            return ((f"PerfRL: no faster verified version of {name} "
                    f"({summarize_verdicts(report)})"), types.MessageType.Info)
        verified = (f"PerfRL: {name} {speedup_text(best)}, verified by {best.tests.run} tests "
                    f"on {best.calls_compared} calls")
        if edited:
            return ((f"{verified}, but {name} was edited since the job started, so this "
                    "rewrite cannot be applied; optimize it again"), types.MessageType.Info)
        return f"{verified}; use the code action or lens to apply it", types.MessageType.Info
