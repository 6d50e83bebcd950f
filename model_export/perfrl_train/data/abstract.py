"""Training pairs with identifiers abstracted: ``python -m perfrl_train.data.abstract``.

Each pair's slow side goes through :func:`perfrl.sources.abstraction.abstract` and its fast
side through the same table (names the rewrite introduces are numbered after the slow side's),
so a model learns to rewrite ``v0``, ``v1``, ``"s0"`` ... and never has to copy a name; the
server does the same to a user's function and maps the output back (a model directory says so
with ``input_abstraction: identifiers-v1`` in ``perfrl_model.json``). Pairs that abstract to the
same text (renamed copies of one template instance, for example) are kept once; a file given
as ``PATH:K`` is repeated K times in the output, to weigh a smaller source up. The table of
each pair is kept in ``meta["abstraction"]``. Output rows are shuffled with ``--seed``.

    python -m perfrl_train.data.abstract --out DATA_ABS \\
        --train DATA/train.jsonl DATA_REC/train.jsonl:2 \\
        --valid DATA/valid.jsonl DATA_REC/valid.jsonl --test DATA/test.jsonl DATA_REC/test.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from perfrl.sources.abstraction import Abstraction, abstract, model_output

from .pairs import CodePair, iter_jsonl, write_jsonl


def abstract_pair(pair: CodePair) -> CodePair:
    """``pair`` with both sides abstracted by one table (kept in ``meta["abstraction"]``)."""
    slow, table = abstract(pair.slow)
    fast = table.extend(pair.fast)
    meta = {**pair.meta, "abstraction": {"names": table.names, "strings": table.strings,
                                         "docstring": table.docstring}}
    return CodePair.from_json({**pair.to_json(), "slow": slow, "fast": fast, "meta": meta})


def concrete_view(pair: CodePair) -> tuple[CodePair, Abstraction | None]:
    """The pair as code that runs (its original names and strings), and the table that maps
    the model's outputs for it back (``None``, and the pair itself, when it is not abstracted).

    What training stages that execute code need (the RRHF reward): the model reads and writes
    placeholders, the engine runs the pair's inputs against real code."""
    info = pair.meta.get("abstraction")
    if not info:
        return pair, None
    # Rows written before docstrings were left out have none to give back (theirs is inline).
    table = Abstraction(names=dict(info["names"]), strings=dict(info["strings"]),
                        docstring=info.get("docstring", ""))
    meta = {key: value for key, value in pair.meta.items() if key != "abstraction"}
    concrete = CodePair.from_json({**pair.to_json(), "slow": model_output(pair.slow, table),
                                   "fast": model_output(pair.fast, table), "meta": meta})
    return concrete, table


def _weighted(spec: str) -> tuple[Path, int]:
    path, _, times = spec.rpartition(":")
    if path and times.isdigit():
        return Path(path), int(times)
    return Path(spec), 1


def abstract_files(specs: list[str], seed: int) -> tuple[list[CodePair], int]:
    """Distinct abstracted pairs of the files (``PATH`` or ``PATH:K``), weighted and shuffled;
    also the number of input pairs that could not be abstracted (skipped)."""
    seen: set[tuple[str, str]] = set()
    rows: list[CodePair] = []
    skipped = 0
    for spec in specs:
        path, times = _weighted(spec)
        for pair in iter_jsonl(path):
            try:
                done = abstract_pair(pair)
            except (ValueError, SyntaxError):
                skipped += 1
                continue
            key = (done.slow, done.fast)
            if key in seen:
                continue
            seen.add(key)
            rows.extend([done] * times)
    random.Random(seed).shuffle(rows)
    return rows, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    for split in ("train", "valid", "test"):
        parser.add_argument(f"--{split}", nargs="*", default=[],
                            help=f"{split} JSONL files (PATH or PATH:K to repeat K times)")
    parser.add_argument("--seed", type=int, default=5, help="shuffle seed")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        specs = getattr(args, split)
        if not specs:
            continue
        missing = [s for s in specs if not _weighted(s)[0].is_file()]
        if missing:
            print(f"abstract: no such file: {missing[0]}", file=sys.stderr)
            return 2
        rows, skipped = abstract_files(specs, args.seed)
        write_jsonl(args.out / f"{split}.jsonl", rows)
        distinct = len({(r.slow, r.fast) for r in rows})
        print(f"abstract: {split}: {len(rows)} rows ({distinct} distinct), {skipped} skipped",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
