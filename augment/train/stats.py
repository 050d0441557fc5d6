"""Statistics of the protocol: means, 95% confidence intervals, paired tests across seeds, verdicts."""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05


def mean_ci(values) -> tuple[float, float, float]:
    """Mean and two-sided 95% t-interval; a single value has an infinite interval."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("-inf"), float("inf")
    half = float(stats.t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def paired_comparison(baseline, candidate) -> dict:
    """Improvement = baseline RMSE - candidate RMSE, per seed; its mean, CI, paired t-test and verdict.

    gain: the CI of the improvement lies above 0; harm: below 0; otherwise no significant gain.
    """
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    improvement = b - c
    mean, low, high = mean_ci(improvement)
    if len(improvement) >= 2 and np.ptp(improvement) > 0:
        p_value = float(stats.ttest_rel(b, c).pvalue)
    else:
        p_value = 0.0 if len(improvement) >= 2 and mean != 0 else 1.0
    verdict = "gain" if low > 0 else "harm" if high < 0 else "no significant gain"
    return {"improvement": mean, "ci_low": low, "ci_high": high, "p_value": p_value, "verdict": verdict,
            "seeds": len(improvement)}


def recovered_fraction(real_only: float, augmented: float, more_real: float) -> float:
    """Share of the gain from more real rows that the synthetic rows recover (RMSE, lower is better)."""
    ceiling = real_only - more_real
    return float((real_only - augmented) / ceiling) if ceiling > 0 else float("nan")
