"""Hostile candidates through the real engine (real sandbox, bubblewrap when installed, real
pytest, real worker processes): none may be verified ``faster`` (issue 12, findings 1-7 and
13, and attacks on the new design). Honest rewrites still are."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.baseline import run_baseline
from perfrl.engine.locate import locate_function
from perfrl.engine.sandbox import Sandbox
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import Candidate, Verdict
from perfrl.engine.verify import verify_candidate
from tests.conftest import tree_digest
from tests.engine.hostile_candidates import FOUND, HONEST_WEIGH, NEW, PROJECT

pytestmark = pytest.mark.slow


class Vault:
    def __init__(self, root: Path, cache: Path) -> None:
        for rel, text in PROJECT.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        self.root = root
        self.settings = EngineSettings(
            cache_dir=cache, test_timeout_s=60, bench_timeout_s=60, bench_budget_s=1.0
        )
        self.sandbox = Sandbox(root, sys.executable, self.settings)
        self._baselines: dict[str, tuple] = {}

    def verify(self, qualname: str, code: str):
        if qualname not in self._baselines:
            target = locate_function(f"vault/scale.py::{qualname}", self.root)
            self._baselines[qualname] = (target, run_baseline(target, self.sandbox, self.settings))
        target, baseline = self._baselines[qualname]
        return verify_candidate(
            target, baseline, Candidate("file", "hostile", code), self.sandbox, self.settings
        )


@pytest.fixture(scope="module")
def vault(tmp_path_factory) -> Vault:
    base = tmp_path_factory.mktemp("hostile")
    return Vault(base / "vault", base / "cache")


#: What each attack comes to now (any of these; never ``faster``).
EXPECTED = {
    "forged_reports": {Verdict.NOT_EQUIVALENT},
    "bent_clock": {Verdict.NOT_FASTER},
    "detects_benchmark": {Verdict.NOT_EQUIVALENT},
    "memo_function_attribute": {Verdict.NOT_FASTER},
    "memo_module_global": {Verdict.NOT_FASTER},
    "reads_recorded_results": {Verdict.NOT_FASTER},
    "slows_original_code": {Verdict.NOT_FASTER},
    "slows_builtin_range": {Verdict.NOT_FASTER},
    "rewrites_original_source": {Verdict.NOT_FASTER},
    "always_equal_int": {Verdict.NOT_EQUIVALENT},
    "noop_after_slow_first_call": {Verdict.NOT_FASTER},
    "burns_cpu_while_idle": {Verdict.NOT_FASTER},
    "writes_fifo_out_of_turn": {Verdict.CRASHED, Verdict.NOT_EQUIVALENT},
    "patches_the_encoder": {Verdict.NOT_EQUIVALENT},
    "returns_generator": {Verdict.NOT_EQUIVALENT},
    "reduce_and_eq_liar": {Verdict.NOT_EQUIVALENT},
    "exits_mid_batch": {Verdict.CRASHED},
    "huge_output": {Verdict.CRASHED},
    "reads_proc_of_others": {Verdict.NOT_FASTER},
    "memo_hidden_in_sys_modules": {Verdict.NOT_FASTER},
    "signals_everything": {Verdict.CRASHED, Verdict.TIMEOUT, Verdict.NOT_FASTER},
    "bent_clock_hidden": {Verdict.NOT_FASTER},
    # Caught when its garbage reaches a timed or replayed result; honest throughout when its
    # worker never passes the CPU mark before the benchmark ends.
    "garbage_once_warm": {Verdict.NOT_EQUIVALENT, Verdict.NOT_FASTER},
}

#: Attacks whose worker process reports a clock or built-in it rebound (tampering, runtime).
REBINDS = {
    "bent_clock": "time.perf_counter_ns",
    "bent_clock_hidden": "time.perf_counter_ns",
    "slows_builtin_range": "builtins.range",
}


@pytest.mark.parametrize("name", sorted(FOUND) + sorted(NEW))
def test_hostile_candidate_is_never_faster(vault, name):
    qualname, code = {**FOUND, **NEW}[name]
    before = tree_digest(vault.root)
    result = vault.verify(qualname, code)
    assert result.verdict is not Verdict.FASTER, result.reason
    assert result.verdict in EXPECTED[name], (result.verdict, result.reason)
    assert tree_digest(vault.root) == before
    if name in REBINDS:
        assert REBINDS[name] in result.tampering, (result.tampering, result.reason)
        assert "(tampering)" in result.reason
    if name.startswith("memo_"):
        assert "keeps state across calls" in result.stateful, result.reason
        assert "(stateful)" in result.reason
    if name == "noop_after_slow_first_call":
        # Finding 13: every process calibrates both sides after warming both up; no count is
        # pinned at one loop by a slow first call, none is carried over.
        for timing in result.speedup.per_call:
            assert len(timing.original_loops) >= 2
            assert min(timing.original_loops) > 1 and min(timing.candidate_loops) > 1


def test_honest_rewrites_pass_and_are_not_called_stateful(vault):
    result = vault.verify("weigh", HONEST_WEIGH)
    assert result.verdict in (Verdict.FASTER, Verdict.NOT_FASTER), result.reason
    assert result.stateful == ""
    assert result.tampering == ""
    assert result.calls_compared == 3
