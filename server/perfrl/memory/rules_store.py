"""Where rewrite rules live: the seed rules shipped with PerfRL (learned from the training
pairs by ``perfrl-train patterns``) and a JSON file format shared by both.

A caller may rely on :func:`load_rules` returning rules ordered by support (how many training
pairs taught each rule, most first) and never raising for a missing file (no rules).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from perfrl.memory.patterns import RewriteRule

SEED_RULES = Path(__file__).with_name("seed_rules.json")
FORMAT = "perfrl.rewrite-rules/1"


def load_rules(path: Path = SEED_RULES) -> list[RewriteRule]:
    # Read once per version of the file: the replay source asks for every function it serves,
    # and parsing the shipped rules costs ~20 ms. Rules are never mutated (apply_rule copies).
    try:
        version = Path(path).stat().st_mtime_ns
    except OSError:
        return []
    return list(_read_rules(str(path), version))


@lru_cache(maxsize=8)
def _read_rules(path: str, version: int) -> tuple[RewriteRule, ...]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return ()
    entries = sorted(data.get("rules", []), key=lambda e: -int(e.get("support", 1)))
    return tuple(RewriteRule.from_json(entry) for entry in entries)


def write_rules(path: Path, rules: list[tuple[RewriteRule, int]]) -> None:
    """``rules`` as (rule, support) pairs, most supported first."""
    entries = [{**rule.to_json(), "support": support}
               for rule, support in sorted(rules, key=lambda rs: -rs[1])]
    Path(path).write_text(json.dumps({"format": FORMAT, "rules": entries}, indent=1) + "\n",
                          encoding="utf-8")
