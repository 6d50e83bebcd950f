"""The memory of verified rewrites and rejections: one SQLite database per project.

Every candidate the engine judges is recorded with its verdict and reason; a verified faster
one also with its speedup and evidence, so that it can be shown again (``perfrl memory``),
reused as a pattern for similar functions (:mod:`perfrl.sources.replay`), and exported as
training data. The databases live in the user's cache folder (never in the project):
``<cache>/memory/<project key>.sqlite`` (the key is a hash of the project's real path), plus
an optional user-wide ``<cache>/memory/user.sqlite`` that collects every project's records.
Nothing leaves the machine.

A caller may rely on: several processes (the language server, ``perfrl`` runs, a sweep) can
write at once (WAL journal, a busy timeout, one short transaction per report); recording never
raises into the job that produced the report (a broken store is logged and skipped); the
function is stored as written and in identifier-abstracted form (``abstracted``), so that
similar functions with other names can be found.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.cache_dir import cache_dir

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at REAL NOT NULL,
    project TEXT NOT NULL,
    function TEXT NOT NULL,
    original TEXT NOT NULL,
    abstracted TEXT NOT NULL,
    rewrite TEXT NOT NULL,
    source TEXT NOT NULL,
    label TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    speedup REAL,
    speedup_low REAL,
    speedup_high REAL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_verdict ON records (verdict);
CREATE INDEX IF NOT EXISTS records_by_function ON records (function);
"""


@dataclass(frozen=True)
class MemoryRecord:
    id: int
    recorded_at: float
    project: str
    function: str
    original: str
    abstracted: str
    rewrite: str
    source: str
    label: str
    verdict: str
    reason: str
    speedup: float | None
    speedup_low: float | None
    speedup_high: float | None
    evidence: dict

    def to_json(self) -> dict:
        return {**self.__dict__}


def memory_dir(root: Path | None = None) -> Path:
    """``root/memory`` when given (tests), else the one cache rule's ``memory`` folder."""
    return Path(root) / "memory" if root is not None else cache_dir("memory")


def project_db(project_root: Path, cache_dir: Path | None = None) -> Path:
    key = hashlib.sha256(os.path.realpath(project_root).encode()).hexdigest()[:20]
    return memory_dir(cache_dir) / f"{Path(project_root).name}-{key}.sqlite"


def user_db(cache_dir: Path | None = None) -> Path:
    return memory_dir(cache_dir) / "user.sqlite"


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=30.0, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(SCHEMA)
        yield conn


def _abstracted(source: str) -> str:
    """The function with identifiers abstracted (as the model reads it), or as written when
    it cannot be abstracted."""
    try:
        import textwrap

        from perfrl.sources.abstraction import abstract

        return abstract(textwrap.dedent(source))[0]
    except Exception:  # noqa: BLE001 - any failure: keep the plain text, never lose the record
        return source


def record_report(report_json: dict, project_root: Path, cache_dir: Path | None = None,
                  shared: bool = False) -> int:
    """Store every candidate of one engine report (its JSON); returns how many were stored.
    Never raises: a store that cannot be written is logged and skipped."""
    original = report_json.get("original_source") or ""
    rows = []
    now = time.time()
    abstracted = _abstracted(original)
    for candidate in report_json.get("candidates", []):
        speedup = candidate.get("speedup") or {}
        evidence = {"tests": candidate.get("tests"), "calls_compared":
                    candidate.get("calls_compared"), "baseline": report_json.get("baseline"),
                    "threshold": report_json.get("threshold")}
        rows.append((now, str(project_root), report_json.get("function", ""), original,
                     abstracted, candidate.get("code", ""), candidate.get("source", ""),
                     candidate.get("label", ""), candidate.get("verdict", ""),
                     candidate.get("reason", ""), speedup.get("median"), speedup.get("low"),
                     speedup.get("high"), json.dumps(evidence)))
    if not rows:
        return 0
    targets = [project_db(project_root, cache_dir)] + ([user_db(cache_dir)] if shared else [])
    try:
        for path in targets:
            with _connect(path) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO records (recorded_at, project, function, original, abstracted,"
                    " rewrite, source, label, verdict, reason, speedup, speedup_low,"
                    " speedup_high, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                conn.execute("COMMIT")
    except (sqlite3.Error, OSError) as exc:
        log.warning("memory: could not record %s: %s", report_json.get("function"), exc)
        return 0
    return len(rows)


def _row(row: tuple) -> MemoryRecord:
    *head, evidence = row
    return MemoryRecord(*head, evidence=json.loads(evidence))  # type: ignore[misc]


def list_records(path: Path, verdict: str | None = None, function: str | None = None,
                 limit: int | None = None) -> list[MemoryRecord]:
    """Records of one database, newest first, optionally of one verdict or function."""
    if not path.is_file():
        return []
    query, args = "SELECT * FROM records WHERE 1=1", list[str]()
    if verdict:
        query, args = query + " AND verdict = ?", [*args, verdict]
    if function:
        query, args = query + " AND function = ?", [*args, function]
    query += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
    with _connect(path) as conn:
        return [_row(r) for r in conn.execute(query, args).fetchall()]


def get_record(path: Path, record_id: int) -> MemoryRecord | None:
    if not path.is_file():
        return None
    with _connect(path) as conn:
        row = conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
    return None if row is None else _row(row)


def clear(path: Path) -> int:
    """Remove every record; returns how many there were."""
    if not path.is_file():
        return 0
    with _connect(path) as conn:
        count = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        conn.execute("DELETE FROM records")
    return int(count)


def verified_pairs(path: Path) -> list[tuple[str, str, str]]:
    """(original, rewrite, function) of every verified faster record, newest first, one per
    distinct pair: the examples :mod:`perfrl.sources.replay` learns rules from and
    :mod:`perfrl.memory.retrieval` retrieves. A database that cannot be read gives none
    (logged): its readers run inside candidate generation, which must not fail for it."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    try:
        records = list_records(path, verdict="faster")
    except (sqlite3.Error, OSError) as exc:
        log.warning("memory: cannot read %s: %s", path, exc)
        return []
    for record in records:
        if (record.original, record.rewrite) not in seen:
            seen.add((record.original, record.rewrite))
            pairs.append((record.original, record.rewrite, record.function))
    return pairs


#: Verified rewrites from which ``perfrl memory list`` suggests adapting a model to a project.
ADAPT_SUGGESTION_PAIRS = 20


def adapt_suggestion(path: Path, project_root: Path) -> str | None:
    """A line suggesting ``perfrl-train adapt`` when the database at ``path`` holds at least
    :data:`ADAPT_SUGGESTION_PAIRS` distinct verified rewrites, else None."""
    count = len(verified_pairs(path))
    if count < ADAPT_SUGGESTION_PAIRS:
        return None
    return (f"{count} rewrites were verified faster here: a model can learn from them with "
            f"`perfrl-train adapt --checkpoint CKPT --project {project_root} --replay-data "
            "TRAIN.jsonl --out MODEL_DIR` (then `perfrl optimize --model MODEL_DIR` or the "
            "editor setting perfrl.modelPath)")
