"""The one rule for where PerfRL keeps what it computes (never inside a user's project).

``cache_root()`` is ``$PERFRL_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/perfrl``, else
``~/.cache/perfrl``; every kind of cached data has its own folder below it:

- ``baselines``: baseline runs, keyed by the content of the project's files;
- ``lsp``: the language server's reports and profiles;
- ``memory``: the memory of verdicts (one SQLite database per project);
- ``sweep``: finished functions of ``perfrl optimize --top``/several targets;
- ``tokenizers``: tokenizers trained by ``perfrl-train``.

A caller may rely on the paths being absolute-able and the same for the CLI, the language
server and training in one environment (so they share baselines and memory); the sandbox hides
the whole root from sandboxed code.
"""

from __future__ import annotations

import os
from pathlib import Path

KINDS = ("baselines", "lsp", "memory", "sweep", "tokenizers")


def cache_root() -> Path:
    explicit = os.environ.get("PERFRL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "perfrl"


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached data (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; known: {', '.join(KINDS)}")
    return cache_root() / kind
