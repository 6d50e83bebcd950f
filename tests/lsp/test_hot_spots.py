"""Hot spots through the protocol: "PerfRL: Profile" ranks the example's functions, the hot ones
get a lens that optimizes them, and "Optimize the N hottest" starts jobs for them."""

from __future__ import annotations

import pytest
from lsprotocol import types

pytestmark = pytest.mark.timeout(600)

CATALOG = "inventory/catalog.py"


@pytest.mark.slow
async def test_profile_lenses_and_optimize_hottest(start_session, candidates_dir):
    s = await start_session("visual_studio_code", init_options={"perfrl": {
        "sources": [], "extraCandidateDirs": [str(candidates_dir)]}})
    uri = s.open(CATALOG)
    assert not any(lens.command.title.startswith("hot:") for lens in await s.code_lenses(uri))

    profile = await s.command("perfrl.profileProject")
    targets = [f["target"] for f in profile["functions"]]
    assert targets[0] == "inventory/catalog.py::missing_skus"
    assert all(f["called_by_tests"] for f in profile["functions"])
    assert profile["html"].endswith("profile.html") and profile["overhead"] > 0

    lenses = await s.code_lenses(uri)
    hot = [lens for lens in lenses if lens.command.title.startswith("hot:")]
    assert hot and "of test time · Optimize" in hot[0].command.title
    assert hot[0].command.command == "perfrl.optimizeFunction"

    before = len(s.client.messages)
    started = await s.command("perfrl.optimizeHottest", 1)
    assert [j["target"] for j in started["jobs"]] == ["inventory/catalog.py::missing_skus"]
    done = await s.wait_message(lambda m: "missing_skus" in m and "faster" in m, before)
    assert done.type == types.MessageType.Info
    # Once optimized, the function shows its result instead of the hot-spot lens.
    titles = [lens.command.title for lens in await s.code_lenses(uri)]
    assert any("faster" in t and "apply" in t for t in titles)


async def test_hot_spot_commands_check_their_arguments(start_session):
    s = await start_session("visual_studio_code")
    for name, args in [("perfrl.optimizeHottest", [0]), ("perfrl.optimizeHottest", ["2"]),
                       ("perfrl.profileProject", [1, 2])]:
        with pytest.raises(Exception) as info:
            await s.command(name, *args)
        assert "invalid params" in str(info.value).lower()
