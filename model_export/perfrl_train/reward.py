"""The RRHF reward: a candidate rewrite scored by PerfRL's own verification engine.

:func:`reward_from_result` is a pure function of the engine's
:class:`~perfrl.engine.types.CandidateResult` (unit-testable without running anything).
:class:`EngineReward` wraps the engine around it: each training pair is materialized once as a
tiny pytest project (slow side as the original), its baseline is run once, and every candidate
goes through ``verify_candidate`` exactly as in the editor — same sandbox, same tests, same
equivalence replay, same A/B benchmark and the same noise margin (``settings.threshold`` on the
lower bound of the 95% CI).

Paper rewards (PerfRL, arXiv 2312.05657): 0 does not compile, 1 compiles but fails, 1.3 passes,
2 passes and is faster. Here "faster" means *verified* faster (verdict ``faster``) and earns
``2 + clip(log(median speedup), 0, max_log_bonus)``, so bigger verified wins rank higher. A
candidate the engine names as keeping state across calls or as tampering with what judges it
(``result.stateful``, ``result.tampering``) earns 1, like a failing one, whatever its verdict:
the lowest reward of code that compiles.

A caller may rely on :class:`EngineReward` never calling the engine twice for the same
(pair, candidate) text, never calling it for code that does not parse or is the original,
and raising :class:`RewardBudgetExhausted` instead of exceeding ``max_engine_calls``.
"""

from __future__ import annotations

import ast
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfrl.engine.types import CandidateResult, Verdict

if TYPE_CHECKING:
    from perfrl.engine.baseline import Baseline
    from perfrl.engine.sandbox import Sandbox
    from perfrl.engine.types import FunctionTarget

#: Verdicts meaning "the code compiled (and was accepted as a rewrite) but behaves wrongly".
_FAILED = {Verdict.FAILED_TESTS, Verdict.NOT_EQUIVALENT, Verdict.TIMEOUT, Verdict.CRASHED}


@dataclass(frozen=True)
class RewardScale:
    no_compile: float = 0.0
    compiles: float = 1.0
    passes: float = 1.3
    faster: float = 2.0
    # log(speedup) bonus for verified-faster candidates is clipped to [0, max_log_bonus].
    max_log_bonus: float = 1.5


class RewardBudgetExhausted(Exception):
    """The configured maximum number of engine calls was reached."""


def code_compiles(code: str) -> bool:
    """True when the code parses and defines a function (empty output does not "compile")."""
    from perfrl.engine.candidate_check import normalize_candidate

    try:
        tree = ast.parse(normalize_candidate(code))
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in tree.body)


def reward_from_result(result: CandidateResult, scale: RewardScale = RewardScale()) -> float:
    """The reward for one verified candidate (see the module docstring for the scale)."""
    verdict = result.verdict
    if getattr(result, "tampering", ""):
        # Caught reaching for the clock, the built-ins, frames or files: the engine's evidence
        # held (it is never "faster"), but such a sample must rank below an honest rewrite
        # that is merely not faster, no higher than one that fails.
        return scale.compiles
    if getattr(result, "stateful", ""):
        # Keeping state across calls (a memo over the replayed calls) behaves differently
        # from the original on a second call: rewarded like a rewrite that fails.
        return scale.compiles
    if verdict is Verdict.FASTER:
        median = result.speedup.median if result.speedup is not None else 1.0
        bonus = min(max(math.log(max(median, 1e-9)), 0.0), scale.max_log_bonus)
        return scale.faster + bonus
    if verdict is Verdict.NOT_FASTER:
        return scale.passes
    if verdict in _FAILED:
        return scale.compiles
    # INVALID: either it does not compile to a function (0) or it does but is not an acceptable
    # rewrite (other name / parameters, defines something else): it compiled, so 1.
    return scale.compiles if code_compiles(result.candidate.code) else scale.no_compile


@dataclass
class RewardOutcome:
    reward: float
    verdict: str
    speedup: float | None = None
    engine_call: bool = False
    cached: bool = False
    seconds: float = 0.0
    #: The verifier's reason for the verdict (what a feedback-v1 prompt shows), "" for none.
    reason: str = ""


@dataclass
class _PairState:
    target: FunctionTarget | None = None
    baseline: Baseline | None = None
    sandbox: Sandbox | None = None
    original_key: str | None = None
    error: str | None = None


@dataclass
class RewardStats:
    engine_calls: int = 0
    cache_hits: int = 0
    shortcuts: int = 0
    baselines: int = 0
    skipped_pairs: dict[str, str] = field(default_factory=dict)
    engine_seconds: float = 0.0


def _ast_key(code: str) -> str | None:
    from perfrl.engine.candidate_check import normalize_candidate

    try:
        return ast.dump(ast.parse(normalize_candidate(code)))
    except (SyntaxError, ValueError):
        return None


class EngineReward:
    """Rewards for (pair, candidate code) through the real verification engine, cached."""

    def __init__(self, work_dir: Path, settings=None, max_engine_calls: int = 500,
                 scale: RewardScale = RewardScale()) -> None:
        from perfrl.engine.settings import EngineSettings

        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Smaller benchmark budget than the editor's default: rewards need a ranking, and
        # the verdict keeps the same noise margin (threshold on the CI lower bound).
        self.settings = settings or EngineSettings(bench_budget_s=0.6, test_timeout_s=60.0,
                                                   cache_dir=self.work_dir / "baselines")
        self.max_engine_calls = max_engine_calls
        self.scale = scale
        self.stats = RewardStats()
        self._pairs: dict[str, _PairState] = {}
        self._cache: dict[tuple[str, str], RewardOutcome] = {}

    def _prepare(self, pair) -> _PairState:
        state = self._pairs.get(pair.id)
        if state is not None:
            return state
        from perfrl.engine.baseline import run_baseline
        from perfrl.engine.interpreter import resolve_interpreter
        from perfrl.engine.locate import locate_function
        from perfrl.engine.sandbox import Sandbox
        from perfrl.engine.types import PerfRLError
        from perfrl_train.data import ProjectError, materialize_project

        state = _PairState()
        self._pairs[pair.id] = state
        dest = self.work_dir / "projects" / pair.id.replace("/", "_")
        if dest.exists():
            shutil.rmtree(dest)
        try:
            module_path, qualname = materialize_project(pair, dest, "slow")
            target = locate_function(f"{module_path}::{qualname}", dest)
            interpreter = resolve_interpreter(dest, self.settings.interpreter)
            sandbox = Sandbox(dest, interpreter, self.settings)
            state.baseline = run_baseline(target, sandbox, self.settings)
            self.stats.baselines += 1
            state.target, state.sandbox = target, sandbox
            state.original_key = _ast_key(target.source)
        except (ProjectError, PerfRLError, OSError) as exc:
            state.error = f"{type(exc).__name__}: {exc}"
            self.stats.skipped_pairs[pair.id] = state.error
        return state

    def usable(self, pair) -> bool:
        """True when the pair's project and baseline could be built (else it is skipped)."""
        return self._prepare(pair).error is None

    def reward(self, pair, code: str) -> RewardOutcome:
        key = (pair.id, code)
        if key in self._cache:
            self.stats.cache_hits += 1
            hit = self._cache[key]
            return RewardOutcome(hit.reward, hit.verdict, hit.speedup, False, True, 0.0,
                                 hit.reason)
        outcome = self._compute(pair, code)
        self._cache[key] = outcome
        return outcome

    def _compute(self, pair, code: str) -> RewardOutcome:
        from perfrl.engine.types import Candidate
        from perfrl.engine.verify import verify_candidate

        cand_key = _ast_key(code)
        if cand_key is None or not code_compiles(code):  # "invalid" without running anything
            self.stats.shortcuts += 1
            return RewardOutcome(self.scale.no_compile, Verdict.INVALID.value,
                                 reason="the candidate does not compile")
        state = self._prepare(pair)
        if state.error is not None or state.target is None or state.baseline is None:
            raise RuntimeError(f"pair {pair.id} cannot be verified: {state.error}")
        if cand_key == state.original_key:  # the original passes its own tests, not faster
            self.stats.shortcuts += 1
            return RewardOutcome(self.scale.passes, Verdict.NOT_FASTER.value)
        if self.stats.engine_calls >= self.max_engine_calls:
            raise RewardBudgetExhausted(f"{self.max_engine_calls} engine calls used")
        self.stats.engine_calls += 1
        started = time.perf_counter()
        result = verify_candidate(state.target, state.baseline,
                                  Candidate(source="model", label="rrhf", code=code),
                                  state.sandbox, self.settings)
        seconds = time.perf_counter() - started
        self.stats.engine_seconds += seconds
        return RewardOutcome(reward_from_result(result, self.scale), result.verdict.value,
                             result.speedup.median if result.speedup else None, True, False,
                             seconds, result.reason)
