"""The training-curve forecast on hand-made curves with known answers (a gap that closes and
crosses, one that widens, a constant ratio), its interval's coverage by simulation, the
sample-size shift, and provisional as the forecast decides it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from analysis.curves import over_training
from analysis.forecast import HORIZON, LEVEL, fit_configuration, fit_form, forecast_question, predict_form
from analysis.verdict import evaluate_prediction
from contracts.sweep import Prediction

GAN_VS_VAE = Prediction(metric="eval/fid", kind="pairwise", parameter="model", better="gan", worse="vae")
OFFSETS = (-1.0, 0.0, 1.0)  # per-seed level offsets: seed SD 1 at every point
TIMES = np.array([60.0, 120.0, 180.0, 240.0])


def tables(curves: dict, *, eval_minus_curve: float = 0.0,
           multiplicative: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curve table) for {value: true mean curve f(t)}, 3 seeds offset by OFFSETS
    (or, ``multiplicative``, scaled by 1 + 0.02·offset); each run's final eval/fid = its last
    curve value + ``eval_minus_curve``."""
    rows, runs = [], []
    for value, truth in curves.items():
        for seed, offset in enumerate(OFFSETS):
            run_id = f"{value}-{seed}"
            f = (lambda t, g=truth, o=offset: g(t) * (1 + 0.02 * o) - o) if multiplicative else truth
            rows += [{"run_id": run_id, "model": value, "seed": seed, "point": k + 1, "step": 100 * (k + 1),
                      "time/train_s": t, "curve/fid": f(t) + offset, "curve/num_samples": 2000}
                     for k, t in enumerate(TIMES)]
            runs.append({"run_id": run_id, "model": value, "seed": seed,
                         "eval/fid": f(TIMES[-1]) + offset + eval_minus_curve})
    return pd.DataFrame(runs), pd.DataFrame(rows)


def gap_of(curves: dict, verdict: str, **kwargs):
    runs, table = tables(curves, **kwargs)
    forecast = forecast_question(table, runs, GAN_VS_VAE, key="curve/fid", verdicts=[verdict])
    return forecast, forecast.gaps[0]


def gan(t):
    return 10.0 + 60.0 * (t / 60.0) ** -0.7


def vae(t):
    return 25.0 + 10.0 * (t / 60.0) ** -1.5


def test_a_gap_that_closes_and_crosses():
    """GAN 10 + 60 u^−0.7 against VAE 25 + 10 u^−1.5 (u = t / 60 s): at 240 s the VAE leads
    (gap +6.5); the curves cross where they are equal, found here by root finding on the true
    curves (brentq): the forecast's crossing is within 5 % of it and inside its 90 % set."""
    forecast, g = gap_of({"gan": gan, "vae": vae}, "contradicted")
    truth = optimize.brentq(lambda t: gan(t) - vae(t), 240.0, 10_000.0)
    assert g.gap[0] == pytest.approx(gan(240.0) - vae(240.0), rel=0.02)
    assert g.crossing() == pytest.approx(truth, rel=0.05) and truth < HORIZON * 240.0
    low, high = g.crossing_set()
    assert low <= truth <= high and g.trend() == "closing"
    assert forecast.provisional and "cannot exclude a change" in forecast.reason
    assert "forecast to cross at" in g.describe()


def test_a_gap_that_widens():
    """The predicted leader keeps improving while the other has levelled off: no crossing,
    the relative gap grows, a supported verdict is not provisional."""
    forecast, g = gap_of({"gan": lambda t: 10.0 + 30.0 * (t / 60.0) ** -0.5,
                          "vae": lambda t: 40.0 + 5.0 * (t / 60.0) ** -2.0}, "supported")
    assert g.crossing() is None and g.crossing_set() is None
    assert g.trend() == "widening" and np.all(g.high[g.window()] < 0)
    assert not forecast.provisional and "excludes a change" in forecast.reason


def test_a_constant_ratio_is_steady_and_never_crosses():
    """gan_scaling's shape: both improve by the same factor at every time (ratio 0.75), both
    still improving by ~16 % over the last quarter — not provisional, by the forecast."""
    forecast, g = gap_of({"gan": lambda t: 0.75 * 90.0 * (t / 60.0) ** -0.6,
                          "vae": lambda t: 90.0 * (t / 60.0) ** -0.6}, "supported")
    ratio = (g.scale + g.gap / 2) / (g.scale - g.gap / 2)  # m_first / m_second from gap and mean
    assert ratio == pytest.approx(np.full_like(ratio, 0.75), rel=0.03)
    assert g.trend() == "steady" and g.crossing() is None and not forecast.provisional


def test_forecasts_are_shifted_to_the_final_evaluation_scale():
    """eval/fid (N = 10,000) sits 2 below the curve (N = 2,000) in every run: the forecast at
    the trained time is the final evaluation's mean, not the curve's."""
    runs, table = tables({"gan": gan, "vae": vae}, eval_minus_curve=-2.0)
    fit = fit_configuration(table[table["model"] == "gan"], runs[runs["model"] == "gan"],
                            key="curve/fid", metric="eval/fid", label="gan")
    assert fit.shift == pytest.approx([-2.0] * 3, abs=1e-9)
    mean, _, _ = fit.mean_interval([240.0])
    assert mean[0] == pytest.approx(runs.loc[runs["model"] == "gan", "eval/fid"].mean(), abs=0.05)


@pytest.mark.parametrize("form, truth", [
    ("power", lambda t: 12.0 + 50.0 * (t / 60.0) ** -0.8),
    ("exponential", lambda t: 20.0 + 30.0 * np.exp(-1.5 * t / 240.0)),
    ("pure power", lambda t: 70.0 * (t / 60.0) ** -0.4),
])
def test_held_out_accuracy_picks_the_form_that_made_the_curve(form, truth):
    runs, table = tables({"gan": truth, "vae": truth}, multiplicative=True)  # each seed of the form
    fit = fit_configuration(table[table["model"] == "gan"], runs[runs["model"] == "gan"],
                            key="curve/fid", metric="eval/fid", label="gan")
    assert fit.form == form, fit.held_out
    params = fit_form(form, TIMES, truth(TIMES))
    assert predict_form(form, params, [960.0])[0] == pytest.approx(truth(960.0), rel=0.02)


def test_the_interval_covers_a_simulated_truth_at_its_stated_rate():
    """Simulated configurations: seed s has a_s ~ N(15, 1), b_s ~ N(40, 4) and curve
    a_s + b_s (t/60)^−0.6 at 60..240 s (measured seconds wobble 3 %), plus noise of SD 0.3
    (≈ 1 % of FID, a curve's resampling SE) at each point. The configuration's true mean at
    the horizon (960 s) is 15 + 40·16^−0.6; the whole procedure (form selection by held-out
    error included) must cover it at least at the stated 90 %, up to 3 Monte-Carlo standard
    errors (more is conservative: the hull over competitive forms; measured 0.94 at 400 trials)."""
    rng, trials, hits = np.random.default_rng(3), 200, 0
    truth = 15.0 + 40.0 * 16.0 ** -0.6
    for _ in range(trials):
        a, b = rng.normal(15.0, 1.0, 3), rng.normal(40.0, 4.0, 3)
        rows, runs = [], []
        for s in range(3):
            t = TIMES * (1 + 0.03 * rng.normal(size=4))
            y = a[s] + b[s] * (t / 60.0) ** -0.6 + rng.normal(0.0, 0.3, 4)
            rows += [{"run_id": s, "step": k, "time/train_s": t[k], "curve/fid": y[k]} for k in range(4)]
            runs.append({"run_id": s, "eval/fid": y[-1]})
        fit = fit_configuration(pd.DataFrame(rows), pd.DataFrame(runs), key="curve/fid",
                                metric="eval/fid", label="x")
        _, low, high = fit.mean_interval([HORIZON * 240.0])
        hits += bool(low[0] <= truth <= high[0])
    se = np.sqrt(LEVEL * (1 - LEVEL) / trials)
    assert LEVEL - 3 * se <= hits / trials <= 0.99, hits / trials


def test_over_training_uses_the_forecast_not_the_levelling(tmp_path):
    """Through analysis.curves.over_training (history files as the study writes them): both
    configurations still improve by 16 % over the last quarter, at a constant ratio — the
    levelling numbers stay as information, the verdict is not provisional."""
    runs, table = tables({"gan": lambda t: 0.75 * 90.0 * (t / 60.0) ** -0.6,
                          "vae": lambda t: 90.0 * (t / 60.0) ** -0.6})
    paths = []
    for run_id, group in table.groupby("run_id", sort=False):
        path = tmp_path / f"{run_id}.jsonl"
        keys = ("step", "curve/fid", "curve/num_samples", "time/train_s")
        path.write_text("".join(json.dumps({k: r[k] for k in keys}) + "\n" for r in group.to_dict("records")))
        paths.append((run_id, str(path)))
    runs = runs.merge(pd.DataFrame(paths, columns=["run_id", "history_path"]), on="run_id")
    result = evaluate_prediction(runs, GAN_VS_VAE)
    over = over_training(runs, GAN_VS_VAE, by=["model"], final_verdict=result.verdict,
                         judgements=result.judgements)
    assert result.verdict == "supported" and len(over.still_improving) == 2
    assert over.forecast is not None and not over.provisional
    assert "excludes a change" in over.reason and "still improving" in over.reason


# --------------------------------------------------------------------------- against what was measured

def test_quick_curves_forecast_the_full_budget_and_the_gan_vs_vae_flip():
    """tests/fixtures/settle: all nine quick runs of gan_scaling and gan_vs_vae (3 seeds of
    DCGAN [-1, 1], DCGAN [0, 1] and the VAE, from one `make study` on 2026-12-05; 4 curve
    points each at N = 2,000, final eval/fid at N = 10,000) and the full budget's eval/fid per
    seed (study/README.md, 5× quick's steps). Each configuration is fitted on quick alone and
    forecast at 5× its trained time, shifted per seed by its eval/fid − curve/fid.

    Measured while writing this (benchmarks/settle_forecast.py): DCGAN [-1, 1] 12.56 vs 14.33
    (−12 %), DCGAN [0, 1] 13.50 vs 19.97 (−32 %), VAE 20.44 vs 24.01 (−15 %):
    settle_forecast_error = 0.18 (four rows, the DCGAN [-1, 1] in both sweeps; 0.20 over the
    three distinct configurations), every measured value inside its 90 % interval, but the
    intervals are wide (the DCGAN's curve falls from 59 to 32 over quick: extrapolating 5×
    from it is uncertain) and the [0, 1] DCGAN is too optimistic, so gan_scaling's gap is
    forecast to close (which full training does not do): the forecast cannot exclude a change,
    and settle extends that question rather than answering it from quick.

    gan_vs_vae: the gap (DCGAN − VAE, +4.95 at quick) is closing and forecast to cross at
    1.3× quick ≈ 5 GAN epochs; measured on full's curves the VAE is ahead at 5 epochs and the
    DCGAN from 10 (1.25×–2.5×): the flip is forecast, a little early."""
    from benchmarks.settle_forecast import FIXTURE, forecasts

    results = forecasts(FIXTURE)
    _, scaling = results["gan_scaling"]
    gap, family = results["gan_vs_vae"]
    for table in (scaling, family):
        assert (table["quick_seeds"] == 3).all()
        assert ((table["low"] <= table["full"]) & (table["full"] <= table["high"])).all()
    row = scaling.set_index("configuration").loc["scaling=minus_one_one"]
    assert row["full"] == pytest.approx(14.333, abs=0.001) and abs(row["error"]) < 0.2
    vae = family.set_index("configuration").loc["model=vae"]
    assert vae["quick"] > vae["full"] and abs(vae["error"]) < 0.2
    errors = np.abs(pd.concat([scaling["error"], family["error"]]))
    assert errors.mean() < 0.25  # measured 0.18 (the DCGAN rows counted once per sweep)
    # the flip: at quick the VAE is ahead (the quick verdict, contradicted); forecast to cross
    # between the quick budget and the measured flip's end (2.5×, 10 GAN epochs)
    assert gap.gap[0] > 0 and "closing" in gap.describe()
    assert 1.0 < gap.crossing() / gap.t_now < 2.5
