"""The sweep's summary: each function's verdict, speedup, share of time and diff, and the
whole-run figure beside its estimate, as terminal text, Markdown and self-contained HTML."""

from __future__ import annotations

import html
from collections.abc import Sequence

from perfrl.sweep.gain import WholeRunGain
from perfrl.sweep.run import FunctionOutcome


def outcome_line(outcome: FunctionOutcome) -> str:
    """One line for the terminal as a function finishes."""
    share = f"{outcome.share * 100:5.1f}% of time  " if outcome.share is not None else ""
    stored = " (stored result)" if outcome.from_store else ""
    if outcome.error:
        return f"{share}{outcome.spec}: error: {outcome.error}"
    best = outcome.best
    if best is None:
        report = outcome.report or {}
        tried = len(report.get("candidates", []))
        # With nothing to verify, the sources' own notes say why (model outputs dropped, ...).
        why = "; ".join(w for w in report.get("warnings", []) if not w.startswith("sandbox"))
        note = f": {why}" if not tried and why else ""
        return f"{share}{outcome.spec}: no faster rewrite ({tried} candidate(s){note}){stored}"
    s = best["speedup"]
    return (f"{share}{outcome.spec}: faster {s['median']:.2f}x ({s['low']:.2f}-{s['high']:.2f}) "
            f"by {best['label']}{stored}")


def _gain_sentence(gain: WholeRunGain | None) -> str:
    if gain is None:
        return "Whole run: not measured."
    estimate = (f"; the per-function figures predicted {gain.estimated:.2f}x"
                if gain.estimated else "")
    verdict = ("faster" if gain.low > 1 else "slower" if gain.high < 1
               else "(no change the measurement can tell apart)")
    return (f"Whole run: {gain.median:.2f}x {verdict} ({gain.low:.2f}-{gain.high:.2f}, 95% CI, "
            f"{gain.rounds} interleaved runs per side: {gain.original_s:.2f} s -> "
            f"{gain.rewritten_s:.2f} s){estimate}.")


def render_markdown(outcomes: Sequence[FunctionOutcome], gain: WholeRunGain | None) -> str:
    faster = [o for o in outcomes if o.best is not None]
    lines = ["# PerfRL project report", "",
             f"{len(faster)} of {len(outcomes)} function(s) got a verified faster rewrite.",
             "", _gain_sentence(gain), "",
             "| function | share of time | verdict | speedup (95% CI) | by |",
             "|---|---|---|---|---|"]
    for o in outcomes:
        share = f"{o.share * 100:.1f}%" if o.share is not None else "-"
        best = o.best
        if o.error:
            lines.append(f"| `{o.spec}` | {share} | error: {o.error} | - | - |")
        elif best is None:
            lines.append(f"| `{o.spec}` | {share} | no faster rewrite | - | - |")
        else:
            s = best["speedup"]
            lines.append(f"| `{o.spec}` | {share} | faster | {s['median']:.2f}x "
                         f"({s['low']:.2f}-{s['high']:.2f}) | {best['label']} |")
    for o in faster:
        diff = (o.best or {}).get("diff", "")
        lines += ["", f"## `{o.spec}`", "", "```diff", diff.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def render_html(outcomes: Sequence[FunctionOutcome], gain: WholeRunGain | None) -> str:
    rows = []
    for o in outcomes:
        share = f"{o.share * 100:.1f}%" if o.share is not None else "-"
        best = o.best
        verdict = ("error: " + o.error) if o.error else ("faster" if best else "no faster rewrite")
        speed = (f"{best['speedup']['median']:.2f}x ({best['speedup']['low']:.2f}-"
                 f"{best['speedup']['high']:.2f})") if best else "-"
        diff = (f"<details><summary>diff</summary><pre>{html.escape(best['diff'])}</pre>"
                "</details>") if best else ""
        rows.append(f"<tr><td><code>{html.escape(o.spec)}</code>{diff}</td><td>{share}</td>"
                    f"<td>{html.escape(verdict)}</td><td>{speed}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PerfRL project report</title>
<style>body {{ font: 14px system-ui, sans-serif; margin: 24px; }}
td, th {{ padding: 4px 10px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }}
pre {{ background: #f5f7fa; padding: 8px; }}</style></head><body>
<h1>PerfRL project report</h1><p>{html.escape(_gain_sentence(gain))}</p>
<table><tr><th>function</th><th>share of time</th><th>verdict</th><th>speedup</th></tr>
{''.join(rows)}</table></body></html>
"""
