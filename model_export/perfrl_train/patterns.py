"""``perfrl-train patterns``: learn the seed rewrite rules that ship with the server.

Every idiom of the training catalogue gives a few slow->fast pairs (the same generator the
model trains on); each pair is reduced to a rule (:func:`perfrl.memory.patterns.rule_from_pair`),
rules of one idiom are generalized by anti-unification where two have the same shape, and the
distinct rules are written with their support (how many pairs taught them). Held-out and PIE
code never enters: only the synthetic catalogue is read.

    python -m perfrl_train.patterns --out server/perfrl/memory/seed_rules.json
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter, defaultdict

from perfrl.memory.patterns import RewriteRule, generalize, rule_from_pair
from perfrl.memory.rules_store import SEED_RULES, write_rules

from .data import assign_splits, generate_pairs


def learn_rules(n_pairs: int = 3000, seed: int = 0) -> list[tuple[RewriteRule, int]]:
    """(rule, support) for the catalogue's pairs, de-duplicated; deterministic for a seed."""
    by_idiom: dict[str, list[RewriteRule]] = defaultdict(list)
    pairs = assign_splits(generate_pairs(n_pairs, seed=seed), seed)  # as the data builder does
    for pair in pairs:
        if pair.split != "train":
            continue  # the idioms held out for the model's evaluation stay held out here too
        rule = rule_from_pair(pair.slow, pair.fast, pair.idiom)
        if rule is not None:
            by_idiom[pair.idiom].append(rule)
    support: Counter[str] = Counter()
    chosen: dict[str, RewriteRule] = {}
    for rules in by_idiom.values():
        for rule in rules:
            support[rule.key()] += 1
            chosen.setdefault(rule.key(), rule)
        # Rules of one idiom that differ only in details generalize into one more rule.
        distinct = list({r.key(): r for r in rules}.values())
        for first, second in itertools.pairwise(distinct):
            general = generalize(first, second)
            if general is not None and general.key() not in chosen:
                chosen[general.key()] = general
                support[general.key()] = support[first.key()] + support[second.key()]
    return [(rule, support[key]) for key, rule in chosen.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perfrl_train.patterns",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(SEED_RULES), help="rules file to write")
    parser.add_argument("--pairs", type=int, default=3000, help="catalogue pairs to learn from")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rules = learn_rules(args.pairs, args.seed)
    write_rules(args.out, rules)
    print(f"{len(rules)} rules -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
