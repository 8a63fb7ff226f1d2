"""Small-sample inference for comparisons of configurations (3 seeds each is the norm).

Every number here is valid at n = 3: t distributions with Welch–Satterthwaite degrees of
freedom, never a percentile bootstrap (with 3 values its "95 %" interval is the observed
range, which covers the mean far less often than 95 %).

**Two sources of spread.** A run's metric varies with its training seed and, for a fixed
trained model, with the samples drawn to evaluate it. The seed-to-seed variance ``s²``
contains both. With three seeds it can come out far smaller than the evaluation's own
resampling variance alone (``se²``, the squared standard error of the metric from
resampling the generated features, logged by every run as e.g. ``eval/fid_se``), which
is impossible in expectation: ``E[s²] = τ² + E[se²]`` with the training variance ``τ² ≥ 0``.
So the variance a comparison uses per configuration is

    v = max(s², mean of the runs' se²)

(a floor at the part of the spread that is known to be there). It can only widen intervals
and lower test statistics: the rule stays calibrated (``tests/test_analysis_calibration.py``
measures it), and a spuriously tiny seed spread no longer yields an effect size of −18.

- :func:`welch` — difference of means, its standard error, Welch–Satterthwaite df, t,
  one-sided p-values, 95 % and 90 % intervals (Welch 1947; Satterthwaite 1946).
- :func:`equivalent` — two one-sided tests (Schuirmann 1987): the 90 % interval of the
  difference inside ``±margin`` ⇔ both one-sided tests at α = 0.05 reject ``|δ| ≥ margin``.
- :func:`minimal_detectable_difference` — the difference a one-sided level-α test detects
  with the given power at this standard error: ``(t_{1−α,df} + t_{power,df}) · se``.
- :func:`seeds_to_settle` — the seeds per configuration at which the observed difference
  would be that minimal detectable difference (same per-seed variances).
- :func:`ratio_interval` — the ratio of means with a 95 % interval from the delta method
  on the log scale: ``var(log m) ≈ v / (n m²)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = ["ALPHA", "POWER", "effective_variance", "Welch", "welch", "t_interval", "equivalent",
           "minimal_detectable_difference", "seeds_to_settle", "ratio_interval", "pooled_variance",
           "hedges_g_eff",
           "margin_value"]

ALPHA = 0.05
POWER = 0.80
MIN_SEEDS = 3  # the verdict rule's minimum per configuration (analysis.verdict)
MAX_SEEDS = 1000  # beyond this, "more seeds" is not an answer: the difference is ~0


def effective_variance(values, se=None) -> float:
    """``max(s², mean(se²))`` of one configuration's seeds (see the module docstring);
    ``s²`` alone without standard errors; NaN with fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan
    variance = float(x.var(ddof=1))
    if se is not None:
        s = np.asarray(se, dtype=float)
        s = s[np.isfinite(s)]
        if s.size:
            variance = max(variance, float(np.mean(s ** 2)))
    return variance


def t_interval(mean: float, variance: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """``mean ± t_{(1+level)/2, n−1} · sqrt(variance / n)``; NaNs when ``n < 2``."""
    if n < 2 or not math.isfinite(variance):
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * math.sqrt(variance / n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Welch:
    """``diff = mean_first − mean_second`` and what follows from it."""

    diff: float
    se: float
    df: float
    t: float
    p_less: float      # one-sided: H1 mean_first < mean_second
    p_greater: float   # one-sided: H1 mean_first > mean_second
    ci95: tuple
    ci90: tuple


def _nan_welch() -> Welch:
    nan = math.nan
    return Welch(nan, nan, nan, nan, nan, nan, (nan, nan), (nan, nan))


def welch(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int) -> Welch:
    """Welch's t from summaries (the variances may be the floored ones of
    :func:`effective_variance`): ``se² = v_a/n_a + v_b/n_b``,
    ``df = se⁴ / ((v_a/n_a)²/(n_a−1) + (v_b/n_b)²/(n_b−1))``."""
    if n_a < 2 or n_b < 2 or not (math.isfinite(var_a) and math.isfinite(var_b)):
        return _nan_welch()
    wa, wb = var_a / n_a, var_b / n_b
    se = math.sqrt(wa + wb)
    diff = mean_a - mean_b
    if se == 0.0:
        return _nan_welch()  # no spread anywhere: the standardised difference is undefined
    df = (wa + wb) ** 2 / (wa ** 2 / (n_a - 1) + wb ** 2 / (n_b - 1))
    t = diff / se
    q95, q90 = stats.t.ppf(0.975, df), stats.t.ppf(0.95, df)
    return Welch(diff=diff, se=se, df=df, t=t, p_less=float(stats.t.cdf(t, df)),
                 p_greater=float(stats.t.sf(t, df)), ci95=(diff - q95 * se, diff + q95 * se),
                 ci90=(diff - q90 * se, diff + q90 * se))


def equivalent(w: Welch, margin: float, alpha: float = ALPHA) -> tuple[bool, float]:
    """(equivalent within ±margin, the TOST p-value ``max(p_lower, p_upper)``)."""
    if not (math.isfinite(w.se) and margin > 0):
        return False, math.nan
    p_lower = stats.t.sf((w.diff + margin) / w.se, w.df)   # H0: diff <= -margin
    p_upper = stats.t.cdf((w.diff - margin) / w.se, w.df)  # H0: diff >= +margin
    p = float(max(p_lower, p_upper))
    return p < alpha, p


def minimal_detectable_difference(se, df, alpha: float = ALPHA, power: float = POWER):
    """The smallest true difference a one-sided level-``alpha`` Welch test detects with
    probability ``power`` (normal-approximation form with t quantiles); arrays welcome."""
    se, df = np.asarray(se, dtype=float), np.asarray(df, dtype=float)
    value = (special.stdtrit(df, 1 - alpha) + special.stdtrit(df, power)) * se
    return float(value) if value.ndim == 0 else value


def seeds_to_settle(diff: float, var_a: float, var_b: float, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Seeds per configuration at which ``|diff|`` becomes detectable with ``power`` (the
    per-seed variances held fixed, equal n), never fewer than :data:`MIN_SEEDS` (the rule
    judges nothing below it); None when no count up to :data:`MAX_SEEDS` does (the
    difference is too close to zero to settle by adding seeds)."""
    if not all(math.isfinite(v) for v in (diff, var_a, var_b)) or diff == 0.0 or var_a + var_b <= 0:
        return None
    n = np.arange(MIN_SEEDS, MAX_SEEDS + 1, dtype=float)
    wa, wb = var_a / n, var_b / n
    df = (wa + wb) ** 2 / (wa ** 2 / (n - 1) + wb ** 2 / (n - 1))
    enough = np.flatnonzero(minimal_detectable_difference(np.sqrt(wa + wb), df, alpha, power) <= abs(diff))
    return int(n[enough[0]]) if enough.size else None


def ratio_interval(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float,
                   n_b: int) -> tuple[float, float, float]:
    """(mean_a / mean_b, 95 % interval) by the delta method on the log scale (valid for
    positive means such as FID); NaNs otherwise."""
    if min(n_a, n_b) < 2 or mean_a <= 0 or mean_b <= 0:
        return math.nan, math.nan, math.nan
    ratio = mean_a / mean_b
    se = math.sqrt(var_a / (n_a * mean_a ** 2) + var_b / (n_b * mean_b ** 2))
    q = stats.norm.ppf(0.975)
    # np.exp: a mean near zero makes se huge; the interval is then (0, inf), not an error
    with np.errstate(over="ignore"):
        return ratio, float(ratio * np.exp(-q * se)), float(ratio * np.exp(q * se))


def pooled_variance(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """``s_p² = ((n_a−1)v_a + (n_b−1)v_b) / (n_a+n_b−2)``; NaN when undefined."""
    n = n_a + n_b
    if n_a < 1 or n_b < 1 or n <= 2 or not (math.isfinite(var_a) and math.isfinite(var_b)):
        return math.nan
    return ((n_a - 1) * var_a + (n_b - 1) * var_b) / (n - 2)


def hedges_g_eff(diff: float, var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Hedges' g (Hedges 1981) of a difference with the pooled standard deviation of the
    given variances: ``g = diff / s_p · (1 − 3 / (4(n_a + n_b) − 9))`` (Cohen's d times the
    small-sample bias correction). With the seeds' plain sample variances it is the textbook
    g (:func:`analysis.stats.hedges_g`); the verdicts pass the *effective* variances."""
    n = n_a + n_b
    pooled = pooled_variance(var_a, n_a, var_b, n_b)
    if n <= 3 or not math.isfinite(diff) or not math.isfinite(pooled) or pooled <= 0:
        return math.nan  # no spread: the standardised difference is undefined, not infinite
    return diff / math.sqrt(pooled) * (1.0 - 3.0 / (4.0 * n - 9.0))


def margin_value(margin, mean_a: float, mean_b: float) -> float:
    """A prediction's margin in metric units: a number as it is, ``"5%"`` as 5 % of the
    compared configurations' mean ``(|mean_a| + |mean_b|) / 2``."""
    if isinstance(margin, str):
        return float(margin.rstrip("%")) / 100.0 * (abs(mean_a) + abs(mean_b)) / 2.0
    return float(margin)
