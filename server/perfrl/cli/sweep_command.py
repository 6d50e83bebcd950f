"""``perfrl optimize --top N`` and ``perfrl optimize TARGET TARGET ...``: a whole project.

With ``--top N`` the project's tests (or ``--workload "..."``) are profiled first and the N
hottest functions that tests call are optimized; with several targets, those. Each function's
result is printed as it finishes; finished functions are stored, so an interrupted sweep
resumes where it stopped. With ``--gain`` (default on when something was verified faster) the
verified rewrites are applied to a throw-away copy and the workload is timed against the
original, interleaved, for the whole-run figure. ``--report DIR`` writes ``report.md`` and
``report.html``. Nothing in the project is written unless ``--apply``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from perfrl.engine.types import PerfRLError


def add_sweep_options(opt) -> None:
    opt.add_argument("--top", type=int, default=None, metavar="N",
                     help="profile the project and optimize its N hottest tested functions")
    opt.add_argument("--workload", default=None, metavar="CMD",
                     help="with --top: profile this command instead of the tests "
                     "(e.g. \"-m app.bench\" or \"bench.py --size 10\")")
    opt.add_argument("--report", type=Path, default=None, metavar="DIR",
                     help="several functions: write report.md and report.html here")
    opt.add_argument("--executor", choices=["local", "ray"], default="local",
                     help="several functions: work through them here (local) or fan them out "
                     "over a Ray cluster, one function per task (ray; needs perfrl[distributed])")
    opt.add_argument("--address", default=None, metavar="HOST:PORT",
                     help="with --executor ray: the cluster to join (default: start a local one)")
    opt.add_argument("--gain-rounds", type=int, default=5, metavar="N",
                     help="several functions: interleaved whole-run timings per side for the "
                     "end-to-end figure (0: skip it; default: 5)")


def wants_sweep(args: argparse.Namespace) -> bool:
    return args.top is not None or len(args.target) > 1


def apply_rewrite(project: Path, spec: str, report: dict) -> Path:
    """Write ``report``'s best rewrite of ``spec`` into its file, atomically and in the file's
    own encoding; refuses when the function changed since it was verified."""
    from perfrl.engine.candidate_check import splice
    from perfrl.engine.locate import locate_function
    from perfrl.engine.source_files import source_encoding, write_source_atomically

    target = locate_function(spec, project_root=project)
    if target.source != report["original_source"]:
        raise PerfRLError(f"{spec} changed while PerfRL was running; nothing was written")
    best = report["candidates"][report["best"]]
    write_source_atomically(target.path, splice(target, best["code"]),
                            source_encoding(target.path.read_bytes()))
    return target.path


def run_sweep(args: argparse.Namespace, settings, job) -> int:
    """The sweep behind the CLI (exit 0: something verified faster, 1: nothing)."""
    from perfrl.cli.progress import StderrProgress
    from perfrl.engine.interpreter import resolve_interpreter
    from perfrl.engine.locate import find_project_root
    from perfrl.profiling import profile_project
    from perfrl.sweep.gain import combined_rewrites, measure_gain
    from perfrl.sweep.report import outcome_line, render_html, render_markdown
    from perfrl.sweep.run import optimize_targets

    if args.top is not None and args.top < 1:
        raise PerfRLError("--top must be at least 1")
    if args.top is not None and args.target:
        raise PerfRLError("give either --top N or the functions to optimize, not both")
    project = (args.project or (find_project_root(Path(args.target[0].split("::")[0]))
                                if args.target else Path("."))).resolve()
    interpreter = resolve_interpreter(project, settings.interpreter)
    workload_cmd = shlex.split(args.workload) if args.workload else None
    shares: dict[str, float] = {}
    if args.top is not None:
        say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
        say("profiling to find the hottest functions...")
        profile = profile_project(project, workload_cmd, settings, interpreter)
        hottest = profile.hottest(args.top, verifiable_only=True)
        if not hottest:
            raise PerfRLError("the profile found no function of the project that a test calls")
        specs = [f.target for f in hottest]
        shares = {f.target: f.share for f in hottest}
        workload = profile.workload
    else:
        specs = []
        for spec in args.target:
            if "::" not in spec:
                raise PerfRLError(f"{spec!r}: name each function as path/to/mod.py::Qualname")
            path, _, qualname = spec.partition("::")
            rel = Path(path).resolve().relative_to(project) if Path(path).is_absolute() or \
                Path(path).resolve().is_relative_to(project) else Path(path)
            specs.append(f"{rel.as_posix()}::{qualname}")
        workload = workload_cmd or ["pytest", "-q", "-p", "no:cacheprovider",
                                    *settings.pytest_args]

    def on_result(index: int, outcome) -> None:
        if not args.json:
            print(f"[{index + 1}/{len(specs)}] {outcome_line(outcome)}", flush=True)

    # The progress bar of the function being worked on (stderr), the result lines on stdout.
    progress = StderrProgress(enabled=not args.quiet)
    try:
        outcomes = optimize_targets(project, specs, job, settings, shares=shares,
                                    on_result=on_result, progress=progress,
                                    executor=args.executor, address=args.address)
    finally:
        progress.close()
    gain, gain_error = None, None
    rewrites = combined_rewrites(project, outcomes)
    if rewrites and args.gain_rounds > 0:
        try:
            gain = measure_gain(project, rewrites, workload, settings, interpreter, outcomes,
                                rounds=max(3, args.gain_rounds))
        except PerfRLError as exc:
            gain_error = str(exc)
    applied = []
    if args.apply:
        applied = [apply_rewrite(project, o.spec, o.report) for o in outcomes
                   if o.best is not None and o.report is not None]
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "report.md").write_text(render_markdown(outcomes, gain), encoding="utf-8")
        (args.report / "report.html").write_text(render_html(outcomes, gain), encoding="utf-8")
    if args.json:
        print(json.dumps({
            "schema": "perfrl.sweep/1", "project": str(project),
            "functions": [o.to_json() for o in outcomes],
            "gain": None if gain is None else gain.__dict__, "gain_error": gain_error,
            "applied": [str(p) for p in applied]}, indent=2))
    else:
        print()
        print(render_markdown(outcomes, gain).split("\n\n| function")[0].replace("# ", ""))
        if gain_error:
            print(f"Whole run not measured: {gain_error}")
        for path in applied:
            print(f"Applied to {path}.")
    return 0 if any(o.best is not None for o in outcomes) else 1
