"""``perfrl-lsp``: the PerfRL language server (stdio by default, or TCP).

    perfrl-lsp                          # stdio, for editors
    perfrl-lsp --tcp --host 127.0.0.1 --port 2087
    perfrl-lsp --log-file /tmp/perfrl-lsp.log --version
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from perfrl import __version__
from perfrl.lsp.descendants import kill_descendants


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfrl-lsp",
        description="PerfRL language server: code actions, lenses and hints that propose "
        "verified, measured faster versions of Python functions.",
    )
    parser.add_argument("--version", action="version", version=f"perfrl-lsp {__version__}")
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default: 2087)")
    parser.add_argument("--log-file", type=Path, default=None, metavar="PATH",
                        help="write the server's own log to PATH (default: stderr, warnings only)")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING"],
                        help="log level (default: INFO with --log-file, else WARNING)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="reports and baseline caches (default: lsp/ under $PERFRL_CACHE_DIR, "
                        "else under $XDG_CACHE_HOME/perfrl or ~/.cache/perfrl)")
    return parser


def _configure_logging(log_file: Path | None, level: str | None) -> None:
    chosen = getattr(logging, level or ("INFO" if log_file else "WARNING"))
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        # Never stdout: in stdio mode it carries the protocol.
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    # pygls logs every message at INFO; keep our log readable.
    logging.getLogger("pygls").setLevel(max(chosen, logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        print("perfrl-lsp: error: --port must be between 1 and 65535", file=sys.stderr)
        return 2
    _configure_logging(args.log_file, args.log_level)
    from perfrl.lsp.setup import create_server

    server = create_server(cache_dir=args.cache_dir)
    if args.tcp:
        try:
            code = server.serve_tcp(args.host, args.port)
        except OSError as exc:
            print(f"perfrl-lsp: error: cannot listen on {args.host}:{args.port}: {exc}",
                  file=sys.stderr)
            return 2
        _exit_now(code)
    code = server.serve_stdio()
    _exit_now(code)
    return code  # not reached


def _exit_now(code: int) -> None:
    """End the process now that jobs are stopped and their folders removed.

    ``sys.exit`` would then wait for every non-daemon thread: a worker still inside a
    cancelled job's last step, the executor pygls reads stdin with, a model loading. Those
    hold nothing the user needs, and an editor waits for the process to end. A process one of
    them started (an interpreter probe of a job that was still preparing) is killed first
    (:func:`perfrl.lsp.descendants.kill_descendants`), so nothing of the server outlives it."""
    kill_descendants()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
