"""Region pairs: the real-code pairs cut down to the loop region that holds their change.

A small model writes a short, focused input far better than a whole function (the loss, the
copying and the exposure to its own mistakes all grow with length). The server already reads
long functions one loop region at a time (:mod:`perfrl.sources.regions`: the region as a
function of its own, its rewrite spliced back); this module gives training the same view: for
a (slow, fast) pair of real code whose every changed line lies inside one loop region of the
slow side, the pair of *region functions* (``region_function`` of the slow region, and the
same wrapper around the fast side's lines), abstracted with one table as the server abstracts
a region function it sends to the model.

    python -m perfrl_train.data.region_pairs --pairs PAIRS/train.jsonl --out REGIONS/train.jsonl

A caller may rely on:

- a region pair is written only when splicing its fast region back into the slow function,
  as the server does (``region_statements`` + ``splice_region``), gives the fast function
  (equal normalised AST): a model that writes the fast region exactly produces the real
  fast function;
- lines inserted just before the region (a hoisted invariant) belong to it; a change outside
  the region, or a fast region that reads a name of the function the slow region does not
  receive, gives no pair;
- rows without real code (``slow_code``/``fast_code``: the synthetic catalogues) are cut from
  their abstracted sides written back with the row's own table (``meta.abstraction``);
- each written row keeps the source row's fields (package, licence, transforms) with ``slow``
  and ``fast`` replaced by the abstracted region functions, ``id`` prefixed ``region|`` (the
  transforms stay its last ``:`` field, so ``mix --cap`` counts them) and
  ``"region": [first, last]`` (the slow function's lines).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from perfrl.sources.abstraction import Abstraction, concretize
from perfrl.sources.regions import (
    Region,
    extract_regions,
    region_function,
    region_statements,
    splice_region,
)

from .corpus import normalised_key
from .real_pairs import abstract_pair

#: The id prefix of a region row (its source row's id follows).
REGION_ID_PREFIX = "region|"


def _changed_span(slow_lines: list[str], fast_lines: list[str]) -> tuple[int, int, bool] | None:
    """(first, last) 0-based slow lines any change touches (``last`` exclusive) and whether a
    change is a pure insertion at ``last`` (lines added after the last changed line); None when
    the sides are equal."""
    opcodes = difflib.SequenceMatcher(None, slow_lines, fast_lines, autojunk=False).get_opcodes()
    changes = [(i1, i2) for tag, i1, i2, _, _ in opcodes if tag != "equal"]
    if not changes:
        return None
    first = min(i1 for i1, _ in changes)
    last = max(i2 for _, i2 in changes)
    appended = any(i1 == i2 == last for i1, i2 in changes)
    return first, last, appended


def _fast_lines_for(slow_lines: list[str], fast_lines: list[str],
                    start: int, end: int) -> list[str]:
    """The fast lines that stand where slow lines ``start``..``end`` (0-based, exclusive end)
    stand: everything between the unchanged lines kept before and after the region."""
    kept_after = len(slow_lines) - end  # the lines before ``start`` are the same ``start``
    return fast_lines[start:len(fast_lines) - kept_after]


def _bound_in(code: str) -> set[str]:
    """The names ``code``'s function binds: its parameters and every name it assigns."""
    tree = ast.parse(code)
    return {n.id for n in ast.walk(tree)
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)} | {
        a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}


def region_pair(slow_code: str, fast_code: str) -> tuple[Region, str, str] | None:
    """The loop region of ``slow_code`` that holds every change ``fast_code`` makes, with the
    slow and fast region functions (real names); None when no one region holds them all or
    the fast side does not splice back into the fast function."""
    slow_lines = slow_code.splitlines()
    fast_lines = fast_code.splitlines()
    span = _changed_span(slow_lines, fast_lines)
    if span is None:
        return None
    first, last, appended = span
    try:
        name = ast.parse(slow_code).body[0].name  # type: ignore[attr-defined]
    except (SyntaxError, IndexError, AttributeError):
        return None
    for region in extract_regions(slow_code):
        start, end = region.start_line - 1, region.end_line  # 0-based, exclusive end
        # Inserted lines right after the region are not the region's: refuse rather than guess.
        if not (start <= first and last <= end) or (appended and last == end):
            continue
        fast_body = _fast_lines_for(slow_lines, fast_lines, start, end)
        if not fast_body or not all(
            line.startswith(region.indent) or not line.strip() for line in fast_body
        ):
            return None
        fast_source = textwrap.dedent("\n".join(fast_body) + "\n")
        fast_region = replace(region, source=fast_source)
        slow_function = region_function(region, name)
        fast_function = region_function(fast_region, name)
        try:
            parsed = ast.parse(fast_function).body[0]
        except SyntaxError:
            return None
        assert isinstance(parsed, ast.FunctionDef | ast.AsyncFunctionDef)
        # The fast lines may only read what the slow region receives (and what they bind).
        outer = _bound_in(slow_code) - set(region.reads) - region.imported
        fast_reads = {n.id for n in ast.walk(parsed)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        fast_binds = {n.id for n in ast.walk(parsed)
                      if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        if (fast_reads - fast_binds) & outer:
            return None
        statements = region_statements(region, parsed)
        if statements is None:
            return None
        spliced_key = normalised_key(splice_region(slow_code, region, statements))
        if spliced_key is None or spliced_key != normalised_key(fast_code):
            return None
        return region, slow_function, fast_function
    return None


def _real_code(row: dict) -> tuple[str, str]:
    """A row's two sides with real names: a real-code pair's ``*_code``, or a synthetic row's
    abstracted sides written back with its table (``meta.abstraction``; names its fast side
    made up become ``new_N``)."""
    if "slow_code" in row and "fast_code" in row:
        return row["slow_code"], row["fast_code"]
    recorded = row.get("meta", {}).get("abstraction", {})
    table = Abstraction(names=dict(recorded.get("names", {})),
                        strings=dict(recorded.get("strings", {})))
    return concretize(row["slow"], table), concretize(row["fast"], table)


def region_rows(rows: Iterable[dict], report: Counter[str]) -> Iterable[dict]:
    """The region pair of each real-code row that has one (``report`` counts why not)."""
    for row in rows:
        slow_code, fast_code = _real_code(row)
        found = region_pair(slow_code, fast_code)
        if found is None:
            report["no region holds the change"] += 1
            continue
        region, slow_function, fast_function = found
        try:
            # The function's module names (``kept``): a region reads a subset of them.
            slow_abs, fast_abs = abstract_pair(slow_function, fast_function, row.get("kept", []))
        except ValueError:
            report["cannot be abstracted"] += 1
            continue
        report["written"] += 1
        yield {
            **row,
            "id": REGION_ID_PREFIX + str(row.get("id", "")),
            "slow": slow_abs,
            "fast": fast_abs,
            "slow_code": slow_function,
            "fast_code": fast_function,
            "region": [region.start_line, region.end_line],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m perfrl_train.data.region_pairs",
        description="Cut real-code pairs down to the loop region that holds their change.")
    parser.add_argument("--pairs", type=Path, required=True, help="a real_pairs JSONL file")
    parser.add_argument("--out", type=Path, required=True, help="the region pairs JSONL file")
    args = parser.parse_args(argv)
    if not args.pairs.is_file():
        parser.error(f"{args.pairs} is not a file: give a train/valid/eval.jsonl of real_pairs")
    report: Counter[str] = Counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.pairs.open(encoding="utf-8") as source, \
            args.out.open("w", encoding="utf-8") as out:
        rows = (json.loads(line) for line in source if line.strip())
        for row in region_rows(rows, report):
            out.write(json.dumps(row) + "\n")
    print(json.dumps(dict(report)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
