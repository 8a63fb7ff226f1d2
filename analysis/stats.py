"""Aggregation over seeds, bootstrap intervals, and the tests behind every verdict (scipy).

- A *configuration* is a run's config without ``seed`` and ``device`` (the device changes
  nothing the study asks about; seeds are the replicates).
- Per configuration: ``n`` (finite values), mean, sample standard deviation (ddof = 1), the
  evaluation's own resampling standard error where logged, and a 95 % t interval of the
  mean on the effective variance (``analysis.inference``: valid at n = 3). With n < 2 it is
  undefined (NaN). ``bootstrap_interval`` (percentile bootstrap) remains for larger samples
  (ratings); with 3 values it is essentially the observed range and is not used for seeds.
- Pairwise: Welch's t (Welch 1947) and Mann–Whitney U, one-sided in the predicted direction,
  with Cohen's d and Hedges' g (Hedges 1981). Welch's t and Hedges' g have one implementation,
  ``analysis.inference`` (the verdicts' own), here applied to the seeds' sample variances, so a
  notebook and the report cannot disagree.
- Trend: Spearman's ρ and Kendall's τ-b over (parameter value, metric) of all runs, one-sided.
- Several tests in one question: Holm's step-down correction (Holm 1979).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.inference import hedges_g_eff, pooled_variance, welch
from analysis.load import config_columns

__all__ = ["RESAMPLES", "LEVEL", "NOT_CONFIGURATION", "configuration_columns",
           "varying_columns", "determined_by", "naming_columns", "finite_values",
           "bootstrap_interval", "summarize", "cohen_d", "hedges_g", "PairTest", "pairwise_test",
           "TrendTest", "trend_test", "holm"]

RESAMPLES = 10_000
LEVEL = 0.95
NOT_CONFIGURATION = ("seed", "device")
_ALTERNATIVES = ("less", "greater")


def configuration_columns(runs: pd.DataFrame) -> list[str]:
    """Config columns that define a configuration: all but ``seed`` and ``device``."""
    return [c for c in config_columns(runs) if c not in NOT_CONFIGURATION]


def varying_columns(runs: pd.DataFrame, columns) -> list[str]:
    """Those of ``columns`` that take more than one value (missing counts as a value)."""
    return [c for c in columns if c in runs and runs[c].astype(str).nunique(dropna=False) > 1]


def determined_by(runs: pd.DataFrame, keys: list[str], column: str) -> bool:
    """True when ``column`` takes one value within each group of ``keys`` (a function of them)."""
    text = runs[column].astype(str)
    if not keys:
        return text.nunique(dropna=False) <= 1
    return bool((text.groupby([runs[k].astype(str) for k in keys]).nunique() <= 1).all())


def naming_columns(runs: pd.DataFrame, first: list) -> list[str]:
    """The config columns that name a configuration: ``first`` (present ones), then each
    varying configuration column that the columns chosen so far do not determine.

    Family defaults resolved per model make e.g. ``lr`` vary together with ``model``; such a
    column adds no new configurations, so it is left out of tables and, crucially, is not
    used to split the runs into contexts (which would leave ``model=gan`` and ``model=vae``
    in different contexts with nothing to compare).
    """
    chosen = list(dict.fromkeys(c for c in first if c and c in runs))
    for column in varying_columns(runs, configuration_columns(runs)):
        if column not in chosen and not determined_by(runs, chosen, column):
            chosen.append(column)
    return chosen


def finite_values(values) -> np.ndarray:
    """Float array of the finite entries (a NaN metric in a finished run is not a replicate)."""
    x = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    return x[np.isfinite(x)]


def bootstrap_interval(values, *, resamples: int = RESAMPLES, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean; ``(nan, nan)`` when n < 2."""
    if resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x = finite_values(values)
    if x.size < 2:
        return math.nan, math.nan
    result = stats.bootstrap((x,), np.mean, n_resamples=resamples, confidence_level=level,
                             method="percentile", vectorized=True,
                             rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def _summary_row(values, se, *, level: float) -> dict:
    """n, mean, seed std, the runs' resampling standard error (root mean square), the
    effective std (``analysis.inference.effective_variance``) and its t interval."""
    from analysis.inference import effective_variance, t_interval

    x = finite_values(values)
    s = finite_values(se) if se is not None else np.array([])
    mean = float(x.mean()) if x.size else math.nan
    variance = effective_variance(x, s if s.size else None)
    low, high = t_interval(mean, variance, int(x.size), level)
    return {"n": int(x.size), "mean": mean,
            "std": float(x.std(ddof=1)) if x.size >= 2 else math.nan,
            "se_sample": float(np.sqrt(np.mean(s ** 2))) if s.size else math.nan,
            "std_eff": math.sqrt(variance) if math.isfinite(variance) else math.nan,
            "ci_low": low, "ci_high": high}


def _key_order(value):
    """Sort key for mixed config values: numbers by value, then everything else by text."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing or isinstance(value, (bool, np.bool_)):
        return (1, str(value))
    if isinstance(value, (int, float, np.number)):
        return (0, float(value))
    return (1, str(value))


def summarize(runs: pd.DataFrame, metric: str, *, by: list[str],
              level: float = LEVEL) -> pd.DataFrame:
    """Per configuration (``by`` columns): n, mean, std (over seeds), se_sample (the metric's
    own resampling standard error where the runs log one, e.g. ``eval/fid_se``), std_eff,
    the 95 % t interval of the mean on the effective variance (valid at n = 3; see
    ``analysis.inference``), and the seeds used.

    Rows are sorted by the ``by`` values (numbers numerically). A missing ``metric``
    column gives n = 0 rows, not an error: the report still shows what ran.
    """
    from lgm.evaluation.registry import se_key

    values = runs[metric] if metric in runs else pd.Series(np.nan, index=runs.index)
    se_column = se_key(metric)
    ses = runs[se_column] if se_column in runs else None
    seeds = runs["seed"] if "seed" in runs else pd.Series(None, index=runs.index)
    rows = []
    groups = runs.groupby(by, dropna=False, sort=False) if by else [((), runs)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row.update(_summary_row(values.loc[group.index],
                                None if ses is None else ses.loc[group.index], level=level))
        finite = np.isfinite(pd.to_numeric(values.loc[group.index], errors="coerce").to_numpy(dtype=float))
        row["seeds"] = sorted(seeds.loc[group.index][finite].dropna().tolist())
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*by, "n", "mean", "std", "se_sample", "std_eff", "ci_low",
                                        "ci_high", "seeds"])
    if by and len(table):
        order = sorted(range(len(table)), key=lambda i: [_key_order(table.iloc[i][c]) for c in by])
        table = table.iloc[order].reset_index(drop=True)
    return table


def _moments(values) -> tuple[float, float, int]:
    x = finite_values(values)
    return (float(x.mean()) if x.size else math.nan,
            float(x.var(ddof=1)) if x.size >= 2 else math.nan, int(x.size))


def cohen_d(a, b) -> float:
    """Cohen's d = (mean_a − mean_b) / s_pooled (Cohen 1988), with
    s_pooled² = ((n_a − 1) s_a² + (n_b − 1) s_b²) / (n_a + n_b − 2)
    (``analysis.inference.pooled_variance``)."""
    (mean_a, var_a, n_a), (mean_b, var_b, n_b) = _moments(a), _moments(b)
    if n_a < 2 or n_b < 2:
        return math.nan
    pooled = pooled_variance(var_a, n_a, var_b, n_b)
    if not pooled > 0.0:
        return math.nan  # no spread: the standardised difference is undefined, not infinite
    return (mean_a - mean_b) / math.sqrt(pooled)


def hedges_g(a, b) -> float:
    """Hedges' g = d · (1 − 3 / (4(n_a + n_b) − 9)), d's small-sample bias correction: the
    one implementation, ``analysis.inference.hedges_g_eff``, on the seeds' sample variances."""
    (mean_a, var_a, n_a), (mean_b, var_b, n_b) = _moments(a), _moments(b)
    if n_a < 2 or n_b < 2:
        return math.nan
    return hedges_g_eff(mean_a - mean_b, var_a, n_a, var_b, n_b)


@dataclass(frozen=True)
class PairTest:
    """Two samples compared one-sidedly; ``*_opposite`` test the reverse direction."""

    n_first: int
    n_second: int
    t: float
    p_t: float
    p_t_opposite: float
    u: float
    p_u: float
    p_u_opposite: float
    cohen_d: float
    hedges_g: float


def _check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative {alternative!r} unknown; allowed: {', '.join(_ALTERNATIVES)}")
    return "greater" if alternative == "less" else "less"


def _welch(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """(t, one-sided p) of Welch's t on the seeds' sample variances, through the one
    implementation the verdicts use (``analysis.inference.welch``); NaNs with fewer than two
    values a side or no spread on either side (0/0)."""
    (mean_a, var_a, n_a), (mean_b, var_b, n_b) = _moments(a), _moments(b)
    w = welch(mean_a, var_a, n_a, mean_b, var_b, n_b)
    return w.t, (w.p_less if alternative == "less" else w.p_greater)


def mann_whitney(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """(U, one-sided p) of Mann–Whitney's test; NaNs for an empty side. With 3 vs 3 seeds
    the smallest exact p is 1/20 = 0.05: a reference, never what a verdict rests on."""
    if a.size < 1 or b.size < 1:
        return math.nan, math.nan
    result = stats.mannwhitneyu(a, b, alternative=alternative)
    return float(result.statistic), float(result.pvalue)


def pairwise_test(first, second, *, alternative: str) -> PairTest:
    """Is ``first``'s mean ``alternative`` ("less" | "greater") than ``second``'s?

    The p-values are one-sided; note that with 3 vs 3 seeds the smallest possible exact
    Mann–Whitney p is 1/20 = 0.05, so Welch's t is the test a verdict relies on.
    """
    opposite = _check_alternative(alternative)
    a, b = finite_values(first), finite_values(second)
    t, p_t = _welch(a, b, alternative)
    _, p_t_opp = _welch(a, b, opposite)
    u, p_u = mann_whitney(a, b, alternative)
    _, p_u_opp = mann_whitney(a, b, opposite)
    return PairTest(n_first=int(a.size), n_second=int(b.size), t=t, p_t=p_t,
                    p_t_opposite=p_t_opp, u=u, p_u=p_u, p_u_opposite=p_u_opp,
                    cohen_d=cohen_d(a, b), hedges_g=hedges_g(a, b))


@dataclass(frozen=True)
class TrendTest:
    """Rank correlation of (parameter, metric), one-sided in the predicted direction."""

    n: int
    rho: float
    p_rho: float
    p_rho_opposite: float
    tau: float
    p_tau: float
    p_tau_opposite: float


def trend_test(x, y, *, direction: str) -> TrendTest:
    """Spearman's ρ and Kendall's τ-b of ``y`` on ``x``; ``direction``: increasing|decreasing."""
    if direction not in ("increasing", "decreasing"):
        raise ValueError(f"direction {direction!r} unknown; allowed: increasing, decreasing")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        nan = math.nan  # a rank correlation of a constant is undefined
        return TrendTest(int(x.size), nan, nan, nan, nan, nan, nan)
    alternative = "greater" if direction == "increasing" else "less"
    opposite = "less" if alternative == "greater" else "greater"
    rho = stats.spearmanr(x, y, alternative=alternative)
    rho_opp = stats.spearmanr(x, y, alternative=opposite)
    tau = stats.kendalltau(x, y, alternative=alternative)
    tau_opp = stats.kendalltau(x, y, alternative=opposite)
    return TrendTest(n=int(x.size), rho=float(rho.statistic), p_rho=float(rho.pvalue),
                     p_rho_opposite=float(rho_opp.pvalue), tau=float(tau.statistic),
                     p_tau=float(tau.pvalue), p_tau_opposite=float(tau_opp.pvalue))


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values: sort ascending, p_(i) · (m − i + 1), running max, clip at 1.

    NaN entries (tests that could not be run) stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out
