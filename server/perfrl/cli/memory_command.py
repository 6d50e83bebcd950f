"""``perfrl memory list|show|export|clear``: what PerfRL remembers of a project's verdicts.

    perfrl memory list [--project DIR] [--user] [--verdict V] [--limit N] [--json]
    perfrl memory show ID [--project DIR] [--user]
    perfrl memory export FILE [--project DIR] [--user] [--verdict V]   (JSON lines)
    perfrl memory clear [--project DIR] [--user] --yes

The records live in the user's cache folder (see :mod:`perfrl.memory.store`); ``--user``
reads the user-wide store instead of the project's. Exit 0, or 2 for bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from perfrl.engine.types import PerfRLError


def add_memory_parser(sub) -> None:
    mem = sub.add_parser("memory", help="what PerfRL remembers of verified rewrites",
                         description="List, show, export or clear the records of verdicts.")
    actions = mem.add_subparsers(dest="memory_action", required=True, metavar="ACTION")
    for name, help_text in [("list", "list records, newest first"),
                            ("show", "one record in full"),
                            ("export", "write records as JSON lines"),
                            ("clear", "remove every record")]:
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--project", type=Path, default=Path("."), metavar="DIR",
                       help="the project (default: the current folder)")
        p.add_argument("--user", action="store_true", help="the user-wide store instead")
        if name == "show":
            p.add_argument("id", type=int, help="the record's number (from list)")
        if name == "export":
            p.add_argument("file", type=Path, help="where to write (JSON lines)")
        if name in ("list", "export"):
            p.add_argument("--verdict", default=None,
                           help="only this verdict (faster, not_faster, failed_tests, ...)")
        if name == "list":
            p.add_argument("--limit", type=int, default=20, metavar="N",
                           help="at most N records (default: 20)")
            p.add_argument("--json", action="store_true", help="print JSON")
        if name == "clear":
            p.add_argument("--yes", action="store_true", help="really remove them")


def run_memory(args: argparse.Namespace) -> int:
    from perfrl.memory import store

    project = args.project.resolve()
    if not args.user and not project.is_dir():
        raise PerfRLError(f"--project {args.project} is not a folder")
    path = store.user_db() if args.user else store.project_db(project)
    if args.memory_action == "list":
        records = store.list_records(path, verdict=args.verdict, limit=args.limit)
        if args.json:
            print(json.dumps([r.to_json() for r in records], indent=2))
            return 0
        if not records:
            print(f"no records in {path}")
        for r in records:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.recorded_at))
            speed = f" {r.speedup:.2f}x" if r.speedup else ""
            print(f"{r.id:>5}  {when}  {r.verdict:<14}{speed:>9}  {r.function}  ({r.label})")
        suggestion = store.adapt_suggestion(path, project)
        if suggestion:
            print(f"note: {suggestion}")
        return 0
    if args.memory_action == "show":
        record = store.get_record(path, args.id)
        if record is None:
            raise PerfRLError(f"no record {args.id} in {path}")
        print(json.dumps(record.to_json(), indent=2))
        return 0
    if args.memory_action == "export":
        records = store.list_records(path, verdict=args.verdict)
        with open(args.file, "w", encoding="utf-8") as handle:
            for r in reversed(records):
                handle.write(json.dumps(r.to_json()) + "\n")
        print(f"{len(records)} record(s) -> {args.file}")
        return 0
    if not args.yes:
        raise PerfRLError(f"this removes every record in {path}; add --yes to do it")
    print(f"removed {store.clear(path)} record(s) from {path}")
    return 0
