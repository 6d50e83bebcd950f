"""Build the PerfRL training data: ``python -m perfrl_train.data.build --out DIR ...``.

Writes ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` (CodePair rows) and ``stats.json``
(counts per origin/idiom/split, dropped pairs and why). With ``--pie-dir`` it also writes
``pie_eval.jsonl`` (program-level PIE pairs, evaluation only; never merged into a split file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .generator import generate_pairs
from .pairs import SPLITS, CodePair, write_jsonl
from .splits import assert_disjoint_groups, assert_no_pie_in_training, assign_splits
from .verify import verify_pairs


@dataclass
class BuildConfig:
    out: Path
    n_synthetic: int = 2000
    seed: int = 0
    verify: bool = True
    deoptimize: bool = True
    stdlib_dir: Path | None = None  # default: this interpreter's stdlib
    max_deopt_modules: int | None = None
    pie_dir: Path | None = None
    test_frac: float = 0.2
    valid_frac: float = 0.1
    idioms: list[str] | None = None
    catalogues: list[str] | None = None  # None: DEFAULT_CATALOGUES
    rename_variants: int = 0



@dataclass
class BuildResult:
    counts: dict[str, int]
    stats_path: Path
    files: dict[str, Path] = field(default_factory=dict)


def build_dataset(cfg: BuildConfig, log=print) -> BuildResult:
    """Generate, verify, split and write the data set. Returns what it wrote."""
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs: list[CodePair] = generate_pairs(cfg.n_synthetic, cfg.seed, cfg.idioms, cfg.catalogues)
    log(f"generated {len(pairs)} synthetic pairs in {time.perf_counter() - t0:.1f}s")
    dropped: list[dict] = []
    if cfg.verify and pairs:
        report = verify_pairs(pairs)
        pairs = report.kept
        dropped += [{"id": p.id, "reason": why} for p, why in report.dropped]
        log(
            f"verified: kept {len(pairs)}, dropped {len(report.dropped)} "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    deopt_stats: dict = {}
    if cfg.deoptimize:
        from .deoptimize import build_deoptimized_pairs

        deopt, deopt_stats = build_deoptimized_pairs(
            seed=cfg.seed, stdlib_dir=cfg.stdlib_dir, max_modules=cfg.max_deopt_modules
        )
        pairs += deopt
        log(
            f"deoptimized: {len(deopt)} pairs from {deopt_stats.get('functions_used', 0)} "
            f"stdlib functions ({time.perf_counter() - t0:.1f}s)"
        )
    assign_splits(pairs, cfg.seed, test_frac=cfg.test_frac, valid_frac=cfg.valid_frac)
    if cfg.rename_variants > 0:
        from .augment import renamed_variants

        variants = renamed_variants(pairs, cfg.rename_variants, cfg.seed)
        if cfg.verify and variants:
            # A rename must not change behaviour: the variants run their pair's tests too.
            # and must give the results the pair it came from gave.
            report = verify_pairs(variants)
            dropped += [{"id": p.id, "reason": why} for p, why in report.dropped]
            expected = {p.id: p.meta.get("expected") for p in pairs}
            variants = [
                v for v in report.kept if v.meta.get("expected") == expected[v.meta["renamed_from"]]
            ]
            dropped += [
                {"id": v.id, "reason": "renaming changed the results"}
                for v in report.kept
                if v.meta.get("expected") != expected[v.meta["renamed_from"]]
            ]
        pairs += variants
        log(f"renamed variants: {len(variants)} training pairs ({time.perf_counter() - t0:.1f}s)")
    assert_no_pie_in_training(pairs)
    assert_disjoint_groups(pairs)
    files = {}
    counts = {}
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        counts[split] = write_jsonl(path, (p for p in pairs if p.split == split))
        files[split] = path
    stats = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "counts": counts,
        "by_origin_split": _count(pairs, lambda p: f"{p.origin}/{p.split}"),
        "by_idiom": {
            split: _count([p for p in pairs if p.split == split], lambda p: p.idiom)
            for split in SPLITS
        },
        "idioms_per_split": {
            split: sorted({p.idiom for p in pairs if p.split == split and p.origin == "synthetic"})
            for split in SPLITS
        },
        "dropped": dropped,
        "deoptimize": deopt_stats,
    }
    if cfg.pie_dir is not None:
        from .pie import load_pie_pairs, write_pie_jsonl

        pie = load_pie_pairs(cfg.pie_dir)
        files["pie_eval"] = out / "pie_eval.jsonl"
        counts["pie_eval"] = write_pie_jsonl(files["pie_eval"], pie)
        stats["pie"] = {"pairs": len(pie), "usable": sum(p.usable for p in pie)}
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    stats_path = out / "stats.json"
    stats_path.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    log(f"wrote {counts} to {out} in {stats['seconds']}s")
    return BuildResult(counts=counts, stats_path=stats_path, files=files)


def _count(pairs, key) -> dict[str, int]:
    return dict(sorted(Counter(key(p) for p in pairs).items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m perfrl_train.data.build",
        description="Build PerfRL slow->fast training pairs.",
    )
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument(
        "--n-synthetic",
        type=int,
        default=2000,
        help="number of procedurally generated pairs (default 2000)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed for generation and splits")
    ap.add_argument(
        "--no-verify",
        action="store_true",
        help="skip executing both sides on the small inputs (not recommended)",
    )
    ap.add_argument(
        "--no-deoptimize", action="store_true", help="skip de-optimised standard-library functions"
    )
    ap.add_argument(
        "--stdlib-dir",
        type=Path,
        default=None,
        help="directory of .py files to de-optimise (default: this Python's stdlib)",
    )
    ap.add_argument(
        "--max-deopt-modules",
        type=int,
        default=None,
        help="only scan this many modules (for quick runs)",
    )
    ap.add_argument(
        "--pie-dir",
        type=Path,
        default=None,
        help="PIE directory (with test.jsonl, tests/, problems.jsonl) to also "
        "write pie_eval.jsonl (evaluation only)",
    )
    ap.add_argument(
        "--test-frac", type=float, default=0.2, help="fraction of idioms/modules held out for test"
    )
    ap.add_argument(
        "--valid-frac",
        type=float,
        default=0.1,
        help="fraction of idioms/modules held out for valid",
    )
    ap.add_argument("--idioms", nargs="*", default=None, help="restrict to these idioms")
    ap.add_argument(
        "--catalogues",
        nargs="+",
        default=None,
        help="idiom catalogues to draw from: core, records (default: core, what the shipped "
        "model was trained on)",
    )
    ap.add_argument(
        "--rename-variants",
        type=int,
        default=0,
        help="add this many identifier-renamed copies of each training pair (names and "
        "docstrings from real code), so the model learns to copy names (default 0)",
    )
    args = ap.parse_args(argv)
    if args.n_synthetic < 0:
        ap.error("--n-synthetic must be >= 0")
    if not (
        0 <= args.test_frac < 1
        and 0 <= args.valid_frac < 1
        and args.test_frac + args.valid_frac < 1
    ):
        ap.error("--test-frac and --valid-frac must be in [0, 1) and sum to less than 1")
    cfg = BuildConfig(
        out=args.out,
        n_synthetic=args.n_synthetic,
        seed=args.seed,
        verify=not args.no_verify,
        deoptimize=not args.no_deoptimize,
        stdlib_dir=args.stdlib_dir,
        max_deopt_modules=args.max_deopt_modules,
        pie_dir=args.pie_dir,
        test_frac=args.test_frac,
        valid_frac=args.valid_frac,
        idioms=args.idioms,
        catalogues=args.catalogues,
        rename_variants=args.rename_variants,
    )
    try:
        build_dataset(cfg, log=lambda m: print(m, file=sys.stderr))
    except (KeyError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
