"""Confidence interval for a speedup measured in interleaved A/B rounds.

Method: the point estimate is the ratio of medians, ``median(original) / median(candidate)``,
over the per-round totals. Its uncertainty comes from a *paired* percentile bootstrap: round
indices are resampled with replacement (the original and candidate time of a round stay
together, so slow drifts of the machine that hit both alike cancel out), the ratio of medians
is recomputed for every resample, and the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
quantiles (linear interpolation) bound the interval. Medians make one outlier round (a
context switch, a page fault storm) irrelevant.

Results are deterministic for a given ``seed``; the numpy path (used when numpy imports) and
the pure-stdlib path draw different resamples, so their bounds agree only statistically.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from types import ModuleType

_np: ModuleType | None
try:  # numpy makes 2,000 resamples of a few hundred rounds take milliseconds
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is a dependency of the server
    _np = None

#: Below this many rounds no interval is meaningful.
MIN_ROUNDS = 3


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of an ascending sequence."""
    if len(sorted_values) == 0:
        raise ValueError("no values")
    position = q * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    low, high = float(sorted_values[lower]), float(sorted_values[upper])
    return low + (high - low) * fraction


def bootstrap_ratio_ci(
    original_times: Sequence[float],
    candidate_times: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    use_numpy: bool | None = None,
) -> tuple[float, float, float]:
    """``(median_ratio, low, high)`` for the speedup original/candidate; see the module doc.

    ``original_times[i]`` and ``candidate_times[i]`` must come from the same round. Raises
    ValueError for fewer than :data:`MIN_ROUNDS` rounds, unequal lengths, non-positive times
    or a confidence outside (0, 1). ``use_numpy`` None means "when available".
    """
    n = len(original_times)
    if n != len(candidate_times):
        raise ValueError(f"paired samples differ in length: {n} and {len(candidate_times)}")
    if n < MIN_ROUNDS:
        raise ValueError(f"need at least {MIN_ROUNDS} rounds, got {n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if min(original_times) <= 0 or min(candidate_times) <= 0:
        raise ValueError("times must be positive")
    point = statistics.median(original_times) / statistics.median(candidate_times)
    alpha = (1.0 - confidence) / 2.0
    if _np is not None and use_numpy is not False:
        rng = _np.random.default_rng(seed)
        original = _np.asarray(original_times, dtype=float)
        candidate = _np.asarray(candidate_times, dtype=float)
        index = rng.integers(0, n, size=(n_resamples, n))
        ratios = _np.median(original[index], axis=1) / _np.median(candidate[index], axis=1)
        ratios.sort()
        low, high = _quantile(ratios, alpha), _quantile(ratios, 1.0 - alpha)
        return point, float(low), float(high)
    rng_py = random.Random(seed)
    ratios_py = []
    for _ in range(n_resamples):
        picks = [rng_py.randrange(n) for _ in range(n)]
        ratios_py.append(
            statistics.median([original_times[i] for i in picks])
            / statistics.median([candidate_times[i] for i in picks])
        )
    ratios_py.sort()
    return point, _quantile(ratios_py, alpha), _quantile(ratios_py, 1.0 - alpha)
