"""The bootstrap confidence interval of a speedup (ratio of medians over paired rounds)."""

from __future__ import annotations

import random
import statistics

import pytest

from perfrl.engine.stats import MIN_ROUNDS, _quantile, bootstrap_ratio_ci


def _rounds(speedup: float, n: int, noise: float, seed: int) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    candidate = [1000.0 * (1 + rng.gauss(0, noise)) for _ in range(n)]
    original = [1000.0 * speedup * (1 + rng.gauss(0, noise)) for _ in range(n)]
    return original, candidate


@pytest.mark.parametrize("use_numpy", [True, False])
def test_point_estimate_is_the_ratio_of_medians(use_numpy):
    original = [10.0, 30.0, 20.0, 1000.0, 25.0]
    candidate = [5.0, 10.0, 10.0, 10.0, 8.0]
    median, low, high = bootstrap_ratio_ci(original, candidate, use_numpy=use_numpy)
    assert median == pytest.approx(statistics.median(original) / statistics.median(candidate))
    assert low <= median <= high


@pytest.mark.parametrize("use_numpy", [True, False])
def test_interval_is_tight_around_a_known_speedup(use_numpy):
    original, candidate = _rounds(3.0, 60, 0.05, seed=1)
    median, low, high = bootstrap_ratio_ci(original, candidate, use_numpy=use_numpy, seed=7)
    assert low < median < high
    assert 2.8 < low and high < 3.2
    assert median == pytest.approx(3.0, rel=0.05)


@pytest.mark.parametrize("use_numpy", [True, False])
def test_identical_implementations_give_an_interval_around_one(use_numpy):
    original, candidate = _rounds(1.0, 40, 0.1, seed=2)
    _, low, high = bootstrap_ratio_ci(original, candidate, use_numpy=use_numpy)
    assert low < 1.0 < high
    assert low < 1.10  # never "faster" at the default threshold


def test_one_outlier_round_does_not_move_the_estimate():
    original, candidate = _rounds(2.0, 30, 0.02, seed=3)
    original[5] *= 100  # a context switch in one round
    median, _, high = bootstrap_ratio_ci(original, candidate)
    assert median == pytest.approx(2.0, rel=0.03)
    assert high < 2.2


def test_same_seed_same_interval_and_more_noise_wider_interval():
    original, candidate = _rounds(1.5, 30, 0.02, seed=4)
    assert bootstrap_ratio_ci(original, candidate, seed=11) == bootstrap_ratio_ci(
        original, candidate, seed=11
    )
    noisy_original, noisy_candidate = _rounds(1.5, 30, 0.2, seed=4)
    _, low_quiet, high_quiet = bootstrap_ratio_ci(original, candidate)
    _, low_noisy, high_noisy = bootstrap_ratio_ci(noisy_original, noisy_candidate)
    assert high_noisy - low_noisy > high_quiet - low_quiet


def test_higher_confidence_gives_a_wider_interval():
    original, candidate = _rounds(1.5, 30, 0.1, seed=5)
    _, low90, high90 = bootstrap_ratio_ci(original, candidate, confidence=0.90)
    _, low99, high99 = bootstrap_ratio_ci(original, candidate, confidence=0.99)
    assert low99 <= low90 and high99 >= high90


@pytest.mark.parametrize(
    ("original", "candidate", "message"),
    [
        ([1.0] * (MIN_ROUNDS - 1), [1.0] * (MIN_ROUNDS - 1), "at least"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "differ in length"),
        ([1.0, 0.0, 3.0], [1.0, 2.0, 3.0], "positive"),
    ],
)
def test_bad_input_is_refused_with_a_message(original, candidate, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ratio_ci(original, candidate)


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ratio_ci([1.0] * 5, [1.0] * 5, confidence=1.5)


def test_quantile_interpolates_like_numpy():
    numpy = pytest.importorskip("numpy")
    values = sorted(random.Random(0).random() for _ in range(17))
    for q in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert _quantile(values, q) == pytest.approx(float(numpy.quantile(values, q)))


def _paired_rounds(pairs):
    """Benchmark rounds of two timed calls each, as ``Bench.run`` collects them: per call and
    side a block of 4 loops whose per-loop times add up to the given round totals."""
    from perfrl.engine.verify_bench import _Block

    def blocks(total_ns):
        return [_Block(go_ns=4 * total_ns // 2, prepare_ns=0, report_ns=0, loops=4)] * 2

    rounds = []
    for original, candidate in pairs:
        by_side = {"original": blocks(original), "candidate": blocks(candidate)}
        rounds.append({call: {side: by_side[side][call] for side in by_side} for call in (0, 1)})
    return rounds


def test_benchmark_stops_early_only_when_every_round_is_decisive():
    from perfrl.engine.verify_bench import Bench, BenchOptions

    def options(ratio=1.65):
        return BenchOptions(budget_s=1.0, max_seconds=1.0, decisive_ratio=ratio, min_rounds=3)

    decided = Bench._decided
    assert decided(_paired_rounds([(100, 10), (90, 10), (120, 11)]), options())
    # Clearly slower is settled too.
    assert decided(_paired_rounds([(10, 100), (10, 90), (11, 120)]), options())
    # One round that does not clear the bar keeps the benchmark going.
    assert not decided(_paired_rounds([(100, 10), (15, 10), (120, 11)]), options())
    # Too few rounds, or the rule switched off.
    assert not decided(_paired_rounds([(100, 10), (90, 10)]), options())
    assert not decided(_paired_rounds([(100, 10)] * 5), options(ratio=0.0))
