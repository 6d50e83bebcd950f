"""Hot spots in the editor: "PerfRL: Profile" and "Optimize the N hottest functions".

- ``perfrl.profileProject [rootUri?]`` profiles the workspace's tests in the sandbox (see
  :mod:`perfrl.profiling`) off the event loop, keeps the result, refreshes the lenses and
  returns ``{"functions": [{"target", "path", "qualname", "line", "share", "calls",
  "called_by_tests"}...], "overhead", "html"}`` (the HTML icicle is written to the cache);
  null when refused.
- ``perfrl.optimizeHottest [n]`` starts (through the job queue, so benchmarks never overlap)
  the optimization of the ``n`` hottest functions that tests call, profiling first when no
  profile is kept; returns ``{"jobs": [{"target", "jobId"}...]}``.
- After a profile, a function PerfRL has not worked on yet gets the lens
  ``hot: 12% of test time · Optimize`` (ranked in the top :data:`LENS_TOP`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from perfrl.engine.types import PerfRLError
from perfrl.lsp.documents import uri_to_path
from perfrl.lsp.features.views import FunctionView
from perfrl.lsp.hot_spots import HotSpots
from perfrl.lsp.protocol import CommandInt
from perfrl.lsp.server import PerfServer

PROFILE = "perfrl.profileProject"
OPTIMIZE_HOTTEST = "perfrl.optimizeHottest"
HOT_COMMANDS = (PROFILE, OPTIMIZE_HOTTEST)
#: Lenses go on this many of the hottest functions (more would be noise), and only on those
#: with at least this share of the time ("hot: 0%" tells the user nothing).
LENS_TOP = 20
LENS_MIN_SHARE = 0.005


def _state(ls) -> HotSpots:
    return ls.hot_spots


def _workspace_root(ls, root_uri: str | None) -> Path | None:
    if root_uri:
        return uri_to_path(root_uri)
    root = getattr(ls.workspace, "root_path", None)
    return Path(root) if root else None


async def profile_workspace(ls, root_uri: str | None = None) -> dict | None:
    from perfrl.engine.interpreter import resolve_interpreter
    from perfrl.profiling import profile_project, render_html

    state = _state(ls)
    root = _workspace_root(ls, root_uri)
    if root is None or not root.is_dir():
        ls.tell_user("PerfRL: open a folder (workspace) to profile its tests",
                     types.MessageType.Warning)
        return None
    if state.running:
        ls.tell_user("PerfRL: a profile is already running", types.MessageType.Info)
        return None
    state.running = True
    settings = ls.settings.engine_settings(cache_dir=ls.cache_dir / "baselines")
    ls.log_to_client(f"PerfRL: profiling the tests of {root}")
    try:
        interpreter = await asyncio.to_thread(resolve_interpreter, root, settings.interpreter)
        profile = await asyncio.to_thread(profile_project, root, None, settings, interpreter)
    except PerfRLError as exc:
        ls.tell_user(f"PerfRL: could not profile {root.name}: {exc}", types.MessageType.Error)
        return None
    finally:
        state.running = False
    state.profile = profile
    state.by_function = {(str((root / f.path).resolve()), f.qualname): f
                         for f in profile.hottest(LENS_TOP) if f.share >= LENS_MIN_SHARE}
    html = ls.cache_dir / "profile.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(profile), encoding="utf-8")
    ls.refresh_views()
    top = profile.hottest(LENS_TOP)
    if top:
        ls.tell_user(f"PerfRL: hottest: {top[0].target} ({top[0].share:.0%} of "
                     f"{profile.share_of}); profile: {html}")
    return {"functions": [{"target": f.target, "path": f.path, "qualname": f.qualname,
                           "line": f.line, "share": f.share, "calls": f.calls,
                           "called_by_tests": f.called_by_tests} for f in top],
            "overhead": profile.overhead, "html": str(html)}


async def optimize_hottest(ls, n: int) -> dict | None:
    from perfrl.lsp.features.commands import start_optimize

    state = _state(ls)
    if state.profile is None and await profile_workspace(ls) is None:
        return None
    profile = state.profile
    assert profile is not None  # kept by profile_workspace above
    jobs = []
    for fn in profile.hottest(n, verifiable_only=True):
        uri = (profile.project_root / fn.path).as_uri()
        started = start_optimize(ls, uri, fn.line - 1)
        if started is not None:
            jobs.append({"target": fn.target, "jobId": started["jobId"]})
    if not jobs:
        ls.tell_user("PerfRL: no hot function that tests call could be optimized",
                     types.MessageType.Info)
    return {"jobs": jobs}


def hot_lens(ls, view: FunctionView) -> types.CodeLens | None:
    """The hot-spot lens of a function nothing else is shown for, or None."""
    if view.running or view.result is not None:
        return None
    path = uri_to_path(view.uri)
    if path is None:
        return None
    fn = _state(ls).by_function.get((str(path.resolve()), view.function.qualname))
    if fn is None:
        return None
    from perfrl.lsp.features.commands import OPTIMIZE

    profile = _state(ls).profile
    share_of = profile.share_of if profile is not None else "the run"
    line0 = view.function.span.start_line - 1
    if fn.called_by_tests:
        command = types.Command(title=f"hot: {fn.share:.0%} of {share_of} · Optimize",
                                command=OPTIMIZE,
                                arguments=[view.uri, view.function.span.def_line - 1])
    else:  # nothing to verify a rewrite with: say so, and offer a fresh profile
        command = types.Command(title=f"hot: {fn.share:.0%} of {share_of} · no test calls it",
                                command=PROFILE, arguments=[])
    return types.CodeLens(range=types.Range(start=types.Position(line=line0, character=0),
                                            end=types.Position(line=line0, character=0)),
                          command=command)


def register(server: PerfServer) -> None:
    @server.command(PROFILE)
    async def profile_command(ls: PerfServer, *args):
        # [] or [rootUri]: checked here because the root is optional.
        if len(args) > 1 or (args and not (isinstance(args[0], str) and args[0])):
            raise JsonRpcInvalidParams(f"Invalid params for {PROFILE}: expected [] or [rootUri]")
        return await profile_workspace(ls, args[0] if args else None)

    @server.command(OPTIMIZE_HOTTEST)
    async def hottest_command(ls: PerfServer, n: CommandInt):
        if n < 1:
            raise JsonRpcInvalidParams(f"Invalid params for {OPTIMIZE_HOTTEST}: n must be >= 1")
        return await optimize_hottest(ls, n)
