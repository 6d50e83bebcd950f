"""A job submitted before the editor's settings arrive waits for the model they name.

Right after ``initialized`` the server asks the editor for its settings; a client that sends
"Optimize" at once (Neovim 0.11 in the editor tests did) got a job that ran without the model,
which it had never been told about. The job's model lookup now follows the settings as they
are applied."""

from __future__ import annotations

import asyncio
import threading

from perfrl.lsp.config import LspSettings
from perfrl.lsp.model import ensure_model, model_handle_for_job
from perfrl.lsp.server import PerfServer
from perfrl.model_contract import default_model_dir


def test_a_job_submitted_before_the_settings_gets_the_model_they_name(tmp_path):
    ls = PerfServer(cache_dir=tmp_path / "cache")
    ls.send_status = lambda *a, **k: None  # no client connected in this test
    ls.log_to_client = lambda *a, **k: None
    lookup = model_handle_for_job(ls)  # the job is queued before any settings
    found: list = []
    worker = threading.Thread(target=lambda: found.append(lookup()))
    worker.start()

    async def settings_arrive() -> None:
        ls.settings = LspSettings(sources=("model",))
        ensure_model(ls)
        while not ls.model_handle_known.is_set():
            await asyncio.sleep(0.01)

    asyncio.run(settings_arrive())
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert found and found[0] is ls.model_handle and found[0] is not None
    assert found[0].model_dir == default_model_dir()
