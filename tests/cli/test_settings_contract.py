"""One home for defaults: the CLI's flags and the language server's settings take theirs from
``perfrl.engine.settings``, and every setting the editor has is a CLI flag too (the VS Code
package.json is checked against the server's settings in tests/editors/test_vscode.py)."""

from __future__ import annotations

import dataclasses

from perfrl.cli.main import build_parser
from perfrl.lsp.config import LspSettings

#: Editor setting -> the CLI flag's destination; None for settings with no meaning in a
#: one-shot command (a terminal runs one job at a time).
EDITOR_TO_CLI = {
    "interpreter": "python",
    "sources": "sources",
    "num_candidates": "num_candidates",
    "threshold": "threshold",
    "test_timeout": "test_timeout",
    "bench_timeout": "bench_timeout",
    "model_path": "model",
    "sandbox": "sandbox",
    "temperature": "temperature",
    "extra_candidate_dirs": "candidate",
    "max_concurrent_jobs": None,
    "feedback_round": "feedback_round",
    "seed": "seed",
}


def _optimize_defaults() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    optimize = sub.choices["optimize"]
    return {a.dest: a.default for a in optimize._actions}


def test_every_editor_setting_has_a_cli_flag():
    editor = {f.name for f in dataclasses.fields(LspSettings)}
    assert editor == set(EDITOR_TO_CLI), "map the new setting to its CLI flag here"
    flags = _optimize_defaults()
    missing = [name for name, dest in EDITOR_TO_CLI.items() if dest and dest not in flags]
    assert missing == []


def test_cli_and_editor_share_their_defaults():
    flags, editor = _optimize_defaults(), LspSettings()
    for name in ("num_candidates", "threshold", "test_timeout", "bench_timeout", "sandbox",
                 "temperature", "feedback_round"):
        assert flags[EDITOR_TO_CLI[name]] == getattr(editor, name), name
    from perfrl.cli.main import DEFAULT_SOURCES

    assert tuple(DEFAULT_SOURCES.split(",")) == editor.sources
