"""Background verification jobs: one per function, a bounded number at once, the rest queued.

The job manager lives on the server's event loop; the blocking work (``optimize_function``)
runs in a worker thread, never on the loop. A caller may rely on:

- :meth:`JobManager.submit` returning the already active job for the same function and the
  same source text (dedupe), and cancelling an active job whose function was edited since;
- at most ``max_concurrent`` jobs running at once; others wait in FIFO order;
- every listener callback running on the event loop, in the order started -> progress* ->
  finished, with ``finished`` called exactly once per job (also for jobs cancelled while
  queued);
- :meth:`JobManager.cancel` setting the job's :class:`CancelToken`, which makes the engine
  kill the job's sandboxed processes and raise ``Cancelled``;
- :meth:`JobManager.close` cancelling everything and returning once every job that reached
  its sandbox has ended (processes and folders gone) or the timeout passed; a job still
  preparing (resolving the interpreter, hashing the project: nothing to remove yet) is
  reported cancelled at once instead of waited for; later submissions are refused;
- finished jobs being forgotten (the result store keeps what the user sees), so a long
  session does not accumulate them.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from perfrl.engine.types import (
    Cancelled,
    CancelToken,
    FunctionTarget,
    OptimizationReport,
    PerfRLError,
    ProgressCallback,
    ProgressEvent,
)

log = logging.getLogger(__name__)

#: The blocking work of a job: called in a worker thread with a progress callback and the
#: job's cancel token; returns the report or raises (PerfRLError, Cancelled, anything).
JobWork = Callable[[ProgressCallback, CancelToken], OptimizationReport]


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(eq=False)
class Job:
    """One optimization of one function, as submitted from one buffer version."""

    id: str
    uri: str
    target: FunctionTarget
    work: JobWork
    state: JobState = JobState.QUEUED
    cancel_token: CancelToken = field(default_factory=CancelToken)
    last_event: ProgressEvent | None = None
    report: OptimizationReport | None = None
    #: Set when the job failed: the message for the user.
    error: str | None = None
    #: "input" (a PerfRLError: the user can fix it) or "crash" (a bug or broken environment).
    error_kind: str | None = None
    error_detail: str | None = None
    #: Set from the worker thread at the engine's first progress event, which comes before
    #: it creates anything (sandbox folders, processes) that stopping must wait to remove.
    sandbox_started: bool = False
    #: Whether the listener was told the job finished (exactly once).
    reported: bool = False
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished_at: float | None = None

    @property
    def qualname(self) -> str:
        return self.target.qualname

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def source(self) -> str:
        return self.target.source

    @property
    def key(self) -> tuple[str, str]:
        return (self.uri, self.qualname)

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_token.cancelled


class JobListener(Protocol):
    """Callbacks from the job manager, all called on the event loop."""

    async def job_started(self, job: Job) -> None: ...

    def job_progress(self, job: Job, event: ProgressEvent) -> None: ...

    async def job_finished(self, job: Job) -> None: ...

    def jobs_changed(self) -> None: ...


class JobManager:
    """Runs jobs in worker threads, ``max_concurrent`` at a time."""

    def __init__(self, listener: JobListener, max_concurrent: int = 1) -> None:
        self._listener = listener
        self._max_concurrent = max(1, max_concurrent)
        self._queue: deque[Job] = deque()
        self._running: dict[str, Job] = {}
        #: Active (queued or running) jobs by id; finished ones are pruned.
        self._jobs: dict[str, Job] = {}
        self._closed = False
        self._active_by_key: dict[tuple[str, str], Job] = {}
        self._tasks: set[asyncio.Task] = set()
        self._run_tasks: dict[str, asyncio.Task] = {}
        self._ids = itertools.count(1)
        # Sized for the largest allowed max_concurrent; threads are created lazily.
        self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="perfrl-job")

    # --- queries ------------------------------------------------------------------------------

    @property
    def running_count(self) -> int:
        return len(self._running)

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    @property
    def max_concurrent(self) -> int:
        return self._max_concurrent

    def get(self, job_id: str) -> Job | None:
        """The active job with this id (finished jobs are not kept)."""
        return self._jobs.get(job_id)

    @property
    def closed(self) -> bool:
        return self._closed

    def active_for(self, uri: str, qualname: str) -> Job | None:
        """The queued or running job for this function, if any."""
        return self._active_by_key.get((uri, qualname))

    def active_jobs(self) -> list[Job]:
        return list(self._active_by_key.values())

    # --- control ------------------------------------------------------------------------------

    def set_max_concurrent(self, value: int) -> None:
        self._max_concurrent = max(1, value)
        self._pump()

    def submit(self, uri: str, target: FunctionTarget, work: JobWork) -> tuple[Job, bool]:
        """Queue a job for ``target``; returns ``(job, joined)``.

        ``joined`` is True when an active job for the same function and the same source text
        already existed and is returned instead. An active job for an edited version of the
        function is cancelled: its result could never be applied. Raises RuntimeError after
        :meth:`close`.
        """
        if self._closed:
            raise RuntimeError("the job manager is closed (the server is shutting down)")
        existing = self._active_by_key.get((uri, target.qualname))
        if existing is not None:
            if existing.source == target.source and not existing.cancel_requested:
                return existing, True
            self.cancel(existing.id)
        job = Job(id=f"job-{next(self._ids)}", uri=uri, target=target, work=work)
        self._jobs[job.id] = job
        self._active_by_key[job.key] = job
        self._queue.append(job)
        self._listener.jobs_changed()
        self._pump()
        return job, False

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when there is no such active job."""
        job = self._jobs.get(job_id)
        if job is None or job.state.finished:
            return False
        job.cancel_token.cancel()
        if job.state is JobState.QUEUED:
            self._queue.remove(job)
            job.state = JobState.CANCELLED
            job.finished_at = time.monotonic()
            self._forget_active(job)
            job.reported = True
            self._spawn(self._listener.job_finished(job))
        self._listener.jobs_changed()
        return True

    def cancel_all(self) -> None:
        for job in list(self._active_by_key.values()):
            self.cancel(job.id)

    async def close(self, timeout: float) -> list[Job]:
        """Refuse new jobs, cancel every job (running ones kill their sandboxes) and wait up
        to ``timeout`` seconds for those that reached their sandbox to end, listeners
        included. Jobs still preparing are reported cancelled without waiting: their worker
        threads have created nothing yet and end on their own. Returns the jobs still in
        their sandbox at the timeout. Safe to call more than once."""
        self._closed = True
        self.cancel_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            in_sandbox = [j for j in self._running.values() if j.sandbox_started]
            listeners = [t for t in self._tasks if t not in self._run_tasks.values()]
            if not in_sandbox and not listeners:
                break
            await asyncio.wait(set(self._tasks), timeout=0.05,
                               return_when=asyncio.FIRST_COMPLETED)
        left = [j for j in self._running.values() if j.sandbox_started]
        for job in [j for j in self._running.values() if not j.sandbox_started]:
            job.state = JobState.CANCELLED
            await self._report(job)
        self._executor.shutdown(wait=False, cancel_futures=True)
        return left

    # --- internals ----------------------------------------------------------------------------

    def _forget_active(self, job: Job) -> None:
        if self._active_by_key.get(job.key) is job:
            del self._active_by_key[job.key]
        self._jobs.pop(job.id, None)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        for job_id, run_task in list(self._run_tasks.items()):
            if run_task is task:
                del self._run_tasks[job_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("job task failed", exc_info=task.exception())

    def _pump(self) -> None:
        while self._queue and len(self._running) < self._max_concurrent:
            job = self._queue.popleft()
            self._running[job.id] = job
            job.state = JobState.RUNNING
            job.started = time.monotonic()
            self._run_tasks[job.id] = self._spawn(self._run(job))
        self._listener.jobs_changed()

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()

        def progress(event: ProgressEvent) -> None:
            # Called from the worker thread: mark it here (before the engine goes on to
            # create its sandbox), then hop onto the loop.
            job.sandbox_started = True
            try:
                loop.call_soon_threadsafe(self._on_progress, job, event)
            except RuntimeError:  # loop closed during shutdown
                pass

        try:
            await self._listener.job_started(job)
            if job.cancel_requested:
                raise Cancelled()
            job.report = await asyncio.wrap_future(
                self._executor.submit(job.work, progress, job.cancel_token))
            job.state = JobState.DONE
        except Cancelled:
            job.state = JobState.CANCELLED
        except PerfRLError as exc:
            job.state = JobState.FAILED
            job.error, job.error_kind = str(exc), "input"
        except asyncio.CancelledError:  # the event loop is going away: stop the work too
            job.cancel_token.cancel()
            job.state = JobState.CANCELLED
            self._running.pop(job.id, None)
            self._forget_active(job)
            job.reported = True
            raise  # no listener: nobody is left to tell
        except Exception as exc:  # a bug or a broken environment: keep serving, tell the user
            job.state = JobState.FAILED
            job.error = f"{type(exc).__name__}: {exc}"
            job.error_kind = "crash"
            job.error_detail = traceback.format_exc()
            log.exception("job %s crashed", job.id)
        # The job ended on its own or by cancel: tell the listener (unless close() did).
        if job.reported:
            return
        if job.cancel_requested and job.state is JobState.FAILED:
            # Killing the sandbox can surface as any error; the user asked for it.
            job.state = JobState.CANCELLED
        await self._report(job)

    async def _report(self, job: Job) -> None:
        """Forget the job and tell the listener it finished (once)."""
        if job.reported:
            return
        job.reported = True
        job.finished_at = time.monotonic()
        self._running.pop(job.id, None)
        self._forget_active(job)
        try:
            await self._listener.job_finished(job)
        finally:
            self._pump()

    def _on_progress(self, job: Job, event: ProgressEvent) -> None:
        if job.state is not JobState.RUNNING:
            return
        job.last_event = event
        self._listener.job_progress(job, event)
