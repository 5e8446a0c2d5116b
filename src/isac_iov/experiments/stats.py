"""Statistics over seeds: mean and IQM with 95 % bootstrap confidence intervals.

Every number the reproduction reports is an aggregate over independent seeds.
:func:`summarize` returns the mean, the interquartile mean (IQM, the mean of
the middle 50 % of the values, ``scipy.stats.trim_mean(x, 0.25)``), and a
percentile bootstrap confidence interval of the mean.

Bootstrap.  With ``n`` seeds there are ``n**n`` equally likely resamples.  When
``n**n <= EXACT_LIMIT`` (``n <= 5``) all of them are enumerated, so the interval
is exact and deterministic; otherwise ``n_boot`` resamples are drawn with a
fixed generator seed.  The interval bounds are the ``(1 - confidence)/2`` and
``(1 + confidence)/2`` quantiles of the resampled statistic with the
``inverted_cdf`` rule (the smallest resampled value whose cumulative share
reaches the level), so for two seeds ``a < b`` the 95 % interval of the mean is
exactly ``[a, b]``.  One seed gives a zero-width interval.

Curves (one value per episode and seed) are handled column-wise by
:func:`curve_band`, vectorised over episodes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from scipy import stats as sps

EXACT_LIMIT = 5**5
CONFIDENCE = 0.95


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis`` (25 % trimmed from each end)."""
    return sps.trim_mean(np.asarray(values, dtype=float), 0.25, axis=axis)


def resample_indices(n: int, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``(R, n)`` index rows: every resample when ``n**n <= EXACT_LIMIT``, else ``n_boot`` random ones."""
    if n < 1:
        raise ValueError("bootstrap needs at least one value")
    if n**n <= EXACT_LIMIT:
        return np.array(list(itertools.product(range(n), repeat=n)), dtype=np.int64)
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[..., np.ndarray] = np.mean,
    confidence: float = CONFIDENCE,
    n_boot: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Percentile bootstrap interval of ``statistic`` over the last axis of ``values``.

    ``values`` has shape ``(..., n)``; returns ``(..., 2)`` holding ``[low, high]``.
    ``statistic`` must accept an ``axis`` keyword.
    """
    values = np.asarray(values, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    idx = resample_indices(values.shape[-1], n_boot, seed)
    resampled = statistic(values[..., idx], axis=-1)  # (..., R)
    levels = [(1 - confidence) / 2, (1 + confidence) / 2]
    bounds = np.quantile(resampled, levels, axis=-1, method="inverted_cdf")
    return np.moveaxis(bounds, 0, -1)


def summarize(values: list[float] | np.ndarray, confidence: float = CONFIDENCE) -> dict[str, float | int]:
    """``{n, mean, ci_low, ci_high, iqm, std}`` of per-seed values (NaNs dropped)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "ci_low": nan, "ci_high": nan, "iqm": nan, "std": nan}
    low, high = bootstrap_ci(arr, confidence=confidence)
    return {
        "n": int(arr.size),
        "mean": float(arr.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "iqm": float(iqm(arr)),
        "std": float(arr.std(ddof=0)),
    }


def curve_band(curves: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, np.ndarray]:
    """Mean and bootstrap band over seeds of ``(n_seeds, n_points)`` curves."""
    curves = np.asarray(curves, dtype=float)
    band = bootstrap_ci(curves.T, confidence=confidence)
    return {"mean": curves.mean(axis=0), "ci_low": band[:, 0], "ci_high": band[:, 1]}


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along the last axis; the first points average what exists."""
    values = np.asarray(values, dtype=float)
    if window <= 1:
        return values
    csum = np.cumsum(values, axis=-1)
    out = csum.copy()
    out[..., window:] = csum[..., window:] - csum[..., :-window]
    counts = np.minimum(np.arange(1, values.shape[-1] + 1), window)
    return out / counts
