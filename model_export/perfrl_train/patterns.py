"""``perfrl-train patterns``: learn the seed rewrite rules that ship with the server.

Every idiom of the training catalogue gives a few slow->fast pairs (the same generator the
model trains on); each pair is reduced to a rule (:func:`perfrl.memory.patterns.rule_from_pair`),
rules of one idiom are generalized by anti-unification where two have the same shape, and the
distinct rules are written with their support (how many pairs taught them). Held-out and PIE
code never enters: only the synthetic catalogue is read, and with ``--real-pairs`` the
training split of the real-code pairs (:mod:`perfrl_train.data.real_pairs`, whose corpus
excludes the held-out projects and libraries): there the rules of single pairs are too
specific to match other code, so only their generalizations are kept, the ones most pairs of a
transform agree on (:func:`learn_real_rules`).

    python -m perfrl_train.patterns --out server/perfrl/memory/seed_rules.json \
        [--real-pairs PAIRS/train.jsonl]
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

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


#: Transforms whose pairs teach no rule worth shipping: a format string rewritten, or ``dict()``
#: for ``{}`` (the string or the display is the whole "rewrite").
_UNTAUGHT = frozenset({"fstring_to_format", "dict_display_to_call"})


def _artefact(rule: RewriteRule) -> bool:
    """Whether the rule's "before" raises where its "after" does not: the de-optimiser keeps
    an empty input's exception with a guard no one writes by hand, so such a rule never
    matches real slow code."""
    def raises(stmts) -> bool:
        return any(isinstance(n, ast.Raise) for stmt in stmts for n in ast.walk(stmt))
    return raises(rule.before) and not raises(rule.after)


def learn_real_rules(pairs_file: Path, per_transform: int = 250, compared: int = 120,
                     top: int = 15, seed: int = 0) -> list[tuple[RewriteRule, int]]:
    """(rule, support) learnt from real-code pairs of one transform each (rows with
    ``slow_code``, ``fast_code`` and ``transforms``): for each transform, the rules of up to
    ``per_transform`` pairs and the anti-unifications of every two of the first ``compared``
    distinct ones; a rule's support is the number of pairs it covers (the pairs that taught
    it, or the two rules it generalizes), and the ``top`` rules covering at least two pairs are
    kept. Deterministic for a seed."""
    by_transform: dict[str, list[dict]] = defaultdict(list)
    with Path(pairs_file).open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line) if line.strip() else {}
            names = row.get("transforms") or []
            if len(names) == 1 and names[0] not in _UNTAUGHT and "slow_code" in row:
                by_transform[names[0]].append(row)
    learned: list[tuple[RewriteRule, int]] = []
    for name in sorted(by_transform):
        rows = by_transform[name]
        random.Random(seed).shuffle(rows)
        covers: dict[str, set[int]] = defaultdict(set)  # rule key -> the pairs it covers
        rules: dict[str, RewriteRule] = {}
        for number, row in enumerate(rows[:per_transform]):
            rule = rule_from_pair(row["slow_code"], row["fast_code"], name)
            if rule is not None and not _artefact(rule):
                covers[rule.key()].add(number)
                rules.setdefault(rule.key(), rule)
        taught = list(rules.values())[:compared]
        for first, second in itertools.combinations(taught, 2):
            rule = generalize(first, second)
            if rule is not None and not _artefact(rule):
                covers[rule.key()] |= covers[first.key()] | covers[second.key()]
                rules.setdefault(rule.key(), rule)
        ranked = sorted(covers, key=lambda key: (-len(covers[key]), key))
        learned += [(rules[key], len(covers[key])) for key in ranked[:top]
                    if len(covers[key]) >= 2]
    return learned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perfrl_train.patterns",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(SEED_RULES), help="rules file to write")
    parser.add_argument("--pairs", type=int, default=3000, help="catalogue pairs to learn from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-pairs", type=Path,
                        help="also learn from these real-code pairs (their training split)")
    args = parser.parse_args(argv)
    rules = learn_rules(args.pairs, args.seed)
    if args.real_pairs is not None:
        rules += learn_real_rules(args.real_pairs, seed=args.seed)
    write_rules(args.out, rules)
    print(f"{len(rules)} rules -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
