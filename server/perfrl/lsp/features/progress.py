"""Work-done progress for jobs: ``window/workDoneProgress/create`` then ``$/progress``.

A caller may rely on :class:`JobProgress` never raising: a client without the
``window.workDoneProgress`` capability, or one that refuses or fails the create request,
simply gets no progress and the job runs anyway. The token is ``perfrl-<job id>``, so a
``window/workDoneProgress/cancel`` for it maps back to the job (see :func:`job_id_of`).
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from perfrl.engine.types import ProgressEvent

log = logging.getLogger(__name__)

TOKEN_PREFIX = "perfrl-"  # noqa: S105 - an LSP progress token, not a secret
#: How long a client may take to answer the create request before we go on without progress.
CREATE_TIMEOUT_S = 10.0


def token_for(job_id: str) -> str:
    return TOKEN_PREFIX + job_id


def job_id_of(token: types.ProgressToken) -> str | None:
    if isinstance(token, str) and token.startswith(TOKEN_PREFIX):
        return token[len(TOKEN_PREFIX):]
    return None


def percentage(event: ProgressEvent) -> int | None:
    """A monotone-ish percentage: baseline 0-10, generating 10-20, candidates 20-100."""
    if event.stage == "baseline":
        return 2
    if event.stage == "generating":
        return 12
    if event.stage in ("testing", "benchmarking") and event.total:
        done = min(event.done or 0, event.total)
        return 20 + int(80 * done / event.total)
    if event.stage == "done":
        return 100
    return None


def describe(event: ProgressEvent) -> str:
    """Short text for progress bars and code lenses."""
    if event.stage == "baseline":
        return "running the project's tests on the original code"
    if event.stage == "generating":
        return "generating candidates"
    if event.stage in ("testing", "benchmarking") and event.total:
        verb = "benchmarking" if event.stage == "benchmarking" else "testing"
        return f"{verb} {min((event.done or 0) + 1, event.total)} of {event.total}"
    return event.message


class JobProgress:
    """The progress bar of one job."""

    def __init__(self, server, job_id: str, title: str) -> None:
        self._server = server
        self.token = token_for(job_id)
        self._title = title
        self.active = False
        self._last: tuple[str, int | None] | None = None

    async def begin(self) -> None:
        if not self._server.client_supports("window", "work_done_progress"):
            return
        try:
            await asyncio.wait_for(
                self._server.work_done_progress.create_async(self.token), CREATE_TIMEOUT_S
            )
        except Exception as exc:  # noqa: BLE001 - refused or failed: no progress
            self._server.log_to_client(
                f"PerfRL: the client did not create progress {self.token} ({exc}); "
                "the job runs without a progress bar")
            return
        self.active = True
        self._server.work_done_progress.begin(self.token, types.WorkDoneProgressBegin(
            title=self._title, cancellable=True, message="queued", percentage=0))

    def report(self, event: ProgressEvent) -> None:
        if not self.active:
            return
        message, percent = describe(event), percentage(event)
        if (message, percent) == self._last:
            return
        self._last = (message, percent)
        self._server.work_done_progress.report(self.token, types.WorkDoneProgressReport(
            message=message, percentage=percent, cancellable=True))

    def end(self, message: str) -> None:
        if not self.active:
            return
        self.active = False
        self._server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(
            message=message))
        # pygls keeps a cancellation future per token; drop it so the dict does not grow.
        self._server.work_done_progress.tokens.pop(self.token, None)
