"""Guarded against plain decoding on real prompts: CPU and wall time, tokens generated.

For each function (the slow side of held-out pairs), the shipped model decodes greedy + 7
samples twice, interleaved: plain, and with the model source's constraints (forced ``def``
line, vocabulary mask, steering repetition stop; their construction is timed too). Unlike
``bench_generation.py``, which forces 256 tokens per row to time a step, this measures what a
user waits for: loops that ended at the length cap now end or turn early.

    python benchmarks/bench_guarded_decoding.py --test-file DATA/test.jsonl --limit 32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-file", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from perfrl.inference.decoding import RepetitionStop
    from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
    from perfrl.model_contract import default_model_dir
    from perfrl.sources.abstraction import model_input
    from perfrl.sources.model import output_words, signature_header

    rows = [json.loads(line) for line in args.test_file.read_text().splitlines()][: args.limit]
    model = OnnxSeq2SeqModel.load(args.model or default_model_dir(), threads=args.threads)
    cpu = {"plain": 0.0, "guarded": 0.0}
    wall = dict(cpu)
    tokens = {"plain": 0, "guarded": 0}
    for row in rows:
        text, table = model_input(row["slow"], model.spec.input_abstraction)
        prompt = model.prompt_for(text)
        for kind in ("plain", "guarded"):
            started, started_cpu = time.perf_counter(), time.process_time()
            options = {}
            if kind == "guarded":
                options["constraints"] = model.output_constraints(
                    forced_start=signature_header(text),
                    words=None if table is None else output_words(text, table),
                    repetition=RepetitionStop(steer=True),
                )
            outputs = model.generate(prompt, num_return=8, do_sample=True, greedy_first=True,
                                     temperature=0.8, top_k=50, top_p=0.95, seed=0, **options)
            cpu[kind] += time.process_time() - started_cpu
            wall[kind] += time.perf_counter() - started
            tokens[kind] += sum(len(o.token_ids) for o in outputs)
    for kind, seconds in cpu.items():
        print(f"{kind:8} cpu {seconds:6.2f} s  wall {wall[kind]:6.2f} s  tokens {tokens[kind]:6d}"
              f"  cpu per token {1000 * seconds / max(tokens[kind], 1):.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
