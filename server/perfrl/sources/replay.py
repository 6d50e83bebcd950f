"""Candidates from learned rewrite rules (``--sources replay``).

Each rule (see :mod:`perfrl.memory.patterns`) that matches a run of the target's statements
gives one candidate: the function with those statements rewritten and everything else kept
byte for byte. Rules come from :func:`perfrl.memory.rules_store.load_rules` (the seed rules
learned from the training pairs), most supported first. Nothing here runs code.
"""

from __future__ import annotations

from collections.abc import Iterator

from perfrl.engine.types import Candidate, FunctionTarget
from perfrl.memory.patterns import RewriteRule, apply_rule
from perfrl.memory.rules_store import load_rules


class ReplayCandidateSource:
    name = "replay"

    def __init__(self, rules: list[RewriteRule] | None = None) -> None:
        self.rules = load_rules() if rules is None else rules

    def generate(self, target: FunctionTarget, limit: int) -> Iterator[Candidate]:
        seen: set[str] = set()
        for rule in self.rules:
            for code in apply_rule(rule, target.source):
                if code in seen:
                    continue
                seen.add(code)
                yield Candidate("replay", f"replay: {rule.origin or 'learned rule'}", code)
                if len(seen) >= limit:
                    return
