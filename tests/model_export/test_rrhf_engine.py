"""The reward through the real verification engine (pytest subprocesses, sandbox, benchmark)."""

from __future__ import annotations

import pytest

from perfrl_train.data import generate_pairs
from perfrl_train.reward import EngineReward, RewardBudgetExhausted


@pytest.mark.slow
def test_engine_reward_ranks_fast_above_broken_and_caches(tmp_path):
    pair = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    engine = EngineReward(tmp_path / "rw", max_engine_calls=2)
    assert engine.usable(pair)
    fast = engine.reward(pair, pair.fast)
    assert fast.verdict == "faster" and fast.reward >= 2.0 and fast.engine_call
    broken = engine.reward(pair, pair.fast.replace("return ", "return None or 0 * ", 1))
    assert broken.verdict in {"failed_tests", "not_equivalent", "crashed"} and broken.reward == 1.0
    # No engine call for: the same text again, the original, and code that does not parse.
    again = engine.reward(pair, pair.fast)
    assert again.cached and again.reward == fast.reward
    assert engine.reward(pair, pair.slow).reward == 1.3
    assert engine.reward(pair, "def (").reward == 0.0
    assert engine.stats.engine_calls == 2
    with pytest.raises(RewardBudgetExhausted):
        engine.reward(pair, pair.fast + "\n# a different text\n")


@pytest.mark.slow
def test_train_rrhf_runs_steps_and_writes_a_chained_checkpoint(tmp_path, tiny_work):
    import json

    from perfrl_train.rrhf import RRHFConfig, train_rrhf
    from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

    ckpt = tiny_checkpoint(tiny_work)
    result = train_rrhf(RRHFConfig(checkpoint=ckpt, data=tiny_pairs_dir(tiny_work / "tiny-data"),
                                   out=tmp_path / "rrhf", samples=1, max_new_tokens=32,
                                   max_source_length=192, max_steps=2, warmup_steps=1,
                                   max_engine_calls=10, threads=1, progress=False),
                        log=lambda *_: None)
    assert result.steps == 2 and 1 <= result.engine_calls <= 10
    rows = [json.loads(line) for line in (tmp_path / "rrhf" / "rewards.jsonl").open()]
    assert len(rows) == 2 and all(len(r["rewards"]) == 3 for r in rows)
    # The reference rewrite always passes its tests (speed depends on the idiom and the load).
    assert all(r["verdicts"][0] in {"faster", "not_faster"} for r in rows)
    meta = json.loads((tmp_path / "rrhf" / "perfrl_train.json").read_text())
    assert meta["trainer"] == "rrhf" and meta["provenance"]["sft"]["checkpoint"] == str(ckpt)


@pytest.mark.slow
def test_reward_of_an_abstracted_pair_runs_its_original_code(tmp_path):
    from perfrl.sources.abstraction import model_output
    from perfrl_train.data.abstract import abstract_pair, concrete_view

    original = next(p for p in generate_pairs(12, 0) if p.idiom == "dict_keys_list_membership")
    abstracted = abstract_pair(original)
    assert original.entry not in abstracted.slow  # the model sees placeholders only
    concrete, table = concrete_view(abstracted)
    engine = EngineReward(tmp_path / "rw", max_engine_calls=1)
    assert engine.usable(concrete)
    # The model's (abstracted) reference rewrite, mapped back as RRHF maps every candidate.
    outcome = engine.reward(concrete, model_output(abstracted.fast, table))
    assert outcome.verdict == "faster" and outcome.reward >= 2.0
