"""The rating statistics against known answers: closed forms, hand-worked values, scipy, and
simulation (Bradley–Terry, Kendall's τ-b, binomial intervals, the sample-size formula)."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from analysis.rating.statistics import (TIE_SCORE, bootstrap_bradley_terry, bootstrap_interval_of,
                              bradley_terry, judgments_needed, kendall_tau_b, metric_agreement,
                              preference, proportion_interval, win_matrix)


def _judgments(*triples):
    """``(i, j, score, times)`` → arrays of first, second, score (one entry per judgment)."""
    first, second, score = [], [], []
    for i, j, s, times in triples:
        first += [i] * times
        second += [j] * times
        score += [s] * times
    return np.array(first), np.array(second), np.array(score, dtype=float)


def _theta(triples, k, **options):
    first, second, score = _judgments(*triples)
    return bradley_terry(win_matrix(first, second, score, k), **options)


def _scipy_fit(first, second, score, k, prior):
    """The same model written out per judgment and maximised by scipy (BFGS), independently."""
    def negative(theta):
        p = 1.0 / (1.0 + np.exp(theta[second] - theta[first]))
        ll = np.sum(score * np.log(p) + (1.0 - score) * np.log(1.0 - p))
        reference = 1.0 / (1.0 + np.exp(-theta))  # P(beating the reference of strength 1)
        ll += prior * np.sum(0.5 * np.log(reference) + 0.5 * np.log(1.0 - reference))
        return -ll
    if prior == 0:  # pin the free scale: θ_0 = 0
        fit = optimize.minimize(lambda t: negative(np.concatenate([[0.0], t])), np.zeros(k - 1),
                                method="BFGS", options={"gtol": 1e-10})
        theta = np.concatenate([[0.0], fit.x])
    else:
        theta = optimize.minimize(negative, np.zeros(k), method="BFGS", options={"gtol": 1e-10}).x
    return theta - theta.mean()


# --------------------------------------------------------------------------- Bradley–Terry

def test_two_configurations_closed_form():
    # Without a prior the MLE is the observed odds: θ_A − θ_B = log(w / (n − w)).
    theta = _theta([(0, 1, 1.0, 7), (0, 1, 0.0, 3)], 2, prior=0)
    assert theta[0] - theta[1] == pytest.approx(math.log(7 / 3), abs=1e-9)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)


def test_strict_order_from_transitive_preferences():
    # A > B 8:2, B > C 8:2, A > C 9:1 → A, B, C in that order, and τ with that order is 1.
    triples = [(0, 1, 1.0, 8), (0, 1, 0.0, 2), (1, 2, 1.0, 8), (1, 2, 0.0, 2),
               (0, 2, 1.0, 9), (0, 2, 0.0, 1)]
    for prior in (0.0, 1.0):
        theta = _theta(triples, 3, prior=prior)
        assert theta[0] > theta[1] > theta[2]
    assert kendall_tau_b(theta, [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert kendall_tau_b(theta, [1.0, 2.0, 3.0]) == pytest.approx(-1.0)


def test_ties_count_half_a_win_each():
    # Only "can't tell": everyone equal.
    assert _theta([(0, 1, TIE_SCORE, 5), (1, 2, TIE_SCORE, 5)], 3) == pytest.approx(np.zeros(3))
    # 3 wins + 2 ties = 4 wins and 1 loss of 5 (no prior): log-odds log(4/1).
    theta = _theta([(0, 1, 1.0, 3), (0, 1, TIE_SCORE, 2)], 2, prior=0)
    assert theta[0] - theta[1] == pytest.approx(math.log(4.0), abs=1e-9)


def test_a_configuration_never_chosen_is_finite_with_the_prior_and_refused_without():
    triples = [(0, 1, 1.0, 6), (0, 2, 1.0, 6), (1, 2, 1.0, 4), (1, 2, 0.0, 2)]
    with pytest.raises(ValueError, match="infinite"):
        _theta(triples, 3, prior=0)
    theta = _theta(triples, 3, prior=1.0)
    assert np.isfinite(theta).all()
    assert theta[0] > theta[1] > theta[2]  # 2 lost to 1 more often than it won


@pytest.mark.parametrize("prior", [0.0, 1.0, 3.0])
def test_matches_scipy_on_the_likelihood(prior):
    rng = np.random.default_rng(5)
    k, n = 5, 200
    first = rng.integers(0, k, n)
    second = (first + rng.integers(1, k, n)) % k
    truth = np.array([-1.0, -0.3, 0.0, 0.4, 1.2])
    score = (rng.random(n) < preference(truth[first], truth[second])).astype(float)
    score[rng.random(n) < 0.15] = TIE_SCORE
    ours = bradley_terry(win_matrix(first, second, score, k), prior=prior)
    assert ours == pytest.approx(_scipy_fit(first, second, score, k, prior), abs=1e-5)


def test_solution_is_the_fixed_point_of_hunters_mm_update():
    rng = np.random.default_rng(2)
    first = rng.integers(0, 4, 80)
    second = (first + rng.integers(1, 4, 80)) % 4
    score = rng.choice([0.0, 0.5, 1.0], size=80)
    wins = win_matrix(first, second, score, 4)
    prior = 1.0
    theta = bradley_terry(wins, prior=prior)
    # θ is centred; the reference fixes the scale, so undo the centring by a 1-D search.
    shift = optimize.minimize_scalar(lambda c: -_penalised(theta + c, wins, prior)).x
    pi = np.exp(theta + shift)
    games = wins + wins.T
    mm = (wins.sum(1) + prior / 2) / ((games / (pi[:, None] + pi[None, :])).sum(1) + prior / (pi + 1))
    assert mm == pytest.approx(pi, rel=1e-6)


def _penalised(theta, wins, prior):
    p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    s = 1.0 / (1.0 + np.exp(-theta))
    return np.sum(wins * np.log(p)) + prior / 2 * np.sum(np.log(s) + np.log(1 - s))


def test_batched_fit_equals_one_at_a_time():
    rng = np.random.default_rng(3)
    wins = rng.integers(0, 6, size=(7, 4, 4)).astype(float)
    batched = bradley_terry(wins)
    for one, matrix in zip(batched, wins):
        assert one == pytest.approx(bradley_terry(matrix), abs=1e-9)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    first, second, score = _judgments((0, 1, 1.0, 14), (0, 1, 0.0, 6), (1, 2, 1.0, 12),
                                      (1, 2, 0.0, 8), (0, 2, TIE_SCORE, 4))
    a = bootstrap_bradley_terry(first, second, score, 3, resamples=400, seed=1)
    b = bootstrap_bradley_terry(first, second, score, 3, resamples=400, seed=1)
    assert a.shape == (400, 3) and np.array_equal(a, b)
    theta = bradley_terry(win_matrix(first, second, score, 3))
    for i in range(3):
        low, high = bootstrap_interval_of(a[:, i])
        assert low < theta[i] < high


# --------------------------------------------------------------------------- τ and agreement

def test_kendall_tau_b_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    y = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 4.0])
    x = rng.integers(0, 4, size=(50, 6)).astype(float)
    ours = kendall_tau_b(x, y)
    for row, tau in zip(x, ours):
        expected = stats.kendalltau(row, y).statistic
        assert (math.isnan(tau) and math.isnan(expected)) or tau == pytest.approx(expected, abs=1e-12)
    assert math.isnan(kendall_tau_b([1.0, 1.0, 1.0], y[:3]))


def test_metric_agreement_counts_decided_pairs_only():
    chosen = [10.0, 20.0, 30.0, 5.0, float("nan")]
    other = [20.0, 10.0, 30.0, 6.0, 1.0]
    assert metric_agreement(chosen, other, maximize=False) == (2, 3)   # FID-like: lower picked
    assert metric_agreement(chosen, other, maximize=True) == (1, 3)


# --------------------------------------------------------------------------- intervals

def test_wilson_interval_closed_form():
    z = stats.norm.ppf(0.975)
    for k, n in ((0, 10), (3, 10), (7, 25), (25, 25)):
        centre = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
        assert proportion_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)
    # Hand-worked: 0 of 10 → upper z²/(n + z²) = 3.8415/13.8415.
    assert proportion_interval(0, 10)[1] == pytest.approx(0.27753, abs=1e-5)


def test_clopper_pearson_interval():
    # k = 0: upper = 1 − (α/2)^(1/n); otherwise beta quantiles.
    assert proportion_interval(0, 10, method="clopper-pearson")[1] == pytest.approx(1 - 0.025 ** 0.1)
    low, high = proportion_interval(4, 12, method="clopper-pearson")
    assert low == pytest.approx(stats.beta.ppf(0.025, 4, 9))
    assert high == pytest.approx(stats.beta.ppf(0.975, 5, 8))
    assert all(math.isnan(v) for v in proportion_interval(0, 0))
    with pytest.raises(ValueError, match="allowed: wilson, clopper-pearson"):
        proportion_interval(1, 2, method="normal")


# --------------------------------------------------------------------------- sample size

def test_sample_size_hand_worked_value():
    # ((1.95996·0.5 + 0.84162·√0.24) / 0.1)² = (1.39229 / 0.1)² = 193.85 → 194.
    assert judgments_needed(0.6) == 194
    assert judgments_needed(0.4) == 194              # a preference either way
    assert judgments_needed(0.6, alpha=0.05) == 153  # one-sided 5 %
    assert judgments_needed(0.5) == math.inf


def test_sample_size_gives_the_power_by_exact_binomial_and_simulation():
    n, p = int(judgments_needed(0.6)), 0.6
    critical = int(stats.binom.isf(0.025, n, 0.5)) + 1   # smallest k with P(X ≥ k | ½) ≤ α
    assert stats.binom.sf(critical - 1, n, 0.5) <= 0.025 < stats.binom.sf(critical - 2, n, 0.5)
    exact = stats.binom.sf(critical - 1, n, p)
    # The exact test is discrete (its real level is below α), so its power at the normal
    # approximation's n zigzags just under the target: 0.764 at n = 194.
    assert exact == pytest.approx(0.764, abs=0.002)
    simulated = np.mean(np.random.default_rng(0).binomial(n, p, size=200_000) >= critical)
    assert simulated == pytest.approx(exact, abs=0.005)
    fewer = int(0.7 * n)
    assert stats.binom.sf(int(stats.binom.isf(0.025, fewer, 0.5)), fewer, p) < 0.7
