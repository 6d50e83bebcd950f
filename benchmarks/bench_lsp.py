"""How responsive is the PerfRL language server?

1. Start-up: from spawning ``python -P -m perfrl.lsp`` to the answer to ``initialize``.
   Target: under 1 s.
2. Latency of ``textDocument/codeAction`` and ``textDocument/codeLens`` while two verification
   jobs run (``maxConcurrentJobs: 2``, real engine, real sandboxed pytest runs), and with no
   job running for comparison. Target: p95 under 50 ms.

Run: python benchmarks/bench_lsp.py [--starts 5] [--requests 200] [--json OUT]
The machine is shared and noisy; figures are wall-clock times seen by the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "inventory"
CANDIDATES = {
    "missing_skus.py": (
        "def missing_skus(wanted, products):\n"
        "    carried = {product[\"sku\"] for product in products}\n"
        "    return [sku for sku in wanted if sku not in carried]\n"),
    "active_skus.py": (
        "def active_skus(products):\n"
        "    return [p[\"sku\"].upper() for p in products if p[\"active\"]]\n"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 2),
            "p95_ms": round(percentile(values, 95) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2)}


class Client:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lsp = LanguageClient("perfrl-bench", "1")
        self.status: dict = {}
        self.status_changed = asyncio.Event()
        self.messages: list[str] = []

        @self.lsp.feature("perfrl/status")
        def on_status(params):
            self.status = params if isinstance(params, dict) else dict(params._asdict())
            self.status_changed.set()

        @self.lsp.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params):
            self.messages.append(params.message)

        @self.lsp.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params):
            pass

        @self.lsp.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def on_create(params):
            return None

        @self.lsp.feature(types.PROGRESS)
        def on_progress(params):
            pass

        @self.lsp.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def on_lens_refresh(params):
            return None

    async def start(self, root: Path, options: dict) -> float:
        """Spawn and initialize; returns seconds from spawn to the initialize answer."""
        started = time.perf_counter()
        await self.lsp.start_io(sys.executable, "-P", "-m", "perfrl.lsp", env=self.env)
        caps = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(
                code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True)),
        )
        await self.lsp.initialize_async(types.InitializeParams(
            capabilities=caps, root_uri=root.as_uri(), initialization_options=options))
        elapsed = time.perf_counter() - started
        self.lsp.initialized(types.InitializedParams())
        return elapsed

    async def stop(self) -> None:
        await self.lsp.shutdown_async(None)
        self.lsp.exit(None)
        await self.lsp.stop()

    async def wait_status(self, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.status):
            self.status_changed.clear()
            await asyncio.wait_for(self.status_changed.wait(), deadline - time.monotonic())


async def measure_start(env: dict[str, str], root: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        client = Client(env)
        times.append(await client.start(root, {"perfrl": {"sources": []}}))
        await client.stop()
    return times


async def measure_latency(client: Client, uri: str, lines: list[int], count: int,
                          while_running: int | None) -> list[float]:
    latencies: list[float] = []
    doc = types.TextDocumentIdentifier(uri=uri)
    for i in range(count):
        if while_running is not None and client.status.get("jobsRunning") != while_running:
            break
        line = lines[i % len(lines)]
        started = time.perf_counter()
        if i % 2:
            await client.lsp.text_document_code_lens_async(types.CodeLensParams(text_document=doc))
        else:
            pos = types.Position(line=line, character=4)
            await client.lsp.text_document_code_action_async(types.CodeActionParams(
                text_document=doc, range=types.Range(start=pos, end=pos),
                context=types.CodeActionContext(diagnostics=[])))
        latencies.append(time.perf_counter() - started)
    return latencies


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="perfrl-bench-lsp-"))
    try:
        root = work / "inventory"
        shutil.copytree(EXAMPLE, root, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        candidates = work / "candidates"
        candidates.mkdir()
        for name, code in CANDIDATES.items():
            (candidates / name).write_text(code)
        env = dict(os.environ, XDG_CACHE_HOME=str(work / "cache"))
        results: dict = {"start_s": [round(t, 3) for t in
                                     await measure_start(env, root, args.starts)]}

        client = Client(env)
        await client.start(root, {"perfrl": {
            "sources": [], "extraCandidateDirs": [str(candidates)], "maxConcurrentJobs": 2}})
        path = root / "inventory" / "catalog.py"
        text = path.read_text()
        uri = path.as_uri()
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=text)))
        lines = [i for i, line in enumerate(text.splitlines()) if line.startswith("    ")]
        idle = await measure_latency(client, uri, lines, args.requests, None)

        for needle in ("missing.append(sku)", "result.append"):
            line = next(i for i, t in enumerate(text.splitlines()) if needle in t)
            await client.lsp.workspace_execute_command_async(types.ExecuteCommandParams(
                command="perfrl.optimizeFunction", arguments=[uri, line]))
        await client.wait_status(lambda s: s.get("jobsRunning") == 2, 60)
        busy = await measure_latency(client, uri, lines, args.requests, 2)
        await client.wait_status(lambda s: s.get("jobsRunning") == 0, 600)
        await client.stop()
        results["idle"] = summary(idle)
        results["two_jobs_running"] = summary(busy)
        results["start"] = {"median_s": round(statistics.median(results["start_s"]), 3),
                            "max_s": round(max(results["start_s"]), 3)}
        results["job_messages"] = client.messages
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="server starts to time")
    parser.add_argument("--requests", type=int, default=200, help="requests per phase")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    busy = results["two_jobs_running"]
    print(f"\nstart-up: median {results['start']['median_s']} s (target < 1 s); "
          f"codeAction/codeLens with two jobs running: p50 {busy['p50_ms']} ms, "
          f"p95 {busy['p95_ms']} ms over {busy['n']} requests (target p95 < 50 ms)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
