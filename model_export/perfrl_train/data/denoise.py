"""Denoising pre-training rows (masked-span prediction, as CodeT5 pre-trains) over mined code.

``python -m perfrl_train.data.denoise --corpus CORPUS.jsonl --out DIR`` turns each corpus row's
``abstract`` text (the identifiers-v2 form the model reads; see :mod:`.corpus`) into a pair:

- ``slow``: the function with about ``mask_rate`` of its lexical tokens hidden, in spans of
  mean length ``mean_span``, each span replaced by ``<mask>`` (the tokenizer's id 4);
- ``fast``: the hidden spans in order, each after its ``<mask>``;
- ``prompt_prefix``: :data:`DENOISE_PREFIX`, so the rows never look like the rewriting task.

These are ordinary pairs files for ``perfrl-train sft``: pre-training is SFT on them. The split
follows :func:`.corpus.package_split`: ``eval`` packages go to ``valid.jsonl`` only, so the
validation loss is measured on packages the model never saw, and no pre-training row comes
from a package the pair builder evaluates on.

A caller may rely on: the same corpus, seed and options giving the same files; each row's
masked spans, put back in order, giving the row's ``abstract`` text exactly
(:func:`unmask` is the inverse, tested).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from .corpus import package_split

DENOISE_PREFIX = "Fill in the masked code:\n"
MASK = "<mask>"
# Lexical pieces: names/numbers, runs of operator characters, single others; whitespace apart.
_PIECE = re.compile(r"\s+|\w+|[^\w\s]+")


def mask_spans(text: str, rng: random.Random, mask_rate: float = 0.15,
               mean_span: float = 3.0) -> tuple[str, str]:
    """``(masked, target)`` for one text: spans of non-space pieces replaced by ``<mask>``.

    Spans never start or end on whitespace, so the layout the model must reproduce stays in
    the input; a text with no piece to hide gives ``(text, "")``."""
    pieces = _PIECE.findall(text)
    solid = [i for i, p in enumerate(pieces) if not p.isspace()]
    budget = max(1, round(len(solid) * mask_rate)) if solid else 0
    hidden: set[int] = set()
    tries = 0
    while len(hidden) < budget and tries < 10 * budget:
        tries += 1
        length = max(1, min(int(rng.expovariate(1 / mean_span)) + 1, 10))
        start = rng.randrange(len(solid))
        span = solid[start:start + length]
        if any(i in hidden or i - 1 in hidden or i + 1 in hidden for i in span):
            continue  # keep spans apart, so each <mask> stands for one span
        hidden.update(range(span[0], span[-1] + 1))
    masked: list[str] = []
    target: list[str] = []
    index = 0
    while index < len(pieces):
        if index in hidden:
            end = index
            while end + 1 < len(pieces) and end + 1 in hidden:
                end += 1
            masked.append(MASK)
            target.append(MASK + "".join(pieces[index:end + 1]))
            index = end + 1
        else:
            masked.append(pieces[index])
            index += 1
    return "".join(masked), "".join(target)


def unmask(masked: str, target: str) -> str:
    """The original text from :func:`mask_spans`'s output."""
    spans = target.split(MASK)[1:]
    parts = masked.split(MASK)
    if len(parts) != len(spans) + 1:
        raise ValueError(f"{len(parts) - 1} masks in the input but {len(spans)} spans")
    out = [parts[0]]
    for span, rest in zip(spans, parts[1:], strict=True):
        out += [span, rest]
    return "".join(out)


def build(corpus: Path, out: Path, *, seed: int, copies: int, max_chars: int,
          mask_rate: float, mean_span: float) -> Counter[str]:
    """Write ``train.jsonl`` and ``valid.jsonl`` under ``out``; returns row counts."""
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    out.mkdir(parents=True, exist_ok=True)
    with (corpus.open(encoding="utf-8") as rows,
          (out / "train.jsonl").open("w", encoding="utf-8") as train,
          (out / "valid.jsonl").open("w", encoding="utf-8") as valid):
        for line in rows:
            row = json.loads(line)
            text = row["abstract"].strip("\n") + "\n"
            if len(text) > max_chars:
                counts["too_long"] += 1
                continue
            split = package_split(row["package"])
            for copy in range(copies if split == "train" else 1):
                masked, target = mask_spans(text, rng, mask_rate, mean_span)
                if not target:
                    continue
                record = {"id": f"{row['id']}#{copy}", "slow": masked, "fast": target,
                          "prompt_prefix": DENOISE_PREFIX, "package": row["package"]}
                (train if split == "train" else valid).write(json.dumps(record) + "\n")
                counts[split] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=1,
                        help="differently masked copies of each training function")
    parser.add_argument("--max-chars", type=int, default=1600,
                        help="skip functions longer than this (the prompt keeps 512 tokens)")
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--mean-span", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"error: corpus {args.corpus} does not exist (write it with "
              "`python -m perfrl_train.data.corpus --out FILE`)", file=sys.stderr)
        return 2
    counts = build(args.corpus, args.out, seed=args.seed, copies=args.copies,
                   max_chars=args.max_chars, mask_rate=args.mask_rate,
                   mean_span=args.mean_span)
    print(json.dumps(dict(counts)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
