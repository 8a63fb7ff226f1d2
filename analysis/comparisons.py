"""A prediction → the comparisons it is tested by, each with its numbers (no verdicts here).

Every prediction kind is reduced to *comparisons* of two configurations, ``first`` and
``second``, with an expected sign for ``mean(first) − mean(second)`` of the raw metric:

- ``pairwise``: first = ``better``, second = ``worse``; one comparison per *context* (the
  values of the other config keys that vary, e.g. each ``model`` for ``group_by: model``);
- ``ordering``: adjacent pairs of ``order`` (best first), per context;
- ``equivalence``: adjacent pairs of ``values``, expected sign 0 (no difference);
- ``trend``: first = the largest parameter value, second = the smallest, expected sign +
  for ``increasing`` (− for ``decreasing``); test: Spearman's ρ over all runs.

Pairwise-type comparisons carry Welch's t on the configurations' *effective* variances
(``analysis.inference``: the seed variance, floored at the evaluation's own resampling
variance where the metric logs a standard error), the difference and the ratio of means
with 95 % intervals, Hedges' g, the smallest difference the design detects with 80 % power,
the seeds that would settle it, the margin test when the prediction has a margin, and, for
reference, Mann–Whitney U.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contracts.sweep import Prediction
from lgm.evaluation.registry import MINIMIZE, goal, se_key

from analysis.inference import (effective_variance, equivalent, hedges_g_eff, margin_value,
                                minimal_detectable_difference, ratio_interval, seeds_to_settle,
                                t_interval, welch)
from analysis.stats import mann_whitney, naming_columns, trend_test

__all__ = ["Comparison", "comparisons", "contexts", "config_label", "select_value",
           "table_columns", "numeric"]


@dataclass(frozen=True)
class Comparison:
    """Two configurations, what the prediction says about their raw means, and the numbers."""

    context: str            # e.g. "model=gan", or "" when nothing else varies
    first: str              # e.g. "scaling=minus_one_one"
    second: str
    expected_sign: int      # +1: mean(first) predicted > mean(second); −1: <; 0: no difference
    n_min: int              # fewest finite seeds among the compared configurations
    mean_first: float
    mean_second: float
    interval_first: tuple   # 95 % t interval of each mean (effective variance)
    interval_second: tuple
    p_expected: float       # one-sided, predicted direction (Holm-corrected once grouped)
    p_opposite: float       # the opposite direction (equivalence: two-sided), Holm-corrected
    test: str               # what p_* come from, for the report
    margin: float | None = None      # in metric units
    equivalent: bool = False         # the 90 % interval of the difference inside ±margin
    details: dict = field(default_factory=dict)  # diff, intervals, ratio, g, power, raw p, ...


def config_label(values: dict) -> str:
    """``{"scaling": "zero_one", "model": "gan"}`` → ``"scaling=zero_one, model=gan"``."""
    return ", ".join(f"{k}={v}" for k, v in values.items())


def select_value(runs: pd.DataFrame, column: str, value) -> pd.DataFrame:
    """Runs whose ``column`` equals ``value``; a YAML string such as ``"1e-3"`` (PyYAML reads
    it as text) also matches the number 0.001 in a numeric column."""
    if column not in runs:
        return runs.iloc[0:0]
    mask = runs[column] == value
    if not mask.any() and isinstance(value, str):
        try:
            mask = pd.to_numeric(runs[column], errors="coerce") == float(value)
        except ValueError:
            pass
    return runs[mask]


def table_columns(runs: pd.DataFrame, prediction: Prediction | None) -> list[str]:
    """Columns that name a configuration: the parameter, group_by, then what else varies
    independently of them (see :func:`analysis.stats.naming_columns`)."""
    first = [prediction.parameter, prediction.group_by] if prediction else []
    return naming_columns(runs, first)


def contexts(runs: pd.DataFrame, prediction: Prediction) -> list[tuple[str, pd.DataFrame]]:
    """Groups of runs that differ only in the parameter (and in what it determines)."""
    keys = [c for c in table_columns(runs, prediction) if c != prediction.parameter]
    if not keys:
        return [("", runs)]
    groups = [(config_label(dict(zip(keys, k if isinstance(k, tuple) else (k,)))), g)
              for k, g in runs.groupby(keys, dropna=False, sort=False)]
    return sorted(groups, key=lambda item: item[0])


def _column(runs: pd.DataFrame, key: str | None) -> np.ndarray:
    if key is None or key not in runs:
        return np.full(len(runs), np.nan)
    return pd.to_numeric(runs[key], errors="coerce").to_numpy(dtype=float)


def _side(runs: pd.DataFrame, prediction: Prediction, value) -> tuple[np.ndarray, np.ndarray]:
    """(finite metric values, their resampling standard errors) of one configuration."""
    chosen = select_value(runs, prediction.parameter, value)
    y, se = _column(chosen, prediction.metric), _column(chosen, se_key(prediction.metric))
    keep = np.isfinite(y)
    return y[keep], se[keep]


def _pair(context: str, runs: pd.DataFrame, prediction: Prediction, first, second) -> Comparison:
    sign = 0 if prediction.kind == "equivalence" else (-1 if goal(prediction.metric) == MINIMIZE else 1)
    (a, se_a), (b, se_b) = _side(runs, prediction, first), _side(runs, prediction, second)
    mean = lambda x: float(x.mean()) if x.size else math.nan  # noqa: E731
    va, vb = effective_variance(a, se_a), effective_variance(b, se_b)
    w = welch(mean(a), va, a.size, mean(b), vb, b.size)
    margin = None if prediction.margin is None else margin_value(prediction.margin, mean(a), mean(b))
    is_equivalent, p_tost = equivalent(w, margin) if margin is not None else (False, math.nan)
    if sign == 0:
        p_expected, p_opposite = p_tost, min(1.0, 2.0 * min(w.p_less, w.p_greater))
        test = "Welch t (two-sided, Holm) and two one-sided tests"
    else:
        p_expected, p_opposite = (w.p_less, w.p_greater) if sign < 0 else (w.p_greater, w.p_less)
        test = "Welch t (one-sided, Holm)"
    u, p_u = mann_whitney(a, b, alternative="less" if sign <= 0 else "greater")
    ratio = ratio_interval(mean(a), va, a.size, mean(b), vb, b.size)
    return Comparison(
        context=context, first=f"{prediction.parameter}={first}",
        second=f"{prediction.parameter}={second}", expected_sign=sign,
        n_min=min(a.size, b.size), mean_first=mean(a), mean_second=mean(b),
        interval_first=t_interval(mean(a), va, a.size), interval_second=t_interval(mean(b), vb, b.size),
        p_expected=p_expected, p_opposite=p_opposite, test=test, margin=margin,
        equivalent=is_equivalent,
        details={"t": w.t, "df": w.df, "p_t_raw": p_expected, "p_t_opposite_raw": p_opposite,
                 "diff": w.diff, "diff_ci95": w.ci95, "diff_ci90": w.ci90, "se": w.se,
                 "ratio": ratio[0], "ratio_ci95": ratio[1:], "hedges_g": hedges_g_eff(w.diff, va, a.size, vb, b.size),
                 "mdd": minimal_detectable_difference(w.se, w.df),
                 "seeds_needed": seeds_to_settle(w.diff, va, vb), "p_tost": p_tost,
                 "std_first": float(a.std(ddof=1)) if a.size > 1 else math.nan,
                 "std_second": float(b.std(ddof=1)) if b.size > 1 else math.nan,
                 "se_sample_first": _rms(se_a), "se_sample_second": _rms(se_b),
                 "U": u, "p_mann_whitney": p_u, "n_first": int(a.size), "n_second": int(b.size)})


def _rms(values: np.ndarray) -> float:
    x = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(x ** 2))) if x.size else math.nan


def numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")


def _original(column: pd.Series, numbers: pd.Series, value: float):
    """The value as the config wrote it (16, not 16.0), for labels that match the tables."""
    same = column[numbers == value]
    return same.iloc[0] if len(same) else f"{value:g}"


def _trend(context: str, runs: pd.DataFrame, prediction: Prediction, grid: list | None) -> Comparison:
    sign = 1 if prediction.direction == "increasing" else -1
    x, y = numeric(runs[prediction.parameter]), pd.Series(_column(runs, prediction.metric), index=runs.index)
    se = pd.Series(_column(runs, se_key(prediction.metric)), index=runs.index)
    keep = np.isfinite(x) & np.isfinite(y)
    values = sorted(set(numeric(pd.Series(grid, dtype=object)).dropna()) if grid else set(x[keep]))
    counts = [int(((x == v) & keep).sum()) for v in values]
    test = trend_test(x[keep], y[keep], direction=prediction.direction)
    low, high = (values[0], values[-1]) if len(values) >= 2 else (math.nan, math.nan)
    top, bottom = y[keep & (x == high)].to_numpy(), y[keep & (x == low)].to_numpy()
    v_top = effective_variance(top, se[keep & (x == high)].to_numpy())
    v_bottom = effective_variance(bottom, se[keep & (x == low)].to_numpy())
    mean = lambda v: float(v.mean()) if v.size else math.nan  # noqa: E731
    name = lambda v: _original(runs[prediction.parameter], x, v)  # noqa: E731
    return Comparison(
        context=context, first=f"{prediction.parameter}={name(high)}",
        second=f"{prediction.parameter}={name(low)}",
        expected_sign=sign, n_min=min(counts) if len(values) >= 2 else 0,
        mean_first=mean(top), mean_second=mean(bottom),
        interval_first=t_interval(mean(top), v_top, top.size),
        interval_second=t_interval(mean(bottom), v_bottom, bottom.size),
        p_expected=test.p_rho, p_opposite=test.p_rho_opposite, test="Spearman rho (one-sided)",
        details={"rho": test.rho, "p_rho_raw": test.p_rho, "tau": test.tau, "p_kendall": test.p_tau,
                 "p_kendall_opposite": test.p_tau_opposite, "n": test.n,
                 "diff": mean(top) - mean(bottom),
                 "seeds_per_value": dict(zip((f"{v:g}" for v in values), counts))})


def comparisons(runs: pd.DataFrame, prediction: Prediction, grid=None) -> list[Comparison]:
    """Every comparison of ``prediction`` on the usable runs of one sweep, uncorrected."""
    out = []
    for context, group in contexts(runs, prediction):
        if prediction.kind == "trend":
            out.append(_trend(context, group, prediction, grid))
        else:
            compared = prediction.compared
            out += [_pair(context, group, prediction, a, b) for a, b in zip(compared, compared[1:])]
    return out
