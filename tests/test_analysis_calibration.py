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
