"""Jobs through the protocol: an edit during a job (its result is never applied), cancellation
(progress cancel and ``perfrl.cancelJob`` on a queued job, sandboxed processes gone), and
errors (a function no test calls, a client that refuses progress, a model that cannot load).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

# A hung server or editor must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(600)

CATALOG = "inventory/catalog.py"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@pytest.mark.slow
async def test_edit_during_job_is_never_applied(start_session, client_name, candidates_dir):
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(candidates_dir)]}})
    path = s.root / CATALOG
    original = path.read_text()
    uri = s.open(CATALOG)
    line = _line_of(original, "missing.append(sku)")
    before = len(s.client.messages)
    job_id = (await s.command("perfrl.optimizeFunction", uri, line))["jobId"]
    await s.wait_progress(f"perfrl-{job_id}", types.WorkDoneProgressBegin)

    # The user edits the function while it is being verified.
    edited = original.replace("    missing = []\n", "    missing = []  # edited\n")
    version = s.change(uri, edited)
    assert not any("missing_skus" in m.message for m in s.client.messages[before:]), (
        "the job ended before the edit; the test needs the edit to land during the job")
    lenses = await s.code_lenses(uri)
    assert [lens.command.command for lens in lenses] == ["perfrl.cancelJob"]
    assert lenses[0].command.title.startswith("PerfRL: ")

    done = await s.wait_message(lambda m: "missing_skus" in m, before)
    assert "faster" in done.message  # the old text was verified faster...
    # ...and the message says it cannot be applied (issue 17 point 7), as the lens does.
    assert "cannot be applied" in done.message
    assert "use the code action" not in done.message
    actions = await s.code_actions(uri, line)
    titles = [a.title for a in actions]
    assert not any(t.startswith("Apply") for t in titles)  # ...but is never offered again
    assert "Optimize `missing_skus` with PerfRL again" in titles
    (lens,) = await s.code_lenses(uri)
    assert lens.command.title == "PerfRL: outdated (function edited) · optimize again"
    assert await s.inlay_hints(uri) == []

    before = len(s.client.messages)
    assert await s.command("perfrl.applyRewrite", uri, _line_of(edited, "def missing_skus"),
                           version) == {"applied": False}
    refusal = await s.wait_message(lambda m: "nothing applied" in m, before)
    assert "edited after it was verified" in refusal.message
    assert s.applied_edits == []
    assert path.read_text() == original


@pytest.mark.slow
async def test_cancel_running_and_queued_jobs(start_session, client_name, candidates_dir):
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(candidates_dir)], "maxConcurrentJobs": 1}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    first = (await s.command("perfrl.optimizeFunction", uri,
                             _line_of(text, "missing.append")))["jobId"]
    token = f"perfrl-{first}"
    await s.wait_progress(token, types.WorkDoneProgressBegin)
    status_start = len(s.statuses)
    second = (await s.command("perfrl.optimizeFunction", uri,
                              _line_of(text, "result.append")))["jobId"]
    await s.wait_status(lambda st: st["jobsQueued"] == 1 and st["jobsRunning"] == 1,
                        status_start)

    before = len(s.client.messages)
    assert await s.command("perfrl.cancelJob", second) == {"cancelled": True}
    await s.wait_message(lambda m: m == "PerfRL: optimization of `active_skus` cancelled",
                         before)
    assert await s.command("perfrl.cancelJob", second) == {"cancelled": False}

    # Let the first job reach the sandbox, then cancel it from the progress bar.
    await s.wait_progress(token, types.WorkDoneProgressReport)
    s.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    await s.wait_message(lambda m: m == "PerfRL: optimization of `missing_skus` cancelled",
                         before)
    end = await s.wait_progress(token, types.WorkDoneProgressEnd)
    assert "cancelled" in end.message
    await s.wait_status(lambda st: st["jobsQueued"] == 0 and st["jobsRunning"] == 0,
                        status_start)
    # Cancelling killed every sandboxed process of the job.
    assert descendants(s.client._server.pid) == []
    actions = await s.code_actions(uri, _line_of(text, "missing.append"))
    assert [a.title for a in actions] == ["Optimize `missing_skus` with PerfRL"]
    assert await s.code_lenses(uri) == []


def _client_refusing_progress() -> LanguageClient:
    from pygls.protocol import default_converter

    client = LanguageClient(converter_factory=default_converter)
    features = {k: v for k, v in DEFAULT_CLIENT_FEATURES.items()
                if k != types.WINDOW_WORK_DONE_PROGRESS_CREATE}
    register_lsp_features(client, features)

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def refuse(params: types.WorkDoneProgressCreateParams):
        raise RuntimeError("this client shows no progress")

    return client


@pytest.mark.slow
async def test_job_error_and_refused_progress(start_session, client_name):
    s = await start_session(client_name, init_options={"perfrl": {"sources": ["rules"]}},
                            client=_client_refusing_progress())
    text = (s.root / CATALOG).read_text() + (
        "\n\ndef untested_helper(values):\n    total = 0\n    for v in values:\n"
        "        total += v\n    return total\n")
    uri = s.open(CATALOG, text)  # unsaved buffer: the function exists only in the editor
    line = _line_of(text, "total += v")
    before = len(s.client.messages)
    started = await s.command("perfrl.optimizeFunction", uri, line)
    assert started["jobId"]
    failed = await s.wait_message(lambda m: "untested_helper" in m, before)
    assert failed.type == types.MessageType.Error
    assert failed.message.startswith("PerfRL could not optimize `untested_helper`:")
    assert "test" in failed.message
    assert any(failed.message == m.message for m in s.client.log_messages)
    assert s.client.progress_reports == {}  # refused: no $/progress for an unknown token
    (lens,) = await s.code_lenses(uri)
    assert lens.command.title.startswith("PerfRL: failed: ")
    assert lens.command.command == "perfrl.optimizeFunction"
    # The server keeps serving.
    actions = await s.code_actions(uri, _line_of(text, "result.append"))
    assert "Optimize `active_skus` with PerfRL" in [a.title for a in actions]


async def test_refusals_are_shown(start_session, client_name):
    s = await start_session(client_name, init_options={"perfrl": {"sources": []}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    before = len(s.client.messages)
    assert await s.command("perfrl.optimizeFunction", uri, 0) is None
    outside = await s.wait_message(lambda m: "not inside a function" in m, before)
    assert outside.type == types.MessageType.Error
    assert await s.command("perfrl.optimizeFunction", uri,
                           _line_of(text, "result.append")) is None
    await s.wait_message(lambda m: "no candidate sources" in m, before)
    assert await s.command("perfrl.showReport", uri, _line_of(text, "result.append")) is None
    await s.wait_message(lambda m: "no report for this function yet" in m, before)
    assert await s.command("perfrl.optimizeFunction", "untitled:Untitled-1", 0) is None
    await s.wait_message(lambda m: "not a file on disk" in m, before)


async def test_model_that_cannot_load_is_reported(start_session, client_name, tmp_path):
    missing = tmp_path / "no-such-model"
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": ["rules", "model"], "modelPath": str(missing)}})
    status = await s.wait_status(lambda st: st["model"] == "failed")
    assert status["modelError"]
    warning = await s.wait_message(lambda m: "model could not be loaded" in m)
    assert warning.type == types.MessageType.Warning
    assert "perfrl.modelPath" in warning.message
    assert set(status) == {"model", "modelError", "jobsRunning", "jobsQueued"}


async def test_broken_interpreter_fails_the_job_not_the_server(start_session, client_name):
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": ["rules"], "interpreter": "/nonexistent/bin/python"}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    before = len(s.client.messages)
    job = await s.command("perfrl.optimizeFunction", uri, _line_of(text, "missing.append"))
    failed = await s.wait_message(lambda m: "missing_skus" in m, before)
    assert failed.type == types.MessageType.Error
    assert "/nonexistent/bin/python" in failed.message
    await s.wait_progress(f"perfrl-{job['jobId']}", types.WorkDoneProgressEnd)
    assert [a.title for a in await s.code_actions(uri, _line_of(text, "result.append"))] == [
        "Optimize `active_skus` with PerfRL"]


def _set_child_subreaper(on: bool) -> None:
    """Orphaned descendants get re-parented to this process instead of init, so the test can
    still find processes a dead server left behind (Linux prctl PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1 if on else 0, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")


def _live(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if "zombie" in state.lower():
            os.waitpid(pid, os.WNOHANG)  # reap what was re-parented to us
            continue
        alive.append(pid)
    return alive


SLEEPY_MISSING_SKUS = """\
def missing_skus(wanted, products):
    __import__("time").sleep(90)
    return []
"""


@pytest.mark.slow
async def test_client_vanishing_kills_jobs(start_session, tmp_path):
    folder = tmp_path / "sleepy"
    folder.mkdir()
    (folder / "missing_skus.py").write_text(SLEEPY_MISSING_SKUS)
    s = await start_session("neovim", init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(folder)]}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    _set_child_subreaper(True)
    try:
        job = await s.command("perfrl.optimizeFunction", uri, _line_of(text, "missing.append"))
        token = f"perfrl-{job['jobId']}"
        # The candidate's tests now sleep in the sandbox for 90 s.
        await s.wait_for(types.PROGRESS, lambda: any(
            isinstance(v, types.WorkDoneProgressReport) and v.message == "testing 1 of 1"
            for v in s.client.progress_reports.get(token, [])), 120)
        # The editor dies without shutdown/exit: the server must exit promptly (well before
        # the sleeping tests would end) and take its sandboxed processes along.
        server = s.client._server
        server.stdin.close()
        await asyncio.wait_for(server.wait(), 30)
        assert _live(descendants(os.getpid())) == []
    finally:
        _set_child_subreaper(False)
    s.client.capabilities = None  # nothing left to shut down
