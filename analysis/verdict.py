"""One rule turns a sweep's prediction and its runs into supported / contradicted / inconclusive.

Every prediction kind is reduced to *comparisons* between two configurations, ``first``
and ``second``, with an expected sign for ``mean(first) − mean(second)`` of the raw metric:

- ``pairwise``: first = ``better``, second = ``worse``; one comparison per *context* (the
  values of the other config keys that vary, e.g. each ``model`` for ``group_by: model``).
  Test: Welch's t, one-sided in the predicted direction.
- ``ordering``: adjacent pairs of ``order`` (best first), per context; Welch's t as above.
- ``trend``: first = the largest parameter value, second = the smallest, expected sign +
  for ``increasing`` (− for ``decreasing``); test: Spearman's ρ over all runs, one-sided.

The p-values of all comparisons of one question are Holm-corrected together (separately
for the predicted and for the opposite direction). Then, with α = 0.05:

**Rule.** A comparison is *inconclusive* when either configuration has fewer than 3
finished seeds (for trend: any grid value). Otherwise let *disjoint* mean that the two 95 %
bootstrap intervals of the means do not overlap. There is evidence *for* the prediction
when the corrected one-sided p in the predicted direction is < α, or the intervals are
disjoint with the means in the predicted order; evidence *against* it when the corrected
p in the opposite direction is < α, or the intervals are disjoint with the means in the
opposite order. For only → *supported*; against only → *contradicted*; neither (intervals
overlap and no corrected test is significant) or both (the rank test and the endpoint
intervals disagree, only possible for trend) → *inconclusive*.

A question is *contradicted* if any comparison is, *supported* if all are, else
*inconclusive* (also when no comparison could be formed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from contracts.sweep import Prediction
from lgm.evaluation.registry import MINIMIZE, goal

from analysis.stats import (RESAMPLES, bootstrap_interval, finite_values, holm, naming_columns,
                            pairwise_test, summarize, trend_test)

__all__ = ["ALPHA", "MIN_SEEDS", "VERDICTS", "Comparison", "Judgement", "QuestionResult",
           "judge", "overall_verdict", "evaluate_prediction", "config_label", "select_value"]

ALPHA = 0.05
MIN_SEEDS = 3
VERDICTS = ("supported", "contradicted", "inconclusive")


@dataclass(frozen=True)
class Comparison:
    """Two configurations and what the prediction says about their raw means."""

    context: str            # e.g. "model=gan", or "" when nothing else varies
    first: str              # e.g. "scaling=minus_one_one"
    second: str
    expected_sign: int      # +1: mean(first) predicted > mean(second); −1: predicted <
    n_min: int              # fewest finite seeds among the compared configurations
    mean_first: float
    mean_second: float
    interval_first: tuple
    interval_second: tuple
    p_expected: float       # one-sided, predicted direction (Holm-corrected once grouped)
    p_opposite: float
    test: str               # what p_* come from, for the report
    details: dict = field(default_factory=dict)  # other statistics (U, d, g, ρ, τ, raw p)


@dataclass(frozen=True)
class Judgement:
    verdict: str
    reason: str


@dataclass
class QuestionResult:
    """Everything the report needs to say about one prediction."""

    prediction: Prediction
    table: pd.DataFrame                   # per configuration: n, mean, std, interval
    comparisons: list = field(default_factory=list)
    judgements: list = field(default_factory=list)
    verdict: str = "inconclusive"
    reason: str = ""


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _disjoint(a: tuple, b: tuple) -> bool:
    if not all(math.isfinite(v) for v in (*a, *b)):
        return False
    return a[1] < b[0] or b[1] < a[0]


def judge(c: Comparison, *, alpha: float = ALPHA, min_seeds: int = MIN_SEEDS) -> Judgement:
    """Apply the module's rule to one comparison."""
    if c.n_min < min_seeds:
        return Judgement("inconclusive", f"{c.first} vs {c.second}: fewer than {min_seeds} "
                                         f"finished seeds for a compared configuration (n = {c.n_min})")
    diff = c.mean_first - c.mean_second
    observed = int(np.sign(diff)) if math.isfinite(diff) else 0
    disjoint = _disjoint(c.interval_first, c.interval_second)
    evidence_for = c.p_expected < alpha or (disjoint and observed == c.expected_sign)
    evidence_against = c.p_opposite < alpha or (disjoint and observed == -c.expected_sign)
    where = f"{c.first} vs {c.second}" + (f" ({c.context})" if c.context else "")
    intervals = "disjoint" if disjoint else "overlapping"
    numbers = (f"{c.test} p = {_fmt_p(c.p_expected)} (predicted direction), "
               f"p = {_fmt_p(c.p_opposite)} (opposite); 95 % intervals {intervals}")
    if evidence_for and not evidence_against:
        return Judgement("supported", f"{where}: as predicted; {numbers}")
    if evidence_against and not evidence_for:
        return Judgement("contradicted", f"{where}: opposite to the prediction; {numbers}")
    if evidence_for and evidence_against:
        return Judgement("inconclusive", f"{where}: rank test and endpoint intervals disagree; {numbers}")
    return Judgement("inconclusive", f"{where}: no significant difference; {numbers}")


def overall_verdict(judgements: list) -> Judgement:
    """Contradicted if any comparison is, supported if all are, else inconclusive."""
    if not judgements:
        return Judgement("inconclusive", "no comparison could be formed from the finished runs")
    verdicts = [j.verdict for j in judgements]
    count = f"{verdicts.count('supported')}/{len(verdicts)} comparisons supported"
    if "contradicted" in verdicts:
        return Judgement("contradicted", f"{verdicts.count('contradicted')} comparison(s) "
                                         f"contradict the prediction; {count}")
    if all(v == "supported" for v in verdicts):
        return Judgement("supported", count)
    return Judgement("inconclusive", count)


# --------------------------------------------------------------------------- comparisons

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


def _contexts(runs: pd.DataFrame, prediction: Prediction) -> list[tuple[str, pd.DataFrame]]:
    """Groups of runs that differ only in the parameter (and in what it determines)."""
    keys = [c for c in table_columns(runs, prediction) if c != prediction.parameter]
    if not keys:
        return [("", runs)]
    groups = [(config_label(dict(zip(keys, k if isinstance(k, tuple) else (k,)))), g)
              for k, g in runs.groupby(keys, dropna=False, sort=False)]
    return sorted(groups, key=lambda item: item[0])


def _pair(context: str, runs: pd.DataFrame, prediction: Prediction, first, second,
          resamples: int, seed: int) -> Comparison:
    sign = -1 if goal(prediction.metric) == MINIMIZE else 1
    a = finite_values(select_value(runs, prediction.parameter, first).get(prediction.metric, []))
    b = finite_values(select_value(runs, prediction.parameter, second).get(prediction.metric, []))
    test = pairwise_test(a, b, alternative="less" if sign < 0 else "greater")
    mean = lambda x: float(x.mean()) if x.size else math.nan  # noqa: E731
    return Comparison(
        context=context, first=f"{prediction.parameter}={first}",
        second=f"{prediction.parameter}={second}", expected_sign=sign,
        n_min=min(a.size, b.size), mean_first=mean(a), mean_second=mean(b),
        interval_first=bootstrap_interval(a, resamples=resamples, seed=seed),
        interval_second=bootstrap_interval(b, resamples=resamples, seed=seed),
        p_expected=test.p_t, p_opposite=test.p_t_opposite, test="Welch t (one-sided, Holm)",
        details={"t": test.t, "p_t_raw": test.p_t, "U": test.u, "p_mann_whitney": test.p_u,
                 "p_mann_whitney_opposite": test.p_u_opposite, "cohen_d": test.cohen_d,
                 "hedges_g": test.hedges_g, "n_first": test.n_first, "n_second": test.n_second})


def _numeric(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")


def _original(column: pd.Series, numeric: pd.Series, value: float):
    """The value as the config wrote it (16, not 16.0), for labels that match the tables."""
    same = column[numeric == value]
    return same.iloc[0] if len(same) else f"{value:g}"


def _trend(context: str, runs: pd.DataFrame, prediction: Prediction, grid: list | None,
           resamples: int, seed: int) -> Comparison:
    sign = 1 if prediction.direction == "increasing" else -1
    metric = runs[prediction.metric] if prediction.metric in runs else pd.Series(np.nan, index=runs.index)
    x, y = _numeric(runs[prediction.parameter]), pd.to_numeric(metric, errors="coerce")
    keep = np.isfinite(x) & np.isfinite(y)
    values = sorted(set(_numeric(pd.Series(grid, dtype=object)).dropna()) if grid else set(x[keep]))
    counts = [int(((x == v) & keep).sum()) for v in values]
    test = trend_test(x[keep], y[keep], direction=prediction.direction)
    low, high = (values[0], values[-1]) if len(values) >= 2 else (math.nan, math.nan)
    top, bottom = y[keep & (x == high)].to_numpy(), y[keep & (x == low)].to_numpy()
    mean = lambda v: float(v.mean()) if v.size else math.nan  # noqa: E731
    name = lambda v: _original(runs[prediction.parameter], x, v)  # noqa: E731
    return Comparison(
        context=context, first=f"{prediction.parameter}={name(high)}",
        second=f"{prediction.parameter}={name(low)}",
        expected_sign=sign, n_min=min(counts) if len(values) >= 2 else 0,
        mean_first=mean(top), mean_second=mean(bottom),
        interval_first=bootstrap_interval(top, resamples=resamples, seed=seed),
        interval_second=bootstrap_interval(bottom, resamples=resamples, seed=seed),
        p_expected=test.p_rho, p_opposite=test.p_rho_opposite, test="Spearman rho (one-sided)",
        details={"rho": test.rho, "p_rho_raw": test.p_rho, "tau": test.tau, "p_kendall": test.p_tau,
                 "p_kendall_opposite": test.p_tau_opposite, "n": test.n,
                 "seeds_per_value": dict(zip((f"{v:g}" for v in values), counts))})


def _comparisons(runs: pd.DataFrame, prediction: Prediction, grid, resamples, seed) -> list:
    out = []
    for context, group in _contexts(runs, prediction):
        if prediction.kind == "pairwise":
            out.append(_pair(context, group, prediction, prediction.better, prediction.worse,
                             resamples, seed))
        elif prediction.kind == "ordering":
            out += [_pair(context, group, prediction, a, b, resamples, seed)
                    for a, b in zip(prediction.order, prediction.order[1:])]
        else:
            out.append(_trend(context, group, prediction, grid, resamples, seed))
    return out


def _corrected(comparisons: list) -> list:
    if len(comparisons) < 2:
        return comparisons
    p_for = holm([c.p_expected for c in comparisons])
    p_against = holm([c.p_opposite for c in comparisons])
    test = lambda c: c.test if "Holm" in c.test else c.test.replace(")", ", Holm)")  # noqa: E731
    return [replace(c, p_expected=float(f), p_opposite=float(a), test=test(c))
            for c, f, a in zip(comparisons, p_for, p_against)]


def _in_predicted_order(table: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """Rows in the prediction's order (better before worse, ``order`` best first); stable."""
    ranked = list(prediction.order) or ([prediction.better, prediction.worse]
                                        if prediction.kind == "pairwise" else [])
    if not ranked or table.empty or prediction.parameter not in table:
        return table
    position = {repr(v): i for i, v in enumerate(ranked)}
    others = [c for c in table.columns[:table.columns.get_loc("n")] if c != prediction.parameter]
    context = [repr(tuple(row)) for row in table[others].itertuples(index=False)]
    first_seen = {c: i for i, c in reversed(list(enumerate(context)))}  # keep contexts grouped
    keys = [(first_seen[c], position.get(repr(v), len(ranked)))
            for c, v in zip(context, table[prediction.parameter])]
    order = sorted(range(len(table)), key=lambda i: keys[i])
    return table.iloc[order].reset_index(drop=True)


def table_columns(runs: pd.DataFrame, prediction: Prediction | None) -> list[str]:
    """Columns that name a configuration: the parameter, group_by, then what else varies
    independently of them (see :func:`analysis.stats.naming_columns`)."""
    first = [prediction.parameter, prediction.group_by] if prediction else []
    return naming_columns(runs, first)


def evaluate_prediction(runs: pd.DataFrame, prediction: Prediction, *, grid: list | None = None,
                        resamples: int = RESAMPLES, seed: int = 0) -> QuestionResult:
    """Test ``prediction`` on the usable runs of one sweep (finished, not set aside).

    ``grid``: the parameter's values in the sweep file, so a trend value with no finished
    run still counts as a configuration with fewer than 3 seeds.
    """
    table = summarize(runs, prediction.metric, by=table_columns(runs, prediction),
                      resamples=resamples, seed=seed)
    result = QuestionResult(prediction=prediction, table=_in_predicted_order(table, prediction))
    missing = [c for c in (prediction.parameter, prediction.group_by) if c and c not in runs]
    if missing:
        result.reason = f"config key(s) {', '.join(missing)} not found in the runs' configs"
        return result
    if prediction.metric not in runs or finite_values(runs[prediction.metric]).size == 0:
        result.reason = f"metric {prediction.metric!r} was not logged by any usable run"
        return result
    if prediction.kind == "trend" and _numeric(runs[prediction.parameter]).isna().any():
        values = sorted(map(str, runs[prediction.parameter].unique()))
        result.reason = (f"a trend needs a numeric parameter; {prediction.parameter} has "
                         f"values {', '.join(values)}")
        return result
    result.comparisons = _corrected(_comparisons(runs, prediction, grid, resamples, seed))
    result.judgements = [judge(c) for c in result.comparisons]
    final = overall_verdict(result.judgements)
    result.verdict, result.reason = final.verdict, final.reason
    return result
