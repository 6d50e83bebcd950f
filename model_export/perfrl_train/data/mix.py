"""Mix pair files into one SFT training set: weights per file, a cap per transform, a length limit.

The real-code pairs (:mod:`perfrl_train.data.real_pairs`) are dominated by one transform
(``fstring_to_format`` is half of them) and a quarter of them have a fast side longer than the
model's target window, where a truncated target teaches the model to stop mid-function. This
command writes the training file the next model's SFT stage reads:

    python -m perfrl_train.data.mix --out MIX --tokenizer CKPT/tokenizer.json \\
        --train PAIRS/train.jsonl SYNTH/train.jsonl:2 --valid PAIRS/valid.jsonl \\
        --cap fstring_to_format=2500 --max-source-tokens 400 --max-target-tokens 256

A caller may rely on:

- every written row is a row of an input file, unchanged (``FILE:K`` writes each row K times);
- a row whose ``id`` an earlier row (of any file) had is dropped: the first file wins (rows
  without an ``id`` are all kept);
- a row whose transforms (the last ``:``-field of its ``id``, ``+``-separated, ``@N`` variants
  folded) are all capped counts against its first transform's cap; rows are kept in a seeded
  random order, so the cap keeps a random sample, not the first rows of a package;
- rows longer than the limits (tokens of the given tokenizer) are dropped from train and valid;
  with an edit ``output_format`` (``--output-format edit-v1`` / ``edit-v2``) the limits
  apply to what an edit model reads and writes (the numbered prompt, the edit script), so a
  long function whose rewrite is short stays;
- a row whose fast side uses a string placeholder (``"sN"``) its slow side lacks is dropped
  from both: no model can know that string's text (the abstraction of an f-string turned into
  ``.format`` gives such rows); so is a training row whose fast side has a comment line its
  slow side lacks (2% of mix19's: the de-optimiser moved or dropped a comment), which taught
  the model to write comments;
- ``MIX/report.json`` gives the counts in, dropped by reason, and out.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

from tokenizers import Tokenizer

from perfrl.model_contract import EDIT_FORMATS, OUTPUT_FORMATS

from ..examples import EDIT_SITES_FIELD, Example, example_target_text, source_text

_STRING_PLACEHOLDER = re.compile(r'"s\d+"')


def transforms_of(row: dict) -> list[str]:
    """The de-optimising transforms a real-code pair's ``id`` names (``[]`` for other rows)."""
    if row.get("origin") == "synthetic" or ":" not in str(row.get("id", "")):
        return []
    tail = str(row["id"]).rsplit(":", 1)[1]
    return [part.split("@", 1)[0] for part in tail.split("+") if part]


def _weighted(spec: str) -> tuple[Path, int]:
    path, _, weight = spec.partition(":")
    return Path(path), int(weight) if weight else 1


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _fits(row: dict, tokenizer: Tokenizer, max_source: int, max_target: int,
          output_format: str = "function") -> bool:
    # The texts the model reads and writes, as SFT encodes them (the bare slow side for the
    # whole-function form: its short task prefix is not counted, as before).
    source = row["slow"] if output_format == "function" else \
        source_text(row["slow"], output_format=output_format)
    target = example_target_text(Example("", row["slow"], row["fast"], row), output_format)
    return (
        len(tokenizer.encode(source).ids) <= max_source
        and len(tokenizer.encode(target).ids) <= max_target
    )


def invents_strings(row: dict) -> bool:
    """Whether the fast side uses a string placeholder the slow side does not."""
    return bool(set(_STRING_PLACEHOLDER.findall(row["fast"]))
                - set(_STRING_PLACEHOLDER.findall(row["slow"])))


def invents_comments(row: dict) -> bool:
    """Whether the fast side has a comment line (``# ...`` alone on its line) the slow side
    has nowhere: the model would learn to write comments, which make nothing faster (the
    served indentation guard refuses them: :mod:`perfrl.inference.indent_guard`)."""
    slow = {line.strip() for line in row["slow"].split("\n")}
    return any(line.strip().startswith("#") and line.strip() not in slow
               for line in row["fast"].split("\n"))


def mix(
    out: Path,
    train: list[str],
    valid: list[str],
    tokenizer: Tokenizer,
    caps: dict[str, int],
    max_source: int,
    max_target: int,
    seed: int = 0,
    output_format: str = "function",
    edit_sites: float = 0.0,
) -> dict:
    """Write ``out/train.jsonl`` and ``out/valid.jsonl``; returns the report written beside them.
    ``edit_sites`` (edit-v1 only): the share of training rows whose edit script grows its hunks
    to the loop regions the server proposes as sites (:mod:`perfrl.sources.edit_sites`), marked
    ``"edit_sites": true``; a row whose grown script is too long keeps the plain one."""
    rng = random.Random(seed)
    report: dict = {"in": {}, "dropped": Counter(), "out": {}, "edit scripts grown to sites": 0}
    rows: list[dict] = []
    seen: set[str] = set()
    for spec in train:
        path, weight = _weighted(spec)
        file_rows = _read(path)
        report["in"][spec] = len(file_rows)
        rng.shuffle(file_rows)
        taken: Counter[str] = Counter()
        for row in file_rows:
            # Two runs of the miner over overlapping corpora give the same id to the same pair.
            row_id = row.get("id")
            if row_id is not None:
                if row_id in seen:
                    report["dropped"]["same id as an earlier row"] += 1
                    continue
                seen.add(str(row_id))
            names = transforms_of(row)
            if names and all(name in caps for name in names):
                if taken[names[0]] >= caps[names[0]]:
                    report["dropped"][f"cap {names[0]}"] += 1
                    continue
                taken[names[0]] += 1
            if invents_strings(row):
                report["dropped"]["fast side invents a string"] += 1
                continue
            if invents_comments(row):
                report["dropped"]["fast side writes a comment of its own"] += 1
                continue
            if output_format in EDIT_FORMATS and edit_sites > 0 and rng.random() < edit_sites:
                widened = {**row, EDIT_SITES_FIELD: True}
                if _fits(widened, tokenizer, max_source, max_target, output_format):
                    report["edit scripts grown to sites"] += 1
                    row = widened
            if not _fits(row, tokenizer, max_source, max_target, output_format):
                report["dropped"]["too long"] += 1
                continue
            rows += [row] * weight
    rng.shuffle(rows)
    valid_rows = [
        row
        for spec in valid
        for row in _read(_weighted(spec)[0])
        if not invents_strings(row)
        and _fits(row, tokenizer, max_source, max_target, output_format)
    ]
    out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train", rows), ("valid", valid_rows)):
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in split)
        report["out"][name] = len(split)
    report["dropped"] = dict(report["dropped"])
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokenizer", type=Path, required=True,
                        help="tokenizer.json to count tokens with")
    parser.add_argument("--train", nargs="+", required=True, help="FILE or FILE:WEIGHT")
    parser.add_argument("--valid", nargs="+", required=True)
    parser.add_argument("--cap", nargs="*", default=[], help="TRANSFORM=N")
    parser.add_argument("--max-source-tokens", type=int, default=400)
    parser.add_argument("--max-target-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="function",
                        help="measure lengths as a model of this output format reads/writes")
    parser.add_argument("--edit-sites", type=float, default=0.0, metavar="SHARE",
                        help="edit-v1: this share of the training rows writes its hunks grown "
                        "to whole loop regions, as after a header the server forces (0-1)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.edit_sites <= 1.0:
        parser.error(f"--edit-sites is a share between 0 and 1, not {args.edit_sites}")
    caps = {name: int(n) for name, _, n in (spec.partition("=") for spec in args.cap)}
    report = mix(
        args.out,
        args.train,
        args.valid,
        Tokenizer.from_file(str(args.tokenizer)),
        caps,
        args.max_source_tokens,
        args.max_target_tokens,
        args.seed,
        args.output_format,
        args.edit_sites,
    )
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
