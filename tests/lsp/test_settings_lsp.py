"""Settings through the protocol: initializationOptions, then workspace/configuration in
``initialized`` and on didChangeConfiguration; each invalid value is shown with its key and
the value actually used (the default in initializationOptions, the value in effect after
that), and the server keeps serving."""

from __future__ import annotations

import pytest
from lsprotocol import types

# A hung server or editor must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(600)


async def test_invalid_settings_are_reported_with_defaults(start_session, client_name):
    s = await start_session(
        client_name,
        init_options={"perfrl": {"numCandidates": "many", "sandbox": "docker", "bogusKey": 1}},
        configuration={"threshold": -1, "sources": ["rules"]},
    )
    expected = {
        "perfrl.numCandidates": "using the default 8",
        "perfrl.sandbox": "using the default 'auto'",
        "perfrl.threshold": "keeping the value in effect 1.1",
        "perfrl.bogusKey": "unknown setting",
    }
    for key, text in expected.items():
        message = await s.wait_message(lambda m, k=key, t=text: k in m and t in m)
        assert message.type == types.MessageType.Warning

    before = len(s.client.messages)
    s.client.set_configuration({"maxConcurrentJobs": 0, "temperature": 0.5}, section="perfrl")
    s.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None))
    message = await s.wait_message(lambda m: "perfrl.maxConcurrentJobs" in m, before)
    assert "must be between 1 and 16" in message.message
    assert "keeping the value in effect 1" in message.message
    # Valid values are taken (the log lists the effective settings) and the server answers.
    await s.wait_for(types.WINDOW_LOG_MESSAGE, lambda: any(
        '"temperature": 0.5' in m.message or "'temperature': 0.5" in m.message
        for m in s.client.log_messages), 30)
    uri = s.open("inventory/reports.py")
    actions = await s.code_actions(uri, 6)
    assert [a.title for a in actions] == ["Optimize `render_lines` with PerfRL"]
