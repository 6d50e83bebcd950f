"""The training-pair record shared by every data source and by the trainers.

A :class:`CodePair` is one slow -> fast rewrite of ONE function. ``slow`` and ``fast`` are
dedented sources of a single ``def`` with the same name and parameters; any import a side needs
sits inside the function body, so the source can be spliced into a file on its own (which is
how the verification engine applies a candidate).

``inputs`` holds small argument tuples as Python-literal source strings (each one
``ast.literal_eval``-s to a tuple of positional arguments); they are the correctness inputs.
Larger benchmark inputs are kept compactly as generator specs in ``meta["bench_inputs"]``
(see :mod:`perfrl_train.data.inputs`) and expanded on demand by :func:`all_inputs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import PerfRLError

ORIGINS = ("synthetic", "deoptimized", "pie")
SPLITS = ("train", "valid", "test")


class PairFormatError(PerfRLError, ValueError):
    """A JSONL row is not a valid CodePair."""


@dataclass
class CodePair:
    id: str
    origin: str
    idiom: str
    slow: str
    fast: str
    entry: str
    inputs: list[str]
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise PairFormatError(f"pair {self.id}: origin {self.origin!r} not in {ORIGINS}")
        if self.split not in SPLITS:
            raise PairFormatError(f"pair {self.id}: split {self.split!r} not in {SPLITS}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CodePair:
        known = {f.name for f in fields(cls)}
        missing = {"id", "origin", "idiom", "slow", "fast", "entry", "inputs"} - set(data)
        if missing:
            raise PairFormatError(f"pair row lacks fields {sorted(missing)}")
        unknown = set(data) - known
        if unknown:
            raise PairFormatError(f"pair row has unknown fields {sorted(unknown)}")
        return cls(**data)


def write_jsonl(path: Path, pairs: Iterable[CodePair]) -> int:
    """Write pairs one JSON object per line; returns how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(json.dumps(pair.to_json(), sort_keys=True) + "\n")
            count += 1
    return count


def iter_jsonl(path: Path) -> Iterator[CodePair]:
    """Read pairs written by :func:`write_jsonl`; a bad line raises PairFormatError naming it."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield CodePair.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError, PairFormatError) as exc:
                raise PairFormatError(f"{path}:{lineno}: {exc}") from exc


def read_jsonl(path: Path) -> list[CodePair]:
    return list(iter_jsonl(path))
