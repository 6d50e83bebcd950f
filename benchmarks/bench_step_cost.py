"""What one decoding step costs in each of several exported models, on the same real prompts.

For each model, interleaved round by round so that the machine's load falls on all of them
alike: every prompt (the slow sides of real-code evaluation pairs, read as an edit model reads
them) decodes ``--rows`` sampled rows of exactly ``--tokens`` tokens each (the end of sequence
is forbidden until then, so every model decodes the same number of steps). Reported: CPU and
wall milliseconds per generated token. Written for the copy head (its step graph adds a gate,
a scatter of the cross-attention onto the prompt's ids and a softmax over the vocabulary) but
compares any exported models.

    python benchmarks/bench_step_cost.py --models PLAIN_MODEL COPY_MODEL \\
        --eval PAIRS/eval.jsonl --limit 24 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--eval", type=Path, required=True, help="pairs JSONL (slow sides)")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    rows = [json.loads(line) for line in args.eval.open(encoding="utf-8") if line.strip()]
    slows = [row["slow"] for row in rows[: args.limit]]
    models = {str(path): OnnxSeq2SeqModel.load(path, threads=args.threads)
              for path in args.models}
    cpu = dict.fromkeys(models, 0.0)
    wall = dict.fromkeys(models, 0.0)
    tokens = dict.fromkeys(models, 0)
    for round_ in range(args.rounds):
        for name, model in models.items():
            started_cpu, started = time.process_time(), time.perf_counter()
            for number, slow in enumerate(slows):
                outputs = model.generate(model.prompt_for(slow), num_return=args.rows,
                                         do_sample=True, seed=round_ * 1000 + number,
                                         max_new_tokens=args.tokens,
                                         min_new_tokens=args.tokens)
                tokens[name] += sum(len(out.token_ids) for out in outputs)
            cpu[name] += time.process_time() - started_cpu
            wall[name] += time.perf_counter() - started
    for name in models:
        print(json.dumps({"model": name, "tokens": tokens[name],
                          "cpu_ms_per_token": round(1000 * cpu[name] / tokens[name], 4),
                          "wall_ms_per_token": round(1000 * wall[name] / tokens[name], 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
