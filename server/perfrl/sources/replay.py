"""Candidates from learned rewrite rules (``--sources replay``).

Each rule (see :mod:`perfrl.memory.patterns`) that matches a run of the target's statements
gives one candidate: the function with those statements rewritten and everything else kept
byte for byte. Rules come first from the project's memory (rewrites verified faster on this
project, see :mod:`perfrl.memory.store`), then from
:func:`perfrl.memory.rules_store.load_rules` (the seed rules learned from the training pairs),
most supported first. Nothing here runs code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from perfrl.engine.candidate_text import (
    CleanCandidate,
    DistinctCandidates,
    clean_candidate,
    original_candidate,
)
from perfrl.engine.types import Candidate, FunctionTarget
from perfrl.memory.patterns import RewriteRule, apply_rule, generalize, rule_from_pair
from perfrl.memory.rules_store import load_rules
from perfrl.memory.store import project_db, verified_pairs


def project_rules(project_root: Path) -> list[RewriteRule]:
    """Rules learned from the rewrites verified faster on this project (its memory), newest
    first, and their generalizations where two have the same shape."""
    learned = []
    for original, rewrite, function in verified_pairs(project_db(project_root)):
        rule = rule_from_pair(original, rewrite, f"verified on {function}")
        if rule is not None:
            learned.append(rule)
    general = [g for a, b in itertools.combinations(learned, 2)
               if (g := generalize(a, b)) is not None]
    return list({r.key(): r for r in [*learned, *general]}.values())


class ReplayCandidateSource:
    """``rules`` fixed for tests; by default the project's own learned rules come first,
    then the shipped seed rules."""

    name = "replay"

    def __init__(self, rules: list[RewriteRule] | None = None) -> None:
        self.rules = rules

    def generate(self, target: FunctionTarget, limit: int) -> Iterator[CleanCandidate]:
        rules = self.rules
        if rules is None:
            rules = [*project_rules(target.project_root), *load_rules()]
        # Rules overlap (a project's rule and its generalization): the engine's one rule for
        # what counts as new keeps ``limit`` about distinct rewrites.
        distinct = DistinctCandidates(original_candidate(target))
        produced = 0
        for rule in rules:
            for code in apply_rule(rule, target.source):
                raw = Candidate("replay", f"replay: {rule.origin or 'learned rule'}", code)
                clean = clean_candidate(raw, target, produced + 1)
                if distinct.admit(clean) is not None:
                    continue
                produced += 1
                yield clean
                if produced >= limit:
                    return
