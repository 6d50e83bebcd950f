"""The job manager on a real event loop with real worker threads (the work is a small
blocking function, so the queue's rules are checked without running the engine)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from perfrl.engine.locate import locate_function_at
from perfrl.engine.types import Cancelled, OptimizationReport, PerfRLError, ProgressEvent
from perfrl.lsp.jobs import JobManager, JobState

SOURCE = "def f(x):\n    return x\n\n\ndef g(x):\n    return x\n"


def target(tmp_path: Path, line: int, text: str = SOURCE):
    path = tmp_path / "mod.py"
    path.write_text(text)
    return locate_function_at(path, line, project_root=tmp_path, text=text)


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str]] = []
        self.finished = asyncio.Event()
        self.finished_count = 0

    async def job_started(self, job):
        self.events.append(("started", job.id))

    def job_progress(self, job, event):
        self.events.append(("progress", job.id))

    async def job_finished(self, job):
        self.events.append(("finished", job.id))
        self.finished_count += 1
        self.finished.set()

    def jobs_changed(self):
        pass


def report() -> OptimizationReport:
    return OptimizationReport("mod.py::f", SOURCE, [], None, None, 1.1)


def blocking_work(gate: threading.Event):
    def work(progress, cancel):
        progress(ProgressEvent("testing", "testing", 0, 1))
        while not gate.is_set():
            if cancel.wait(0.01):
                raise Cancelled()
        return report()

    return work


async def wait_finished(recorder: Recorder, count: int):
    while recorder.finished_count < count:
        recorder.finished.clear()
        await asyncio.wait_for(recorder.finished.wait(), 10)


async def test_queue_dedupe_and_cancel(tmp_path):
    recorder = Recorder()
    manager = JobManager(recorder, max_concurrent=1)
    gate = threading.Event()
    first, joined = manager.submit("u", target(tmp_path, 2), blocking_work(gate))
    assert not joined
    same, joined = manager.submit("u", target(tmp_path, 2), blocking_work(gate))
    assert joined and same is first
    second, _ = manager.submit("u", target(tmp_path, 5), blocking_work(gate))
    assert (manager.running_count, manager.queued_count) == (1, 1)
    assert second.state is JobState.QUEUED

    assert manager.cancel(second.id)
    await wait_finished(recorder, 1)
    assert second.state is JobState.CANCELLED and manager.queued_count == 0
    assert not manager.cancel(second.id)

    # An edit to f while its job runs: the new submission cancels the old job.
    edited = target(tmp_path, 2, SOURCE.replace("return x\n", "return x + 0\n", 1))
    third, joined = manager.submit("u", edited, blocking_work(gate))
    assert not joined and first.cancel_requested
    await wait_finished(recorder, 2)
    assert first.state is JobState.CANCELLED
    gate.set()
    await wait_finished(recorder, 3)
    assert third.state is JobState.DONE and third.report is not None
    order = [e for e in recorder.events if e[1] == first.id]
    assert order[0] == ("started", first.id) and order[-1] == ("finished", first.id)
    assert await manager.close(30) == []


async def test_errors_are_classified(tmp_path):
    recorder = Recorder()
    manager = JobManager(recorder, max_concurrent=2)

    def user_error(progress, cancel):
        raise PerfRLError("no test calls f")

    def crash(progress, cancel):
        raise ZeroDivisionError("boom")

    a, _ = manager.submit("u", target(tmp_path, 2), user_error)
    b, _ = manager.submit("u", target(tmp_path, 5), crash)
    assert manager.running_count == 2
    await wait_finished(recorder, 2)
    assert (a.state, a.error_kind, a.error) == (JobState.FAILED, "input", "no test calls f")
    assert (b.state, b.error_kind) == (JobState.FAILED, "crash")
    assert "ZeroDivisionError" in b.error_detail
    assert manager.running_count == 0
    assert await manager.close(30) == []


async def test_close_cancels_waits_for_the_workers_and_prunes(tmp_path):
    """Finished jobs are forgotten; close() returns once the cancelled worker has ended."""
    recorder = Recorder()
    manager = JobManager(recorder, max_concurrent=1)
    started, ended = threading.Event(), threading.Event()

    def slow(progress, cancel):
        progress(ProgressEvent(stage="baseline", message="running the tests"))
        started.set()
        while not cancel.cancelled:
            time.sleep(0.01)
        ended.set()
        raise Cancelled()

    def refused(progress, cancel):
        raise PerfRLError("x")

    done, _ = manager.submit("u", target(tmp_path, 2), refused)
    await wait_finished(recorder, 1)
    assert manager.get(done.id) is None  # pruned once finished
    running, _ = manager.submit("u", target(tmp_path, 5), slow)
    queued, _ = manager.submit("v", target(tmp_path, 2), slow)
    while not started.is_set():
        await asyncio.sleep(0.01)
    assert await manager.close(30) == []
    assert ended.is_set()
    assert running.state is JobState.CANCELLED and queued.state is JobState.CANCELLED
    assert manager.get(running.id) is None and manager.running_count == 0
    with pytest.raises(RuntimeError):
        manager.submit("u", target(tmp_path, 2), slow)


async def test_close_does_not_wait_for_a_job_still_preparing(tmp_path):
    """A job that reported no progress has created nothing to remove: close() reports it
    cancelled at once instead of waiting for its thread (an interpreter probe, say)."""
    recorder = Recorder()
    manager = JobManager(recorder, max_concurrent=1)
    started, release = threading.Event(), threading.Event()

    def preparing(progress, cancel):
        started.set()
        release.wait(30)  # does not look at the cancel token, like a blocking probe
        raise Cancelled()

    job, _ = manager.submit("u", target(tmp_path, 2), preparing)
    while not started.is_set():
        await asyncio.sleep(0.01)
    assert await manager.close(30) == []
    assert job.state is JobState.CANCELLED and job.reported
    assert [e for e in recorder.events if e == ("finished", job.id)] == [("finished", job.id)]
    release.set()
    await asyncio.sleep(0.1)
    # The thread's own end does not report the job a second time.
    assert [e for e in recorder.events if e == ("finished", job.id)] == [("finished", job.id)]
