"""``perfrl profile``: where the time goes in a project's tests, or in a command.

    perfrl profile [--project DIR] [--top N] [--out DIR] [--json] [--python PATH]
                   [--sandbox auto|bwrap|none] [--timeout S] [-- COMMAND...]

Without a command the project's tests are profiled; ``-- -m app ...`` or ``-- script.py ...``
profiles that instead. Prints the hottest functions (own time, total time, share of the run,
calls, whether a test calls them); ``--out DIR`` also writes ``profile.json`` and
``profile.html`` (an icicle graph). Exit 0 when the profile was taken (whatever the workload's
own exit status, which is reported), 2 for bad usage or input. Nothing in the project is
written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import PerfRLError


def add_profile_parser(sub) -> None:
    prof = sub.add_parser(
        "profile", help="find where the time goes (tests or a command)",
        description="Profile the project's tests (or the command after --) in the sandbox and "
        "list the hottest functions. Exit 0: profiled; 2: bad usage or input.")
    prof.add_argument("--project", type=Path, default=Path("."), metavar="DIR",
                      help="project root (default: the current folder)")
    prof.add_argument("--top", type=int, default=15, metavar="N",
                      help="functions to list (default: 15)")
    prof.add_argument("--out", type=Path, default=None, metavar="DIR",
                      help="also write profile.json and profile.html here")
    prof.add_argument("--json", action="store_true", help="print the profile as JSON")
    prof.add_argument("--python", default=None, metavar="PATH",
                      help="interpreter of the project (default: its .venv, else python3)")
    prof.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                      help="bubblewrap isolation: auto (when installed), bwrap (required), none")
    prof.add_argument("--timeout", type=float, default=600.0, metavar="S",
                      help="seconds for one run of the workload (default: 600)")
    prof.add_argument("workload", nargs=argparse.REMAINDER,
                      help="after --: the command to profile (-m module ... or script.py ...)")


def run_profile(args: argparse.Namespace) -> int:
    from perfrl.engine.interpreter import resolve_interpreter
    from perfrl.profiling import profile_json, profile_project, render_html, render_table

    if args.top < 1:
        raise PerfRLError("--top must be at least 1")
    project = args.project.resolve()
    if not project.is_dir():
        raise PerfRLError(f"--project {args.project} is not a folder")
    command = [part for part in args.workload if part != "--"] or None
    if command and command[0] not in ("-m",) and not (project / command[0]).is_file():
        raise PerfRLError(f"cannot profile {command[0]!r}: give `-- -m module ...` or "
                          "`-- path/to/script.py ...` (relative to the project)")
    use_bwrap = {"auto": None, "bwrap": True, "none": False}[args.sandbox]
    settings = EngineSettings(interpreter=args.python, use_bwrap=use_bwrap)
    interpreter = resolve_interpreter(project, args.python)
    profile = profile_project(project, command, settings, interpreter, timeout_s=args.timeout)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile.json").write_text(json.dumps(profile_json(profile), indent=1))
        (args.out / "profile.html").write_text(render_html(profile, top=max(args.top, 30)),
                                                encoding="utf-8")
    if args.json:
        print(json.dumps(profile_json(profile), indent=2))
    else:
        print(render_table(profile, args.top))
        if args.out is not None:
            print(f"\nwritten: {args.out / 'profile.json'}, {args.out / 'profile.html'}")
    sys.stdout.flush()
    return 0
