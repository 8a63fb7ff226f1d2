"""Aggregation and tests against hand computation, closed forms and scipy's distributions."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lgm.evaluation.registry import goal as metric_goal
from analysis.stats import (bootstrap_interval, cohen_d, configuration_columns, determined_by, hedges_g,
                            holm, naming_columns, pairwise_test, summarize, trend_test)


def test_bootstrap_undefined_below_two_values():
    assert all(math.isnan(v) for v in bootstrap_interval([3.0]))
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    assert all(math.isnan(v) for v in bootstrap_interval([1.0, float("nan")]))  # one finite value


def test_bootstrap_is_seeded_and_within_the_data():
    x = [20.1, 21.0, 19.6]
    a = bootstrap_interval(x, resamples=2000, seed=7)
    assert a == bootstrap_interval(x, resamples=2000, seed=7)
    # A percentile interval of the mean of resamples lies inside [min, max] and holds the mean.
    assert min(x) <= a[0] <= np.mean(x) <= a[1] <= max(x)


def test_bootstrap_matches_the_normal_closed_form_for_large_n():
    # For n = 400 draws the bootstrap distribution of the mean is close to normal:
    # interval ≈ mean ± 1.96 · s / √n.
    x = np.random.default_rng(0).normal(5.0, 2.0, size=400)
    low, high = bootstrap_interval(x, resamples=4000, seed=1)
    half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(x.mean() + half, abs=0.15 * half)


@pytest.mark.parametrize("kwargs, message", [({"resamples": 0}, "resamples"), ({"level": 1.0}, "level")])
def test_bootstrap_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval([1.0, 2.0], **kwargs)


def test_summarize_against_hand_computation():
    runs = pd.DataFrame({"scaling": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0],
                         "eval/fid": [1.0, 2.0, 3.0, 10.0]})
    table = summarize(runs, "eval/fid", by=["scaling"])
    a, b = table.iloc[0], table.iloc[1]
    assert (a["scaling"], a["n"], a["mean"], a["std"], a["seeds"]) == ("a", 3, 2.0, 1.0, [0, 1, 2])
    # t interval (valid at n = 3, unlike a percentile bootstrap, which stays inside [1, 3]):
    # 2 ± t_{0.975, 2} · 1 / √3 = 2 ± 4.302653 · 0.577350 = 2 ± 2.484138
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert (b["n"], b["mean"]) == (1, 10.0) and math.isnan(b["std"]) and math.isnan(b["ci_low"])


def test_summarize_sorts_numbers_numerically_and_tolerates_a_missing_metric():
    runs = pd.DataFrame({"beta": [10.0, 2.0, 1.0], "seed": [0, 0, 0]})
    table = summarize(runs, "eval/fid", by=["beta"])
    assert table["beta"].tolist() == [1.0, 2.0, 10.0] and table["n"].tolist() == [0, 0, 0]


def test_configuration_excludes_seed_and_device_and_metrics():
    runs = pd.DataFrame({"run_id": ["r"], "model": ["gan"], "seed": [0], "device": ["cuda"],
                         "eval/fid": [1.0], "set_aside": [None]})
    assert configuration_columns(runs) == ["model"]


def test_effect_sizes_against_hand_computation():
    # means 2 and 5, both variances 1 → pooled s = 1, d = −3; J = 1 − 3/(4·6 − 9) = 0.8.
    assert cohen_d([1, 2, 3], [4, 5, 6]) == pytest.approx(-3.0)
    assert hedges_g([1, 2, 3], [4, 5, 6]) == pytest.approx(-2.4)
    assert math.isnan(cohen_d([1, 1], [1, 1]))  # no spread: undefined, not infinite


def test_welch_and_mann_whitney_against_closed_forms():
    test = pairwise_test([1, 2, 3], [4, 5, 6], alternative="less")
    # Welch: t = (2 − 5)/√(1/3 + 1/3) = −3.674; df = (2/3)² / (2 · (1/3)²/2) = 4.
    t = -3.0 / math.sqrt(2.0 / 3.0)
    assert test.t == pytest.approx(t)
    assert test.p_t == pytest.approx(sps.t.cdf(t, 4))
    assert test.p_t + test.p_t_opposite == pytest.approx(1.0)
    # Mann–Whitney: U = 0, exact one-sided p = 1 / C(6, 3) = 1/20.
    assert (test.u, test.p_u) == (0.0, pytest.approx(0.05))
    assert test.p_u_opposite == pytest.approx(1.0)


@pytest.mark.parametrize("first, second", [([1, 2, 3], [4, 5, 6]), ([4, 5, 6], [1, 2, 3])])
@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_one_sided_p_follows_the_predicted_direction(first, second, alternative):
    test = pairwise_test(first, second, alternative=alternative)
    predicted_holds = (np.mean(first) < np.mean(second)) == (alternative == "less")
    assert (test.p_t < 0.5) == predicted_holds
    assert (test.p_t_opposite < 0.5) == (not predicted_holds)


def test_pairwise_degenerate_inputs_give_nan_not_errors():
    assert math.isnan(pairwise_test([1.0], [2.0, 3.0], alternative="less").p_t)
    assert math.isnan(pairwise_test([1, 1, 1], [2, 2, 2], alternative="less").p_t)
    with pytest.raises(ValueError, match="allowed: less, greater"):
        pairwise_test([1, 2], [3, 4], alternative="two-sided")


def test_trend_against_hand_ranks():
    # x with ties (1,1,2,2,3,3), y strictly increasing. Spearman = Pearson of ranks:
    # dx = (−2,−2,0,0,2,2), dy = (−2.5,−1.5,−.5,.5,1.5,2.5): ρ = 16/√(16·17.5).
    # Kendall τ-b: 12 concordant of 15 pairs, 3 tied in x: τ = 12/√((15−3)·15).
    test = trend_test([1, 1, 2, 2, 3, 3], [1, 2, 3, 4, 5, 6], direction="increasing")
    assert test.rho == pytest.approx(16 / math.sqrt(16 * 17.5))
    assert test.tau == pytest.approx(12 / math.sqrt(180))
    assert test.p_rho < 0.05 and test.p_rho + test.p_rho_opposite == pytest.approx(1.0)
    down = trend_test([1, 1, 2, 2, 3, 3], [1, 2, 3, 4, 5, 6], direction="decreasing")
    assert down.p_rho == pytest.approx(test.p_rho_opposite)


def test_trend_of_a_constant_is_undefined():
    assert math.isnan(trend_test([1, 2, 3], [5, 5, 5], direction="increasing").rho)
    with pytest.raises(ValueError, match="increasing, decreasing"):
        trend_test([1, 2, 3], [1, 2, 3], direction="up")


def test_holm_against_hand_computation():
    # sorted: 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 → running max 0.09, 0.5·1 = 0.5.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
    # NaN is not a test: m = 2, 0.02·2 = 0.04, 0.03·1 = 0.03 → running max 0.04.
    np.testing.assert_allclose(holm([0.02, np.nan, 0.03]), [0.04, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])  # clipped at 1


@pytest.mark.parametrize("metric, goal", [("eval/fid", "minimize"), ("eval/fid_class/3", "minimize"),
                                          ("eval/kid", "minimize"), ("eval/bpd", "minimize"),
                                          ("eval/is", "maximize"), ("eval/coverage", "maximize"),
                                          ("eval/elbo", "maximize")])
def test_metric_goals(metric, goal):
    assert metric_goal(metric) == goal


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ValueError, match="'eval/sharpness'.*fid"):
        metric_goal("eval/sharpness")


def test_naming_columns_leave_out_what_the_chosen_columns_determine():
    # lr and arch follow model (family defaults); latent_dim varies on its own.
    runs = pd.DataFrame({"model": ["gan", "gan", "vae", "vae"], "lr": [2e-4, 2e-4, 1e-3, 1e-3],
                         "arch": ["dcgan", "dcgan", "conv", "conv"], "latent_dim": [16, 32, 16, 32],
                         "seed": [0, 1, 0, 1], "device": ["cpu", "cuda", "cpu", "cpu"]})
    assert naming_columns(runs, ["model"]) == ["model", "latent_dim"]
    assert naming_columns(runs, []) == ["model", "latent_dim"]
    assert naming_columns(runs, ["lr", None, "missing"]) == ["lr", "latent_dim"]
    assert determined_by(runs, ["model"], "arch") and not determined_by(runs, ["model"], "latent_dim")


