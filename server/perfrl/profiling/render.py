"""Ways to show a :class:`~perfrl.profiling.collect.ProjectProfile`: a terminal table, a JSON
document (schema below) and a self-contained HTML page with an icicle graph.

JSON (``profile_json``): ``{"project_root", "workload", "exit_code", "wall_s",
"plain_wall_s", "overhead", "total_s", "functions": [{"target", "path", "qualname", "line",
"own_s", "total_s", "calls", "share", "called_by_tests"}], "share_of", "tree": {"label", "value_s",
"own_project", "children": [...]}}``; ``functions`` sorted by own time, hottest first.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict

from perfrl.profiling.collect import FlameNode, ProjectProfile


def profile_json(profile: ProjectProfile) -> dict:
    return {
        "project_root": str(profile.project_root),
        "workload": profile.workload,
        "exit_code": profile.exit_code,
        "wall_s": profile.wall_s,
        "plain_wall_s": profile.plain_wall_s,
        "overhead": profile.overhead,
        "total_s": profile.total_s,
        "share_of": profile.share_of,
        "functions": [{"target": f.target, **asdict(f)} for f in profile.functions],
        "tree": asdict(profile.tree),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def render_table(profile: ProjectProfile, top: int) -> str:
    """The ``top`` hottest project functions by own time, with the run's figures."""
    what = "the tests" if profile.tests_workload else " ".join(profile.workload)
    lines = [
        f"Profile of {what} in {profile.project_root}",
        f"run: {_ms(profile.wall_s)} profiled, {_ms(profile.plain_wall_s)} plain "
        f"(profiling overhead {profile.overhead:.2f}x); exit status {profile.exit_code}",
        f"share: of {profile.share_of} ({_ms(profile.total_s)})",
        "",
        f"{'#':>3} {'own':>10} {'total':>10} {'share':>6} {'calls':>8}  tested  function",
    ]
    for rank, fn in enumerate(profile.hottest(top), 1):
        tested = "yes" if fn.called_by_tests else "no"
        lines.append(f"{rank:>3} {_ms(fn.own_s):>10} {_ms(fn.total_s):>10} "
                     f"{fn.share * 100:5.1f}% {fn.calls:>8}  {tested:>6}  {fn.target}")
    if not profile.functions:
        lines.append("    (no function of the project ran)")
    untested = [f for f in profile.hottest(top) if not f.called_by_tests]
    if untested:
        lines += ["", f"{len(untested)} of these are called by no test: PerfRL cannot verify a "
                      "rewrite of them until a test does."]
    return "\n".join(lines)


_WIDTH, _ROW = 1200.0, 18


def _svg_rects(node: FlameNode, x: float, depth: int, scale: float, out: list[str]) -> None:
    width = node.value_s * scale
    if width < 0.5:
        return
    y = depth * _ROW
    colour = "#e8743b" if node.own_project else ("#9aa5b1" if depth else "#5b6770")
    label = html.escape(node.label)
    tip = f"{label}: {_ms(node.value_s)}"
    out.append(f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
               f'height="{_ROW - 1}" fill="{colour}" rx="2"/>')
    if width > 40:
        chars = int(width / 7)
        text = label if len(node.label) <= chars else html.escape(node.label[: chars - 1]) + "…"
        out.append(f'<text x="{x + 3:.1f}" y="{y + 13}">{text}</text>')
    out.append("</g>")
    offset = x
    for child in node.children:
        _svg_rects(child, offset, depth + 1, scale, out)
        offset += child.value_s * scale


def _depth(node: FlameNode) -> int:
    return 1 + max((_depth(c) for c in node.children), default=0)


def render_html(profile: ProjectProfile, top: int = 30) -> str:
    """One page, no external resources: the icicle (callers above callees, width = time,
    orange = the project's own code; hover for the figures) and the table of hot spots."""
    rects: list[str] = []
    scale = _WIDTH / profile.tree.value_s if profile.tree.value_s > 0 else 0.0
    _svg_rects(profile.tree, 0.0, 0, scale, rects)
    height = _depth(profile.tree) * _ROW + 4
    rows = "".join(
        f"<tr><td>{rank}</td><td>{_ms(f.own_s)}</td><td>{_ms(f.total_s)}</td>"
        f"<td>{f.share * 100:.1f}%</td><td>{f.calls}</td>"
        f"<td>{'yes' if f.called_by_tests else 'no'}</td><td><code>{html.escape(f.target)}</code>"
        f"</td></tr>"
        for rank, f in enumerate(profile.hottest(top), 1)
    )
    data = html.escape(json.dumps({"overhead": profile.overhead, "wall_s": profile.wall_s}))
    what = "the tests" if profile.tests_workload else " ".join(profile.workload)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PerfRL profile</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #1f2933; }}
svg text {{ font: 11px monospace; fill: #111; pointer-events: none; }}
table {{ border-collapse: collapse; margin-top: 16px; }}
td, th {{ padding: 3px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; }}
td:last-child, th:last-child {{ text-align: left; }}
</style></head><body data-figures="{data}">
<h1>Profile of {html.escape(what)}</h1>
<p>{html.escape(str(profile.project_root))}: {_ms(profile.wall_s)} profiled,
{_ms(profile.plain_wall_s)} plain (profiling overhead {profile.overhead:.2f}x),
exit status {profile.exit_code}. Orange: the project's own functions; width: time.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH:.0f}" height="{height}"
 viewBox="0 0 {_WIDTH:.0f} {height}">{''.join(rects)}</svg>
<table><tr><th>#</th><th>own</th><th>total</th><th>share</th><th>calls</th><th>tested</th>
<th>function</th></tr>{rows}</table>
</body></html>
"""
