"""How responsive is the PerfRL language server?

1. Start-up: from spawning ``python -P -m perfrl.lsp`` to the answer to ``initialize``.
   Target: under 1 s.
2. Latency of ``textDocument/codeAction`` and ``textDocument/codeLens`` while two verification
   jobs run (``maxConcurrentJobs: 2``, real engine, real sandboxed pytest runs), and with no
   job running for comparison. Target: p95 under 50 ms.

3. Large buffer (``--large``): a 5 MB buffer (60,000 functions) is opened and changed; the
   latency of code actions on another file meanwhile, and the server's peak RSS and RSS after
   ``didClose``. Target: requests on other files unaffected; memory returned on close.
4. Soak (``--soak N``, e.g. 300): N optimize/cancel cycles on one function, each cancelled
   once its sandboxed pytest run has started; RSS growth per cycle, and the processes and
   folders (sandbox workspaces, cgroups) left behind.

Run: python benchmarks/bench_lsp.py [--starts 5] [--requests 200] [--large] [--soak 300]
     [--only-extra] [--json OUT]
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
        #: Progress tokens that reported the job's sandboxed test run.
        self.testing: set[str] = set()
        self.progress_seen = asyncio.Event()

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
            value = params.value
            message = getattr(value, "message", None) or (
                value.get("message") if isinstance(value, dict) else None)
            if message and "running the project's tests" in message:
                self.testing.add(str(params.token))
                self.progress_seen.set()

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


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def perfrl_cgroups(pid: int) -> list[str]:
    """cgroup folders named after the server's pid (perfrl-<ns>-<pid>-...)."""
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        for name in dirs:
            parts = name.split("-")
            if name.startswith("perfrl-") and len(parts) > 2 and parts[2] == str(pid):
                found.append(os.path.join(base, name))
        if base.count(os.sep) > 8:
            dirs[:] = []
    return found


def big_buffer() -> str:
    """About 5 MB of Python: 60,000 small functions."""
    return "".join(f"def function_{i}(values, factor):\n"
                   f"    return [v * factor for v in values if v > {i}]\n\n\n"
                   for i in range(60_000))


async def measure_large_buffer(client: Client, root: Path, requests: int) -> dict:
    pid = client.lsp._server.pid  # type: ignore[union-attr]
    catalog = root / "inventory" / "catalog.py"
    text = catalog.read_text()
    lines = [i for i, line in enumerate(text.splitlines()) if line.startswith("    ")]
    before = rss_kb(pid)
    big = big_buffer()
    big_uri = (root / "inventory" / "big_module.py").as_uri()
    client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=big_uri, language_id="python", version=1,
                                             text=big)))
    after_open = await measure_latency(client, catalog.as_uri(), lines, requests // 2, None)
    client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=big_uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=big + "x = 1\n")]))
    after_change = await measure_latency(client, catalog.as_uri(), lines, requests // 2, None)
    started = time.perf_counter()
    await client.lsp.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=big_uri),
        range=types.Range(start=types.Position(line=1, character=4),
                          end=types.Position(line=1, character=4)),
        context=types.CodeActionContext(diagnostics=[])))
    on_big_s = time.perf_counter() - started
    peak = rss_kb(pid)
    client.lsp.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=big_uri)))
    await measure_latency(client, catalog.as_uri(), lines, 10, None)
    after_close = rss_kb(pid)
    return {
        "buffer_mb": round(len(big) / 1e6, 2),
        "other_file_while_open": summary(after_open + after_change),
        "code_action_on_the_big_buffer_ms": round(on_big_s * 1000, 2),
        "rss_before_mb": round(before["VmRSS"] / 1024, 1),
        "rss_peak_mb": round(peak["VmHWM"] / 1024, 1),
        "rss_after_close_mb": round(after_close["VmRSS"] / 1024, 1),
        "refusal_shown": any("does not analyse" in m for m in client.messages),
    }


async def measure_soak(client: Client, root: Path, cycles: int, temp: Path) -> dict:
    pid = client.lsp._server.pid  # type: ignore[union-attr]
    catalog = root / "inventory" / "catalog.py"
    text = catalog.read_text()
    uri = catalog.as_uri()
    line = next(i for i, t in enumerate(text.splitlines()) if "missing.append(sku)" in t)
    rss: list[int] = []
    started = time.perf_counter()
    for cycle in range(cycles):
        answer = await client.lsp.workspace_execute_command_async(types.ExecuteCommandParams(
            command="perfrl.optimizeFunction", arguments=[uri, line]))
        job_id = answer["jobId"] if isinstance(answer, dict) else answer.jobId
        # Cancel once the job's sandboxed pytest run has started (the expensive case).
        deadline = time.monotonic() + 120
        while f"perfrl-{job_id}" not in client.testing:
            client.progress_seen.clear()
            await asyncio.wait_for(client.progress_seen.wait(), deadline - time.monotonic())
        await client.lsp.workspace_execute_command_async(types.ExecuteCommandParams(
            command="perfrl.cancelJob", arguments=[job_id]))
        await client.wait_status(lambda s: s.get("jobsRunning") == 0
                                 and s.get("jobsQueued") == 0, 120)
        rss.append(rss_kb(pid)["VmRSS"])
    elapsed = time.perf_counter() - started
    warm = min(10, len(rss) - 1)
    growth = (rss[-1] - rss[warm]) / max(1, len(rss) - 1 - warm)
    return {
        "cycles": cycles,
        "seconds_per_cycle": round(elapsed / max(1, cycles), 3),
        "rss_first_mb": round(rss[0] / 1024, 1),
        "rss_last_mb": round(rss[-1] / 1024, 1),
        "rss_growth_kb_per_cycle_after_warmup": round(growth, 1),
        "processes_left": len(descendants(pid)),
        "workspace_folders_left": sorted(p.name for p in temp.iterdir()
                                         if p.name.startswith("perfrl-")),
        "cgroup_folders_left": perfrl_cgroups(pid),
    }


async def run_extra(args, work: Path, root: Path, env: dict[str, str]) -> dict:
    results: dict = {}
    if args.large:
        client = Client(env)
        await client.start(root, {"perfrl": {"sources": ["rules"]}})
        results["large_buffer"] = await measure_large_buffer(client, root, args.requests)
        await client.stop()
    if args.soak:
        temp = work / "tmp"
        temp.mkdir(exist_ok=True)
        client = Client(dict(env, TMPDIR=str(temp)))
        await client.start(root, {"perfrl": {"sources": ["rules"]}})
        results["soak"] = await measure_soak(client, root, args.soak, temp)
        await client.stop()
    return results


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
        if args.only_extra:
            return await run_extra(args, work, root, env)
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
        results.update(await run_extra(args, work, root, env))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="server starts to time")
    parser.add_argument("--requests", type=int, default=200, help="requests per phase")
    parser.add_argument("--large", action="store_true",
                        help="also measure a 5 MB buffer (latency elsewhere, memory)")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="also run N optimize/cancel cycles (e.g. 300)")
    parser.add_argument("--only-extra", action="store_true",
                        help="skip start-up and job latency; run only --large/--soak")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if args.only_extra:
        return 0
    busy = results["two_jobs_running"]
    print(f"\nstart-up: median {results['start']['median_s']} s (target < 1 s); "
          f"codeAction/codeLens with two jobs running: p50 {busy['p50_ms']} ms, "
          f"p95 {busy['p95_ms']} ms over {busy['n']} requests (target p95 < 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
