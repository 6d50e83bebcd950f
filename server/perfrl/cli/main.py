"""The ``perfrl`` command line: ``perfrl optimize FILE::QUALNAME`` and friends.

Exit codes (a contract for CI scripts): 0 a faster verified candidate exists (and was applied
with ``--apply``), 1 none, 2 bad usage or input (the message on stderr says what to fix).
stdout carries only the report (text, or one JSON object with ``--json``); progress goes to
stderr. With ``--json``, exit 2 also prints one JSON object on stdout:
``{"schema": "perfrl.error/1", "error": MESSAGE, "exit_code": 2}``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from perfrl import __version__
from perfrl.cli.memory_command import add_memory_parser, run_memory
from perfrl.cli.profile_command import add_profile_parser, run_profile
from perfrl.cli.progress import StderrProgress
from perfrl.cli.report_text import render_report
from perfrl.cli.sweep_command import add_sweep_options, run_sweep, wants_sweep
from perfrl.engine import settings as settings_defaults
from perfrl.engine.settings import EngineSettings
from perfrl.engine.source_files import (
    SourceDecodeError,
    decode_source,
    write_source_atomically,
)
from perfrl.engine.types import OptimizationReport, PerfRLError

EXIT_FASTER = 0
EXIT_NONE = 1
EXIT_BAD_INPUT = 2

DEFAULT_SOURCES = ",".join(settings_defaults.DEFAULT_SOURCES)


class UsageError(Exception):
    """Bad command-line usage (argparse's complaint), raised instead of exiting so that
    ``--json`` can report it as JSON."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage().strip()}\n{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="perfrl",
        description="Propose faster versions of a Python function and prove them with the "
        "project's own tests, behaviour equivalence on real calls and an A/B benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"perfrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    opt = sub.add_parser(
        "optimize",
        help="optimize one function",
        description="Optimize one function. Exit 0: a faster verified rewrite exists; "
        "1: none; 2: bad usage or input.",
    )
    opt.add_argument(
        "target", nargs="*",
        help="the function: path/to/mod.py::Qualname (Class.method too) or path/to/mod.py:LINE; "
        "several functions, or --top N, optimize them one after the other",
    )
    opt.add_argument("--candidate", action="append", default=[], metavar="PATH",
                     help="a file holding a hand-written rewrite (repeatable)")
    opt.add_argument("--sources", default=None,
                     help=f"comma-separated candidate sources: rules, model "
                     f"(default: {DEFAULT_SOURCES}; only the --candidate files when any are "
                     "given and --sources is not)")
    opt.add_argument("--num-candidates", type=int,
                     default=settings_defaults.DEFAULT_NUM_CANDIDATES, metavar="N",
                     help="candidates per source (default: %(default)s)")
    opt.add_argument("--temperature", type=float,
                     default=settings_defaults.DEFAULT_TEMPERATURE, metavar="T",
                     help="sampling temperature of the model source (default: the model's "
                     "own, from its perfrl_model.json; the shipped model's is 0.8)")
    opt.add_argument("--model", type=Path, default=None, metavar="DIR",
                     help="model directory for the model source (default: the shipped model)")
    opt.add_argument("--seed", type=int, default=None, help="sampling seed for the model source")
    opt.add_argument("--python", default=None, metavar="PATH",
                     help="interpreter that runs the project's tests "
                     "(default: the project's .venv, else python3)")
    opt.add_argument("--project", type=Path, default=None, metavar="DIR",
                     help="project root (default: nearest dir with pyproject.toml, setup.py, "
                     "pytest.ini, tox.ini or .git)")
    opt.add_argument("--threshold", type=float, default=settings_defaults.DEFAULT_THRESHOLD,
                     help="lower 95%% CI bound a speedup must clear to count "
                     "(default: %(default).2f)")
    opt.add_argument("--sandbox", choices=list(settings_defaults.SANDBOX_MODES),
                     default=settings_defaults.DEFAULT_SANDBOX,
                     help="bubblewrap isolation: auto (when installed; without it only --candidate "
                     "files run), bwrap (required), none (run every candidate unsandboxed)")
    opt.add_argument("--test-timeout", type=float,
                     default=settings_defaults.DEFAULT_TEST_TIMEOUT_S, metavar="S",
                     help="seconds for one run of the tests (default: %(default)g)")
    opt.add_argument("--bench-timeout", type=float,
                     default=settings_defaults.DEFAULT_BENCH_TIMEOUT_S, metavar="S",
                     help="seconds for one candidate's equivalence check and benchmark "
                     "(default: %(default)g)")
    opt.add_argument("--feedback-round", action=argparse.BooleanOptionalAction,
                     default=settings_defaults.DEFAULT_FEEDBACK_ROUND,
                     help="when every candidate fails, show a model trained for it the best "
                     "failed candidate and its verdict and ask again (default: %(default)s)")
    opt.add_argument("--pytest-args", default="", metavar="ARGS",
                     help="extra pytest options for every test run, as one shell-quoted "
                     "string (e.g. --pytest-args \"--doctest-modules -m 'not slow'\"); "
                     "the project's own pytest configuration is read as well")
    opt.add_argument("--json", action="store_true",
                     help="print one JSON object (schema: docs/report-schema.md)")
    opt.add_argument("--apply", action="store_true",
                     help="write the best rewrite into the file, only when it was verified faster")
    opt.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_sweep_options(opt)
    add_profile_parser(sub)
    add_memory_parser(sub)
    return parser


def _settings_from_args(args: argparse.Namespace) -> EngineSettings:
    if args.threshold <= 0:
        raise PerfRLError("--threshold must be a positive ratio such as 1.10")
    if args.num_candidates < 1:
        raise PerfRLError("--num-candidates must be at least 1")
    if args.test_timeout <= 0 or args.bench_timeout <= 0:
        raise PerfRLError("--test-timeout and --bench-timeout must be positive seconds")
    if args.temperature is not None and args.temperature <= 0:
        raise PerfRLError("--temperature must be positive (e.g. 0.8)")
    use_bwrap = settings_defaults.SANDBOX_MODES[args.sandbox]
    try:
        pytest_args = shlex.split(args.pytest_args)
    except ValueError as exc:
        raise PerfRLError(f"cannot read --pytest-args {args.pytest_args!r}: {exc}") from None
    return EngineSettings(
        interpreter=args.python,
        threshold=args.threshold,
        test_timeout_s=args.test_timeout,
        bench_timeout_s=args.bench_timeout,
        use_bwrap=use_bwrap,
        pytest_args=pytest_args,
        feedback_round=args.feedback_round,
    )


def _locate(spec: str, project: Path | None):
    from perfrl.engine.locate import locate_function, locate_function_at

    if "::" in spec:
        return locate_function(spec, project_root=project)
    path, sep, line = spec.rpartition(":")
    if sep and line.isdigit():
        return locate_function_at(Path(path), int(line), project_root=project)
    raise PerfRLError(
        f"cannot read target {spec!r}: use path/to/mod.py::Qualname or path/to/mod.py:LINE"
    )


def _source_names(args: argparse.Namespace) -> list[str]:
    if args.sources is None:
        return [] if args.candidate else DEFAULT_SOURCES.split(",")
    return [name.strip() for name in args.sources.split(",") if name.strip()]


def apply_best(report: OptimizationReport, target) -> Path:
    """Write the best (verified faster) rewrite into the user's file, atomically.

    Refuses when the file changed on disk since it was read: the rewrite was verified
    against the old content.
    """
    from perfrl.engine.candidate_check import splice

    best = report.best_result()
    if best is None:
        raise PerfRLError("nothing to apply: no candidate was verified faster")
    raw = target.path.read_bytes()
    # Decode and re-encode with the file's own declared encoding (PEP 263), as locate does.
    try:
        current, encoding = decode_source(raw)
    except SourceDecodeError:
        current, encoding = None, ""
    if current != target.file_text:
        raise PerfRLError(
            f"{target.path} changed while PerfRL was running; nothing was written. Run again."
        )
    write_source_atomically(target.path, splice(target, best.candidate.code), encoding)
    return target.path


def run_optimize(args: argparse.Namespace) -> int:
    from perfrl.engine.optimize import optimize_function
    from perfrl.engine.sandbox import unsandboxed_warning
    from perfrl.sources.registry import build_sources

    settings = _settings_from_args(args)
    if wants_sweep(args):
        from perfrl.sweep.run import SweepJob

        job = SweepJob(tuple(_source_names(args)),
                       tuple(str(Path(p).resolve()) for p in args.candidate),
                       str(args.model.resolve()) if args.model else None, args.seed,
                       args.num_candidates, args.temperature)
        return run_sweep(args, settings, job)
    if len(args.target) != 1:
        raise PerfRLError("name the function to optimize (path/to/mod.py::Qualname), "
                          "several functions, or --top N")
    target = _locate(args.target[0], args.project)
    sources = build_sources(
        _source_names(args),
        candidate_files=[Path(p) for p in args.candidate],
        model_dir=args.model,
        temperature=args.temperature,
        seed=args.seed,
    )
    if not sources:
        raise PerfRLError("no candidate sources: give --candidate PATH or --sources rules,model")
    warning = unsandboxed_warning(settings.use_bwrap)
    if warning:  # before anything runs, also with --quiet
        print(f"perfrl: warning: {warning}", file=sys.stderr)
    progress = StderrProgress(enabled=not args.quiet)
    try:
        report = optimize_function(
            target, sources, settings, progress=progress,
            candidates_per_source=args.num_candidates,
        )
    finally:
        progress.close()
    applied = None
    if args.apply and report.best is not None:
        applied = apply_best(report, target)
    if args.json:
        payload = report.to_json()
        payload["applied"] = str(applied) if applied else None
        print(json.dumps(payload, indent=2))
    else:
        sys.stdout.write(render_report(report))
        if applied:
            print(f"Applied to {applied}.")
        elif args.apply:
            print("Nothing applied: no candidate was verified faster.")
    return EXIT_FASTER if report.best is not None else EXIT_NONE


def _bad_input(message: str, as_json: bool) -> int:
    """Say what is wrong (stderr; with ``--json`` also one JSON object on stdout); exit 2."""
    print(message, file=sys.stderr)
    if as_json:
        error = message.removeprefix("perfrl: error: ")
        print(json.dumps({"schema": "perfrl.error/1", "error": error, "exit_code": 2}))
    return EXIT_BAD_INPUT


def _join_option_values(argv: list[str], options: tuple[str, ...] = ("--pytest-args",)):
    """``--pytest-args --doctest-modules`` as ``--pytest-args=--doctest-modules``: argparse
    would take a value that starts with ``-`` for an option of its own."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index] in options and index + 1 < len(argv):
            out.append(f"{argv[index]}={argv[index + 1]}")
            index += 2
        else:
            out.append(argv[index])
            index += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _join_option_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _bad_input(str(exc), as_json="--json" in argv)
    try:
        if args.command == "optimize":
            return run_optimize(args)
        if args.command == "profile":
            return run_profile(args)
        if args.command == "memory":
            return run_memory(args)
    except PerfRLError as exc:
        return _bad_input(f"perfrl: error: {exc}", as_json=getattr(args, "json", False))
    except KeyboardInterrupt:
        print("perfrl: interrupted; sandboxes were removed", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
