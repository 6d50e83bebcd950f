"""What the copy bias does to an exported edit model's content: the right lines given, does it
write the right replacement?

On real-code evaluation pairs (packages the model did not train on; single-hunk pairs of at
most ``--max-lines`` lines, no invented strings), the wanted script's header is forced, the
output copies from that hunk's unchanged script (:func:`perfrl.sources.edit_sites.site_text`),
decoding is guarded as the server guards it (vocabulary mask, repetition stop), greedy; for
each ``--bonus``:

- *exact*: the script equals the wanted one;
- *parses*: it applies and the function parses;
- *same code*: the function it gives is the fast side up to layout (equal ASTs: real code's
  own spacing, ``j:j+1`` against ``j:j + 1``, is not the model's to guess);
- *unchanged*: it writes the lines back as they were (a copy, no rewrite);
- seconds per output (the bias reads every row's whole score vector).

``--shuffled-names`` renumbers each row's placeholders by a random permutation among
themselves (:mod:`perfrl_train.data.shuffle_placeholders`, seed 0) before it is read: the same
code with numbers that say nothing. A model that reads which names a line is about scores the
same; one that guesses names from the usual numbering falls (EDITR4: 10 of 80 -> 0 of 80).

Runs without torch (the server's runtime and the data mixer's string check):

    python benchmarks/bench_copy_bias.py --model MODEL_DIR --eval PAIRS/eval.jsonl \\
        --bonus 0 2 4 6
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import time
from pathlib import Path

from perfrl.edit_script import EditScriptError, apply_edit_script, make_edit_script
from perfrl.inference.decoding import RepetitionStop
from perfrl.inference.onnx_seq2seq import OnnxSeq2SeqModel
from perfrl.model_contract import EDIT_FORMATS
from perfrl.sources.abstraction import Abstraction
from perfrl.sources.edit_sites import site_text
from perfrl.sources.model import output_words
from perfrl_train.data.mix import invents_strings
from perfrl_train.data.shuffle_placeholders import shuffled_row


def evaluation_rows(path: Path, max_lines: int, limit: int) -> list[dict]:
    """Single-hunk pairs of at most ``max_lines`` lines whose fast side uses no string the
    slow side lacks, shuffled with seed 0, the first ``limit`` (bench_edit_reading.py reads
    the same rows)."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    rows = [r for r in rows if not invents_strings(r)
            and len(r["slow"].strip().split("\n")) <= max_lines
            and "\n@" not in make_edit_script(r["slow"], r["fast"])]
    random.Random(0).shuffle(rows)
    return rows[:limit]


def measure(model: OnnxSeq2SeqModel, rows: list[dict], bonus: float, min_match: int) -> dict:
    refs = model.spec.output_format == "edit-v2"  # its scripts name unchanged lines
    counts = {"pairs": 0, "exact": 0, "same_code": 0, "parses": 0, "unchanged": 0}
    started = time.perf_counter()
    for row in rows:
        slow = row["slow"]
        wanted = make_edit_script(slow, row["fast"], line_refs=refs).strip()
        header = wanted.split("\n", 1)[0]
        first, last = (int(n) for n in header[1:].split("-"))
        unchanged = site_text(slow, (first, last)).strip()
        # Real-code pairs are already abstracted: every placeholder is a word of the text.
        constraints = model.output_constraints(
            forced_start=header,
            words=output_words(slow, Abstraction()),
            repetition=RepetitionStop(steer=True),
            copy_from=site_text(slow, (first, last)),
            copy_bonus=bonus,
            copy_min_match=min_match,
            line_refs=len(slow.strip("\n").split("\n")) if refs else 0,  # as the server does
        )
        [out] = model.generate(model.prompt_for(slow), max_new_tokens=96, constraints=constraints)
        script = out.text.strip()
        counts["pairs"] += 1
        counts["exact"] += script == wanted
        counts["unchanged"] += script == unchanged
        try:
            written = ast.parse(apply_edit_script(slow, script + "\n", line_refs=refs))
        except (EditScriptError, SyntaxError):
            continue
        counts["parses"] += 1
        counts["same_code"] += ast.dump(written) == ast.dump(ast.parse(row["fast"]))
    seconds = time.perf_counter() - started
    return {"bonus": bonus, "min_match": min_match, **counts,
            "seconds_per_output": round(seconds / max(counts["pairs"], 1), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, required=True, help="an exported edit model")
    parser.add_argument("--eval", type=Path, required=True, help="real-code evaluation pairs")
    parser.add_argument("--bonus", type=float, nargs="+", default=[0.0, 2.0, 4.0])
    parser.add_argument("--min-match", type=int, nargs="+", default=[1],
                        help="tokens a row's tail must match in the copied text")
    parser.add_argument("--max-lines", type=int, default=15)
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--shuffled-names", action="store_true",
                        help="renumber each row's placeholders at random first (seed 0)")
    args = parser.parse_args(argv)
    model = OnnxSeq2SeqModel.load(args.model)
    if model.spec.output_format not in EDIT_FORMATS:
        parser.error(f"{args.model} writes {model.spec.output_format!r}, not edit scripts")
    rows = evaluation_rows(args.eval, args.max_lines, args.limit)
    if args.shuffled_names:
        rng = random.Random(0)
        rows = [shuffled_row(row, rng) or row for row in rows]
    for min_match in args.min_match:
        for bonus in args.bonus:
            print(json.dumps(measure(model, rows, bonus, min_match)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
