"""Will more training change the verdict? A forecast of each configuration's training curve.

**Per configuration.** The seeds' curves (``curve/<metric>`` against training time, from
:func:`analysis.curves.curve_table`) are fitted together with one of three forms
(:data:`FORMS`), one shape shared by all seeds (the configuration's training dynamics) and
each seed's own level and scale:

- ``power``: ``m_s(t) = a_s + b_s·(t/t_ref)^(−c)``, ``c > 0`` — a power law that saturates at
  ``a_s``; the usual shape of loss and FID against compute (Kaplan et al. 2020; Hestness et
  al. 2017);
- ``exponential``: ``m_s(t) = a_s + b_s·exp(−k·t/t_ref)`` — saturates faster (a model that
  has nearly converged);
- ``pure power``: ``m_s(t) = b_s·t^c`` — no floor (log-log linear with a common slope;
  needs positive values).

Why a shared shape: with 4 points per run a per-seed 3-parameter fit's exponent swings from
0.1 to 1 between seeds at 1 % noise (simulated), useless at 4×; seeds share their dynamics.
Training time is ``step × the run's median (time/train_s / step)``: seconds, as a
wall-clock-matched comparison needs, without the bends a shared machine's load puts into a
run's clock (one session's quick runs took 220 to 1,100 s per epoch).

For fixed ``c`` (or ``k``) the others are linear least squares, so each form is fitted by
profiling the summed squared error over a fixed grid of :data:`GRID_SIZE` shape values
(deterministic, vectorised; the pure power law in closed form). A metric whose observed
values are all positive (FID, KID) gets a floor ``a ≥ 0``: without it a still nearly linear
decline (the quick DCGAN's 57.6, 46.6, 36.3, 32.0 over its 4 epochs) is fitted best by
``c → 0`` with a floor far below zero — a log-linear trend that forecasts an FID of 3 at 5×
the budget, where 14.3 was measured.

**Which form: held-out accuracy.** Per configuration, every form is fitted to the seeds'
points without their last quarter (at least the last point) and scored by the mean relative
error of its prediction of the held-out points; the smallest error wins (ties: the earlier in
:data:`FORMS`). Three forms, not one: a model far from converged and one that has flattened
need different shapes, and the data, not a prior, should say which (the pure power law keeps
improving, the exponential stops early, the saturating power law sits between). On noise-free
curves of each form the score picks the form that made them; on the quick DCGAN's real curves
(``tests/fixtures/settle``) the pure power law won, 5.9 % against 6.9 % (exponential) and
7.3 % (power), and forecast the full budget within 12 % (``tests/test_forecast.py``).

**Uncertainty over seeds: the jackknife.** The configuration's forecast at time ``t`` is the
mean over seeds; its interval is a t interval (``n − 1`` df) over the jackknife pseudo-values
``n·θ − (n − 1)·θ₍ᵢ₎``, ``θ₍ᵢ₎`` refitted without seed ``i`` — shared shape included — so
the shape's uncertainty is in the interval (with the shape held fixed the pseudo-values are
exactly the seeds' own forecasts, and the interval the verdict's t interval of a mean;
Quenouille 1956, Tukey 1958). The error of the form itself is not covered by that alone;
so every form whose held-out error is within :data:`COMPETITIVE` × the best's widens the
interval to the hull of its own (forms the data cannot tell apart forecast differently).
Coverage of the whole procedure, selection included, measured by simulation (3 seeds ×
4 points, seed effects on level and scale, 90 % intervals at 4× the trained time, 300 trials
each; ``tests/test_forecast.py`` re-measures one case): true curves ``a + b·u^−0.6`` 0.89,
0.91, 0.91 and ``a + b·e^(−0.8u)`` 0.90, 0.84, 0.83 at point noise 0.3 %, 1 %, 1.5 % of the
value; with the chosen form alone (before the floor constraint) 0.88, 0.59, 0.41 and 0.81,
0.57, 0.35.

**Sample size.** Curve points are at the curve's N (2,000 at ``quick``), the final ``eval/...``
at N = 10,000, and FID is biased upward at small N (its bias is ≈ k/N, Chong & Forsyth 2020).
Each seed's forecast is shifted by its own ``eval/<metric> − curve/<metric>`` at the last curve
point (the same model at both N), so forecasts are on the final evaluation's scale; only the
points at the last point's N are fitted.

**Per comparison** (the prediction's compared pairs, ``analysis.comparisons``): the gap
``g(t) = m_first(t) − m_second(t)`` with a Welch interval from the two sets of pseudo-values, on a
time grid from ``t_now`` (the later of the two configurations' trained times) to
:data:`FAR` × ``t_now``. The gap is *closing* / *widening* / *steady* by its relative size
``|g| / mean(|m|)`` at the horizon against now (more than :data:`STEADY` either way), or
*closing* when its point forecast changes sign. The crossing time is where the point forecast
changes sign; its :data:`LEVEL` confidence set is every ``t`` whose gap interval contains 0
(test inversion: the true crossing ``t*`` has ``g(t*) = 0``, so it lies in the set with
probability ≥ LEVEL).

**Provisional.** A verdict is provisional when the forecast cannot exclude a change within the
horizon, :data:`HORIZON` × the trained time (not merely because a configuration still
improves): supported/contradicted — some gap interval in the window reaches 0 (a crossing, or
for an ordering/trend a change of order, cannot be excluded); no measurable difference or a
supported equivalence — some interval leaves ±margin; an equivalence contradicted — some
interval reaches inside ±margin; inconclusive — the forecast expects a decision (an interval
excludes 0, or lies inside ±margin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from contracts.sweep import Prediction
from lgm.evaluation.registry import MINIMIZE, goal

from analysis.comparisons import contexts, numeric, select_value
from analysis.inference import margin_value

__all__ = ["FORMS", "HORIZON", "LEVEL", "FAR", "STEADY", "CurveFit", "GapForecast", "Forecast",
           "fit_configuration", "forecast_gap", "forecast_question", "fit_form", "fit_shared", "predict_form"]

FORMS = ("power", "exponential", "pure power")
HORIZON = 4.0      # provisional: a change cannot be excluded before HORIZON × the trained time
LEVEL = 0.90       # two-sided level of every forecast interval (one-sided 0.05 each way)
FAR = 100.0        # the crossing search reaches FAR × the trained time
STEADY = 0.10      # a relative gap changing by less than this to the horizon is "steady"
COMPETITIVE = 3.0  # forms within this factor of the best held-out error widen the intervals
GRID_SIZE = 160
MIN_POINTS = 4     # fewer curve points: no forecast (nothing left to hold out)
_SHAPES = {"power": np.geomspace(0.02, 4.0, GRID_SIZE), "exponential": np.geomspace(0.05, 30.0, GRID_SIZE)}


# --------------------------------------------------------------------------- one form, one seed

def _basis(form: str, t: np.ndarray, shape: np.ndarray, t_ref: float) -> np.ndarray:
    """The form's nonlinear term for each shape value: (len(shape), len(t))."""
    if form == "power":
        return (t[None, :] / t_ref) ** (-shape[:, None])
    return np.exp(-shape[:, None] * t[None, :] / t_ref)


def fit_form(form: str, t, y) -> np.ndarray | None:
    """Least-squares fit of one form to one curve: ``[a, b, shape, t_ref]``, or None when
    the points cannot be fitted (too few, or non-positive values for the pure power law)."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y) & (t > 0)
    params = fit_shared(form, [(t[keep], y[keep])])
    return None if params is None else params[0]


def predict_form(form: str, params: np.ndarray, t) -> np.ndarray:
    """The fitted form at times ``t``."""
    a, b, shape, t_ref = params
    t = np.asarray(t, dtype=float)
    if form == "pure power":
        return b * t ** shape
    if form == "power":
        return a + b * (t / t_ref) ** (-shape)
    return a + b * np.exp(-shape * t / t_ref)


def _profile(form: str, t: np.ndarray, y: np.ndarray, t_ref: float, *, nonnegative: bool):
    """(a, b, sse) of one curve for every shape value of the grid; ``nonnegative``: the floor
    ``a`` is constrained to ``a ≥ 0`` (least squares on the boundary ``a = 0`` where the free
    fit would put it below: convex in (a, b) for a fixed shape, so that is the optimum)."""
    x = _basis(form, t, _SHAPES[form], t_ref)
    xc = x - x.mean(axis=1, keepdims=True)
    sxx = (xc ** 2).sum(axis=1)
    b = np.where(sxx > 0, (xc * (y - y.mean())).sum(axis=1) / np.where(sxx > 0, sxx, 1.0), 0.0)
    a = y.mean() - b * x.mean(axis=1)
    if nonnegative:
        below = a < 0
        b = np.where(below, (x * y[None, :]).sum(axis=1) / (x ** 2).sum(axis=1), b)
        a = np.where(below, 0.0, a)
    return a, b, ((y[None, :] - a[:, None] - b[:, None] * x) ** 2).sum(axis=1)


def fit_shared(form: str, series: list) -> np.ndarray | None:
    """One form fitted to several seeds' curves with one shape shared by all (``c``, ``k``
    or the pure power law's exponent: the configuration's training dynamics) and each seed's
    own level and scale: least squares over all points. (seeds, 4) parameters, or None."""
    if not series:
        return None
    if form == "pure power":
        if any(len(t) < 2 or np.any(y <= 0) for t, y in series):
            return None
        logs = [(np.log(t), np.log(y)) for t, y in series]
        sxx = sum(((x - x.mean()) ** 2).sum() for x, _ in logs)
        if sxx <= 0:
            return None
        slope = sum(((x - x.mean()) * (v - v.mean())).sum() for x, v in logs) / sxx
        return np.array([[0.0, math.exp(v.mean() - slope * x.mean()), slope, 1.0] for x, v in logs])
    if any(len(t) < 3 for t, _ in series):
        return None
    t_ref = float(max(t.max() for t, _ in series))
    nonnegative = all(np.all(y > 0) for _, y in series)  # FID, KID: never forecast below 0
    profiles = [_profile(form, t, y, t_ref, nonnegative=nonnegative) for t, y in series]
    best = int(np.argmin(sum(sse for _, _, sse in profiles)))
    return np.array([[a[best], b[best], _SHAPES[form][best], t_ref] for a, b, _ in profiles])


# --------------------------------------------------------------------------- one configuration

@dataclass(frozen=True, eq=False)
class CurveFit:
    """One configuration's forecast: the chosen form fitted to each seed, and the other forms
    whose held-out error is within :data:`COMPETITIVE` × the best (their spread is model
    uncertainty, and every interval covers them all)."""

    label: str
    form: str
    held_out: dict            # form → mean relative error on the held-out points (nan: not eligible)
    params: dict              # form → (seeds, 4) per-seed parameters, the competitive forms
    leave_one_out: dict       # form → per left-out seed, the others' (seeds − 1, 4) parameters
    shift: np.ndarray         # (seeds,) eval/<metric> − curve/<metric> at the last point
    t_last: float             # mean over seeds of the last trained time
    points: int               # curve points per seed (the fewest)

    @property
    def seeds(self) -> int:
        return len(self.shift)

    def _mean(self, params: np.ndarray, shift: np.ndarray, form: str, t: np.ndarray) -> np.ndarray:
        return np.mean([predict_form(form, p, t) + s for p, s in zip(params, shift)], axis=0)

    def per_seed(self, t, form: str | None = None) -> np.ndarray:
        """(seeds, len(t)): the jackknife pseudo-values of the configuration's mean forecast
        (``form``: default the chosen one) on the final evaluation's scale,
        ``n·θ − (n − 1)·θ₍ᵢ₎`` with ``θ₍ᵢ₎`` refitted without seed ``i`` (shared shape
        included); with the shape held fixed they are exactly the seeds' own forecasts."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        form = form or self.form
        n, full = self.seeds, self._mean(self.params[form], self.shift, form, t)
        keep = [np.arange(n) != i for i in range(n)]
        out = [n * full - (n - 1) * self._mean(loo, self.shift[k], form, t)
               for loo, k in zip(self.leave_one_out[form], keep)]
        return np.stack(out)

    def mean_interval(self, t, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) over seeds at times ``t``: the chosen form's mean; the hull of each
        competitive form's t interval (n − 1 df)."""
        mean, low, high = None, None, None
        for form in self.params:
            values = self.per_seed(t, form)
            m, n = values.mean(axis=0), len(values)
            half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(axis=0, ddof=1) / math.sqrt(n)
            low = m - half if low is None else np.minimum(low, m - half)
            high = m + half if high is None else np.maximum(high, m + half)
            mean = m if form == self.form else mean
        return mean, low, high


def _held_out_error(form: str, series: list) -> float:
    """Mean relative error predicting each seed's last quarter (at least its last point)
    from the shared fit to the points before it; nan when the form cannot be fitted there."""
    hold = [max(1, len(t) // 4) for t, _ in series]
    if any(len(t) - h < 3 for (t, _), h in zip(series, hold)):
        return math.nan
    params = fit_shared(form, [(t[:-h], y[:-h]) for (t, y), h in zip(series, hold)])
    if params is None:
        return math.nan
    errors = [np.abs(predict_form(form, p, t[-h:]) - y[-h:]) / np.maximum(np.abs(y[-h:]), 1e-12)
              for p, (t, y), h in zip(params, series, hold)]
    return float(np.mean(np.concatenate(errors)))


def _series(curves: pd.DataFrame, key: str) -> list:
    """Per run: (run_id, times, values) at the last point's sample count, in time order."""
    time = "time/train_s" if "time/train_s" in curves and curves["time/train_s"].notna().all() else "step"
    n_col = f"{key.split('/', 1)[0]}/num_samples"
    order = curves.sort_values(["run_id", "step" if "step" in curves else time], kind="stable")
    ids = order["run_id"].to_numpy()
    t = order[time].to_numpy(dtype=float, copy=True)
    y = pd.to_numeric(order[key], errors="coerce").to_numpy(dtype=float)
    n = order[n_col].to_numpy(dtype=float) if n_col in order else np.full(len(order), np.nan)
    out = []
    steps = order["step"].to_numpy(dtype=float) if "step" in order and time != "step" else None
    for run_id in pd.unique(ids):
        at = ids == run_id
        if steps is not None and np.all(steps[at] > 0):
            # training seconds = steps × the run's median seconds per step: a busy machine
            # during one stretch (or an extension trained later) does not bend the time axis
            t[at] = steps[at] * np.median(t[at] / steps[at])
        keep = np.isfinite(y[at])
        last_n = n[at][keep][-1] if keep.any() else np.nan
        if np.isfinite(last_n):
            keep &= n[at] == last_n
        out.append((run_id, t[at][keep], y[at][keep]))
    return out


def fit_configuration(curves: pd.DataFrame, runs: pd.DataFrame, *, key: str, metric: str,
                      label: str) -> CurveFit | None:
    """Fit one configuration's runs (their rows of ``curves``); None with fewer than
    :data:`MIN_POINTS` points per run or fewer than 2 runs."""
    if curves.empty or key not in curves:
        return None
    series = [s for s in _series(curves, key) if len(s[1]) >= MIN_POINTS]
    if len(series) < 2:
        return None
    pairs = [(t, y) for _, t, y in series]
    held_out = {form: _held_out_error(form, pairs) for form in FORMS}
    scored = [f for f in FORMS if math.isfinite(held_out[f])]
    if not scored:
        return None
    form = min(scored, key=lambda f: (held_out[f], FORMS.index(f)))
    fits, loo = {}, {}
    for f in (f for f in scored if held_out[f] <= COMPETITIVE * held_out[form]):
        full = fit_shared(f, pairs)
        left = [fit_shared(f, pairs[:i] + pairs[i + 1:]) for i in range(len(pairs))]
        if full is not None and all(p is not None for p in left):
            fits[f], loo[f] = full, left
    if form not in fits:
        return None
    final = runs.set_index("run_id")[metric] if metric in runs else pd.Series(dtype=float)
    shift = []
    for run_id, _, y in series:
        value = pd.to_numeric(final.get(run_id, np.nan), errors="coerce")
        shift.append(float(value - y[-1]) if np.isfinite(value) else 0.0)
    return CurveFit(label=label, form=form, held_out=held_out, params=fits, leave_one_out=loo,
                    shift=np.asarray(shift), t_last=float(np.mean([t[-1] for t, _ in pairs])),
                    points=min(len(t) for t, _ in pairs))


# --------------------------------------------------------------------------- one comparison

@dataclass(frozen=True, eq=False)
class GapForecast:
    """``m_first − m_second`` forecast over training time, for one comparison."""

    context: str
    first: CurveFit
    second: CurveFit
    expected_sign: int        # as the comparison's: +1, −1, or 0 (equivalence)
    t_now: float              # the later trained time of the two
    times: np.ndarray         # geometric grid from t_now to FAR · t_now
    gap: np.ndarray           # point forecast of the gap
    low: np.ndarray           # LEVEL interval of the gap (Welch over per-seed forecasts)
    high: np.ndarray
    margin: np.ndarray        # ±margin in metric units at each time (nan: no margin)
    scale: np.ndarray         # mean |m| of the two, for the relative gap

    def window(self, horizon: float = HORIZON) -> np.ndarray:
        return self.times <= horizon * self.t_now * (1 + 1e-9)

    @property
    def relative_gap(self) -> np.ndarray:
        return self.gap / np.where(self.scale > 0, self.scale, np.nan)

    def trend(self, horizon: float = HORIZON) -> str:
        """closing / widening / steady (module docstring)."""
        if self.crossing() is not None:
            return "closing"
        at = int(np.flatnonzero(self.window(horizon))[-1])
        now, then = abs(self.relative_gap[0]), abs(self.relative_gap[at])
        if then < now * (1 - STEADY):
            return "closing"
        return "widening" if then > now * (1 + STEADY) else "steady"

    def crossing(self) -> float | None:
        """The time where the point forecast changes sign (log-linear interpolation), or None."""
        sign = np.sign(self.gap)
        change = np.flatnonzero(sign[1:] != sign[0])
        if sign[0] == 0 or not change.size:
            return None
        i = int(change[0])
        g0, g1 = self.gap[i], self.gap[i + 1]
        w = g0 / (g0 - g1) if g0 != g1 else 0.0
        return float(np.exp(np.log(self.times[i]) + w * (np.log(self.times[i + 1]) - np.log(self.times[i]))))

    def crossing_set(self) -> tuple[float, float] | None:
        """(first, last) time whose gap interval contains 0 (the LEVEL confidence set of the
        crossing time, on the grid); None when no interval does."""
        inside = np.flatnonzero((self.low <= 0) & (self.high >= 0))
        return None if not inside.size else (float(self.times[inside[0]]), float(self.times[inside[-1]]))

    def may_change(self, verdict: str, horizon: float = HORIZON) -> bool:
        """Whether the forecast cannot exclude a change of ``verdict`` within the horizon."""
        w = self.window(horizon)
        low, high, m = self.low[w], self.high[w], self.margin[w]
        reaches_zero = bool(np.any((low <= 0) & (high >= 0)))
        excludes_zero = bool(np.any((low > 0) | (high < 0)))
        has_margin = bool(np.all(np.isfinite(m)))
        leaves = has_margin and bool(np.any((low < -m) | (high > m)))
        inside = has_margin and bool(np.any((low > -m) & (high < m)))
        if verdict in ("supported", "contradicted") and self.expected_sign != 0:
            return reaches_zero
        if verdict == "no measurable difference" or (verdict == "supported" and self.expected_sign == 0):
            return leaves
        if verdict == "contradicted":  # an equivalence prediction: could it become equivalent?
            return bool(np.any((high > -m) & (low < m))) if has_margin else reaches_zero
        return excludes_zero or inside  # inconclusive: the forecast expects a decision

    def describe(self, horizon: float = HORIZON) -> str:
        """One line: gap now and at the horizon, trend, crossing with its interval."""
        at = int(np.flatnonzero(self.window(horizon))[-1])
        where = f"{self.first.label} − {self.second.label}" + (f" ({self.context})" if self.context else "")
        text = (f"{where}: gap {self.gap[0]:+.3g} now (t = {self.t_now:.0f} s), {self.gap[at]:+.3g} "
                f"[{self.low[at]:+.3g}, {self.high[at]:+.3g}] at {horizon:g}× ({self.times[at]:.0f} s), "
                f"{self.trend(horizon)}")
        cross, span = self.crossing(), self.crossing_set()
        if cross is not None:
            text += f"; forecast to cross at {cross:.0f} s ({cross / self.t_now:.1f}× the trained time)"
        if span is not None:
            high = ("beyond " if span[1] >= self.times[-1] * (1 - 1e-9) else "") + f"{span[1] / self.t_now:.1f}×"
            text += f"; {LEVEL:.0%} set of a crossing {span[0] / self.t_now:.1f}×–{high}"
        else:
            text += f"; no crossing before {FAR:g}× ({LEVEL:.0%})"
        return text.replace("%", " %")


def _welch_gap(a: np.ndarray, b: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean gap, half-width of its Welch interval) from per-seed forecasts (seeds, times)."""
    wa, wb = a.var(axis=0, ddof=1) / len(a), b.var(axis=0, ddof=1) / len(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (wa + wb) ** 2 / (wa ** 2 / (len(a) - 1) + wb ** 2 / (len(b) - 1))
    df = np.where(np.isfinite(df) & (df > 0), df, min(len(a), len(b)) - 1)
    return a.mean(axis=0) - b.mean(axis=0), stats.t.ppf(0.5 + level / 2, df) * np.sqrt(wa + wb)


def forecast_gap(first: CurveFit, second: CurveFit, *, expected_sign: int, margin=None,
                 context: str = "", level: float = LEVEL) -> GapForecast:
    """The gap between two fitted configurations (Welch over their per-seed forecasts)."""
    t_now = max(first.t_last, second.t_last)
    times = np.geomspace(t_now, FAR * t_now, 400)
    times = np.unique(np.concatenate([times, HORIZON * t_now * np.ones(1)]))
    gap, low, high = None, None, None
    for form_a in first.params:
        for form_b in second.params:
            g, half = _welch_gap(first.per_seed(times, form_a), second.per_seed(times, form_b), level)
            low = g - half if low is None else np.minimum(low, g - half)
            high = g + half if high is None else np.maximum(high, g + half)
            if form_a == first.form and form_b == second.form:
                gap = g
    means = (first.per_seed(times).mean(axis=0), second.per_seed(times).mean(axis=0))
    margins = (np.array([margin_value(margin, x, y) for x, y in zip(*means)]) if margin is not None
               else np.full_like(gap, np.nan))
    return GapForecast(context=context, first=first, second=second, expected_sign=expected_sign,
                       t_now=t_now, times=times, gap=gap, low=low, high=high,
                       margin=margins, scale=(np.abs(means[0]) + np.abs(means[1])) / 2)


# --------------------------------------------------------------------------- one question

@dataclass
class Forecast:
    """Every compared configuration's fit and every comparison's gap, for one question."""

    fits: dict = field(default_factory=dict)      # label (with context) → CurveFit
    gaps: list = field(default_factory=list)      # GapForecast, in the comparisons' order
    horizon: float = HORIZON
    provisional: bool = False
    reason: str = ""

    def changes(self, verdicts: list) -> list:
        """Per comparison (with its verdict): may the verdict change within the horizon?"""
        return [g is not None and g.may_change(v, self.horizon) for g, v in zip(self.gaps, verdicts)]


def _pairs(runs: pd.DataFrame, prediction: Prediction, grid) -> list:
    """(context, runs of first, runs of second, first value, second value) in the order of
    ``analysis.comparisons.comparisons``."""
    out = []
    for context, group in contexts(runs, prediction):
        if prediction.kind == "trend":
            x = numeric(group[prediction.parameter])
            values = sorted(set(numeric(pd.Series(grid, dtype=object)).dropna()) if grid else set(x.dropna()))
            if len(values) < 2:
                out.append(None)
                continue
            out.append((context, group[x == values[-1]], group[x == values[0]], values[-1], values[0]))
        else:
            compared = prediction.compared
            out += [(context, select_value(group, prediction.parameter, a),
                     select_value(group, prediction.parameter, b), a, b) for a, b in zip(compared, compared[1:])]
    return out


def forecast_question(curves: pd.DataFrame, runs: pd.DataFrame, prediction: Prediction, *, key: str,
                      grid=None, verdicts: list | None = None, horizon: float = HORIZON) -> Forecast | None:
    """Fit every compared configuration and forecast every comparison's gap; ``verdicts`` (one
    per comparison, the rule's) decide ``provisional``. None when no comparison can be
    forecast (curves with fewer than :data:`MIN_POINTS` points, or fewer than 2 seeds)."""
    if curves.empty or key not in curves:
        return None
    result, sign = Forecast(horizon=horizon), _expected_sign(prediction)
    for pair in _pairs(runs, prediction, grid):
        if pair is None:
            result.gaps.append(None)
            continue
        context, first_runs, second_runs, a, b = pair
        fits = []
        for value, chosen in ((a, first_runs), (b, second_runs)):
            label = f"{prediction.parameter}={value}" + (f" ({context})" if context else "")
            if label not in result.fits:
                result.fits[label] = fit_configuration(curves[curves["run_id"].isin(chosen["run_id"])],
                                                       chosen, key=key, metric=prediction.metric,
                                                       label=f"{prediction.parameter}={value}")
            fits.append(result.fits[label])
        result.gaps.append(None if None in fits else
                           forecast_gap(*fits, expected_sign=sign, margin=prediction.margin, context=context))
    if all(g is None for g in result.gaps):
        return None
    if verdicts is not None:
        changes = result.changes(verdicts)
        result.provisional = any(changes)
        lines = [g.describe(horizon) for g in result.gaps if g is not None]
        which = [f"{g.first.label} vs {g.second.label}" for g, c in zip(result.gaps, changes) if c]
        head = (f"the forecast cannot exclude a change within {horizon:g}× the trained time ({', '.join(which)})"
                if which else f"the forecast excludes a change within {horizon:g}× the trained time")
        result.reason = head + ": " + "; ".join(lines)
    return result


def _expected_sign(prediction: Prediction) -> int:
    if prediction.kind == "equivalence":
        return 0
    if prediction.kind == "trend":
        return 1 if prediction.direction == "increasing" else -1
    return -1 if goal(prediction.metric) == MINIMIZE else 1
