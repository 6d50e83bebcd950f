"""Training pairs for a "retrieval-v1" model: ``python -m perfrl_train.data.retrieval_pairs``.

Each row of a pairs JSONL gets its nearest other training pair
(:class:`perfrl.memory.retrieval.PairIndex`, the index the server retrieves with) in
``meta["retrieval_example"]`` (``{"id", "slow", "fast"}``): never the row itself, never a
near-duplicate of it (a renamed copy of one template, a copy that differs in a constant), so
the model learns to use an analogy rather than to copy an answer. A row with no such
neighbour keeps the plain prompt, as a user's function with no stored neighbour does.

:func:`retrieval_prompt` is the prompt a row trains with (the shared
:func:`perfrl.model_contract.build_prompt` with the example), and
:func:`perfrl_train.examples.encode_example_source` encodes it, dropping the example when it
would not fit the model's input, as the server does.

    python -m perfrl_train.data.retrieval_pairs --pairs DATA/train.jsonl --out DATA_RET/train.jsonl

A model trained on such rows is exported as usual, then declared a "retrieval-v1" model with
its training pairs shipped as the index the server retrieves from when a project's memory has
no neighbour (:func:`declare_retrieval_model`):

    python -m perfrl_train.data.retrieval_pairs --declare MODEL_DIR --pairs DATA/train.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perfrl.memory.retrieval import PairIndex, StoredPair
from perfrl.model_contract import ExamplePair, build_prompt, load_model_spec, write_model_spec

EXAMPLE_KEY = "retrieval_example"
#: The shipped index's file name inside a model directory.
INDEX_FILE = "retrieval_pairs.jsonl"


def attach_neighbours(rows: list[dict]) -> list[dict]:
    """``rows`` (pair rows with ``slow`` and ``fast``), each with its nearest other row in
    ``meta["retrieval_example"]`` where there is one; rows are copied, never changed."""
    index = PairIndex([StoredPair(r["slow"], r["fast"], str(r.get("id", i)))
                       for i, r in enumerate(rows)])
    out = []
    for i, row in enumerate(rows):
        meta = {k: v for k, v in (row.get("meta") or {}).items() if k != EXAMPLE_KEY}
        found = index.nearest(row["slow"], k=1, skip=[i])
        if found:
            pair = found[0].pair
            meta[EXAMPLE_KEY] = {"id": pair.origin, "slow": pair.slow, "fast": pair.fast}
        out.append({**row, "meta": meta})
    return out


def example_of(row: dict) -> ExamplePair | None:
    """The example attached to ``row`` by :func:`attach_neighbours`, if any."""
    found = (row.get("meta") or {}).get(EXAMPLE_KEY)
    if not isinstance(found, dict):
        return None
    return ExamplePair(found["slow"], found["fast"])


def retrieval_prompt(row: dict) -> str:
    """The "retrieval-v1" prompt of ``row`` (the plain one when it has no example)."""
    return build_prompt(row["slow"], example=example_of(row))


def declare_retrieval_model(model_dir: Path, rows: list[dict]) -> Path:
    """Mark the exported ``model_dir`` as reading "retrieval-v1" prompts, with ``rows`` (its
    training pairs: ``id``, ``slow``, ``fast`` kept) as the shipped retrieval index; returns
    the index's path. Raises :class:`perfrl.model_contract.ModelContractError` for a
    directory that is not a model."""
    spec = load_model_spec(model_dir)
    index = Path(model_dir) / INDEX_FILE
    with index.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            fh.write(json.dumps({"id": str(row.get("id", i)), "slow": row["slow"],
                                 "fast": row["fast"]}, sort_keys=True) + "\n")
    spec.prompt_format = "retrieval-v1"
    spec.retrieval_index_file = INDEX_FILE
    write_model_spec(model_dir, spec)
    load_model_spec(model_dir)  # the contract's own check
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m perfrl_train.data.retrieval_pairs",
        description="attach to every training pair its nearest other pair (retrieval-v1)")
    parser.add_argument("--pairs", type=Path, required=True, help="pairs JSONL to read")
    parser.add_argument("--out", type=Path, help="pairs JSONL to write")
    parser.add_argument("--declare", type=Path, metavar="MODEL_DIR",
                        help="instead: declare this exported model a retrieval-v1 model, with "
                        "--pairs as its shipped index")
    args = parser.parse_args(argv)
    if not args.pairs.is_file():
        print(f"error: {args.pairs} does not exist", file=sys.stderr)
        return 2
    if (args.out is None) == (args.declare is None):
        print("error: give exactly one of --out and --declare", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if args.declare is not None:
        from perfrl.model_contract import ModelContractError

        try:
            index = declare_retrieval_model(args.declare, rows)
        except ModelContractError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.declare}: prompt_format retrieval-v1, {len(rows)} pairs in {index}")
        return 0
    out = attach_neighbours(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in out:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    with_example = sum(1 for r in out if EXAMPLE_KEY in r["meta"])
    print(f"{len(out)} pairs, {with_example} with a retrieved example -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
