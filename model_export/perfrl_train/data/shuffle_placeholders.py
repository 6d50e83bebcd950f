"""Training rows whose placeholder numbers are shuffled, so that the model must read which
name a line is about instead of guessing it from where names usually come.

Why: the abstraction numbers a function's names by first appearance (``v1`` is the first
parameter, ``v2`` the next name...), so in most training pairs the list scanned in a loop is
``v2`` and its items ``v4``. A small model learns those odds: given
``if v7 not in list(v1.keys()):`` it writes ``if v6 not in v3:``, the right shape with the
names it usually sees there (the eleventh session's finding in ``model_export/README.md``). A
row whose input names are renumbered by a random permutation among themselves has the same
code with numbers that say nothing, and the only way to write its rewrite is to copy the
names from the input.

A caller may rely on:

- :func:`shuffled_row` renaming ``slow`` and ``fast`` with one mapping (a name the slow side
  has is renamed the same way on both sides), leaving ``v0`` (the function's own name), names
  only the fast side has (new ones, numbered after the input's) and everything but NAME tokens
  (attributes, strings, comments) as they were, and returning None for a row it cannot
  tokenize;
- :func:`shuffle_rows` being reproducible for a seed, and changing only ``slow`` / ``fast``
  and adding ``"placeholders": "shuffled"`` to the rows it renamed.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path

from perfrl.sources.identifiers import rename_identifiers

_PLACEHOLDER = re.compile(r"v[1-9][0-9]*")


def placeholders(code: str) -> list[str]:
    """The placeholder names (``v1``, ``v2``...; not ``v0``) of ``code``, in order of first
    appearance as NAME tokens, attributes excluded. Raises tokenize.TokenError /
    SyntaxError (IndentationError) for text that does not tokenize."""
    seen: dict[str, None] = {}
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if (token.type == tokenize.NAME and _PLACEHOLDER.fullmatch(token.string)
                and not (previous is not None and previous.string == ".")):
            seen[token.string] = None
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    return list(seen)


def shuffled_row(row: dict, rng: random.Random) -> dict | None:
    """``row`` with its input's placeholders renumbered by a random permutation among
    themselves (on both sides), or None when a side does not tokenize."""
    try:
        names = placeholders(row["slow"])
        placeholders(row["fast"])  # the fast side must tokenize too
    except (tokenize.TokenError, SyntaxError):
        return None
    order = list(names)
    rng.shuffle(order)
    mapping = {old: new for old, new in zip(names, order, strict=True) if old != new}
    if not mapping:
        return dict(row)
    return {**row, "slow": rename_identifiers(row["slow"], mapping),
            "fast": rename_identifiers(row["fast"], mapping), "placeholders": "shuffled"}


def shuffle_rows(rows: Iterable[dict], share: float, seed: int = 0) -> Iterator[dict]:
    """Each row, renamed by :func:`shuffled_row` with probability ``share`` (as it was
    otherwise, or when it cannot be renamed)."""
    rng = random.Random(seed)
    for row in rows:
        if rng.random() < share:
            yield shuffled_row(row, rng) or row
        else:
            yield row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="a mix directory (train.jsonl, valid.jsonl)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.5,
                        help="the share of training rows renamed (validation rows never are)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0.0 <= args.share <= 1.0:
        parser.error(f"--share must be between 0 and 1, not {args.share}")
    args.out.mkdir(parents=True, exist_ok=True)
    renamed = total = 0
    with (args.data / "train.jsonl").open() as source, \
            (args.out / "train.jsonl").open("w") as sink:
        for row in shuffle_rows((json.loads(line) for line in source), args.share, args.seed):
            total += 1
            renamed += row.get("placeholders") == "shuffled"
            sink.write(json.dumps(row) + "\n")
    # Validation stays as the server numbers names, so losses compare with unshuffled runs.
    (args.out / "valid.jsonl").write_text((args.data / "valid.jsonl").read_text())
    print(f"shuffle_placeholders: {renamed} of {total} training rows renamed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
