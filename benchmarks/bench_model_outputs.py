"""What the model source's outputs look like: parse rate, signature kept, duplicates, loops.

Runs :class:`perfrl.sources.model.ModelCandidateSource` (the server's path: abstraction,
generation, mapping back, cleaning) on functions, and records every output it decodes (by
wrapping ``perfrl.sources.model.select_clean``, which every output goes through). Per output:

- ``parses``: the cleaned output is a function of the target's name;
- ``signature``: and its name and parameters are the target's (what the verifier requires);
- ``duplicate``: its AST equals an earlier output's or the original's;
- ``looped``: ended by the repetition stop;
- ``first_*``: the same for the first draw only (greedy + samples, before any re-draw), the
  figure comparable with code that does not re-draw.

Also per function: candidates that reach the verifier (distinct, usable); with ``--verify``
(held-out pairs only) each candidate also goes through the verification engine on the pair's
project (``perfrl_train.reward.EngineReward``: tests, equivalence, benchmark), giving
"verified faster" at best@1 (the greedy candidate) and best@k (any candidate).

Sets: ``--heldout TEST.jsonl --limit N`` (pairs of ``perfrl-train data``: the slow side is the
function) and ``--inventory`` (the example project's functions). Run it with this checkout's
``server`` first on ``PYTHONPATH`` for "after", and with an older checkout's for "before"
(``--plain`` asks the new source for unguarded decoding without re-sampling instead).

    python benchmarks/bench_model_outputs.py --heldout DATA/test.jsonl --limit 64 \\
        --inventory --seed 0 --json OUT.json
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INVENTORY_FUNCTIONS = (
    "inventory/catalog.py::active_skus",
    "inventory/catalog.py::index_by_sku",
    "inventory/catalog.py::missing_skus",
    "inventory/catalog.py::has_backorder",
    "inventory/pricing.py::bulk_price",
    "inventory/pricing.py::shipping_cost",
    "inventory/reports.py::render_lines",
    "inventory/reports.py::unique_tags",
    "inventory/stock.py::Warehouse.low_stock",
)


def _targets(args, work: Path, engine):
    """(set name, target, pair or None) for every function measured."""
    from perfrl.engine.locate import locate_function

    if args.heldout:
        if engine is not None:
            from perfrl_train.data.pairs import read_jsonl

            for pair in read_jsonl(args.heldout)[: args.limit]:
                if engine.usable(pair):
                    yield "heldout", engine._prepare(pair).target, pair
            return
        rows = [json.loads(line) for line in Path(args.heldout).read_text().splitlines()]
        for index, row in enumerate(rows[: args.limit]):
            project = work / f"p{index}"
            project.mkdir()
            (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
            (project / "mod.py").write_text(row["slow"])
            yield "heldout", locate_function(f"mod.py::{row['entry']}", project), None
    if args.inventory:
        for spec in INVENTORY_FUNCTIONS:
            yield "inventory", locate_function(spec, REPO / "examples" / "inventory"), None


def _signature(code: str, name: str):
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.dump(node.args)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path)
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--inventory", action="store_true")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--plain", action="store_true", help="unguarded, no re-sampling")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--verify", action="store_true",
                        help="verify every candidate of the held-out pairs with the engine")
    args = parser.parse_args()

    import perfrl.sources.model as model_source
    from perfrl.engine.candidate_check import normalize_candidate
    from perfrl.engine.candidate_source import CandidateSourceError
    from perfrl.inference.background import ModelHandle
    from perfrl.model_contract import default_model_dir

    recorded: list = []
    first_round: list = []  # outputs of the first call (greedy + samples, before re-drawing)
    original_select = model_source.select_clean

    def recording_select(outputs, target, original, *rest):
        if not recorded:
            first_round.extend(outputs)
        recorded.extend(outputs)
        return original_select(outputs, target, original, *rest)

    model_source.select_clean = recording_select
    handle = ModelHandle(args.model or default_model_dir())
    handle.start()
    handle.wait(120)
    options = {}
    if "guarded" in inspect.signature(model_source.ModelCandidateSource).parameters:
        rounds = getattr(model_source, "DEFAULT_RESAMPLE_ROUNDS", 2)
        options = {"guarded": not args.plain, "resample_rounds": 0 if args.plain else rounds}
    totals: dict[str, Counter] = {}
    per_function = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = None
        if args.verify:
            from perfrl_train.reward import EngineReward

            engine = EngineReward(Path(tmp) / "engine", max_engine_calls=100_000)
        for set_name, target, pair in _targets(args, Path(tmp), engine):
            recorded.clear()
            first_round.clear()
            source = model_source.ModelCandidateSource(
                handle, num_candidates=args.candidates, seed=args.seed, **options
            )
            started = time.perf_counter()
            try:
                candidates = list(source.generate(target, args.candidates))
            except CandidateSourceError:
                candidates = []
            seconds = time.perf_counter() - started
            original = normalize_candidate(target.source)
            want = _signature(original, target.name)
            seen = {ast.dump(ast.parse(original))}
            counts: Counter = Counter()
            for index, output in enumerate(recorded):
                first = "first_" if index < len(first_round) else "later_"
                counts["outputs"] += 1
                counts[first + "outputs"] += 1
                if getattr(output, "looped", False):
                    counts["looped"] += 1
                    continue
                code, _ = model_source.clean_model_output(output.text, target)
                if code is None:
                    continue
                counts["parses"] += 1
                if _signature(code, target.name) == want:
                    counts["signature"] += 1
                    counts[first + "signature"] += 1
                key = ast.dump(ast.parse(code))
                if key in seen:
                    counts["duplicate"] += 1
                seen.add(key)
            if pair is not None:
                verdicts = [engine.reward(pair, c.code).verdict for c in candidates]
                greedy = [v for c, v in zip(candidates, verdicts) if c.label == "greedy"]
                counts["faster_at_1"] += greedy == ["faster"]
                counts["faster_at_k"] += "faster" in verdicts
                counts["passes_at_k"] += any(v in ("faster", "not_faster") for v in verdicts)
            counts["candidates"] += len(candidates)
            counts["candidates_signature"] += sum(
                _signature(c.code, target.name) == want for c in candidates
            )
            counts["functions"] += 1
            totals.setdefault(set_name, Counter()).update(counts)
            per_function.append({"set": set_name, "function": target.display,
                                 "seconds": round(seconds, 2), **counts,
                                 "codes": [c.code for c in candidates]})
            print(f"{set_name} {target.display}: {dict(counts)} {seconds:.1f}s", flush=True)
    summary = {}
    for set_name, c in totals.items():
        summary[set_name] = {
            **c,
            "parse_pct": 100 * c["parses"] / max(c["outputs"], 1),
            "parse_and_signature_pct": 100 * c["signature"] / max(c["outputs"], 1),
            "first_round_parse_and_signature_pct":
                100 * c["first_signature"] / max(c["first_outputs"], 1),
            "duplicate_pct": 100 * c["duplicate"] / max(c["outputs"], 1),
            "looped_pct": 100 * c["looped"] / max(c["outputs"], 1),
            "candidates_per_function": c["candidates"] / max(c["functions"], 1),
        }
        print(set_name, json.dumps(summary[set_name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "functions": per_function,
                                         "argv": sys.argv}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
