"""Start-up, configuration and shutdown.

Settings are read from ``initializationOptions`` (the base), then pulled with
``workspace/configuration`` (section ``perfrl``) in ``initialized`` and again on every
``workspace/didChangeConfiguration``; clients without ``workspace/configuration`` push them in
the notification instead. Invalid values are shown with ``window/showMessage`` (key, problem,
value used: a bad value never widens what runs, see :mod:`perfrl.lsp.config`). The model
starts loading once the settings are known.

``shutdown`` cancels every job and answers once they have ended (bounded), so the client
still receives their last messages; ``exit`` is handled by :mod:`perfrl.lsp.protocol`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types

from perfrl.lsp.config import SECTION, LspSettings, parse_settings, to_wire
from perfrl.lsp.features.progress import job_id_of
from perfrl.lsp.model import ensure_model
from perfrl.lsp.server import PerfServer

CONFIG_TIMEOUT_S = 10.0


def apply_settings(ls: PerfServer, settings: LspSettings, problems) -> None:
    fresh = [p for p in problems if p.message not in ls.shown_problems]
    ls.shown_problems = {p.message for p in problems}
    ls.report_setting_problems(fresh)
    changed = settings != ls.settings
    ls.settings = settings
    ls.jobs.set_max_concurrent(settings.max_concurrent_jobs)
    if changed:
        ls.log_to_client(f"PerfRL settings: {to_wire(settings)}")
    ensure_model(ls)


async def pull_settings(ls: PerfServer) -> tuple[Any, bool]:
    """(the ``perfrl`` section, whether the pull worked) via ``workspace/configuration``."""
    if not ls.client_supports("workspace", "configuration"):
        return None, False
    try:
        answer = await asyncio.wait_for(
            ls.workspace_configuration_async(types.ConfigurationParams(
                items=[types.ConfigurationItem(section=SECTION)])),
            CONFIG_TIMEOUT_S,
        )
    except TimeoutError:
        ls.log_to_client(f"PerfRL: the editor did not answer workspace/configuration within "
                         f"{CONFIG_TIMEOUT_S:.0f} s; keeping the current settings",
                         types.MessageType.Warning)
        return None, False
    except Exception as exc:  # noqa: BLE001 - an error answer from the client
        ls.log_to_client(f"PerfRL: workspace/configuration failed ({type(exc).__name__}: "
                         f"{exc}); keeping the current settings", types.MessageType.Warning)
        return None, False
    return (answer[0] if answer else None), True


def register(server: PerfServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: PerfServer, params: types.InitializeParams):
        # Sent once per connection (a second one is refused by PerfProtocol).
        settings, problems = parse_settings(params.initialization_options)
        ls.initial_settings = settings
        ls.settings = settings
        ls.pending_problems = problems
        ls.jobs.set_max_concurrent(settings.max_concurrent_jobs)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: PerfServer, params: types.InitializedParams):
        problems = list(ls.pending_problems)
        ls.pending_problems = []
        settings = ls.initial_settings
        section, pulled = await pull_settings(ls)
        if pulled:
            settings, more = parse_settings(section, base=ls.initial_settings,
                                            previous=ls.initial_settings)
            problems += more
        apply_settings(ls, settings, problems)
        ls.send_status(force=True)
        # A server killed with SIGKILL could not clean up: its workspaces and cgroups go now,
        # at the next start, off the event loop (not at this server's first job).
        from perfrl.engine.sandbox import clean_up_after_dead_servers

        await asyncio.get_running_loop().run_in_executor(None, clean_up_after_dead_servers)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: PerfServer,
                                       params: types.DidChangeConfigurationParams):
        section, pulled = await pull_settings(ls)
        if not pulled:
            section = params.settings
        settings, problems = parse_settings(section, base=ls.initial_settings,
                                            previous=ls.settings)
        apply_settings(ls, settings, problems)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: PerfServer, params: None):
        # Cancelling kills every sandboxed process of running jobs; answering after they
        # ended lets their "cancelled" messages reach the client before it exits.
        await ls.stop_jobs()

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel_progress(ls: PerfServer, params: types.WorkDoneProgressCancelParams):
        job_id = job_id_of(params.token)
        if job_id is not None:
            ls.jobs.cancel(job_id)
