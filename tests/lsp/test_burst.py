"""A hypothesis-driven burst of random requests against one running server: random positions
and ranges, buffers with syntax errors, unknown commands and malformed arguments, requests for
closed documents. The server must answer every well-formed request without an error, reject
malformed ones with a JSON-RPC error, and still answer normally afterwards.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygls.exceptions import JsonRpcException

from perfrl.lsp.features.commands import COMMANDS

# A hung server or editor must fail the test, not the whole run.
pytestmark = pytest.mark.timeout(600)

CATALOG = "inventory/catalog.py"

BROKEN_SNIPPETS = ["def broken(:\n", "class X(\n", "    return )\n", "\x00", "'''unterminated\n",
                   "def ok(a):\n    return a\n", "@decorator\n", "ünïcødé = '🙂'\n", "\r\n\f\v"]

position = st.builds(lambda line, char: (line, char),
                     st.integers(0, 120), st.integers(0, 200))
command_names = st.sampled_from([
    "perfrl.optimizeFunction", "perfrl.showReport", "perfrl.cancelJob",
    "perfrl.applyRewrite", "perfrl.noSuchCommand", "editor.action.unknown",
])
argument = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.text(max_size=20),
                     st.just("file:///does/not/exist.py"), st.lists(st.integers(), max_size=2))

operation = st.one_of(
    st.tuples(st.just("action"), position),
    st.tuples(st.just("lens"), st.none()),
    st.tuples(st.just("hints"), position),
    st.tuples(st.just("edit"), st.sampled_from(BROKEN_SNIPPETS), st.integers(0, 40)),
    st.tuples(st.just("command"), command_names, st.lists(argument, max_size=4)),
    st.tuples(st.just("closed"), position),
    st.tuples(st.just("wellformed"), command_names, position),
)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(burst=st.lists(operation, min_size=5, max_size=25))
async def test_random_request_burst(start_session, burst):
    # One server for all examples: the burst must not wear it down either.
    global _session
    if _session is None or _session.client.error is not None:
        _session = await start_session("neovim", init_options={"perfrl": {"sources": []}})
    s = _session
    uri = s.uri(CATALOG)
    closed_uri = s.uri("inventory/pricing.py")
    if uri not in s.versions:
        s.open(CATALOG)
        s.open("inventory/pricing.py")
        s.close(closed_uri)
    # The file on disk is never written: it is the pristine text to restore.
    text = (s.root / CATALOG).read_text()

    async def run(op):
        kind = op[0]
        if kind == "action":
            return await s.code_actions(uri, *op[1])
        if kind == "lens":
            return await s.code_lenses(uri)
        if kind == "hints":
            return await s.inlay_hints(uri)
        if kind == "closed":
            return await s.code_actions(closed_uri, *op[1])
        if kind == "edit":
            lines = s.texts[uri].splitlines(keepends=True)
            at = min(op[2], len(lines))
            s.change(uri, "".join(lines[:at]) + op[1] + "".join(lines[at:]))
            return None
        if kind == "wellformed":
            name, (line, _) = op[1], op[2]
            args = {"perfrl.cancelJob": ["job-404"],
                    "perfrl.applyRewrite": [uri, line, s.versions[uri]]}.get(name, [uri, line])
            try:
                return await s.command(name, *args)
            except JsonRpcException:
                if name in COMMANDS:
                    raise
                return None  # an unknown command is an error, by design
        try:
            return await s.command(op[1], *op[2])
        except JsonRpcException:
            return None  # malformed arguments or unknown command: an error response is right

    try:
        results = await asyncio.gather(*(run(op) for op in burst), return_exceptions=True)
    finally:
        s.change(uri, text)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], errors
    # The server still answers with the right actions for the restored text.
    actions = await asyncio.wait_for(s.code_actions(uri, 10), 10)
    assert [a.title for a in actions] == ["Optimize `active_skus` with PerfRL"]
    assert s.client._server.returncode is None


_session = None


@pytest.fixture(autouse=True)
def _fresh_session():
    global _session
    _session = None
    yield
    _session = None
