"""The verdict rule's error rates, measured by simulation (not assumed).

Null studies shaped like the sweeps — 2 configurations x 3 seeds (pairwise), a 6-value trend
x 3 seeds, an ordering of 4 configurations x 3 seeds — with no effect: the share that comes
out supported or contradicted must not exceed the rule's nominal level (two one-sided tests
at alpha = 0.05: 10 %), up to Monte-Carlo error (3 standard errors of a proportion). With
the resampling-SE floor (``analysis.inference``) it can only be lower. An equivalence
verdict must be reached in at most 5 % of studies whose true difference is the margin; and a
real effect of 2 seed standard deviations is detected with a power the test reports (and
which cannot beat the pooled-variance t test's, computed in closed form).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from contracts.sweep import Prediction
from analysis.verdict import evaluate_prediction

STUDIES = 400
DECISIVE = ("supported", "contradicted")


def _runs(values: dict, rng, *, shift: dict | None = None, se: float | None = None) -> pd.DataFrame:
    rows = []
    for value, mean in values.items():
        for seed in range(3):
            row = {"run_id": f"{value}-{seed}", "p": value, "seed": seed,
                   "eval/fid": mean + (shift or {}).get(value, 0.0) + rng.normal()}
            if se is not None:
                row["eval/fid_se"] = se
            rows.append(row)
    return pd.DataFrame(rows)


def _rate(prediction: Prediction, values: dict, *, seed: int, outcomes=DECISIVE, **kwargs) -> float:
    rng = np.random.default_rng(seed)
    hits = sum(evaluate_prediction(_runs(values, rng, **kwargs), prediction).verdict in outcomes
               for _ in range(STUDIES))
    return hits / STUDIES


def _bound(level: float) -> float:
    return level + 3 * math.sqrt(level * (1 - level) / STUDIES)


PAIRWISE = Prediction(metric="eval/fid", kind="pairwise", parameter="p", better="a", worse="b")
TREND = Prediction(metric="eval/fid", kind="trend", parameter="p", direction="increasing")
ORDERING = Prediction(metric="eval/fid", kind="ordering", parameter="p", order=("a", "b", "c", "d"))


@pytest.mark.parametrize("prediction, values", [
    (PAIRWISE, {"a": 0.0, "b": 0.0}),
    (TREND, {v: 0.0 for v in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)}),
    (ORDERING, {v: 0.0 for v in "abcd"}),
], ids=["pairwise 2x3", "trend 6x3", "ordering 4x3"])
def test_null_studies_come_out_decisive_at_most_at_the_nominal_rate(prediction, values):
    rate = _rate(prediction, values, seed=1)
    assert rate <= _bound(0.10), f"{prediction.kind}: {rate:.3f} of null studies decisive"


def test_the_resampling_floor_keeps_the_rule_calibrated_and_conservative():
    # se = 2 seed-SDs: the floor dominates, every interval is wider than the seeds say
    rate = _rate(PAIRWISE, {"a": 0.0, "b": 0.0}, seed=2, se=2.0)
    assert rate <= _bound(0.10) and rate < 0.05


def test_false_equivalence_at_the_margin_is_at_most_five_percent():
    margin = 1.5  # in seed standard deviations; the true difference sits exactly at it
    prediction = Prediction(metric="eval/fid", kind="equivalence", parameter="p", values=("a", "b"),
                            margin=margin)
    rate = _rate(prediction, {"a": 0.0, "b": margin}, seed=3, outcomes=("supported",))
    assert rate <= _bound(0.05)


def test_power_at_an_effect_of_two_seed_standard_deviations():
    power = _rate(PAIRWISE, {"a": -2.0, "b": 0.0}, seed=4, outcomes=("supported",))
    # The pooled-variance t test (df = 4, noncentrality 2 / sqrt(2/3)) is the most powerful
    # here under equal variances; Welch's estimated df can only lose some of it.
    pooled = stats.nct.sf(stats.t.ppf(0.95, 4), 4, 2.0 / math.sqrt(2.0 / 3.0))
    print(f"power at 2 seed SDs with 3 vs 3 seeds: {power:.2f} (pooled t in closed form: {pooled:.2f})")
    assert 0.25 < power <= pooled + 3 * math.sqrt(pooled * (1 - pooled) / STUDIES)


def test_seeds_to_settle_is_the_first_count_whose_detectable_difference_fits():
    """Hand-worked: equal variances 1 and diff 3. At n seeds each, se = sqrt(2 / n) and
    df = 2(n - 1); n = 3 gives se 0.816, df 4, MDD = (2.132 + 0.941) · 0.816 = 2.51 ≤ 3, so 3;
    n = 2 (MDD = (2.920 + 1.061) · 1 = 3.98 > 3) would not have sufficed, but the rule judges
    nothing below MIN_SEEDS anyway. A huge effect still needs MIN_SEEDS, never fewer."""
    from analysis.inference import MIN_SEEDS, minimal_detectable_difference, seeds_to_settle

    assert seeds_to_settle(3.0, 1.0, 1.0) == 3
    assert minimal_detectable_difference(math.sqrt(2 / 3), 4) == pytest.approx(2.51, abs=0.01)
    assert seeds_to_settle(1000.0, 1.0, 1.0) == MIN_SEEDS
    n = seeds_to_settle(1.0, 1.0, 1.0)  # a half-SD-ish effect: many seeds
    mdd = lambda k: minimal_detectable_difference(math.sqrt(2 / k), 2 * (k - 1))  # noqa: E731
    assert mdd(n) <= 1.0 < mdd(n - 1)
    assert seeds_to_settle(0.0, 1.0, 1.0) is None


# --------------------------------------------------------------------------- equivalence: four outcomes

EQUIVALENCE = Prediction(metric="eval/fid", kind="equivalence", parameter="loss",
                         values=("non_saturating", "hinge"), margin="10%")


def test_a_difference_smaller_than_the_margin_supports_an_equivalence_prediction():
    """The issue's gan_loss at quick, as a hand-made table with the working shown.

    hinge 30.9 + (−1, −0.5, 0, 0.5, 1), non-saturating 32.1 + the same offsets (5 seeds each).
    Each SD² = (1 + 0.25 + 0 + 0.25 + 1) / 4 = 0.625, so se² = 0.625/5 + 0.625/5 = 0.25,
    se = 0.5, Welch df = 8 (equal variances and n). Difference NS − hinge = 1.2, t = 2.4:
    two-sided p = 2·P(t₈ > 2.4) = 0.043 < 0.05 — *different*. Margin 10 % of the mean
    (30.9 + 32.1)/2 = 31.5 → ±3.15; 90 % interval 1.2 ± t₈,0.95·0.5 = 1.2 ± 1.860·0.5 =
    [0.27, 2.13] inside ±3.15 (TOST p = P(t₈ < (1.2 − 3.15)/0.5 = −3.9) = 0.002) — *equivalent*.
    Equivalent and different: supported, "a difference, smaller than the margin"."""
    offsets = (-1.0, -0.5, 0.0, 0.5, 1.0)
    rows = [{"run_id": f"{loss}-{s}", "loss": loss, "seed": s, "eval/fid": mean + o}
            for loss, mean in (("hinge", 30.9), ("non_saturating", 32.1)) for s, o in enumerate(offsets)]
    result = evaluate_prediction(pd.DataFrame(rows), EQUIVALENCE)
    c, j = result.comparisons[0], result.judgements[0]
    assert c.details["diff"] == pytest.approx(1.2) and c.details["se"] == pytest.approx(0.5)
    assert c.details["df"] == pytest.approx(8.0) and c.p_opposite == pytest.approx(2 * stats.t.sf(2.4, 8))
    assert c.p_opposite == pytest.approx(0.043, abs=0.001) and c.margin == pytest.approx(3.15)
    assert c.details["diff_ci90"] == pytest.approx((1.2 - 0.5 * stats.t.ppf(0.95, 8), 1.2 + 0.5 * stats.t.ppf(0.95, 8)))
    assert c.details["p_tost"] == pytest.approx(stats.t.cdf(-3.9, 8)) and c.details["p_tost"] < 0.005
    assert result.verdict == "supported" and j.outcome == "equivalent and different"
    assert "a difference, smaller than the margin" in j.reason


@pytest.mark.parametrize("overrides, verdict, outcome", [
    ({"p_opposite": 0.01, "p_tost": 0.2}, "contradicted", "different and not equivalent"),
    ({"p_opposite": 0.3, "p_tost": 0.01}, "supported", "equivalent and not different"),
    ({"p_opposite": 0.01, "p_tost": 0.01}, "supported", "equivalent and different"),
    ({"p_opposite": 0.3, "p_tost": 0.2}, "inconclusive", "neither different nor equivalent"),
])
def test_the_four_outcomes_are_reported_distinctly(overrides, verdict, outcome):
    from analysis.verdict import Comparison, judge
    c = Comparison(context="", first="loss=a", second="loss=b", expected_sign=0, n_min=5,
                   mean_first=1.0, mean_second=1.0, interval_first=(0.0, 2.0), interval_second=(0.0, 2.0),
                   p_expected=overrides["p_tost"], p_opposite=overrides["p_opposite"], test="Welch t",
                   margin=1.0, equivalent=overrides["p_tost"] < 0.05, details={"p_tost": overrides["p_tost"]})
    j = judge(c)
    assert (j.verdict, j.outcome) == (verdict, outcome)
    # a stricter level (a sequential procedure's look) can only turn decisions into "neither"
    assert judge(c, alpha=0.005).verdict == "inconclusive"


def test_equal_configurations_are_called_different_at_most_at_the_nominal_rate():
    """The other error of an equivalence question: true difference 0, margin 1.5 seed SDs —
    contradicted (different and not equivalent) in at most 5 % (two-sided test at 0.05)."""
    prediction = Prediction(metric="eval/fid", kind="equivalence", parameter="p", values=("a", "b"),
                            margin=1.5)
    rate = _rate(prediction, {"a": 0.0, "b": 0.0}, seed=5, outcomes=("contradicted",))
    assert rate <= _bound(0.05)
