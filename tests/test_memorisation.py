"""Memorisation and diversity metrics against hand-worked values, scipy, brute force and
simulations with a known answer: C_T and the copy fraction (Meehan et al. 2020), Vendi
(Friedman & Dieng 2022), and the nearest-training pairs of the copies figure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu, norm

from lgm.evaluation.copies import closest_pairs, nearest_training
from lgm.evaluation.metrics import data_copying, vendi_score
from lgm.evaluation.metrics.data_copying import (assign_cells, cell_count, copy_fraction,
                                                 ct_statistic, kmeans, mann_whitney_z)

# ----------------------------------------------------------------------------- Mann–Whitney


def test_mann_whitney_z_hand_worked():
    # gen [1, 2] vs test [3]: no pair with gen > test, U = 0;
    # Z = (0 - (2·1/2 - ½)) / sqrt(2·1·(2+1+1)/12) = -0.5 / sqrt(2/3)
    assert mann_whitney_z(np.array([1.0, 2.0]), np.array([3.0])) == pytest.approx(-0.5 / math.sqrt(2 / 3))
    # a tie counts half: gen [1] vs test [1]: U = ½, Z = (½ - (½ - ½)) / sqrt(3/12) = 1
    assert mann_whitney_z(np.array([1.0]), np.array([1.0])) == pytest.approx(1.0)


def test_mann_whitney_z_equals_scipys_normal_approximation():
    rng = np.random.default_rng(0)
    gen, test = rng.normal(0.3, 1, 40), rng.normal(0, 1, 55)
    res = mannwhitneyu(gen, test, alternative="less", method="asymptotic", use_continuity=True)
    # scipy's p = Φ(z) with the same continuity correction and, without ties, the same variance
    assert mann_whitney_z(gen, test) == pytest.approx(norm.ppf(res.pvalue), rel=1e-9)
    m, n = len(gen), len(test)
    u = res.statistic  # U of the first sample: pairs with gen > test
    assert mann_whitney_z(gen, test) == pytest.approx((u - m * n / 2 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12))


def test_mann_whitney_z_is_standard_normal_under_the_null():
    rng = np.random.default_rng(1)
    z = np.array([mann_whitney_z(rng.random(30), rng.random(40)) for _ in range(2000)])
    # mean +0.5/sd from the continuity correction: 0.5 / sqrt(30·40·71/12) = 0.006
    assert abs(z.mean()) < 0.07 and 0.93 < z.std() < 1.07  # ±3 standard errors


# ----------------------------------------------------------------------------- C_T

def test_ct_statistic_hand_worked_two_cells():
    # cell 0: gen [1, 2], test [3] → Z0 = -0.5/sqrt(2/3); cell 1: gen [5], test [4, 6, 7]:
    # one pair with gen > test, U = 1 = 3·1/2 - ½, Z1 = 0. Weights P_n = 1/4, 3/4:
    # C_T = (¼ Z0 + ¾ · 0) / 1.
    gen_l, gen_cells = np.array([1.0, 2.0, 5.0]), np.array([0, 0, 1])
    test_l, test_cells = np.array([3.0, 4.0, 6.0, 7.0]), np.array([0, 1, 1, 1])
    ct, used = ct_statistic(gen_l, gen_cells, test_l, test_cells, 2, min_cell_samples=0)
    assert used == 2 and ct == pytest.approx(0.25 * -0.5 / math.sqrt(2 / 3))
    # the paper's rule keeps cells with more than τm generated samples: only cell 0 has > 1
    ct, used = ct_statistic(gen_l, gen_cells, test_l, test_cells, 2, min_cell_samples=1)
    assert used == 1 and ct == pytest.approx(-0.5 / math.sqrt(2 / 3))
    # a cell without test points has weight 0 and no Z: left out, not an error
    ct, used = ct_statistic(gen_l, np.array([0, 0, 2]), test_l, test_cells, 3, min_cell_samples=0)
    assert used == 1
    assert math.isnan(ct_statistic(gen_l, gen_cells, test_l, test_cells, 2, min_cell_samples=5)[0])


def _gaussians(seed, n=2000, d=16):
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(n, d)), rng.normal(size=(n, d))


def test_ct_signs_on_gaussians_with_known_answers():
    rng, train, test = _gaussians(2)
    fresh = data_copying(train, test, rng.normal(size=(2000, 16)))
    shifted = data_copying(train, test, rng.normal(size=(2000, 16)) + 1.0)  # farther: underfit
    near = data_copying(train, test, train + 0.05 * rng.normal(size=train.shape))  # copies + noise
    copies = data_copying(train, test, train[rng.permutation(2000)])
    assert fresh.num_cells == cell_count(2000) == 10 and fresh.cells_used >= 8
    assert abs(fresh.ct) < 3  # a z-score under the null
    assert shifted.ct > 5  # the paper: C_T ≫ 0 is underfitting
    assert near.ct < -5 and copies.ct < -5  # C_T ≪ 0 is data copying
    # every copy sits at L = 0 < every test distance: U = 0 in each cell, so each cell's
    # Z is its minimum -(n m/2 - ½)/sqrt(n m (n+m+1)/12); C_T their P_n-weighted mean
    assert copies.ct < near.ct
    assert copies.copy_fraction == 1.0 and near.copy_fraction > 0.9
    assert 0.03 < fresh.copy_fraction < 0.07  # α = 5 % of held-out-like data, ±3 s.e.
    assert shifted.copy_fraction < 0.03


def test_copy_fraction_hand_worked():
    test = np.arange(100.0)  # 5 % quantile (linear) = 4.95
    assert copy_fraction(np.arange(100.0), test) == 0.05  # 0..4 lie strictly below
    assert copy_fraction(np.zeros(7), test) == 1.0
    assert copy_fraction(np.array([4.95, 5.0]), test) == 0.0  # strictly below
    with pytest.raises(ValueError, match="alpha"):
        copy_fraction(test, test, alpha=1.0)


def test_kmeans_recovers_separated_blobs_and_is_seeded():
    rng = np.random.default_rng(4)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    x = np.concatenate([c + rng.normal(scale=0.5, size=(50, 2)) for c in centres])
    found = kmeans(x, 4, seed=0)
    cells = assign_cells(x, found)
    # each blob is exactly one cell
    assert sorted(len(set(cells[i * 50:(i + 1) * 50])) for i in range(4)) == [1, 1, 1, 1]
    assert len(set(cells)) == 4
    np.testing.assert_array_equal(kmeans(x, 4, seed=0), found)
    # more centres than distinct points: the empty ones are dropped, every cell owns a point
    dup = np.repeat(np.eye(3), 5, axis=0)
    assert len(kmeans(dup, 6, seed=0)) == 3


def test_data_copying_refuses_mismatched_features():
    with pytest.raises(ValueError, match="feature dimension"):
        data_copying(np.zeros((30, 3)), np.zeros((30, 3)), np.zeros((30, 4)))


# ----------------------------------------------------------------------------- Vendi

@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_vendi_of_k_dissimilar_points_repeated_is_k(k):
    # k orthogonal directions (cosine similarity 0), each repeated 4 times: K/n is
    # block-diagonal with k blocks of 4×4 ones / 4k, eigenvalues 1/k (k times), 0 otherwise;
    # exp(H) = exp(log k) = k. Scale does not matter for the cosine kernel.
    x = np.repeat(np.eye(8)[:k] * np.arange(1, k + 1)[:, None], 4, axis=0)
    assert vendi_score(x) == pytest.approx(k, rel=1e-12)


def test_vendi_two_points_at_an_angle():
    # two unit vectors with cosine c, each repeated: K/n has eigenvalues (1 ± c)/2
    c = 0.6
    x = np.repeat(np.array([[1.0, 0.0], [c, math.sqrt(1 - c * c)]]), 3, axis=0)
    p = np.array([(1 + c) / 2, (1 - c) / 2])
    assert vendi_score(x) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)


def test_vendi_dual_form_equals_the_n_by_n_definition():
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(size=(70, 12)))  # ReLU-like features
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh(unit @ unit.T / len(x)), 0, None)  # the paper's K/n
    eig = eig[eig > 0]
    assert vendi_score(x) == pytest.approx(math.exp(-(eig * np.log(eig)).sum()), rel=1e-9)


def test_vendi_zero_features_count_as_one_more_point():
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # one direction, two zeros
    assert vendi_score(x) == pytest.approx(2.0, rel=1e-12)


# ----------------------------------------------------------------------------- copies figure

def test_closest_pairs_match_brute_force():
    rng = np.random.default_rng(6)
    train = rng.normal(size=(300, 8)) + 20.0  # far from the origin: the centring matters
    gen = rng.normal(size=(120, 8)) + 20.0
    gen[7] = train[42]  # an exact copy
    d = cdist(gen, train)
    index, distance = nearest_training(gen, train, block_size=37)
    np.testing.assert_array_equal(index, d.argmin(axis=1))
    np.testing.assert_allclose(distance, d.min(axis=1), rtol=1e-12)
    pairs = closest_pairs(gen, train, count=3)
    assert pairs.generated[0] == 7 and pairs.train[0] == 42 and pairs.distance[0] == 0.0
    np.testing.assert_allclose(pairs.distance, np.sort(d.min(axis=1))[:3], rtol=1e-12)
