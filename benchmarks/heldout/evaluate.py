"""The model's report card: the held-out set through the verification engine.

    python benchmarks/heldout/evaluate.py --source model --num-candidates 8 --out REPORT_DIR
    python benchmarks/heldout/evaluate.py --source hand --out REPORT_DIR --record
    python benchmarks/heldout/evaluate.py --source rules --set libraries --out REPORT_DIR

For every target of ``manifest.json`` (the hand-written projects) and/or ``libraries.json`` (real
libraries, unpacked by ``fetch_libraries.py``), one job of the engine's single entry point
(:func:`perfrl.engine.optimize.optimize_function`, the path ``perfrl optimize`` and the editors
take): the project's tests on the original (baseline, recorded calls), candidates from the
chosen source, and each candidate verified (tests, equivalence on the recorded calls, A/B
benchmark; "faster" = the lower 95% bound of the speedup >= ``--threshold``).

Figures, as the README's model table defines them:

- per output: of the ``n`` outputs asked for per target, how many became candidates (they
  parse, define the function, are distinct and differ from the original: the source drops the
  others), keep the target's exact signature, pass the tests (and equivalence), are verified
  faster;
- best@1: the first output (the model's greedy one, the hand-written file, the first rule);
- best@k: the best of the target's candidates (verified faster with the highest lower bound,
  else one that passes, else one that keeps the signature, else any that parses);
- mean speedup: the mean of the verified speedups (medians) over the targets with one;
- drawn: every output the model drew, re-draws included (its notes' accounts), and the share
  that made a function that parses, counted before the source's drops (per output above
  counts only what reached the verifier).

A caller may rely on ``results.json`` (every target, every candidate's verdict and speedup) and
``results.md`` (the table) being written into ``--out``; ``--record`` with ``--source hand``
also writes each hand-written rewrite's measured speedup into ``manifest.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from perfrl.engine.feedback_round import SECOND_ROUND_LABEL, SECOND_ROUND_NOTE

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
SOURCES = ("model", "rules", "replay", "hand")


#: What the engine's warning says of a candidate source that gave nothing (its account follows).
GAVE_NOTHING = "gave nothing:"
#: A model job's account (``perfrl.sources.model``): outputs drawn, and why each dropped one was.
_KEPT_ACCOUNT = re.compile(r"(\d+) outputs drawn for .*?, \d+ kept(?: \([^)]*\))?"
                           r"(?:; dropped: (.*?))?(?:; mended: .*)?$")
_EMPTY_ACCOUNT = re.compile(r"none of the model's (\d+) (?:second-round )?outputs for .*? was a "
                            r"usable rewrite \((.*)\)$")


def malformed_reasons() -> tuple[str, ...]:
    """The drop reasons that mean an output made no function that parses: the words the
    engine, the edit scripts and the model source themselves use."""
    from perfrl.edit_script import NO_HEADER, NO_HEADER_FIRST, NOT_ITS_LINES, OUT_OF_ORDER
    from perfrl.engine.candidate_text import DOES_NOT_PARSE, EMPTY
    from perfrl.sources.model import LOOPED, NOT_FITTING

    return (DOES_NOT_PARSE, EMPTY, "defines no function", NO_HEADER, NO_HEADER_FIRST,
            NOT_ITS_LINES, OUT_OF_ORDER, LOOPED, NOT_FITTING)


def drawn_outputs(notes: list[str]) -> tuple[int, int]:
    """(outputs the model drew, how many of them made no function that parses) from a
    target's notes (the model source's accounts, both rounds'); (0, 0) without one."""
    malformed = malformed_reasons()
    drawn = bad = 0
    for note in notes:
        found = _KEPT_ACCOUNT.search(note) or _EMPTY_ACCOUNT.search(note)
        if found is None:
            continue
        drawn += int(found.group(1))
        for account in (found.group(2) or "").split("; "):
            why, _, count = account.rpartition(": ")
            if why.startswith(malformed) and count.isdigit():
                bad += int(count)
    return drawn, bad

@dataclass
class Target:
    """One function to optimize: ``spec`` is ``path/to/mod.py::Qualname`` under ``root``."""

    set_name: str
    project: str
    root: Path
    spec: str
    candidate: Path | None = None
    idiom: str = ""


@dataclass
class TargetOutcome:
    target: Target
    requested: int
    candidates: list[dict] = field(default_factory=list)
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    #: The sources' accounts (``OptimizationReport.notes``: outputs drawn, dropped, mended).
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: True when the engine ran a feedback round (every first-round candidate failed and the
    #: model was trained for one): ``requested`` then counts both rounds' outputs.
    second_round: bool = False

    @property
    def best_at_1(self) -> dict | None:
        return self.candidates[0] if self.candidates and self.candidates[0]["first"] else None

    @property
    def best_at_k(self) -> dict | None:
        return max(self.candidates, key=_rank, default=None)


def _rank(candidate: dict) -> tuple:
    faster = candidate["verdict"] == "faster"
    return (faster, candidate["passes"], candidate["keeps_signature"],
            (candidate["speedup_low"] or 0.0) if faster else 0.0)


# ----------------------------------------------------------------------------- targets


def project_targets() -> list[Target]:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    targets = []
    for row in manifest["targets"]:
        root = HERE / row["project"]
        spec = row["target"].removeprefix(row["project"] + "/")
        targets.append(Target("projects", row["project"], root, spec,
                              HERE / row["candidate"], row["idiom"]))
    return targets


def library_targets() -> list[Target]:
    sys.path.insert(0, str(HERE))
    from fetch_libraries import library_root, load_libraries

    targets = []
    for library in load_libraries():
        root = library_root(library)
        if not root.is_dir():
            raise SystemExit(f"evaluate: {library['package']} is not unpacked at {root}; run "
                             "python benchmarks/heldout/fetch_libraries.py first")
        for spec in library["targets"]:
            targets.append(Target("libraries", library["package"], root, spec))
    return targets


# ----------------------------------------------------------------------------- scoring


def _signature(code: str, name: str) -> str | None:
    """The ``def``'s name and parameters (their kinds, defaults and annotations), or None."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.dump(node.args)
    return None


def keeps_signature(candidate_code: str, original_source: str, name: str) -> bool:
    """True when the candidate's function has exactly the original's parameters."""
    from perfrl.engine.candidate_check import normalize_candidate

    original = _signature(normalize_candidate(original_source), name)
    candidate = _signature(normalize_candidate(candidate_code), name)
    return original is not None and candidate == original


def _candidate_row(result, target_fn, first: bool) -> dict:
    verdict = result.verdict.value
    speedup = result.speedup
    return {
        "label": result.candidate.label,
        "source": result.candidate.source,
        "first": first,
        "verdict": verdict,
        "reason": result.reason,
        "parses": verdict != "invalid",
        "keeps_signature": keeps_signature(result.candidate.code, target_fn.source,
                                           target_fn.name),
        "passes": verdict in ("faster", "not_faster"),
        "speedup": speedup.median if speedup else None,
        "speedup_low": speedup.low if speedup else None,
        "code": result.candidate.code,
    }


def _is_first(label: str, source: str, index: int) -> bool:
    if source == "model":
        return label == "greedy"
    return index == 0


# ----------------------------------------------------------------------------- running


def run_target(target: Target, sources, settings, n: int) -> TargetOutcome:
    from perfrl.engine.locate import locate_function
    from perfrl.engine.optimize import optimize_function
    from perfrl.engine.types import PerfRLError

    outcome = TargetOutcome(target, requested=n)
    started = time.perf_counter()
    try:
        function = locate_function(str(target.root / target.spec), project_root=target.root)
        report = optimize_function(function, sources, settings, candidates_per_source=n)
    except PerfRLError as exc:
        outcome.error = str(exc)
    else:
        outcome.warnings = list(report.warnings)
        # A source that gave nothing tells its account (outputs drawn, why each was dropped)
        # as a warning: kept among the notes too, where every other account is.
        outcome.notes = list(report.notes) + [w for w in report.warnings if GAVE_NOTHING in w]
        if any(SECOND_ROUND_NOTE in note for note in report.notes):
            outcome.second_round = True
            outcome.requested += n
        for index, result in enumerate(report.candidates):
            first = _is_first(result.candidate.label, result.candidate.source, index)
            outcome.candidates.append(_candidate_row(result, function, first))
    outcome.seconds = time.perf_counter() - started
    return outcome


def build_sources_for(args, target: Target, shared: dict):
    from perfrl.sources.registry import build_sources

    if args.source == "hand":
        if target.candidate is None:
            return None
        return build_sources([], candidate_files=[target.candidate])
    if "sources" not in shared:
        shared["sources"] = build_sources([args.source], model_dir=args.model, seed=args.seed,
                                          temperature=getattr(args, "temperature", None),
                                          propose_sites=getattr(args, "site_headers", True),
                                          copy_bonus=getattr(args, "copy_bonus", 0.0),
                                          whole_words=getattr(args, "whole_words", None),
                                          site_words=getattr(args, "site_words", False),
                                          attribute_guard=getattr(args, "attribute_guard",
                                                                  False),
                                          region_min_lines=getattr(args, "region_min_lines",
                                                                   None),
                                          mend_slips=getattr(args, "mend_slips", True),
                                          indent_guard=getattr(args, "indent_guard", True),
                                          string_guard=getattr(args, "string_guard", True))
    return shared["sources"]


# ----------------------------------------------------------------------------- figures


def _pct(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


def summarise(outcomes: list[TargetOutcome]) -> dict:
    """The table's figures over ``outcomes`` (targets that errored count as failures)."""
    targets = len(outcomes)
    requested = sum(o.requested for o in outcomes)
    every = [c for o in outcomes for c in o.candidates]

    def at(picks: list[dict | None]) -> dict:
        verified = [p["speedup"] for p in picks if p and p["verdict"] == "faster" and p["speedup"]]
        return {
            "parses_pct": _pct(sum(1 for p in picks if p and p["parses"]), targets),
            "keeps_signature_pct": _pct(sum(1 for p in picks if p and p["keeps_signature"]),
                                        targets),
            "passes_pct": _pct(sum(1 for p in picks if p and p["passes"]), targets),
            "faster_pct": _pct(len(verified), targets),
            "faster": len(verified),
            "mean_speedup": statistics.fmean(verified) if verified else None,
        }

    accounts = [drawn_outputs(o.notes) for o in outcomes]
    drawn = sum(d for d, _ in accounts)
    return {
        "targets": targets,
        "errors": sum(1 for o in outcomes if o.error),
        "outputs_requested": requested,
        # Every output the model drew (re-draws included), before any drop: how many made a
        # function that parses (the "outputs parse"; per_output counts candidates).
        "drawn": {"outputs": drawn,
                  "parses_pct": _pct(drawn - sum(b for _, b in accounts), drawn)},
        "per_output": {
            "candidates_pct": _pct(len(every), requested),
            "parses_pct": _pct(sum(c["parses"] for c in every), requested),
            "keeps_signature_pct": _pct(sum(c["keeps_signature"] for c in every), requested),
            "passes_pct": _pct(sum(c["passes"] for c in every), requested),
            "faster_pct": _pct(sum(c["verdict"] == "faster" for c in every), requested),
        },
        "best_at_1": at([o.best_at_1 for o in outcomes]),
        "best_at_k": at([o.best_at_k for o in outcomes]),
        "second_round": second_round_figures(outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 1),
    }


def second_round_figures(outcomes: list[TargetOutcome]) -> dict:
    """What feedback rounds did: on how many targets one ran, its candidates, how many of them
    passed, and on how many targets the best candidate came from it and was verified faster."""
    retried = [o for o in outcomes if o.second_round]
    second = [c for o in retried for c in o.candidates
              if c["label"].startswith(SECOND_ROUND_LABEL)]
    won = [o for o in retried if (best := o.best_at_k) is not None
           and best["verdict"] == "faster" and best["label"].startswith(SECOND_ROUND_LABEL)]
    return {"targets": len(retried), "candidates": len(second),
            "passes": sum(c["passes"] for c in second), "faster_targets": len(won)}


def _fmt_speedup(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def markdown(title: str, groups: dict[str, dict], k: int, outcomes: list[TargetOutcome]) -> str:
    header = (f"| set (targets) | best@1: parses / keeps signature / passes tests / verified "
              f"faster | best@{k}: parses / keeps signature / passes / faster | mean speedup "
              "of the verified (best@1, best@k) | outputs: candidates / keep signature / pass / "
              "faster |")
    lines = [f"# {title}", "", header, "|---|---|---|---|---|"]
    for name, fig in groups.items():
        b1, bk, po = fig["best_at_1"], fig["best_at_k"], fig["per_output"]
        lines.append(
            f"| {name} ({fig['targets']}) "
            f"| {b1['parses_pct']:.1f}% / {b1['keeps_signature_pct']:.1f}% / "
            f"{b1['passes_pct']:.1f}% / {b1['faster_pct']:.1f}% "
            f"| {bk['parses_pct']:.1f}% / {bk['keeps_signature_pct']:.1f}% / "
            f"{bk['passes_pct']:.1f}% / {bk['faster_pct']:.1f}% "
            f"| {_fmt_speedup(b1['mean_speedup'])}, {_fmt_speedup(bk['mean_speedup'])} "
            f"| {po['candidates_pct']:.1f}% / {po['keeps_signature_pct']:.1f}% / "
            f"{po['passes_pct']:.1f}% / {po['faster_pct']:.1f}% |")
    for name, fig in groups.items():
        drawn = fig.get("drawn", {})
        if drawn.get("outputs"):
            lines.append(f"\n{name}: {drawn['outputs']} outputs drawn (re-draws included), "
                         f"{drawn['parses_pct']:.1f}% of them made a function that parses.")
    for name, fig in groups.items():
        second = fig["second_round"]
        if second["targets"]:
            lines.append(f"\n{name}: a feedback round ran on {second['targets']} target(s): "
                         f"{second['candidates']} candidate(s), {second['passes']} passed, "
                         f"{second['faster_targets']} target(s) verified faster by it.")
    lines.append("\n" + "; ".join(f"{name}: {fig['seconds']:.0f} s" for name, fig in
                                   groups.items()) + " (the engine's wall time, all targets).")
    lines += ["", "| target | candidates | best verdict | speedup (low) | note |",
              "|---|---|---|---|---|"]
    for o in outcomes:
        best = o.best_at_k
        if o.error:
            lines.append(f"| `{o.target.project}/{o.target.spec}` | 0 | error | - | "
                         f"{o.error[:120]} |")
            continue
        verdict = best["verdict"] if best else "no candidate"
        speed = (f"{best['speedup']:.2f}× ({best['speedup_low']:.2f})"
                 if best and best["speedup"] else "-")
        note = "; ".join(w for w in o.warnings if "candidate" in w)[:160]
        lines.append(f"| `{o.target.project}/{o.target.spec}` | {len(o.candidates)} | {verdict} "
                     f"| {speed} | {note} |")
    return "\n".join(lines) + "\n"


def outcome_json(o: TargetOutcome) -> dict:
    return {"set": o.target.set_name, "project": o.target.project, "target": o.target.spec,
            "idiom": o.target.idiom, "requested": o.requested, "error": o.error,
            "warnings": o.warnings, "notes": o.notes, "seconds": round(o.seconds, 1),
            "second_round": o.second_round, "candidates": o.candidates}


def record_hand_speedups(outcomes: list[TargetOutcome]) -> None:
    """Write each hand-written rewrite's verdict and speedup into manifest.json."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    by_target = {f"{o.target.project}/{o.target.spec}": o for o in outcomes}
    for row in manifest["targets"]:
        o = by_target.get(row["target"])
        if o is None:
            continue
        c = o.candidates[0] if o.candidates else None
        row["hand_written"] = {
            "verdict": c["verdict"] if c else "error",
            "speedup": round(c["speedup"], 2) if c and c["speedup"] else None,
            "speedup_low": round(c["speedup_low"], 2) if c and c["speedup_low"] else None,
            "reason": c["reason"] if c else o.error,
        }
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")


def outcomes_from_results(paths: list[Path]) -> tuple[dict, list[TargetOutcome]]:
    """The outcomes recorded in ``results.json`` files, a later file's target replacing an
    earlier one's (a rerun of some targets), in the order first seen, limited to the targets
    the manifests list today. Also the first file's run settings."""
    by_key: dict[tuple[str, str], TargetOutcome] = {}
    settings: dict = {}
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        settings = settings or {k: v for k, v in data.items() if k not in ("figures", "targets")}
        for row in data["targets"]:
            target = Target(row["set"], row["project"], HERE, row["target"], idiom=row["idiom"])
            outcome = TargetOutcome(target, requested=row["requested"],
                                    candidates=row["candidates"], error=row["error"],
                                    warnings=row["warnings"], notes=row.get("notes", []),
                                    seconds=row["seconds"],
                                    second_round=row.get("second_round", False))
            by_key[(row["project"], row["target"])] = outcome
    current = {(t.project, t.spec) for t in project_targets()}
    try:
        current |= {(t.project, t.spec) for t in library_targets()}
    except SystemExit:  # libraries not unpacked: keep what the files say about them
        current |= {key for key, o in by_key.items() if o.target.set_name == "libraries"}
    return settings, [o for key, o in by_key.items() if key in current]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=SOURCES, required=True,
                        help="model, rules, or hand (the hand-written candidate of each target)")
    parser.add_argument("--set", choices=("projects", "libraries", "all"), default="all",
                        help="the hand-written projects, the real libraries, or both")
    parser.add_argument("--num-candidates", type=int, default=8, metavar="N",
                        help="outputs asked of the source per target (best@N); 1 for hand")
    parser.add_argument("--model", type=Path, default=None,
                        help="model directory (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=None, help="the model's sampling seed")
    parser.add_argument("--only", default="", help="only targets whose spec contains this")
    parser.add_argument("--threshold", type=float, default=1.10,
                        help="lower 95%% bound a speedup must clear (default 1.10)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json/.md")
    parser.add_argument("--record", action="store_true",
                        help="with --source hand: write the measured speedups into manifest.json "
                        "(also from --from-results: a run's figures, without running again)")
    parser.add_argument("--from-results", type=Path, nargs="+", default=None, metavar="JSON",
                        help="tabulate earlier runs' results.json instead of running (a later "
                        "file's targets replace an earlier one's)")
    parser.add_argument("--feedback-round", action=argparse.BooleanOptionalAction, default=True,
                        help="let the engine run its feedback round (a model trained for it is "
                        "shown the best failed candidate and asked again; default: on)")
    parser.add_argument("--site-headers", action=argparse.BooleanOptionalAction, default=True,
                        help="an edit model's outputs shared among its own choice of lines and "
                        "headers forced at each loop region (default: on; off: its own only)")
    parser.add_argument("--copy-bonus", type=float, default=0.0, metavar="NATS",
                        help="add NATS to the scores of the tokens that continue the input the "
                        "output is copying (perfrl.inference.copy_bias; default 0: off)")
    parser.add_argument("--whole-words", action=argparse.BooleanOptionalAction, default=None,
                        help="refuse, while decoding, a word no allowed word is or starts with "
                        "(perfrl.inference.word_guard; default: as the model's spec says)")
    parser.add_argument("--site-words", action=argparse.BooleanOptionalAction, default=False,
                        help="with --whole-words, an edit at a forced site may only use the "
                        "words of the lines it replaces (default: off)")
    parser.add_argument("--attribute-guard", action=argparse.BooleanOptionalAction,
                        default=False,
                        help="a parameter annotated as a builtin container may only take its "
                        "type's attributes (perfrl.inference.attribute_guard; default: off)")
    parser.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="the model's sampling temperature (default: its spec's)")
    parser.add_argument("--mend-slips", action=argparse.BooleanOptionalAction, default=True,
                        help="mend the model's two copying slips of index-loop rewrites "
                        "before verifying (perfrl.sources.slip_repairs; default: on, as "
                        "served; --no-mend-slips measures the model alone)")
    parser.add_argument("--indent-guard", action=argparse.BooleanOptionalAction, default=True,
                        help="an edit model's hunk lines indented as Python's blocks allow "
                        "where they land (perfrl.inference.indent_guard; default: on, as "
                        "served)")
    parser.add_argument("--string-guard", action=argparse.BooleanOptionalAction, default=True,
                        help="an abstracting model's strings only as its input's placeholders "
                        "(perfrl.inference.string_guard; default: on, as served)")
    parser.add_argument("--region-min-lines", type=int, default=None, metavar="LINES",
                        help="also rewrite each loop region of a function longer than LINES "
                        "(default: the model's own setting, region_min_lines of its spec)")
    args = parser.parse_args(argv)
    if args.from_results:
        settings, outcomes = outcomes_from_results(args.from_results)
        if args.record and args.source == "hand":
            record_hand_speedups(outcomes)
        return write_reports(args, outcomes, settings.get("num_candidates", 1))

    from perfrl.engine.settings import EngineSettings

    targets: list[Target] = []
    if args.set in ("projects", "all"):
        targets += project_targets()
    if args.set in ("libraries", "all"):
        if args.source == "hand":
            print("evaluate: the libraries have no hand-written candidates; skipping them",
                  file=sys.stderr)
        else:
            targets += library_targets()
    targets = [t for t in targets if args.only in f"{t.project}/{t.spec}"]
    n = 1 if args.source == "hand" else args.num_candidates
    args.out.mkdir(parents=True, exist_ok=True)
    # memory="off": an evaluation never learns from itself (replay would otherwise reuse the
    # hand-written rewrites of an earlier run as patterns).
    settings = EngineSettings(threshold=args.threshold, cache_dir=args.out / "baselines",
                              pytest_args=["-p", "no:cacheprovider"], memory="off",
                              feedback_round=args.feedback_round)
    shared: dict = {}
    outcomes: list[TargetOutcome] = []
    for index, target in enumerate(targets):
        sources = build_sources_for(args, target, shared)
        if sources is None:
            continue
        outcome = run_target(target, sources, settings, n)
        outcomes.append(outcome)
        best = outcome.best_at_k
        # With no candidate, the source's own account (why its outputs were dropped) first:
        # the evidence warnings that come before it say nothing about the source.
        why = sorted(outcome.warnings, key=lambda w: GAVE_NOTHING not in w)
        shown = outcome.error or (f"{best['verdict']} {best['reason']}" if best else
                                  "no candidate: " + "; ".join(why)[:200])
        print(f"[{index + 1}/{len(targets)}] {target.project}/{target.spec}: "
              f"{len(outcome.candidates)} candidate(s); best: {shown} ({outcome.seconds:.0f} s)",
              file=sys.stderr, flush=True)
    if args.record and args.source == "hand":
        record_hand_speedups(outcomes)
    return write_reports(args, outcomes, n)


def write_reports(args, outcomes: list[TargetOutcome], n: int) -> int:
    """Write results.json and results.md into ``args.out`` and print the table."""
    args.out.mkdir(parents=True, exist_ok=True)
    groups = {}
    for set_name in ("projects", "libraries"):
        chosen = [o for o in outcomes if o.target.set_name == set_name]
        if chosen:
            groups[set_name] = summarise(chosen)
    title = f"Held-out set, source {args.source}" + (f" ({args.model})" if args.model else "")
    (args.out / "results.json").write_text(json.dumps(
        {"source": args.source, "model": str(args.model) if args.model else None,
         "seed": args.seed, "num_candidates": n, "threshold": args.threshold,
         "feedback_round": getattr(args, "feedback_round", None),
         "site_headers": getattr(args, "site_headers", None),
         "copy_bonus": getattr(args, "copy_bonus", None),
         "whole_words": getattr(args, "whole_words", None),
         "site_words": getattr(args, "site_words", None),
         "attribute_guard": getattr(args, "attribute_guard", None),
         "region_min_lines": getattr(args, "region_min_lines", None),
         "temperature": getattr(args, "temperature", None),
         "mend_slips": getattr(args, "mend_slips", None),
         "indent_guard": getattr(args, "indent_guard", None),
         "string_guard": getattr(args, "string_guard", None),
         "figures": groups, "targets": [outcome_json(o) for o in outcomes]},
        indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown(title, groups, n, outcomes)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
