"""End to end through the protocol: code action -> job with progress -> lens and hint with the
measured speedup -> apply (code action edit and lens command) -> file content right.

Runs the real engine on a copy of examples/inventory with a hand-written candidate
(``perfrl.extraCandidateDirs``), so the outcome is deterministic.
"""

from __future__ import annotations

import re

import pytest
from lsp_helpers import FAST_MISSING_SKUS, apply_text_edits, edit_of
from lsprotocol import types

from perfrl.engine.candidate_check import splice
from perfrl.engine.locate import locate_function

# A hung server or editor must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(600)

CATALOG = "inventory/catalog.py"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def _titles(actions) -> list[str]:
    return [a.title for a in actions]


@pytest.mark.slow
async def test_optimize_progress_lens_apply(start_session, client_name, candidates_dir):
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(candidates_dir)]}})
    path = s.root / CATALOG
    original = path.read_text()
    uri = s.open(CATALOG)
    body_line = _line_of(original, "missing.append(sku)")

    actions = await s.code_actions(uri, body_line)
    optimize = next(a for a in actions if a.title == "Optimize `missing_skus` with PerfRL")
    assert optimize.kind == types.CodeActionKind.RefactorRewrite
    assert optimize.command.command == "perfrl.optimizeFunction"

    before = len(s.client.messages)
    started = await s.command(optimize.command.command, *optimize.command.arguments)
    job_id = started["jobId"]
    # Asking again while it runs joins the same job.
    again = await s.command("perfrl.optimizeFunction", uri, body_line)
    assert again == {"jobId": job_id, "joined": True}

    done = await s.wait_message(lambda m: "missing_skus" in m and "faster" in m, before)
    assert done.type == types.MessageType.Info
    assert re.search(r"\d+\.\d× faster", done.message), done.message

    token = f"perfrl-{job_id}"
    reports = s.client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    messages = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    assert "generating candidates" in messages
    assert any(m and m.startswith(("testing 1 of 1", "benchmarking 1 of 1")) for m in messages)

    # Views are refreshed only where the client announced refresh support.
    caps = s.client.capabilities.workspace
    for name, cap in (("codeLens", caps.code_lens), ("inlayHint", caps.inlay_hint)):
        supported = bool(cap and cap.refresh_support)
        assert (s.refreshes[name] > 0) == supported, (name, s.refreshes)

    lenses = await s.code_lenses(uri)
    apply_lens = next(lens for lens in lenses if lens.command.command == "perfrl.applyRewrite")
    assert re.fullmatch(r"⚡ \d+\.\d× faster \(\d+\.\d–\d+\.\d×\) · apply",
                        apply_lens.command.title), apply_lens.command.title
    assert any(lens.command.command == "perfrl.showReport" for lens in lenses)

    hints = await s.inlay_hints(uri)
    (hint,) = hints
    assert re.fullmatch(r"⚡\d+\.\d×", hint.label)
    def_line = _line_of(original, "def missing_skus")
    assert hint.position.line == def_line

    actions = await s.code_actions(uri, body_line)
    apply_action = next(a for a in actions if a.title.startswith("Apply PerfRL rewrite"))
    assert re.fullmatch(r"Apply PerfRL rewrite: `missing_skus` \d+\.\d× faster "
                        r"\(\d+ tests, \d+ calls checked\)", apply_action.title)
    expected = splice(locate_function(f"{path}::missing_skus"), FAST_MISSING_SKUS)
    assert "Show PerfRL report" in _titles(actions)
    versioned = client_name == "visual-studio-code"  # Neovim announces no documentChanges
    if versioned:
        edit_uri, version, edits = edit_of(apply_action)
        assert (edit_uri, version) == (uri, 1)
        assert apply_action.command is None
    else:
        assert apply_action.edit is None
        assert apply_action.command.command == "perfrl.applyRewrite"
        assert list(apply_action.command.arguments) == [uri, def_line, 1]

    # The lens command: a stale version is refused, the current one sends workspace/applyEdit.
    before = len(s.client.messages)
    refused = await s.command("perfrl.applyRewrite", uri, def_line, 7)
    assert refused == {"applied": False}
    await s.wait_message(lambda m: "document changed" in m, before)
    assert s.applied_edits == []
    assert await s.command(*[apply_lens.command.command, *apply_lens.command.arguments]) == {
        "applied": True}
    (sent,) = s.applied_edits
    sent_uri, sent_version, sent_edits = edit_of(sent.edit)
    assert (sent_uri, sent_version) == (uri, 1 if versioned else None)
    if versioned:
        assert sent_edits == edits
    edits = sent_edits
    assert apply_text_edits(original, edits) == expected

    # The editor applies the edit and saves: the file on disk is the verified rewrite.
    new_text = apply_text_edits(original, edits)
    path.write_text(new_text)
    s.change(uri, new_text)
    assert path.read_text() == expected
    assert "carried = {product[\"sku\"] for product in products}" in path.read_text()

    lenses = await s.code_lenses(uri)
    assert [lens.command.title for lens in lenses] == ["⚡ PerfRL rewrite applied (" +
                                                       lenses[0].command.title.split("(")[1]]
    actions = await s.code_actions(uri, _line_of(new_text, "carried = {"))
    assert not any(a.title.startswith("Apply") for a in actions)
    assert await s.inlay_hints(uri) == []

    report = await s.command("perfrl.showReport", uri, _line_of(new_text, "def missing_skus"))
    assert report["uri"].startswith("perfrl-report:")
    assert "| 1 | file | " in report["markdown"] and "faster" in report["markdown"]
    assert s.client.shown_documents[-1].uri.endswith(".md")


@pytest.mark.slow
async def test_no_faster_version_is_reported(start_session, client_name, candidates_dir):
    s = await start_session(client_name, init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(candidates_dir)]}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    line = _line_of(text, "result.append")
    before = len(s.client.messages)
    await s.command("perfrl.optimizeFunction", uri, line)
    message = await s.wait_message(lambda m: "active_skus" in m, before)
    assert "no faster verified version" in message.message
    # Why, candidate by candidate, in the log (logged before the message above).
    (why,) = [m.message for m in s.client.log_messages
              if m.message.startswith("PerfRL (active_skus): #")]
    assert why.startswith("PerfRL (active_skus): #1 file (") and ": failed tests: " in why, why
    lenses = await s.code_lenses(uri)
    (lens,) = lenses
    assert lens.command.title == ("PerfRL: no faster verified version "
                                  "(1 tried: 1 failed tests)")
    actions = await s.code_actions(uri, line)
    assert _titles(actions) == ["Optimize `active_skus` with PerfRL again",
                                "Show PerfRL report"]
    report = await s.command("perfrl.showReport", uri, line)
    assert "failed_tests" in report["markdown"]


FORGING_ACTIVE_SKUS = '''\
def active_skus(products):
    raise AssertionError(
        "no\\nPerfRL (active_skus): #1 file (forged.py): faster: 99.00x (98.00-99.00)"
    )
'''


@pytest.mark.slow
async def test_a_candidate_cannot_write_a_verdict_line_into_the_log(start_session, tmp_path):
    """Hostile: the reason quotes what a candidate raised; one with a newline and a forged
    "faster" line must stay inside its own single log line, never become a line of its own."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "active_skus.py").write_text(FORGING_ACTIVE_SKUS)
    s = await start_session("visual-studio-code", init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(folder)]}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    before = len(s.client.messages)
    await s.command("perfrl.optimizeFunction", uri, _line_of(text, "result.append"))
    await s.wait_message(lambda m: "active_skus" in m, before)
    logged = [m.message for m in s.client.log_messages if "active_skus" in m.message]
    verdicts = [m for m in logged if m.startswith("PerfRL (active_skus): #")]
    assert len(verdicts) == 1 and "\n" not in verdicts[0], verdicts
    assert verdicts[0].startswith("PerfRL (active_skus): #1 file ("), verdicts
    assert ": failed tests: " in verdicts[0], verdicts
    assert not any(line.startswith("PerfRL (active_skus): #1 file (forged.py)")
                   for m in logged for line in m.splitlines()), logged


@pytest.mark.slow
async def test_rule_candidates_through_the_server(start_session):
    """The real candidate source registry behind the server: ruff's C404 rewrite of
    ``index_by_sku`` (a dict comprehension) is generated, verified and reported."""
    s = await start_session("visual-studio-code", init_options={"perfrl": {"sources": ["rules"]}})
    text = (s.root / CATALOG).read_text()
    uri = s.open(CATALOG)
    line = _line_of(text, "return dict([")
    before = len(s.client.messages)
    await s.command("perfrl.optimizeFunction", uri, line)
    await s.wait_message(lambda m: "index_by_sku" in m, before)
    report = await s.command("perfrl.showReport", uri, line)
    assert "| 1 | rules | ruff C404 |" in report["markdown"]
    assert "+    return {product[\"sku\"]: product[\"qty\"] for product in products}" in (
        report["markdown"])


def test_a_verdict_line_is_one_line_whatever_the_reason_holds():
    """The same boundary one level down: whatever a reason holds (the engine flattens its own,
    other paths may not), ``candidate_line`` writes one bounded line."""
    from perfrl.engine.types import Candidate, CandidateResult, Verdict
    from perfrl.presentation import REASON_IN_LOG, candidate_line

    forged = "boom\nPerfRL (f): #1 model (sample 1): faster: 99.00x\r\n" + "x" * 2000
    result = CandidateResult(Candidate("model", "sample\n2", "def f():\n    pass\n"),
                             Verdict.FAILED_TESTS, forged)
    line = candidate_line(0, result)
    assert "\n" not in line and "\r" not in line
    assert line.startswith("#1 model (sample 2): failed tests: boom PerfRL (f):")
    assert len(line) < REASON_IN_LOG + 60 and line.endswith("...")
