"""PIE's problems split in two by problem id: an evaluation third and two reserved thirds.

Only PIE's Python *test* split could be recovered (``../shared/data/pie-python``), and the task's
rule is that PIE is for evaluation, never training. The issue asks for a problem-disjoint split
anyway (two thirds "for training", one third for evaluation, never mixing a problem), so that a
PIE figure is comparable with a later model that does train on PIE. This module makes that split
and keeps it in ``pie_split.json`` beside it:

- ``eval``: one third of the problem ids, chosen by a seeded shuffle of the sorted ids; this is
  what ``perfrl-train eval --pie-dir`` measures by default;
- ``train``: the other two thirds. **No training command uses them** (``perfrl-train sft`` and
  ``rrhf`` refuse PIE rows outright, :func:`refuse_pie_rows`); they are reserved, not used.

A caller may rely on the file's two lists being sorted, disjoint and, together, every problem id
of the PIE copy it was made from; on :func:`make_pie_split` being a pure function of (problem
ids, seed); and on ``python -m perfrl_train.data.pie_split --pie-dir DIR`` rewriting the file
(``--check`` only compares and exits 1 when it differs).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PerfRLError

PIE_SPLIT_FILE = Path(__file__).with_name("pie_split.json")
#: Share of the problems held out for evaluation.
EVAL_FRACTION = 1 / 3
DEFAULT_SEED = 0
#: CodeNet problem ids, as PIE rows carry them.
_PIE_PROBLEM = re.compile(r"p\d{5}")


class PieSplitError(PerfRLError):
    """The split file is missing, malformed, or mixes a problem across its two parts."""


@dataclass(frozen=True)
class PieSplit:
    train: frozenset[str]
    eval: frozenset[str]
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        both = self.train & self.eval
        if both:
            raise PieSplitError(f"PIE problems in both parts of the split: {sorted(both)[:5]}")

    def to_json(self) -> dict:
        return {
            "about": ("PIE (Python, test split) problems split by problem id: 'eval' is what "
                      "perfrl-train eval measures; 'train' is reserved and unused (PIE is "
                      "evaluation-only here). Made by python -m perfrl_train.data.pie_split."),
            "seed": self.seed,
            "eval_fraction": round(EVAL_FRACTION, 4),
            "counts": {"train": len(self.train), "eval": len(self.eval)},
            "train": sorted(self.train),
            "eval": sorted(self.eval),
        }


def make_pie_split(problem_ids: Iterable[str], seed: int = DEFAULT_SEED) -> PieSplit:
    """One third of the distinct ids (rounded) for evaluation, the rest reserved."""
    ids = sorted(set(problem_ids))
    shuffled = list(ids)
    random.Random(f"perfrl-pie-split:{seed}").shuffle(shuffled)
    n_eval = round(len(ids) * EVAL_FRACTION)
    return PieSplit(train=frozenset(shuffled[n_eval:]), eval=frozenset(shuffled[:n_eval]),
                    seed=seed)


def load_pie_split(path: Path = PIE_SPLIT_FILE) -> PieSplit:
    path = Path(path)
    if not path.is_file():
        raise PieSplitError(f"{path} is missing; write it with python -m "
                            "perfrl_train.data.pie_split --pie-dir ../shared/data/pie-python")
    try:
        data = json.loads(path.read_text())
        return PieSplit(train=frozenset(data["train"]), eval=frozenset(data["eval"]),
                        seed=int(data.get("seed", DEFAULT_SEED)))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PieSplitError(f"{path} is not a PIE split file: {exc}") from exc


def write_pie_split(split: PieSplit, path: Path = PIE_SPLIT_FILE) -> Path:
    Path(path).write_text(json.dumps(split.to_json(), indent=1) + "\n")
    return Path(path)


def refuse_pie_rows(rows: Iterable[dict], source: str) -> None:
    """Raise :class:`PieSplitError` when a training file holds PIE rows (a ``pie`` origin or
    a PIE ``problem_id``): PIE's problems, both parts of the split, never reach training."""
    for number, row in enumerate(rows, 1):
        if row.get("origin") == "pie" or _PIE_PROBLEM.fullmatch(str(row.get("problem_id", ""))):
            raise PieSplitError(
                f"{source}: row {number} is a PIE program pair ({row.get('id')}); PIE is for "
                "evaluation only (model_export/README.md, 'PIE'): drop it from the training data")


def main(argv: Sequence[str] | None = None) -> int:
    from .pie import DEFAULT_PIE_DIR, load_pie_pairs

    parser = argparse.ArgumentParser(prog="python -m perfrl_train.data.pie_split",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pie-dir", type=Path, default=DEFAULT_PIE_DIR, help="PIE directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=PIE_SPLIT_FILE)
    parser.add_argument("--check", action="store_true",
                        help="only compare with --out; exit 1 when it differs")
    args = parser.parse_args(argv)
    split = make_pie_split((p.problem_id for p in load_pie_pairs(args.pie_dir)), args.seed)
    if args.check:
        same = args.out.is_file() and load_pie_split(args.out) == split
        print(f"{args.out}: {'up to date' if same else 'differs from the PIE copy'}")
        return 0 if same else 1
    write_pie_split(split, args.out)
    print(f"{args.out}: {len(split.eval)} evaluation / {len(split.train)} reserved problems")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
