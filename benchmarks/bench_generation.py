"""How fast is our generation loop next to PyTorch and optimum, on the same model and input?

Paths compared, each in its own worker process (so that peak memory is that path's alone); the
orchestrator interleaves their runs round-robin, so that load drifting on a shared machine hits
every path alike:

- ``ours-int8``: :class:`perfrl.inference.onnx_seq2seq.OnnxSeq2SeqModel` on the int8
  (dynamic, per-channel) export with the step-graph decoder (``perfrl-step-v1``): what the
  server ships;
- ``ours-fp32``: the same loop on the fp32 export (the same weights optimum runs);
- ``ours-int8-optimum``: the same loop on optimum's int8 with-past decoders (format
  ``optimum-with-past``, what shipped before the step graphs);
- ``ours-int8-guarded``: ``ours-int8`` with the model source's output constraints (the
  function's ``def`` line forced, the vocabulary mask of its words and Python's, the
  repetition check; :meth:`OnnxSeq2SeqModel.output_constraints`). The forced length keeps
  the repetition stop and its steering from acting (as ``min_new_tokens`` does); the check
  itself runs at every step and is timed;
- ``ours-int8-copy``: ``ours-int8-guarded`` plus the copy bias towards the function
  (:mod:`perfrl.inference.copy_bias`, bonus 3): every row's whole score vector is read at
  every step (no top-k shortcut) and each row's tail is looked up in the copied text;
- ``ours-int8-words``: ``ours-int8-guarded`` plus the whole-word guard
  (:mod:`perfrl.inference.word_guard`): every row's chosen token is checked against the
  word it continues;
- ``ours-int8-baseline`` (only with ``--baseline-server DIR``): ``ours-int8`` run by the
  ``perfrl`` package found in ``DIR`` (an earlier checkout's ``server/``), so that a change
  of the decoding loop is measured against the code before it in the same run;
- ``pytorch``: ``T5ForConditionalGeneration.generate`` (eager, fp32);
- ``optimum``: ``ORTModelForSeq2SeqLM.generate`` on the fp32 export, torch at 1 thread
  (with more, torch's pool competes with onnxruntime's and it runs about 2x slower).

Workloads: greedy, and 8 samples (temperature 0.8, top-k 50, top-p 0.95), of a fixed number of
new tokens (``min_new_tokens = max_new_tokens``, default 256: generation length does not depend
on how well the model is trained) for a ~150-token function. Reported: median latency over
``--runs`` runs after one warm-up, generated tokens per second, peak RSS of the worker
(VmHWM: imports, weights and generation together), and cold start: the wall time of a
fresh ``python`` process that imports the path's libraries, loads the model and generates 32
tokens.

The model has the project's small shape (d_model 256, d_ff 1024, 4+4 layers, 4 heads, 16k
vocabulary; 11.4M parameters), built once into ``--model-cache``: a byte-level BPE trained on
part of the standard library, a T5 from config trained ``--train-steps`` steps (to have
non-degenerate weights; speed does not depend on it), exported with optimum (the encoder, and
the decoders optimum runs) and as step graphs (``perfrl_train.step_decoder``), and quantized.

Run: python benchmarks/bench_generation.py [--runs 5] [--threads 2] [--json OUT]
Needs the [train] extra. The machine is shared and noisy: compare the paths of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PATHS = ("ours-int8", "ours-int8-guarded", "ours-int8-copy", "ours-int8-words", "ours-fp32",
         "ours-int8-optimum", "pytorch", "optimum")
#: Model directory of each of our paths under the model cache.
OUR_DIRS = {
    "ours-int8": "int8",
    "ours-int8-guarded": "int8",
    "ours-int8-copy": "int8",
    "ours-int8-words": "int8",
    "ours-int8-baseline": "int8",
    "ours-fp32": "fp32",
    "ours-int8-optimum": "int8-optimum",
}
SHAPE = {
    "d_model": 256,
    "d_ff": 1024,
    "num_layers": 4,
    "num_decoder_layers": 4,
    "num_heads": 4,
    "d_kv": 64,
}
VOCAB = 16000
SAMPLING = {"temperature": 0.8, "top_k": 50, "top_p": 0.95}

# A realistic function of about 150 tokens (the model's input).
FUNCTION = '''\
def summarize_orders(orders, min_total=0.0):
    """Totals per customer for orders above a threshold, sorted by total."""
    totals = {}
    for order in orders:
        if order["status"] != "paid":
            continue
        total = 0.0
        for item in order["items"]:
            total = total + item["price"] * item["quantity"]
        if total < min_total:
            continue
        name = order["customer"]
        if name in totals:
            totals[name] = totals[name] + total
        else:
            totals[name] = total
    result = []
    for name in sorted(totals, key=lambda n: -totals[n]):
        result.append((name, round(totals[name], 2)))
    return result
'''


# -- building the benchmark model ---------------------------------------------------------------


def _stdlib_files(limit_bytes: int) -> list[Path]:
    stdlib = Path(os.__file__).parent
    files, size = [], 0
    for path in sorted(stdlib.glob("*.py")):
        files.append(path)
        size += path.stat().st_size
        if size >= limit_bytes:
            break
    return files


def _functions(files: list[Path], limit: int) -> list[str]:
    import ast

    out = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        lines = text.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and 5 <= node.end_lineno - node.lineno <= 25:
                out.append("".join(lines[node.lineno - 1 : node.end_lineno]))
                if len(out) >= limit:
                    return out
    return out


def build_model(cache: Path, train_steps: int) -> None:
    """Tokenizer, briefly trained small T5, fp32 and int8 exports under ``cache``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export
    from tokenizers import ByteLevelBPETokenizer, Tokenizer, processors
    from transformers import T5Config, T5ForConditionalGeneration

    from perfrl.model_contract import (
        DECODER_FORMAT_OPTIMUM,
        DECODER_FORMAT_STEP,
        ModelSpec,
        build_prompt,
        write_model_spec,
    )
    from perfrl_train.step_decoder import write_step_decoder

    work = cache.with_name(cache.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    files = _stdlib_files(6_000_000)
    bpe = ByteLevelBPETokenizer()
    bpe.train(
        [str(p) for p in files],
        vocab_size=VOCAB,
        min_frequency=2,
        show_progress=False,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>", "<mask>"],
    )
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 1))
    bpe.save(str(work / "tokenizer.json"))
    tok = Tokenizer.from_file(str(work / "tokenizer.json"))
    print(
        f"tokenizer: {tok.get_vocab_size()} tokens, {time.perf_counter() - started:.0f} s",
        flush=True,
    )

    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = T5Config(
        vocab_size=VOCAB,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=True,
        **SHAPE,
    )
    model = T5ForConditionalGeneration(config)
    functions = _functions(files, 64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for step in range(train_steps):
        batch = [functions[(step * 8 + i) % len(functions)] for i in range(8)]
        src = [tok.encode(build_prompt(f)).ids[:256] for f in batch]
        tgt = [[*tok.encode(f, add_special_tokens=False).ids[:255], 2] for f in batch]
        width_s, width_t = max(map(len, src)), max(map(len, tgt))
        ids = torch.tensor([s + [0] * (width_s - len(s)) for s in src])
        labels = torch.tensor([t + [-100] * (width_t - len(t)) for t in tgt])
        loss = model(input_ids=ids, attention_mask=(ids != 0).long(), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"train step {step + 1}/{train_steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    model.save_pretrained(work / "torch")

    main_export(
        str(work / "torch"),
        output=work / "fp32",
        task="text2text-generation-with-past",
        do_validation=False,
        no_post_process=True,
    )
    write_step_decoder(model, work / "fp32")

    def write_dir(name: str, decoder_format: str, quantization: str) -> None:
        spec = ModelSpec(
            max_source_length=512,
            max_target_length=256,
            num_decoder_layers=4,
            num_heads=4,
            d_kv=64,
            vocab_size=VOCAB,
            decoder_format=decoder_format,
            quantization=quantization,
            training={"note": f"benchmark model, {train_steps} steps"},
        )
        (work / name).mkdir(exist_ok=True)
        for file in spec.model_files()[:-1]:
            if quantization == "none":
                continue  # the fp32 directory is where every file was written
            quantize_dynamic(
                work / "fp32" / file,
                work / name / file,
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        shutil.copy(work / "tokenizer.json", work / name / "tokenizer.json")
        write_model_spec(work / name, spec)

    write_dir("fp32", DECODER_FORMAT_STEP, "none")
    write_dir("int8", DECODER_FORMAT_STEP, "int8-dynamic-per-channel")
    write_dir("int8-optimum", DECODER_FORMAT_OPTIMUM, "int8-dynamic-per-channel")
    shutil.rmtree(cache, ignore_errors=True)
    work.rename(cache)
    print(f"model built in {time.perf_counter() - started:.0f} s", flush=True)


# -- one path, in a worker process --------------------------------------------------------------


class Runner:
    """Loads one path's model; ``greedy(n)`` / ``sample(n, k)`` generate exactly n tokens."""

    def __init__(self, path: str, cache: Path, threads: int) -> None:
        from tokenizers import Tokenizer

        self.path = path
        self.ids = Tokenizer.from_file(str(cache / "tokenizer.json")).encode(_prompt(FUNCTION)).ids
        if path.startswith("ours"):
            from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel

            self.model = OnnxSeq2SeqModel.load(cache / OUR_DIRS[path], threads=threads)
            assert self.model.encode_prompt(_prompt(FUNCTION)).ids == self.ids
            self.guarded = {}
            if path in ("ours-int8-guarded", "ours-int8-copy", "ours-int8-words"):
                copy_bonus = 3.0 if path == "ours-int8-copy" else 0.0
                self.guarded = {"constraints": _guarded_constraints(
                    self.model, copy_bonus, whole_words=path == "ours-int8-words")}
            return
        import torch

        self.torch = torch
        self.input = torch.tensor([self.ids])
        if path == "pytorch":
            from transformers import T5ForConditionalGeneration

            torch.set_num_threads(threads)
            self.model = T5ForConditionalGeneration.from_pretrained(cache / "torch").eval()
        else:
            import onnxruntime as ort
            from optimum.onnxruntime import ORTModelForSeq2SeqLM

            torch.set_num_threads(1)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.model = ORTModelForSeq2SeqLM.from_pretrained(
                cache / "fp32", use_cache=True, use_merged=False, session_options=options
            )

    def greedy(self, n: int) -> int:
        if self.path.startswith("ours"):
            [out] = self.model.generate(
                _prompt(FUNCTION), max_new_tokens=n, min_new_tokens=n, **self.guarded
            )
            return len(out.token_ids)
        with self.torch.no_grad():
            out = self.model.generate(
                self.input,
                attention_mask=self.torch.ones_like(self.input),
                do_sample=False,
                max_new_tokens=n,
                min_new_tokens=n,
            )
        return out.shape[1] - 1

    def sample(self, n: int, k: int) -> int:
        if self.path.startswith("ours"):
            outs = self.model.generate(
                _prompt(FUNCTION),
                num_return=k,
                do_sample=True,
                max_new_tokens=n,
                min_new_tokens=n,
                seed=0,
                **SAMPLING,
                **self.guarded,
            )
            return sum(len(o.token_ids) for o in outs)
        with self.torch.no_grad():
            out = self.model.generate(
                self.input,
                attention_mask=self.torch.ones_like(self.input),
                do_sample=True,
                num_return_sequences=k,
                max_new_tokens=n,
                min_new_tokens=n,
                **SAMPLING,
            )
        return out.shape[0] * (out.shape[1] - 1)


def _guarded_constraints(model, copy_bonus: float = 0.0, whole_words: bool = False):
    """What the model source asks of every decode (built once per prompt there too; its
    cost, a few milliseconds, is left out of the timed runs as the encoder is not)."""
    from perfrl.inference.decoding import RepetitionStop
    from perfrl.inference.output_vocabulary import python_words, words_of
    from perfrl.sources.model import signature_header

    return model.output_constraints(
        forced_start=signature_header(FUNCTION),
        words=python_words() | words_of(FUNCTION),
        repetition=RepetitionStop(steer=True),
        copy_from=FUNCTION,
        copy_bonus=copy_bonus,
        whole_words=whole_words,
    )


def _prompt(source: str) -> str:
    from perfrl.model_contract import build_prompt

    return build_prompt(source)


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ``ru_maxrss``, which a child inherits
    from its parent at fork, VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(path: str, cache: Path, threads: int, new_tokens: int, samples: int) -> None:
    """Load, then answer commands from stdin (``greedy``, ``sample``, ``stats``), one JSON line
    each, so that the orchestrator can interleave the paths' runs."""
    started = time.perf_counter()
    runner = Runner(path, cache, threads)
    load_s = time.perf_counter() - started
    runner.greedy(16)  # warm-up: first-run allocations
    print(json.dumps({"ready": True, "load_s": load_s}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        started = time.perf_counter()
        if command == "greedy":
            tokens = runner.greedy(new_tokens)
        elif command == "sample":
            tokens = runner.sample(new_tokens, samples)
        elif command == "stats":
            print(
                json.dumps({"peak_rss_mb": _peak_rss_mb(), "input_tokens": len(runner.ids)}),
                flush=True,
            )
            continue
        else:
            return
        print(json.dumps({"seconds": time.perf_counter() - started, "tokens": tokens}), flush=True)


def cold(path: str, cache: Path, threads: int) -> None:
    Runner(path, cache, threads).greedy(32)


# -- orchestration ------------------------------------------------------------------------------


#: ``--baseline-server``: where the ``ours-int8-baseline`` path finds ``perfrl``.
BASELINE_SERVER: list[Path] = []


def _environment(path: str) -> dict[str, str] | None:
    if path != "ours-int8-baseline":
        return None
    if not BASELINE_SERVER:
        raise SystemExit("the ours-int8-baseline path needs --baseline-server DIR")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BASELINE_SERVER[0]), env.get("PYTHONPATH", "")])
    return env


class Worker:
    def __init__(self, path: str, common: list[str]) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *common, "--worker", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_environment(path),
        )

    def reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.path} worker died:\n{self.proc.stderr.read()[-3000:]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(60)


def measure(paths: list[str], common: list[str], runs: int, cold_runs: int) -> dict:
    """Round-robin over the paths so that load drifting on a shared machine hits them alike."""
    results: dict[str, dict] = {p: {"greedy_s": [], "samples_s": []} for p in paths}
    workers = []
    try:
        for path in paths:  # loaded one after the other: loading is not what is compared here
            worker_ = Worker(path, common)
            results[path]["load_s"] = worker_.reply()["load_s"]
            workers.append(worker_)
        for _ in range(runs):
            for w in workers:
                r = w.ask("greedy")
                results[w.path]["greedy_s"].append(r["seconds"])
                results[w.path]["greedy_tokens"] = r["tokens"]
            for w in workers:
                r = w.ask("sample")
                results[w.path]["samples_s"].append(r["seconds"])
                results[w.path]["samples_tokens"] = r["tokens"]
        for w in workers:
            results[w.path].update(w.ask("stats"))
    finally:
        for w in workers:
            w.close()
    for _ in range(cold_runs):
        for path in paths:
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, *common, "--cold", path],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
                cwd=REPO,
                env=_environment(path),
            )
            elapsed = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(f"{path} cold start failed:\n{proc.stderr[-3000:]}")
            results[path].setdefault("cold_start_s", []).append(elapsed)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=Path("/tmp/perfrl-bench-model-v2"),
        help="where the benchmark model is built once and reused",
    )
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per workload (median)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per path")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for every path")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--baseline-server", type=Path,
                        help="the server/ directory of an earlier checkout: adds the path "
                        "ours-int8-baseline (its perfrl runs the ours-int8 workload)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cold", help=argparse.SUPPRESS)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    common = [
        "--model-cache",
        str(args.model_cache),
        "--threads",
        str(args.threads),
        "--new-tokens",
        str(args.new_tokens),
        "--samples",
        str(args.samples),
    ]
    if args.baseline_server:
        BASELINE_SERVER.append(args.baseline_server.resolve())
        common += ["--baseline-server", str(args.baseline_server.resolve())]
    if args.worker:
        worker(args.worker, args.model_cache, args.threads, args.new_tokens, args.samples)
        return 0
    if args.cold:
        cold(args.cold, args.model_cache, args.threads)
        return 0
    if args.build_only:
        build_model(args.model_cache, args.train_steps)
        return 0
    if not (args.model_cache / "int8-optimum" / "perfrl_model.json").is_file():
        # In a child, so that its memory does not count in the workers' peak (ru_maxrss of
        # a child starts from its parent's).
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--build-only",
                "--model-cache",
                str(args.model_cache),
                "--train-steps",
                str(args.train_steps),
            ],
            check=True,
            cwd=REPO,
        )
    paths = args.paths.split(",")
    results = measure(paths, common, args.runs, args.cold_runs)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # the interpreter start alone
    python_start_s = time.perf_counter() - started

    report = {
        "results": results,
        "python_start_s": python_start_s,
        "threads": args.threads,
        "new_tokens": args.new_tokens,
        "samples": args.samples,
        "runs": args.runs,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    _print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _print_table(report: dict) -> None:
    results = report["results"]
    n, k = report["new_tokens"], report["samples"]
    print(
        f"\nsmall T5 (11.4M), {next(iter(results.values()))['input_tokens']} input tokens, "
        f"{n} new tokens forced, {report['threads']} threads, median of {report['runs']}, "
        f"load average {report['load_average'][0]:.1f} on {report['cpus']} CPUs"
    )
    header = (
        f"{'path':<19} {'greedy s':>9} {'tok/s':>7} {f'{k} samples s':>12} {'tok/s':>7} "
        f"{'peak RSS MB':>11} {'cold start s':>12}"
    )
    print(header)
    print("-" * len(header))
    for path, r in results.items():
        g = statistics.median(r["greedy_s"])
        s = statistics.median(r["samples_s"])
        print(
            f"{path:<19} {g:>9.2f} {r['greedy_tokens'] / g:>7.0f} {s:>12.2f} "
            f"{r['samples_tokens'] / s:>7.0f} {r['peak_rss_mb']:>11.0f} "
            f"{statistics.median(r['cold_start_s']):>12.2f}"
        )
    if "ours-int8" in results and "pytorch" in results:
        ours, torch_ = results["ours-int8"], results["pytorch"]
        print(
            f"\nours-int8 vs PyTorch eager: greedy "
            f"{statistics.median(torch_['greedy_s']) / statistics.median(ours['greedy_s']):.1f}x,"
            f" {k} samples "
            f"{statistics.median(torch_['samples_s']) / statistics.median(ours['samples_s']):.1f}x"
            f" faster"
        )
    print(
        f"(cold start = wall time of a fresh process, including {report['python_start_s']:.2f} s"
        " of bare interpreter start)"
    )


if __name__ == "__main__":
    sys.exit(main())
