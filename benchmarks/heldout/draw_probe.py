"""Why the model's drawn outputs do not parse: the model source's drawing alone, classified.

Runs the real model source (:class:`perfrl.sources.model.ModelCandidateSource`: guarded
decoding, sites, regions, re-sampling) on each held-out project function, without the engine's
sandbox or benchmark, and sorts every output it draws: parses, loops, an edit script that
cannot be applied (why), or a function that does not parse (Python's message). Minutes instead
of the quarter hour of ``evaluate.py``: for comparing decoding changes on one model.

Run: .venv/bin/python benchmarks/heldout/draw_probe.py [--rounds 6] [--seed 1]
         [--no-indent-guard] [--no-string-guard] [--balanced] [--model DIR] [--out probe.json]
The figure is the share of drawn outputs that make a function that parses, as
``evaluate.py``'s "drawn" figure counts it (there from the source's notes, here from the texts).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _syntax_reason(text: str) -> str:
    """Python's complaint about ``text`` ("" when it parses), without line numbers."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return "does not parse: " + re.sub(r" \(?(detected at |on )line \d+\)?", "", exc.msg)
    except ValueError as exc:  # e.g. a null byte
        return f"does not parse: {exc}"
    return ""


def classify(outputs, unusable: dict[int, str]) -> list[dict]:
    """One row per output of :func:`perfrl.sources.model.outputs_as_code`: its text and why
    it makes no function that parses ("" when it does)."""
    rows = []
    for position, output in enumerate(outputs):
        if output.looped:
            why = "looped"
        elif position in unusable:
            why = "edit: " + unusable[position].split(":")[0]
        else:
            why = _syntax_reason(output.text)
            if why and not output.finished:
                why = "cut at the length cap, " + why
        rows.append({"why": why, "text": output.text})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num-candidates", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=None,
                        help="re-sampling rounds (default: the source's)")
    parser.add_argument("--no-indent-guard", action="store_true")
    parser.add_argument("--no-string-guard", action="store_true")
    parser.add_argument("--balanced", action="store_true",
                        help="also the bracket guard (perfrl.inference.bracket_guard)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N functions")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from evaluate import project_targets

    import perfrl.sources.model as model_source
    from perfrl.engine.candidate_source import CandidateSourceError
    from perfrl.engine.locate import locate_function
    from perfrl.model_contract import default_model_dir

    drawn_rows: list[dict] = []
    real_outputs_as_code = model_source.outputs_as_code

    def recording_outputs_as_code(outputs, *rest, **kwargs):
        applied, unusable = real_outputs_as_code(outputs, *rest, **kwargs)
        drawn_rows.extend(classify(applied, unusable))
        return applied, unusable

    model_source.outputs_as_code = recording_outputs_as_code
    if args.balanced:
        real_constraints = model_source.OnnxSeq2SeqModel.output_constraints

        def balanced_constraints(self, *a, **kw):
            return real_constraints(self, *a, **{**kw, "balanced": True})

        model_source.OnnxSeq2SeqModel.output_constraints = balanced_constraints
    # Only the options asked for: the probe also runs on older servers (PYTHONPATH=old/server)
    # whose source lacks the newer ones.
    options = {}
    if args.no_indent_guard:
        options["indent_guard"] = False
    if args.no_string_guard:
        options["string_guard"] = False
    if args.rounds is not None:
        options["resample_rounds"] = args.rounds
    source = model_source.ModelCandidateSource(
        args.model or default_model_dir(), num_candidates=args.num_candidates, seed=args.seed,
        **options)
    targets = project_targets()[: args.limit or None]
    started = time.perf_counter()
    per_target = []
    for target in targets:
        before = len(drawn_rows)
        function = locate_function(str(target.root / target.spec), project_root=target.root)
        try:
            for _ in source.generate(function, args.num_candidates):
                pass
        except CandidateSourceError:
            pass
        rows = drawn_rows[before:]
        per_target.append({"target": target.spec, "drawn": len(rows),
                           "parse": sum(1 for r in rows if not r["why"])})
    seconds = time.perf_counter() - started
    reasons = Counter(row["why"] or "parses" for row in drawn_rows)
    total = len(drawn_rows)
    print(f"{total} outputs drawn for {len(targets)} functions in {seconds:.0f} s; "
          f"{100 * reasons['parses'] / max(total, 1):.1f}% parse")
    for why, count in reasons.most_common():
        print(f"{count:6d}  {why}")
    if args.out:
        args.out.write_text(json.dumps({"seconds": seconds, "reasons": dict(reasons),
                                        "targets": per_target, "outputs": drawn_rows},
                                       indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
