"""Training pairs from real code: real functions are the fast side, de-optimised copies the
slow side.

    python -m perfrl_train.data.real_pairs --corpus runs/corpus.jsonl --out DIR

reads the mined corpus (:mod:`perfrl_train.data.corpus`), applies the inverse optimisations of
:mod:`perfrl_train.data.deopt` one, two or three at a time (1-3 per pair) to every function,
abstracts BOTH sides with ONE table (the slow side first, the model's input, then the fast side
through :meth:`Abstraction.extend`, so placeholders match), drops pairs whose normalised
abstracted (slow, fast) was seen before, and writes ``DIR/train.jsonl``, ``valid.jsonl`` and
``eval.jsonl``: one row per pair ``{"id", "slow", "fast", "slow_code", "fast_code", "package",
"licence", "transforms", "variant", "qualname", "path", "kept"}`` (``transforms``: the names
applied, in order; ``variant`` the same with ``@K`` where a later site was rewritten;
``slow``/``fast`` abstracted: what the model trains on; ``*_code`` with real names).
``DIR/report.json`` has the counts, how often each transform was used, and the behaviour
agreement rates (``--check-sample``, :mod:`.deopt.behaviour`).

A caller may rely on: the split is by package (:func:`~.corpus.package_split`; eval packages
only in ``eval.jsonl``, valid a slice of train packages chosen by a hash of the package name:
:func:`valid_packages`), so one package is never on two sides; no two rows share a
normalised (slow, fast); every row's ``slow`` and ``fast`` parse and define a function of the
same name and parameters.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import multiprocessing
import random
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from perfrl.sources.abstraction import model_input

from .corpus import normalised_key, package_split
from .deopt import (
    SITE_VARIANTS,
    TRANSFORMS,
    apply_transforms,
    candidates,
    deoptimize_source,
    transformable,
)

VALID_SHARE = 0.03  # of the train packages' corpus rows
#: At most this many composed (2-3 transform) variants per function, beyond the singles.
MAX_COMPOSED = 4
#: Transforms the pipeline leaves out: the sampled behaviour check of the full corpus run found
#: them below 98% agreement on inputs the real function accepts (index loops over an argument
#: that was not a sequence: enumerate_to_range_len 10/11 pairs, zip_to_index_loop 4/5).
DROPPED = frozenset({"enumerate_to_range_len", "zip_to_index_loop"})
#: A transform of SITE_VARIANTS is also tried on its 2nd ... site (``NAME@1`` ...).
MAX_SITE = 3


def valid_packages(package_rows: dict[str, int], share: float = VALID_SHARE) -> frozenset[str]:
    """Train packages whose pairs form the validation split: taken in the order of a hash of
    their names (the same on every machine) until they hold ``share`` of the train rows,
    skipping any package that alone holds more than half of that (a huge one would make
    validation one library)."""
    train = {p: n for p, n in package_rows.items() if package_split(p) == "train"}
    target = share * sum(train.values())
    chosen: list[str] = []
    total = 0
    for package in sorted(train, key=lambda p: hashlib.sha256(f"valid:{p}".encode()).digest()):
        if total >= target:
            break
        if train[package] > max(target / 2, 1):
            continue
        chosen.append(package)
        total += train[package]
    return frozenset(chosen)


def pair_split(package: str, valid: frozenset[str] = frozenset()) -> str:
    """``train`` / ``valid`` / ``eval`` for every pair of a package: eval packages by
    :func:`~.corpus.package_split`, valid the train packages in ``valid``
    (:func:`valid_packages`), so no package is on two sides."""
    if package_split(package) == "eval":
        return "eval"
    return "valid" if package in valid else "train"


def applicable(code: str, kept: Iterable[str] = ()) -> list[str]:
    """The transforms that change the function in ``code`` on their own (in registry order)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    if len(tree.body) != 1 or not transformable(tree.body[0], kept):
        return []
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    return [name for name in candidates(fn)
            if name not in DROPPED and apply_transforms(code, [name]) is not None]


def variants(singles: list[str], rng: random.Random,
             max_composed: int = MAX_COMPOSED) -> list[tuple[str, ...]]:
    """Transform sequences to try on one function: every single one, each on a later site
    (up to :data:`MAX_SITE`; the first that does not apply ends that run at the pipeline), the
    same one twice (two sites), and up to ``max_composed`` compositions of two or three (all
    pairs of the applicable transforms, plus triples of a random draw, shuffled)."""
    out: list[tuple[str, ...]] = [(name,) for name in singles]
    out += [(f"{name}@{k}",) for name in singles if name in SITE_VARIANTS
            for k in range(1, MAX_SITE + 1)]
    out += [(name, name) for name in singles]
    composed: list[tuple[str, ...]] = [
        (a, b) for i, a in enumerate(singles) for b in singles[i + 1:]]
    if len(singles) >= 3:
        composed += [tuple(rng.sample(singles, 3)) for _ in range(max(2, max_composed // 2))]
    rng.shuffle(composed)
    return out + composed[:max_composed]


def signature(code: str) -> str | None:
    """The function's name and parameters (a dump of its ``def`` line), or None."""
    try:
        fn = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    return fn.name + ast.dump(fn.args)


def abstract_pair(slow: str, fast: str, kept: Iterable[str]) -> tuple[str, str]:
    """Both sides in the model's ``identifiers-v2`` form with ONE table: the slow side (the
    model's input) numbers the names first, the fast side reuses them and numbers its own
    after. Raises ValueError when the code cannot be abstracted."""
    slow_abs, table = model_input(slow, "identifiers-v2", kept)
    if table is None:
        raise ValueError("no abstraction table")
    return slow_abs, table.extend(fast)


def pair_key(slow_abs: str, fast_abs: str) -> str | None:
    """The de-duplication key: normalised ASTs (docstrings aside) of both abstracted sides."""
    slow_key, fast_key = normalised_key(slow_abs), normalised_key(fast_abs)
    if slow_key is None or fast_key is None:
        return None
    return slow_key + fast_key


def pairs_of_row(row: dict, rng: random.Random, max_composed: int = MAX_COMPOSED,
                 only: frozenset[str] = frozenset()) -> Iterator[dict]:
    """Every (slow, fast) pair the transforms make of one corpus row (not yet de-duplicated);
    with ``only``, just those whose transforms include one of these names."""
    kept = row.get("kept", [])
    code = row["code"]
    exhausted: set[str] = set()
    for names in variants(applicable(code, kept), rng, max_composed):
        if only and not any(name.partition("@")[0] in only for name in names):
            continue
        if len(names) == 1 and names[0].partition("@")[0] in exhausted:
            continue
        made = deoptimize_source(code, names, kept)
        if made is None:
            if len(names) == 1 and "@" in names[0]:
                exhausted.add(names[0].partition("@")[0])  # no K-th site: no (K+1)-th
            continue
        slow, fast = made
        if signature(slow) != signature(fast):
            continue
        try:
            slow_abs, fast_abs = abstract_pair(slow, fast, kept)
        except ValueError:
            continue
        yield {
            "id": f"{row['id']}:{'+'.join(names)}",
            "slow": slow_abs,
            "fast": fast_abs,
            "slow_code": slow,
            "fast_code": fast,
            "package": row["package"],
            "licence": row["licence"],
            "transforms": [name.partition("@")[0] for name in names],
            "variant": "+".join(names),
            "qualname": row.get("qualname", ""),
            "path": row.get("path", ""),
            "kept": kept,
        }


def iter_corpus(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a partial last line of a corpus still being written


def _row_pairs(job: tuple[dict, int, int, frozenset[str]]) -> list[tuple[dict, str | None]]:
    """Pairs of one row with their de-duplication keys (a worker process's unit of work)."""
    row, seed, max_composed, only = job
    rng = random.Random(f"{seed}:{row['id']}")
    return [(pair, pair_key(pair["slow"], pair["fast"]))
            for pair in pairs_of_row(row, rng, max_composed, only)]


def _rows(corpus: Path, limit: int | None, seed: int, max_composed: int = MAX_COMPOSED,
          only: frozenset[str] = frozenset()) -> Iterator[tuple[dict, int, int, frozenset[str]]]:
    for index, row in enumerate(iter_corpus(corpus)):
        if limit is not None and index >= limit:
            return
        yield row, seed, max_composed, only


def build(corpus: Path, out: Path, *, seed: int = 0, limit: int | None = None,
          jobs: int = 1, max_composed: int = MAX_COMPOSED, only: frozenset[str] = frozenset(),
          log=print) -> dict[str, Any]:
    """Write the split pair files to ``out``; returns the counts for the report. ``jobs`` > 1
    makes the pairs in that many worker processes (the same output: rows are taken in corpus
    order either way); ``max_composed`` bounds the 2-3 transform compositions per function
    (:func:`variants`); ``only`` keeps the pairs that use one of these transforms (new
    transforms' pairs without remaking the others; the split is the same)."""
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    used: Counter[str] = Counter()
    applicable_count: Counter[str] = Counter()
    functions_used = 0
    valid = valid_packages(Counter(row["package"] for row, *_ in _rows(corpus, limit, seed)))
    handles = {split: (out / f"{split}.jsonl.tmp").open("w", encoding="utf-8")
               for split in ("train", "valid", "eval")}
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    try:
        rows = _rows(corpus, limit, seed, max_composed, only)
        made = (pool.imap(_row_pairs, rows, chunksize=16) if pool else map(_row_pairs, rows))
        for index, row_pairs in enumerate(made):
            counts["functions"] += 1
            wrote = False
            for pair, key in row_pairs:
                if key is None:
                    counts["unparsable"] += 1
                    continue
                if key in seen:
                    counts["duplicates"] += 1
                    continue
                seen.add(key)
                split = pair_split(pair["package"], valid)
                handles[split].write(json.dumps(pair) + "\n")
                counts[f"pairs:{split}"] += 1
                counts[f"composed:{len(pair['transforms'])}"] += 1
                counts["later_site"] += "@" in pair["variant"]
                bases = pair["transforms"]
                for name in set(bases):
                    used[name] += 1
                if len(bases) == 1:
                    applicable_count[bases[0]] += 1
                wrote = True
            functions_used += wrote
            if index % 5000 == 0:
                log(f"real_pairs: {index} functions, {len(seen)} pairs")
    finally:
        if pool is not None:
            pool.terminate()
        for handle in handles.values():
            handle.close()
    for split in handles:
        (out / f"{split}.jsonl.tmp").replace(out / f"{split}.jsonl")
    return {
        "functions": counts["functions"],
        "valid_packages": sorted(valid),
        "functions_used": functions_used,
        "pairs": len(seen),
        "pairs_by_split": {s: counts[f"pairs:{s}"] for s in handles},
        "pairs_by_transform_count": {n: counts[f"composed:{n}"] for n in (1, 2, 3)},
        "pairs_on_a_later_site": counts["later_site"],
        "duplicates_dropped": counts["duplicates"],
        "pairs_using_transform": dict(used.most_common()),
        "single_transform_pairs": dict(applicable_count.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus JSONL (corpus.py)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the composition choice")
    parser.add_argument("--limit", type=int, default=None, help="first N corpus rows only")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes making pairs (the output does not depend on it)")
    parser.add_argument("--max-composed", type=int, default=MAX_COMPOSED,
                        help="at most N compositions of 2-3 transforms per function, beyond "
                             f"the single transforms (default {MAX_COMPOSED}; more gives more "
                             "distinct pairs from the same corpus)")
    parser.add_argument("--check-sample", type=int, default=0,
                        help="run original and de-optimised code of up to N pairs per "
                             "transform on fuzzed inputs (sandboxed) and report agreement")
    parser.add_argument("--min-agreement", type=float, default=0.98,
                        help="transforms below this agreement rate are dropped (with "
                             "--check-sample)")
    parser.add_argument("--only", default="",
                        help="comma-separated transforms: only pairs that use one of them "
                             "(for example the pairs of newly added transforms)")
    args = parser.parse_args(argv)
    only = frozenset(filter(None, (name.strip() for name in args.only.split(","))))
    unknown = sorted(only - set(TRANSFORMS))
    if unknown:
        print(f"real_pairs: unknown transform(s) {', '.join(unknown)}; known: "
              f"{', '.join(TRANSFORMS)}", file=sys.stderr)
        return 2
    if not args.corpus.is_file():
        print(f"real_pairs: no such corpus file: {args.corpus}", file=sys.stderr)
        return 2
    if args.max_composed < 0:
        print("real_pairs: --max-composed must be 0 or more", file=sys.stderr)
        return 2
    report = build(args.corpus, args.out, seed=args.seed, limit=args.limit, jobs=args.jobs,
                   max_composed=args.max_composed, only=only,
                   log=lambda m: print(m, file=sys.stderr))
    if args.check_sample:
        from .deopt.behaviour import check_pairs, drop_transforms

        rates = check_pairs(args.out, per_transform=args.check_sample, seed=args.seed,
                            log=lambda m: print(m, file=sys.stderr))
        report["behaviour"] = rates
        failing = sorted(name for name, r in rates["by_transform"].items()
                         if r["checked"] >= 10 and r["agreement"] < args.min_agreement)
        report["dropped_transforms"] = failing
        if failing:
            report["pairs_after_drop"] = drop_transforms(args.out, failing)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
