"""Over training time: the verdict at every curve point, and whether the metric levelled off.

A run evaluates at ``eval_points`` points of its training (``curve/...`` keys in its
history, each with ``train/step`` and ``time/train_s``, all at one sample count per curve).
Point ``k`` of ``P`` is the same *fraction* ``k/P`` of every run's budget, so in a
wall-clock-matched comparison (``gan_vs_vae``) the points of the two families are matched
in training time too.

- :func:`curve_table`: one row per (run, point): the run's configuration columns, ``point``
  (1..P), ``fraction`` (of the run's own ``train_steps``), ``shared`` (every run has this
  fraction: an extended run also keeps its shorter run's earlier points), ``step``,
  ``time/train_s`` and the ``curve/...`` metrics.
- :func:`verdicts_over_training`: the question's one verdict rule (``analysis.verdict``)
  applied to the runs at each point, with the prediction's metric read as its ``curve/``
  key (``eval/fid`` → ``curve/fid``).
- :func:`levelling`: per configuration, the relative change of the mean over the last
  interval of training, ``(m_P − m_{P−1}) / |m_{P−1}|``, signed so that positive means
  *improving* (by the metric's direction; the raw change for a trend's direction-free
  metric). A configuration improving by more than :data:`STILL_IMPROVING` (5 % over the last
  quarter with 4 points) has not levelled off: the budget, not the model, may decide the
  comparison. Why 5 %: with 3 seeds the seed spread of a configuration's mean FID is 1–4 %
  of the mean in this study's quick runs, so a 5 % move in one quarter of the budget is a
  trend the seeds cannot explain away, while a converged model drifts by less.
- :func:`over_training`: both, and whether the question's verdict is **provisional**: when
  the curves allow a forecast (``analysis.forecast``: at least 4 points per run), when the
  forecast cannot exclude a change of the verdict within 4× the trained time — not merely
  because a configuration still improves (the levelling numbers stay, as information);
  without a forecast (fewer points), a compared configuration still improving or the verdict
  changing at the last point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from contracts.record import TRAIN_SECONDS_KEY
from contracts.sweep import Prediction
from lgm.evaluation.registry import (CURVE_NAMESPACE, MAXIMIZE, PRIMARY_EXTRACTOR, extractor_key,
                                     extractor_of, known_goal, metric_name)

from analysis.forecast import Forecast, forecast_question
from analysis.load import history_frame
from analysis.verdict import evaluate_prediction

__all__ = ["STILL_IMPROVING", "CURVE_PREFIX", "curve_key", "curve_table", "PointVerdict",
           "OverTraining", "verdicts_over_training", "levelling", "over_training",
           "describe_verdicts", "band", "curve_bands"]

STILL_IMPROVING = 0.05
CURVE_PREFIX = f"{CURVE_NAMESPACE}/"
_POINT_COLUMNS = ("point", "fraction", "shared", "step", TRAIN_SECONDS_KEY)


def curve_key(metric: str) -> str:
    """The curve key of a final-evaluation metric: ``eval/fid`` → ``curve/fid``,
    ``eval/mlp/fid`` → ``curve/mlp/fid`` (the same extractor's curve)."""
    key = f"{CURVE_PREFIX}{metric_name(metric)}"
    extractor = extractor_of(metric)
    return key if extractor == PRIMARY_EXTRACTOR else extractor_key(key, extractor)


def _points(history: pd.DataFrame) -> pd.DataFrame:
    if history.empty or "step" not in history:
        return pd.DataFrame()
    curve = [c for c in history.columns if c.startswith(CURVE_PREFIX)]
    if not curve:
        return pd.DataFrame()
    points = history.dropna(subset=curve, how="all")
    keep = ["step", *[c for c in (TRAIN_SECONDS_KEY,) if c in points], *curve]
    return points[keep].drop_duplicates(subset="step", keep="last").sort_values("step")


def _fractions(points: pd.DataFrame, run: pd.Series) -> list[float]:
    """Each point's fraction of the run's own training: ``step / train_steps`` (an extended
    run keeps the shorter run's points, e.g. 1/8, 2/8, 3/8, 4/8, 6/8, 8/8 of ×2, beside a
    from-scratch run's 1/4 ... 4/4); ``k/P`` for a curve that does not end at the run's
    ``train_steps`` (older or hand-made records)."""
    steps = pd.to_numeric(pd.Series([run.get("train_steps")]), errors="coerce").iloc[0]
    if pd.notna(steps) and steps > 0 and len(points) and float(points["step"].iloc[-1]) == float(steps):
        return [round(float(s) / float(steps), 6) for s in points["step"]]
    return [round(k / len(points), 6) for k in range(1, len(points) + 1)]


def curve_table(runs: pd.DataFrame, *, by: list[str]) -> pd.DataFrame:
    """One row per (run, curve point) of ``runs`` that logged a curve (see module docstring).

    ``point`` numbers the distinct fractions of training (1 = the earliest); ``shared`` marks
    the fractions every run has, the ones verdicts and levelling compare (an extension's
    inherited earlier points are kept for the forecast and the figures)."""
    rows = []
    for _, run in runs.iterrows():
        path = run.get("history_path")
        if not isinstance(path, str):
            continue
        points = _points(history_frame(path))
        for fraction, (_, point) in zip(_fractions(points, run), points.iterrows()):
            rows.append({"run_id": run["run_id"], **{c: run[c] for c in by if c in run},
                         **({"seed": run["seed"]} if "seed" in run else {}),
                         "fraction": fraction, **point.to_dict()})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = sorted(table["fraction"].unique())
    table.insert(table.columns.get_loc("fraction"), "point",
                 table["fraction"].map({f: k for k, f in enumerate(order, start=1)}))
    runs_at = table.groupby("fraction")["run_id"].nunique()
    table["shared"] = table["fraction"].map(runs_at == table["run_id"].nunique())
    return table


@dataclass(frozen=True)
class PointVerdict:
    point: int
    fraction: float
    verdict: str
    reason: str


@dataclass
class OverTraining:
    """The verdict over training time and the levelling-off of each configuration."""

    metric: str                                   # the curve key the verdicts read
    points: list = field(default_factory=list)    # PointVerdict per curve point
    levels: pd.DataFrame = field(default_factory=pd.DataFrame)
    still_improving: list = field(default_factory=list)  # configuration labels
    changed_at_end: bool = False
    provisional: bool = False
    reason: str = ""
    forecast: Forecast | None = None   # the curves' forecast (None: too few points)
    bands: pd.DataFrame = field(default_factory=pd.DataFrame)  # curve_bands of `metric`: the figure


def verdicts_over_training(curves: pd.DataFrame, runs: pd.DataFrame, prediction: Prediction, *,
                           grid=None) -> list[PointVerdict]:
    """The question's verdict at each curve point (same rule, the curve's metric)."""
    key = curve_key(prediction.metric)
    if curves.empty or key not in curves:
        return []
    curve_prediction = replace(prediction, metric=key)
    config_columns = [c for c in runs.columns if "/" not in c]
    out = []
    for point, group in curves[curves["shared"]].groupby("point", sort=True):
        at_point = runs[config_columns].merge(group[["run_id", key]], on="run_id", how="inner")
        result = evaluate_prediction(at_point, curve_prediction, grid=grid)
        out.append(PointVerdict(int(point), float(group["fraction"].iloc[0]), result.verdict, result.reason))
    return out


def _label(row: pd.Series, by: list[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in by) or "all runs"


def levelling(curves: pd.DataFrame, *, metric: str, by: list[str]) -> pd.DataFrame:
    """Per configuration: the mean metric at the last two points and the relative change
    between them, positive = improving (see the module docstring)."""
    key = curve_key(metric)
    if curves.empty or key not in curves:
        return pd.DataFrame()
    goal = known_goal(metric)
    sign = 1.0 if goal in (MAXIMIZE, None) else -1.0
    rows = []
    groups = curves.groupby(by, dropna=False, sort=True) if by else [((), curves)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        means = group[group["shared"]].groupby("point")[key].mean().sort_index()
        if len(means) < 2:
            continue
        before, last = float(means.iloc[-2]), float(means.iloc[-1])
        change = sign * (last - before) / abs(before) if before else math.nan
        rows.append({**dict(zip(by, values)), "label": _label(pd.Series(dict(zip(by, values))), by),
                     "from_fraction": float(group.loc[group["point"] == means.index[-2], "fraction"].iloc[0]),
                     "mean_before": before, "mean_last": last, "relative_improvement": change,
                     "still_improving": bool(change > STILL_IMPROVING) if goal else bool(abs(change) > STILL_IMPROVING)})
    return pd.DataFrame(rows)


def describe_verdicts(points: list) -> str:
    """E.g. ``contradicted at 25 %, supported from 50 %`` (runs of equal verdicts merged)."""
    if not points:
        return "no curve points"
    parts, start = [], 0
    for i in range(1, len(points) + 1):
        if i == len(points) or points[i].verdict != points[start].verdict:
            first, last = points[start], points[i - 1]
            if i == len(points) and start > 0:
                parts.append(f"{first.verdict} from {first.fraction:.0%}")
            elif first is last:
                parts.append(f"{first.verdict} at {first.fraction:.0%}")
            else:
                parts.append(f"{first.verdict} at {first.fraction:.0%}–{last.fraction:.0%}")
            start = i
    return ", ".join(parts).replace("%", " %")


def over_training(runs: pd.DataFrame, prediction: Prediction, *, by: list[str], grid=None,
                  final_verdict: str | None = None,
                  judgements: list | None = None) -> OverTraining | None:
    """Verdicts along training, levelling-off and the forecast for one question; None without
    curves. ``judgements``: the rule's, one per comparison (they decide what a change is)."""
    curves = curve_table(runs, by=by)
    key = curve_key(prediction.metric)
    if curves.empty or key not in curves:
        return None
    points = verdicts_over_training(curves, runs, prediction, grid=grid)
    compared = [c for c in (prediction.parameter, prediction.group_by) if c]
    levels = levelling(curves, metric=prediction.metric, by=[c for c in by if c in curves] or compared)
    improving = list(levels.loc[levels["still_improving"], "label"]) if not levels.empty else []
    before_end = points[-2].verdict if len(points) >= 2 else None
    at_end = final_verdict or (points[-1].verdict if points else None)
    changed = before_end is not None and at_end is not None and before_end != at_end
    reasons = []
    if improving:
        reasons.append(f"still improving by more than {STILL_IMPROVING:.0%} over the last interval: "
                       + "; ".join(improving))
    if changed:
        reasons.append(f"the verdict changed from {before_end} at {points[-2].fraction:.0%} of "
                       f"training to {at_end} at the end")
    verdicts = [j.verdict for j in judgements] if judgements else None
    forecast = forecast_question(curves, runs, prediction, key=key, grid=grid, verdicts=verdicts)
    if forecast is not None and verdicts is not None:
        provisional = forecast.provisional  # the forecast decides; levelling is information
        reason = forecast.reason + ("" if not reasons else " (" + "; ".join(reasons).replace("%", " %") + ")")
    else:
        provisional, reason = bool(reasons), "; ".join(reasons).replace("%", " %")
    return OverTraining(metric=key, points=points, levels=levels, still_improving=improving,
                        changed_at_end=changed, provisional=provisional, reason=reason, forecast=forecast,
                        bands=curve_bands(curves, key=key, by=by))


def curve_bands(curves: pd.DataFrame, *, key: str, by: list[str]) -> pd.DataFrame:
    """Per configuration (``label``) and curve point: mean training time and step, and the
    seeds' :func:`band` of ``key`` (mean, low, high) — what the over-training figure draws."""
    from analysis.comparisons import config_label

    if curves.empty or key not in curves:
        return pd.DataFrame(columns=["label", "point", "seconds", "step", "mean", "low", "high"])
    names = [c for c in by if c in curves]
    labels = (curves[names].apply(lambda row: config_label(row.to_dict()), axis=1) if names
              else pd.Series("all runs", index=curves.index))
    rows = []
    for (label, point), group in curves.groupby([labels, curves["point"]], sort=True):
        seconds = float(group[TRAIN_SECONDS_KEY].mean()) if TRAIN_SECONDS_KEY in group else math.nan
        mean, low, high = band(group[key])
        rows.append({"label": label, "point": point, "seconds": seconds,
                     "step": float(group["step"].mean()), "mean": mean, "low": low, "high": high})
    return pd.DataFrame(rows)


def band(values) -> tuple[float, float, float]:
    """(mean, low, high) of the seeds at a point: the range of the seeds (n is small)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if not x.size:
        return math.nan, math.nan, math.nan
    return float(x.mean()), float(x.min()), float(x.max())
