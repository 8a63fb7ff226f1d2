"""Metrics against closed forms worked by hand, scipy, brute force and invariances."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist
from scipy.stats import entropy, ortho_group

from lgm.evaluation import registry
from lgm.evaluation.metrics import (FeatureStatistics,
                                    RankDeficientCovarianceWarning, density_coverage,
                                    feature_statistics, fid, fid_from_statistics,
                                    frechet_distance, inception_score, kid, precision_recall)


def correlated(rng, n, d, shift=0.0, mix=None):
    """Gaussian features with a random full covariance ``mix mixᵀ`` and mean ``shift``."""
    mix = rng.normal(size=(d, d)) / math.sqrt(d) if mix is None else mix
    return rng.normal(size=(n, d)) @ mix + shift


def scipy_sqrtm_fid(mu1, s1, mu2, s2):
    """pytorch-fid's formula: tr of ``scipy.linalg.sqrtm(S1 S2)``'s real part."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean.real)


# ----------------------------------------------------------------------------- FID

@pytest.mark.parametrize("a, b, mu1, mu2", [
    # d=1: N(1, 4) vs N(-2, 9): (1+2)² + (2-3)² = 9 + 1 = 10
    ([4.0], [9.0], [1.0], [-2.0]),
    # d=3: |dmu|² = 1+0+4 = 5; Σ(√a-√b)² = (1-2)² + (3-1)² + (0.5-0.5)² = 5 → 10
    ([1.0, 9.0, 0.25], [4.0, 1.0, 0.25], [0.0, 1.0, 2.0], [1.0, 1.0, 0.0]),
    # singular S1 (a zero variance, Cholesky fails → eigh square root): √a = (0, 2),
    # √b = (1, 3): (0-1)² + (2-3)² = 2, means equal → 2
    ([0.0, 4.0], [1.0, 9.0], [0.0, 0.0], [0.0, 0.0]),
    # singular S2 only: √a = (1, 3), √b = (0, 2): (1-0)² + (3-2)² = 2
    ([1.0, 9.0], [0.0, 4.0], [0.0, 0.0], [0.0, 0.0]),
    # both singular in the same coordinate: (2-1)² + 0 = 1, plus |dmu|² = 1 → 2
    ([4.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]),
])
def test_frechet_distance_diagonal_closed_form(a, b, mu1, mu2):
    # For commuting (here diagonal) covariances (S1 S2)^{1/2} = diag(√(a b)), so
    # d² = |dmu|² + Σ a + Σ b - 2 Σ √(a b) = |dmu|² + Σ (√a - √b)².
    a, b, mu1, mu2 = map(np.array, (a, b, mu1, mu2))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_frechet_distance_hand_worked_2x2():
    # S1 = I, S2 = [[2,1],[1,2]] (eigenvalues 3 and 1): (S1 S2)^{1/2} = S2^{1/2} with
    # trace √3 + 1; tr S1 + tr S2 = 2 + 4; |dmu|² = 1 + 4 → 5 + 6 - 2(√3 + 1) = 9 - 2√3.
    s2 = np.array([[2.0, 1.0], [1.0, 2.0]])
    got = frechet_distance(np.zeros(2), np.eye(2), np.array([1.0, 2.0]), s2)
    assert got == pytest.approx(9.0 - 2.0 * math.sqrt(3.0), rel=1e-13)


@pytest.mark.parametrize("d", [2, 7, 32])
def test_frechet_distance_commuting_rotated(d):
    # S1 = Q diag(a) Qᵀ, S2 = Q diag(b) Qᵀ commute: same closed form as diagonal ones,
    # but now every matrix entry is non-zero.
    rng = np.random.default_rng(d)
    q = ortho_group.rvs(d, random_state=d)
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed, shift", [(0, 0.0), (1, 0.3), (2, 2.0)])
def test_fid_agrees_with_scipy_sqrtm(seed, shift):
    # Non-commuting covariances, d=64, n=2000: only the scipy formula can check these.
    rng = np.random.default_rng(seed)
    a = correlated(rng, 2000, 64)
    b = correlated(rng, 2000, 64, shift=shift)
    (mu1, s1), (mu2, s2) = feature_statistics(a), feature_statistics(b)
    assert fid(a, b) == pytest.approx(scipy_sqrtm_fid(mu1, s1, mu2, s2), rel=1e-10)


def test_feature_statistics_is_np_mean_and_cov():
    x = correlated(np.random.default_rng(3), 300, 8, shift=5.0)
    stats = feature_statistics(x)
    assert isinstance(stats, FeatureStatistics)
    np.testing.assert_allclose(stats.mu, x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.sigma, np.cov(x, rowvar=False), rtol=1e-11, atol=1e-13)
    assert stats.sigma.dtype == np.float64


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(4)
    a, b = correlated(rng, 500, 16), correlated(rng, 400, 16, shift=0.5)
    scale = np.trace(np.cov(a, rowvar=False))
    assert 0.0 <= fid(a, a) <= 1e-10 * scale  # exact 0 up to rounding, never negative
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-10)


def test_fid_from_statistics_accepts_stats_pairs_and_tensors():
    rng = np.random.default_rng(5)
    a, b = correlated(rng, 200, 6), correlated(rng, 200, 6, shift=1.0)
    sa, sb = feature_statistics(a), feature_statistics(b)
    expected = fid(a, b)
    assert fid_from_statistics(sa, sb) == expected
    assert fid_from_statistics((sa.mu, sa.sigma), [sb.mu, sb.sigma]) == expected
    as_tensors = tuple(torch.from_numpy(v) for v in sa)
    assert fid_from_statistics(as_tensors, sb) == expected


def test_fewer_samples_than_dimensions_warns_and_stays_finite():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(30, 64)) + 0.1
    with pytest.warns(RankDeficientCovarianceWarning, match="samples for 64") as caught:
        value = fid(a, b)
    assert sorted(str(w.message)[:2] for w in caught) == ["20", "30"]  # one per set
    assert math.isfinite(value) and value >= 0.0


def test_dead_units_contribute_nothing():
    # Zero columns (dead ReLU units) in both sets make both covariances singular, so
    # Cholesky fails and the eigh fallback runs; the true distance ignores those
    # coordinates, so it must equal the FID of the live columns alone.
    rng = np.random.default_rng(7)
    live_a, live_b = correlated(rng, 400, 10), correlated(rng, 400, 10, shift=0.4)
    dead = np.zeros((400, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # n >= d here: no rank warning expected
        value = fid(np.hstack([live_a, dead]), np.hstack([live_b, dead]))
    assert value == pytest.approx(fid(live_a, live_b), rel=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: fid(np.ones((5, 3)), np.ones((5, 4))), "same feature dimension, got 3 and 4"),
    (lambda: fid(np.ones((1, 3)), np.ones((5, 3))), "at least 2 sample"),
    (lambda: fid(np.ones(5), np.ones((5, 1))), "2 dimension"),
    (lambda: fid(np.full((4, 2), np.nan), np.ones((4, 2))), "non-finite"),
    (lambda: frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]),
                              np.zeros(2), np.eye(2)), "not symmetric"),
    (lambda: frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"\(3, 3\)"),
    (lambda: fid_from_statistics("stats", (np.zeros(2), np.eye(2))), "FeatureStatistics"),
    (lambda: fid({"a": 1}, np.ones((4, 2))), "numpy array or a torch tensor, got dict"),
])
def test_fid_rejects_bad_input_clearly(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----------------------------------------------------------------------------- IS

@pytest.mark.parametrize("k", [2, 5, 10])
def test_is_of_confident_evenly_spread_predictions_is_k(k):
    # p(y) uniform, each KL(onehot || uniform) = log K → IS = exp(log K) = K.
    probs = np.eye(k)[np.arange(50 * k) % k]
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(k, rel=1e-12) and std == 0.0


@pytest.mark.parametrize("splits", [1, 4])
def test_is_of_a_single_class_is_one(splits):
    # Every p(y|x) equals p(y): every KL is 0 → IS = 1 in every split.
    probs = np.tile([0.1, 0.7, 0.2], (40, 1))
    assert inception_score(probs, splits=splits) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_is_hand_worked_two_rows():
    # p(y) = mean([1, 0], [.5, .5]) = [.75, .25]
    # KL1 = log(1/.75) = log(4/3); KL2 = .5 log(.5/.75) + .5 log(.5/.25) = .5 log(4/3)
    # mean KL = .75 log(4/3) → IS = (4/3)^0.75
    mean, _ = inception_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert mean == pytest.approx((4.0 / 3.0) ** 0.75, rel=1e-13)


def test_is_matches_scipy_entropy():
    probs = np.random.default_rng(8).dirichlet(np.full(7, 0.3), size=300)
    marginal = probs.mean(axis=0)
    expected = math.exp(np.mean([entropy(p, marginal) for p in probs]))
    assert inception_score(probs, splits=1).mean == pytest.approx(expected, rel=1e-12)


def test_is_does_not_depend_on_input_order():
    # Class-sorted input: without the seeded shuffle each of the 10 splits would hold one
    # class and score 1; shuffled first, both orders score ~K.
    k = 10
    sorted_probs = np.eye(k)[np.repeat(np.arange(k), 300)]
    shuffled = sorted_probs[np.random.default_rng(9).permutation(len(sorted_probs))]
    a, b = inception_score(sorted_probs, splits=10), inception_score(shuffled, splits=10)
    assert a.mean > 9.5 and b.mean > 9.5
    assert a.mean == pytest.approx(b.mean, abs=3 * max(a.std, b.std))
    # With one split the score is an exact function of the multiset of rows.
    assert inception_score(sorted_probs, splits=1).mean == pytest.approx(
        inception_score(shuffled, splits=1).mean, rel=1e-13)


@pytest.mark.parametrize("probs, splits, match", [
    (np.array([[0.5, 0.6], [0.5, 0.5]]), 1, "sum to 1.*row 0 sums to 1.1"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), 1, "non-negative.*row 0"),
    (np.array([[2.0, -1.0, 3.0]]), 1, "logits"),
    (np.full((4, 2), 0.5), 5, "splits must be in 1..4, got 5"),
    (np.full((4, 2), 0.5), 0, "splits must be in 1..4, got 0"),
    (np.full(4, 0.25), 1, "2 dimension"),
])
def test_is_rejects_bad_probabilities(probs, splits, match):
    with pytest.raises(ValueError, match=match):
        inception_score(probs, splits=splits)


# ----------------------------------------------------------------------------- KID

def test_kid_hand_worked():
    # d=1, k(x,y) = (xy + 1)³; subsets are the whole sets (subset_size clipped to 2).
    # XX off-diagonal: k(0,1) = 1 (twice) → 2/(2·1) = 1
    # YY off-diagonal: k(2,3) = 7³ = 343 (twice) → 343
    # XY: k(0,2)=1, k(0,3)=1, k(1,2)=27, k(1,3)=64 → 93/4 = 23.25
    # MMD²_u = 1 + 343 - 2·23.25 = 297.5; every draw is the same, so std = 0.
    mean, std = kid(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]), num_subsets=3,
                    subset_size=1000)
    assert mean == pytest.approx(297.5, rel=1e-14) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_equals_double_loop_u_statistic():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 4)) + 0.3

    def k(u, v):
        return (u @ v / 4 + 1.0) ** 3

    m = 12
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    # A draw of all 12 rows is a permutation, and MMD² does not depend on row order.
    assert kid(x, y, num_subsets=1, subset_size=12).mean == pytest.approx(xx + yy - 2 * xy,
                                                                            rel=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(11)
    mix = rng.normal(size=(16, 16)) / 4
    a, b = correlated(rng, 1500, 16, mix=mix), correlated(rng, 1500, 16, mix=mix)
    shifted = correlated(rng, 1500, 16, shift=0.5, mix=mix)
    same = kid(a, b, num_subsets=30, subset_size=500)
    moved = kid(a, shifted, num_subsets=30, subset_size=500)
    assert abs(same.mean) < 3 * same.std            # unbiased: 0 within the noise
    assert moved.mean > 10 * moved.std and moved.mean > 20 * abs(same.mean)


def test_kid_is_seeded():
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(200, 8))
    first = kid(a, b, num_subsets=5, subset_size=100, seed=3)
    assert kid(a, b, num_subsets=5, subset_size=100, seed=3) == first
    assert kid(a, b, num_subsets=5, subset_size=100, seed=4) != first


@pytest.mark.parametrize("kwargs, match", [
    ({"num_subsets": 0}, "num_subsets must be >= 1, got 0"),
    ({"subset_size": 1}, "subset_size must be >= 2, got 1"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"num_subsets": 2.5}, "num_subsets must be an integer, got 2.5"),
])
def test_kid_rejects_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        kid(np.ones((5, 2)), np.ones((5, 2)), **kwargs)


# ----------------------------------------------------------- precision/recall, density/coverage

REAL_LINE = [0.0, 1.0, 2.0, 3.0]


def on_line(xs, offset):
    """Points x on a line in 2-D, moved by ``offset`` (all metrics are translation invariant)."""
    return np.array([[x, 0.0] for x in xs]) + offset


@pytest.mark.parametrize("offset", [np.zeros(2), np.array([1e3, -2e3])])
@pytest.mark.parametrize("k, expected", [
    # real {0,1,2,3}, fake {0.2, 0.7, 9, 9.5, 9.8}
    # k=1: real radii all 1; fake radii 0.5, 0.5, 0.5, 0.3, 0.3.
    #   precision: 0.2 and 0.7 lie in real balls, 9, 9.5, 9.8 (6+ from 3) do not → 2/5
    #   recall: real 0 (0.2 from fake 0.2, r .5) and 1 (0.3 from fake 0.7, r .5) covered;
    #           real 2 (1.3 from 0.7) and 3 (2.3 from 0.7, 6 from 9) not → 2/4
    (1, (0.4, 0.5)),
    # k=2: real radii 2, 1, 1, 2 → precision still 2/5 (9 is 6 from 3 > 2);
    #   fake radii 8.8, 8.3, 0.8, 0.5, 0.8: fake 0.2's ball reaches 9 → all real covered.
    (2, (0.4, 1.0)),
])
def test_precision_recall_hand_worked(k, expected, offset):
    real, fake = on_line(REAL_LINE, offset), on_line([0.2, 0.7, 9.0, 9.5, 9.8], offset)
    assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("offset", [np.zeros(2), np.array([1e3, -2e3])])
def test_density_coverage_hand_worked(offset):
    # real {0,1,2,3}, k=1: radii all 1. fake {0.5, 1.5, 10}:
    #   density: fake 0.5 is inside the balls of real 0 and 1, fake 1.5 inside 1 and 2,
    #            fake 10 inside none → (2 + 2 + 0) / (k·M = 3) = 4/3 (> 1: crowded samples)
    #   coverage: nearest fake to real 0,1,2 is 0.5 < 1 away; to real 3 it is 1.5 → 3/4
    real, fake = on_line(REAL_LINE, offset), on_line([0.5, 1.5, 10.0], offset)
    assert density_coverage(real, fake, k=1) == pytest.approx((4 / 3, 0.75), abs=1e-15)


def brute_force_manifold_metrics(real, fake, k):
    """Full distance matrices from scipy's cdist, radii by sorting: no blocking, no tricks."""
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    np.fill_diagonal(d_rr, np.inf)
    np.fill_diagonal(d_ff, np.inf)
    r_real, r_fake = np.sort(d_rr, axis=1)[:, k - 1], np.sort(d_ff, axis=1)[:, k - 1]
    precision = np.mean((d_fr <= r_real[None, :]).any(axis=1))
    recall = np.mean((d_fr.T <= r_fake[None, :]).any(axis=1))
    density = np.sum(d_fr < r_real[None, :]) / (k * len(fake))
    coverage = np.mean(d_fr.min(axis=0) < r_real)
    return (precision, recall), (density, coverage)


@pytest.mark.parametrize("block_size", [1, 7, 10_000])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_blocked_manifold_metrics_equal_brute_force(block_size, k):
    rng = np.random.default_rng(13 + k)
    real, fake = rng.normal(size=(41, 5)), rng.normal(size=(33, 5)) * 1.3 + 0.2
    pr, dc = brute_force_manifold_metrics(real, fake, k)
    assert precision_recall(real, fake, k=k, block_size=block_size) == pytest.approx(pr)
    assert density_coverage(real, fake, k=k, block_size=block_size) == pytest.approx(dc)


def test_duplicate_points_are_neighbours_at_distance_zero():
    # Two copies of each real point: the 1-NN of each is its twin at distance 0, so the
    # balls are empty (open, density/coverage) or single points (closed, precision).
    real = np.repeat(np.array([[0.0, 0.0], [5.0, 0.0]]), 2, axis=0)
    fake = np.array([[0.0, 0.0], [0.1, 0.0]])
    assert precision_recall(real, fake, k=1).precision == 0.5  # only the exact copy
    assert density_coverage(real, fake, k=1) == (0.0, 0.0)


@pytest.mark.parametrize("fn", [precision_recall, density_coverage])
@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must be >= 1, got 0"),
    ({"k": 4}, "k=4 nearest neighbours need at least 5 real samples, got 4"),
    ({"k": 1, "block_size": 0}, "block_size must be >= 1, got 0"),
    ({"k": True}, "k must be an integer, got True"),
])
def test_manifold_metrics_reject_bad_arguments(fn, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fn(np.eye(4), np.eye(4)[:3] + 0.1, **kwargs)


# ----------------------------------------------------------------------------- shared

FEATURE_CALLS = {
    "fid": lambda a, b: fid(a, b),
    "kid": lambda a, b: kid(a, b, num_subsets=3, subset_size=20),
    "precision_recall": lambda a, b: precision_recall(a, b, k=3, block_size=16),
    "density_coverage": lambda a, b: density_coverage(a, b, k=3, block_size=16),
}


@pytest.mark.parametrize("name", sorted(FEATURE_CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_and_numpy_inputs_give_identical_results(name, dtype):
    rng = np.random.default_rng(14)
    a, b = rng.normal(size=(60, 6)).astype(dtype), rng.normal(size=(50, 6)).astype(dtype)
    call = FEATURE_CALLS[name]
    assert call(torch.from_numpy(a), torch.from_numpy(b)) == call(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(FEATURE_CALLS))
def test_cuda_tensors_give_the_numpy_results(name):
    a, b = np.random.default_rng(16).normal(size=(2, 40, 5))
    cuda = [torch.from_numpy(v).to("cuda") for v in (a, b)]
    assert FEATURE_CALLS[name](*cuda) == FEATURE_CALLS[name](a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_is_torch_and_numpy_inputs_give_identical_results(dtype):
    logits = torch.randn(60, 6, generator=torch.Generator().manual_seed(15), dtype=dtype)
    probs = torch.softmax(logits, dim=1)
    assert inception_score(probs, splits=3) == inception_score(probs.numpy(), splits=3)


def test_registry_and_directions():
    assert registry.SAMPLE_METRICS == ("fid", "is", "kid", "precision_recall", "density_coverage",
                                       "data_copying", "vendi", "fid_inf", "fid_se", "real_baseline",
                                       "fwd", "fid_hm")
    goals = {name: o.goal for name, o in registry.OUTPUTS.items()}
    assert {k: goals[k] for k in ("fid", "kid", "is", "precision", "recall", "density", "coverage")} == {
        "fid": "minimize", "kid": "minimize", "is": "maximize", "precision": "maximize",
        "recall": "maximize", "density": "maximize", "coverage": "maximize"}
    assert {k for k, g in goals.items() if g == "minimize"} == {"fid", "kid", "fid_class", "fid_recon", "bpd",
                                                                   "copy_fraction", "fid_inf", "fwd", "fid_hm"}
    assert goals["is_std"] is None and goals["kl"] is None  # diagnostics have no direction
    assert goals["ct"] is None and goals["vendi"] == "maximize"  # C_T: ≈ 0 is best, no direction
    assert registry.outputs_of("is") == ["eval/is", "eval/is_std"]
    assert registry.outputs_of("fid_class", num_classes=2) == ["eval/fid_class/0", "eval/fid_class/1"]
    assert registry.goal("curve/kid") == registry.goal("eval/kid") == "minimize"  # namespace-free


def test_registry_fixed_settings_are_what_evaluate_uses():
    # hand-worked: the entry's settings reach the metric function (IS over 10 splits, k=3 / k=5)
    assert registry.METRICS["is"].settings == {"splits": 10}
    assert registry.METRICS["precision_recall"].settings == {"k": 3}
    assert registry.METRICS["density_coverage"].settings == {"k": 5}
    assert registry.METRICS["kid"].settings == {"num_subsets": 100, "subset_size": 1000}
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(50, 4))
    ref = type("Ref", (), {"features": a, "statistics": feature_statistics(a)})()
    inputs = registry.MetricInputs(features=b, probs=None, reference=ref, seed=0, num_classes=1)
    out = registry.compute(["fid", "precision_recall"], inputs)
    assert out["eval/fid"] == fid(b, a)
    assert (out["eval/precision"], out["eval/recall"]) == tuple(precision_recall(a, b, k=3))


def test_importing_metrics_has_no_heavy_or_forbidden_imports():
    # The analysis reads directions from the registry: it must not pull in torch.
    code = ("import sys, lgm.evaluation.metrics, lgm.evaluation.registry, lgm.evaluation; "
            "bad = [m for m in ('wandb', 'study', 'analysis', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("n_real, n_fake, block_size", [(40, 30, 7), (25, 60, 1000)])
def test_one_pass_manifold_metrics_equal_the_separate_functions(n_real, n_fake, block_size):
    from lgm.evaluation.metrics.manifold import manifold_metrics, real_sq_radii

    rng = np.random.default_rng(11)
    real = rng.normal(size=(n_real, 5)) + 3.0
    fake = np.concatenate([real[:5], rng.normal(size=(n_fake - 5, 5)) * 1.3 + 3.2])  # exact copies too
    separate = (*precision_recall(real, fake, k=3, block_size=block_size),
                *density_coverage(real, fake, k=5, block_size=block_size))
    # exactly equal (same float64 arithmetic on the same centred features), with or without
    # precomputed real radii
    assert tuple(manifold_metrics(real, fake, block_size=block_size)) == separate
    radii = real_sq_radii(real, (3, 5), block_size=block_size)
    assert tuple(manifold_metrics(real, fake, block_size=block_size, real_radii=radii)) == separate
    with pytest.raises(ValueError, match="lacks the k=5 radii"):
        manifold_metrics(real, fake, real_radii={3: radii[3]})


def test_fid_infinity_removes_the_sample_size_bias_on_known_gaussians():
    """Generated features ~ N(0.1, diag(s²)), the reference the exact N(0, I): the Fréchet
    distance is known in closed form. Over 10 independent draws of 4,000 samples, the plug-in
    FID's mean is biased upwards (by more than 3 of its standard errors); the mean FID∞ is
    within 3 standard errors of the closed form (the tolerance is the replicates' own spread)."""
    from lgm.evaluation.metrics.fid_extrapolation import fid_infinity

    d, n, reps = 64, 4000, 10
    scales = np.linspace(0.5, 2.0, d)
    reference = (np.zeros(d), np.eye(d))
    # closed form: |0.1·1|² + Σ (s_i - 1)² for commuting diagonal covariances
    truth = d * 0.01 + float(np.sum((scales - 1.0) ** 2))
    assert frechet_distance(np.full(d, 0.1), np.diag(scales ** 2), *reference) == pytest.approx(truth)
    plug_in, extrapolated = [], []
    for seed in range(reps):
        x = np.random.default_rng(seed).normal(size=(n, d)) * scales + 0.1
        plug_in.append(fid_from_statistics(feature_statistics(x), reference))
        extrapolated.append(fid_infinity(x, reference, seed=seed))
    se = lambda v: np.std(v, ddof=1) / np.sqrt(reps)  # noqa: E731
    assert np.mean(plug_in) - truth > 3 * se(plug_in)
    assert abs(np.mean(extrapolated) - truth) < 3 * se(extrapolated)


def test_fid_bootstrap_se_matches_the_spread_over_fresh_draws():
    """The bootstrap SE of one draw's FID against the SD of FID over 40 fresh draws of the
    same distribution (the quantity it estimates): within a factor of 1.5."""
    from lgm.evaluation.metrics.fid_extrapolation import fid_bootstrap_se

    d, n = 16, 2000
    reference = (np.zeros(d), np.eye(d))
    draw = lambda seed: np.random.default_rng(seed).normal(size=(n, d)) * 1.3 + 0.2  # noqa: E731
    fresh = np.std([fid_from_statistics(feature_statistics(draw(s)), reference) for s in range(40)], ddof=1)
    boot = fid_bootstrap_se(draw(99), reference, resamples=60, seed=0)
    assert fresh / 1.5 < boot < fresh * 1.5
