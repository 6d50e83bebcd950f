"""Training rows for the "feedback-v1" second round, from real verdicts:
``python -m perfrl_train.data.feedback_pairs``.

The memory of verdicts (:mod:`perfrl.memory.store`) holds, for a function that got a verified
faster rewrite, the candidates that failed before it, each with its verdict and reason as the
verifier wrote them. Each such function gives one row: the slow function, the failed candidate
closest to being offered (:data:`perfrl.engine.feedback_round` order: not faster, then not
equivalent, failed tests, ...) with its verdict in ``meta["feedback"]``, and the faster rewrite
as the target: what the model should answer when shown that failure.
:func:`perfrl_train.examples.encode_example_source` encodes such a row in the feedback-v1
prompt (the shared :func:`perfrl.model_contract.build_prompt`).

With an abstracting ``input_abstraction`` (``identifiers-v1`` / ``-v2``) the slow function, the
failed candidate, its reason and the rewrite are written with one table of placeholders, as
the server writes them (:mod:`perfrl_train.data.memory_form`: the names kept as written are
read from the function's module in ``--project``).

    python -m perfrl_train.data.feedback_pairs --project PATH/TO/PROJECT --out feedback.jsonl

RRHF sampling gives failures too (:func:`rrhf_feedback_rows`: a run's ``rewards.jsonl`` logs
every candidate with its verdict and reason):

    python -m perfrl_train.data.feedback_pairs --rrhf-rewards RUN/rewards.jsonl \
        --pairs DATA/train.jsonl --out feedback.jsonl

A model trained on such rows (mixed with plain ones) is exported as usual, then declared a
"feedback-v1" model, which the engine's feedback round then asks again
(:func:`declare_feedback_model`):

    python -m perfrl_train.data.feedback_pairs --declare MODEL_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perfrl.model_contract import (
    INPUT_ABSTRACTIONS,
    FailedAttempt,
    ModelSpec,
    load_model_spec,
    write_model_spec,
)

from .memory_form import dedented, in_model_form

FEEDBACK_KEY = "feedback"
#: Failed verdicts, closest to an offered rewrite first (as the engine picks the one it shows).
CLOSENESS = ("not_faster", "not_equivalent", "failed_tests", "timeout", "crashed", "invalid")


def feedback_rows(db: Path, input_abstraction: str = "none", project: Path | None = None
                  ) -> list[dict]:
    """One row per (function, original) of the memory at ``db`` that has both a verified faster
    rewrite (the newest) and a failed candidate (the closest to being offered); ``project``:
    where the functions' modules are (for the names an abstracting model keeps)."""
    from perfrl.memory.store import list_records

    groups: dict[tuple[str, str], list] = {}
    for record in reversed(list_records(db)):  # oldest first: the newest faster wins below
        groups.setdefault((record.function, record.original), []).append(record)
    rows = []
    for (function, original), records in groups.items():
        faster = [r for r in records if r.verdict == "faster"]
        failed = [r for r in records if r.verdict in CLOSENESS and r.rewrite.strip()]
        if not faster or not failed:
            continue
        shown = min(failed, key=lambda r: (CLOSENESS.index(r.verdict), -r.id))
        row = _row(f"feedback-{shown.id}", function, original, faster[-1].rewrite,
                   FailedAttempt(dedented(shown.rewrite), shown.verdict, shown.reason),
                   input_abstraction, project)
        if row is not None:
            rows.append(row)
    return rows


def _row(row_id: str, function: str, original: str, rewrite: str, failed: FailedAttempt,
         input_abstraction: str, project: Path | None) -> dict | None:
    from perfrl.sources.prompts import abstract_reason

    read = in_model_form(original, input_abstraction, project, function)
    if read is None:
        return None  # a function the model could not read is no lesson for it
    slow, table = read
    fast = dedented(rewrite)
    if table is not None:
        failed = FailedAttempt(table.extend(failed.code), failed.verdict,
                               abstract_reason(failed.reason, table))
        fast = table.extend(fast)
    return {"id": row_id, "slow": slow, "fast": fast, "origin": "memory",
            "meta": {"function": function, FEEDBACK_KEY: _shown(failed)}}


def _shown(failed: FailedAttempt) -> dict:
    """A row's ``meta["feedback"]``: what :func:`failed_of` reads back."""
    return {"code": failed.code, "verdict": failed.verdict, "reason": failed.reason}


def rrhf_feedback_rows(rewards: Path, pairs: Path) -> list[dict]:
    """feedback-v1 rows from an RRHF run's ``rewards.jsonl`` (every sampled candidate, its
    verdict and reason, in the model's own names) and the pairs file it trained on.

    For each pair whose sampling produced a failure, one row (its last step's): the slow side,
    the failure closest to being offered (:data:`CLOSENESS`) with its verdict, and as the
    answer the best-rewarded text verified faster (the reference or a sample); a step where
    nothing was verified faster teaches nothing and gives no row."""
    by_id = {}
    with Path(pairs).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                by_id[str(row.get("id"))] = row
    found: dict[str, dict] = {}
    with Path(rewards).open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line) if line.strip() else {}
            pair = by_id.get(str(record.get("pair")))
            texts = record.get("texts")
            if pair is None or not texts:
                continue  # a run from before texts were logged, or another pairs file
            verdicts, reasons, rewards_ = record["verdicts"], record["reasons"], record["rewards"]
            faster = [k for k, verdict in enumerate(verdicts) if verdict == "faster"]
            failed = [k for k in range(1, len(texts))
                      if verdicts[k] in CLOSENESS and texts[k].strip()]
            if not faster or not failed:
                continue
            answer = max(faster, key=lambda k: (rewards_[k], -k))
            shown = min(failed, key=lambda k: (CLOSENESS.index(verdicts[k]), k))
            found[str(record["pair"])] = {
                "id": f"rrhf-feedback-{record['pair']}", "slow": pair["slow"],
                "fast": texts[answer], "origin": "rrhf",
                "meta": {**({"abstraction": pair["meta"]["abstraction"]}
                            if "abstraction" in (pair.get("meta") or {}) else {}),
                         FEEDBACK_KEY: _shown(FailedAttempt(dedented(texts[shown]),
                                                            verdicts[shown], reasons[shown]))}}
    return list(found.values())


def failed_of(row: dict) -> FailedAttempt | None:
    """The failed attempt a row built by :func:`feedback_rows` shows, if any."""
    found = (row.get("meta") or {}).get(FEEDBACK_KEY)
    if not isinstance(found, dict):
        return None
    return FailedAttempt(found["code"], found["verdict"], found["reason"])


def declare_feedback_model(model_dir: Path) -> None:
    """Mark the exported ``model_dir`` as trained for the "feedback-v1" second round. Raises
    :class:`perfrl.model_contract.ModelContractError` for a directory that is not a model, or a
    model that cannot take that prompt (one that writes edits)."""
    spec = load_model_spec(model_dir)
    spec.feedback_format = "feedback-v1"
    ModelSpec.from_json(spec.to_json())  # the contract's own check, before anything is written
    write_model_spec(model_dir, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m perfrl_train.data.feedback_pairs",
        description="feedback-v1 training rows from the failures and verified rewrites in a "
        "project's memory")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path, help="the project whose memory to read")
    where.add_argument("--memory-db", type=Path, help="a memory database to read")
    where.add_argument("--rrhf-rewards", type=Path,
                       help="an RRHF run's rewards.jsonl (with --pairs, the pairs it trained on)")
    where.add_argument("--declare", type=Path, metavar="MODEL_DIR",
                       help="instead: declare this exported model a feedback-v1 model")
    parser.add_argument("--pairs", type=Path, help="the pairs file of --rrhf-rewards")
    parser.add_argument("--out", type=Path, help="rows JSONL to write")
    parser.add_argument("--input-abstraction", choices=INPUT_ABSTRACTIONS,
                        default="none", help="what the model reads (default: none)")
    args = parser.parse_args(argv)
    from perfrl.memory.store import project_db
    from perfrl.model_contract import ModelContractError

    if args.declare is not None:
        try:
            declare_feedback_model(args.declare)
        except ModelContractError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.declare}: declared a feedback-v1 model (the engine's feedback round asks "
              "it again when every candidate failed)")
        return 0
    if args.out is None:
        print("error: --out is required (the rows JSONL to write)", file=sys.stderr)
        return 2

    if args.rrhf_rewards is not None:
        if args.pairs is None or not args.rrhf_rewards.is_file() or not args.pairs.is_file():
            print("error: --rrhf-rewards needs an existing rewards.jsonl and --pairs with the "
                  "pairs file that run trained on", file=sys.stderr)
            return 2
        return _write(rrhf_feedback_rows(args.rrhf_rewards, args.pairs), args.out)
    db = args.memory_db or project_db(args.project.resolve())
    if not Path(db).is_file():
        print(f"error: no memory at {db}: run `perfrl optimize` on the project first",
              file=sys.stderr)
        return 2
    return _write(feedback_rows(Path(db), args.input_abstraction,
                                args.project.resolve() if args.project else None), args.out)


def _write(rows: list[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    print(f"{len(rows)} feedback row(s) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
