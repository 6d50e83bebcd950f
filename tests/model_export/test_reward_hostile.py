"""RRHF's reward against hostile candidates (issue 12): the engine's verdicts, never a bonus.

Needs no torch: the reward function and the real verification engine only."""

from __future__ import annotations

import ast
import textwrap

import pytest

from perfrl.engine.types import Candidate, CandidateResult, Verdict
from perfrl_train.reward import EngineReward, RewardScale, reward_from_result
from tests.engine.hostile_candidates import FOUND, NEW
from tests.engine.test_hostile_evidence import Vault

pytestmark = pytest.mark.slow

SCALE = RewardScale()


@pytest.fixture(scope="module")
def vault(tmp_path_factory) -> Vault:
    base = tmp_path_factory.mktemp("reward-hostile")
    return Vault(base / "vault", base / "cache")


#: Every hostile candidate; the no-op of finding 13 is the original's own code, not an attack
#: (EngineReward gives the original 1.3 without running it, see ``_compute``).
HOSTILE = sorted((set(FOUND) | set(NEW)) - {"noop_after_slow_first_call"})


@pytest.mark.parametrize("name", HOSTILE)
def test_every_hostile_candidate_gets_the_lowest_reward_of_code_that_compiles(vault, name):
    qualname, code = {**FOUND, **NEW}[name]
    result = vault.verify(qualname, code)
    assert result.verdict is not Verdict.FASTER, result.reason
    # Timing attacks end "not_faster" (the engine times from outside, so they gain nothing);
    # caught reaching for the clock or the built-ins, they rank with failing rewrites.
    assert reward_from_result(result, SCALE) == SCALE.compiles, (
        result.verdict, result.reason, result.tampering, result.stateful)


def test_a_failing_rewrite_gets_no_less_than_a_hostile_one(vault):
    result = vault.verify("weigh", "def weigh(values):\n    return 0\n")
    assert result.verdict is Verdict.FAILED_TESTS, result.reason
    assert reward_from_result(result, SCALE) == SCALE.compiles


def test_tampering_and_state_rank_with_failures_whatever_the_verdict():
    code = "def weigh(values):\n    return sum(v * v for v in values)\n"
    for verdict in (Verdict.FASTER, Verdict.NOT_FASTER):
        honest = CandidateResult(Candidate("model", "x", code), verdict, "")
        assert reward_from_result(honest, SCALE) >= SCALE.passes
        tampered = CandidateResult(Candidate("model", "x", code), verdict, "",
                                   tampering="it reaches beyond the function: imports time")
        assert reward_from_result(tampered, SCALE) == SCALE.compiles
        stateful = CandidateResult(Candidate("model", "x", code), verdict, "",
                                   stateful="it keeps state across calls")
        assert reward_from_result(stateful, SCALE) == SCALE.compiles


def _with_first_lines(code: str, lines: str) -> str:
    """``code`` (one function) with ``lines`` run first in its body."""
    function = ast.parse(code).body[0]
    body_line = function.body[0].lineno - 1
    text = code.splitlines()
    indent = text[body_line][: len(text[body_line]) - len(text[body_line].lstrip())]
    text[body_line:body_line] = textwrap.indent(textwrap.dedent(lines), indent).splitlines()
    return "\n".join(text) + "\n"


# Passes the tests, then (in the processes that compare and time it) renames the project
# copy the engine starts its next processes in (issue 12, finding 9).
BREAKS_ITS_WORKSPACE = """
import os, sys
root = os.getcwd()
if "pytest" not in sys.modules and os.path.isdir(root):
    os.rename(root, root + "-gone")
"""


def test_a_broken_workspace_does_not_stop_a_training_step(tmp_path):
    from perfrl_train.data import generate_pairs

    pair = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    engine = EngineReward(tmp_path / "rw", max_engine_calls=3)
    assert engine.usable(pair)
    broken = engine.reward(pair, _with_first_lines(pair.fast, BREAKS_ITS_WORKSPACE))
    assert broken.engine_call
    assert broken.verdict in {"crashed", "failed_tests", "not_equivalent"}
    assert broken.reward == SCALE.compiles
    # The step goes on: the next candidate of the same pair is verified as usual.
    honest = engine.reward(pair, pair.fast)
    assert honest.verdict in {"faster", "not_faster"}
