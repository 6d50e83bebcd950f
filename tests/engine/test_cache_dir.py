"""One cache-directory rule for the CLI, the server, the memory and training."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfrl.engine.baseline import default_cache_dir as baseline_dir
from perfrl.engine.cache_dir import cache_dir, cache_root
from perfrl.lsp.server import default_cache_dir as server_dir
from perfrl.memory.store import memory_dir


def test_every_cache_follows_perfrl_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert baseline_dir() == tmp_path / "c" / "baselines"
    assert server_dir() == tmp_path / "c" / "lsp"
    assert memory_dir() == tmp_path / "c" / "memory"


def test_without_it_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PERFRL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert baseline_dir() == tmp_path / "xdg" / "perfrl" / "baselines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert server_dir() == Path.home() / ".cache" / "perfrl" / "lsp"
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache_dir("elsewhere")
