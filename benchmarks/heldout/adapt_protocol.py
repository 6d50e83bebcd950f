"""The held-out projects after ``perfrl-train adapt``: does a model learn a project's own code?

    python benchmarks/heldout/adapt_protocol.py --checkpoint CKPT --replay-data DATA/train.jsonl \
        --verified RULES/results.json REPLAY/results.json --out REPORT_DIR \
        [--input-abstraction identifiers-v2]

What a user's machine does, step by step, with the real commands:

1. the functions that an earlier evaluation of other sources (``--verified``: ``results.json``
   files of ``evaluate.py --source rules`` / ``replay``) verified faster are optimized again
   with those sources by ``perfrl optimize``, into a fresh cache (``REPORT_DIR/cache``): the
   project's memory now holds the rewrites verified on it, as it would after a user's runs;
2. ``perfrl-train adapt`` fine-tunes ``--checkpoint`` on each project's memory (plus a replay
   of ``--replay-data``) and exports a model per project (``REPORT_DIR/model-PROJECT``);
3. ``evaluate.py --source model`` runs each adapted model on its own project's targets
   (``REPORT_DIR/eval-PROJECT``).

A project with no function verified faster (in the earlier evaluation, or again in step 1)
has no memory to adapt on and is skipped (said so).
The report separates the functions the model was adapted on (their rewrites are in its
training data: replay offers them already) from the project's other functions (what adapting
adds). Exit 0 when every step ran; the first failing command's status otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # evaluate.py beside it reads the report card's results
from evaluate import TargetOutcome, outcomes_from_results


def _faster(outcome: TargetOutcome) -> bool:
    best = outcome.best_at_k
    return best is not None and best["verdict"] == "faster"


def verified_specs(results: list[Path]) -> dict[str, list[str]]:
    """project -> the ``path::qualname`` specs (relative to the project's folder) that any of the
    ``results`` files verified faster, in first-seen order (each file read on its own: a
    function one source verified stays, whatever another source did with it)."""
    by_project: dict[str, list[str]] = defaultdict(list)
    for path in results:
        for outcome in outcomes_from_results([path])[1]:
            specs = by_project[outcome.target.project]
            if outcome.target.set_name == "projects" and _faster(outcome) \
                    and outcome.target.spec not in specs:
                specs.append(outcome.target.spec)
    return {project: specs for project, specs in by_project.items() if specs}


def remembered_faster(root: Path, cache: Path) -> list[str]:
    """The functions of the project at ``root`` whose memory (under ``cache``) holds a rewrite
    verified faster: what ``adapt`` learns from (a function verified in the earlier
    evaluation may not be again)."""
    from perfrl.memory.store import project_db, verified_pairs

    db = project_db(root, cache)
    functions = [function for _, _, function in verified_pairs(db)] if db.is_file() else []
    return list(dict.fromkeys(functions))


def _run(command: list[str], env: dict[str, str]) -> None:
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, env=env, check=False)
    if done.returncode not in (0, 1):  # perfrl optimize: 1 = no faster rewrite this time
        raise SystemExit(done.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--replay-data", type=Path, required=True)
    parser.add_argument("--verified", type=Path, nargs="+", required=True, metavar="JSON")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--input-abstraction", default="identifiers-v2")
    parser.add_argument("--sources", default="rules,replay")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--num-candidates", type=int, default=8)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PERFRL_CACHE_DIR": str(out / "cache")}
    specs = verified_specs(args.verified)
    summary = {}
    for project in sorted({t["project"] for t in json.loads(
            (HERE / "manifest.json").read_text(encoding="utf-8"))["targets"]}):
        learned = specs.get(project, [])
        if not learned:
            print(f"adapt_protocol: {project}: nothing verified faster, no memory to adapt on",
                  file=sys.stderr)
            continue
        root = HERE / project
        _run(["perfrl", "optimize", *[str(root / s) for s in learned], "--project", str(root),
              "--sources", args.sources, "--quiet"], env)
        learned = remembered_faster(root, out / "cache")
        if not learned:
            print(f"adapt_protocol: {project}: no rewrite was verified faster again this time, "
                  "no memory to adapt on", file=sys.stderr)
            continue
        model = out / f"model-{project}"
        _run(["perfrl-train", "adapt", "--checkpoint", str(args.checkpoint), "--project",
              str(root), "--replay-data", str(args.replay_data), "--out", str(model),
              "--input-abstraction", args.input_abstraction,
              "--max-steps", str(args.max_steps)], env)
        report = out / f"eval-{project}"
        _run([sys.executable, str(HERE / "evaluate.py"), "--source", "model", "--model",
              str(model), "--set", "projects", "--only", f"{project}/",
              "--num-candidates", str(args.num_candidates), "--out", str(report)], env)
        outcomes = outcomes_from_results([report / "results.json"])[1]
        faster = {o.target.spec for o in outcomes if _faster(o)}
        passes = {o.target.spec for o in outcomes if o.best_at_k and o.best_at_k["passes"]}
        others = [o for o in outcomes if o.target.spec not in learned]
        summary[project] = {
            "adapted_on": learned,
            "targets": len(outcomes),
            "faster_adapted_on": sorted(faster & set(learned)),
            "faster_others": sorted(faster - set(learned)),
            "passes_others": sorted(passes - set(learned)),
            "others": len(others),
        }
        print(f"adapt_protocol: {project}: {json.dumps(summary[project])}", file=sys.stderr)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
