"""Kernel Inception Distance (Bińkowski et al. 2018).

Bińkowski, Sutherland, Arbel, Gretton, "Demystifying MMD GANs", ICLR 2018. KID is the
squared maximum mean discrepancy between the two feature distributions under the cubic
polynomial kernel

    k(x, y) = (xᵀy / d + 1)³,

estimated without bias (Gretton et al. 2012, Lemma 6) on subsets X, Y of m samples each:

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (m(m-1))
             - 2 Σ_{i,j} k(x_i, y_j) / m².

Unlike FID it has an unbiased estimator, so its expectation is 0 when both samples come
from one distribution; single estimates can then be slightly negative. The mean and the
standard deviation over ``num_subsets`` seeded subset draws are reported, as in the
authors' code.
"""

from __future__ import annotations

import numpy as np

from ._arrays import ScoreWithStd, as_features, check_int, check_same_dim

__all__ = ["kid"]


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gram matrix ``K[i, j] = (x_iᵀ y_j / d + 1)³`` (float64)."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    cube = k * k  # two multiplies: `k ** 3` goes through the much slower general pow
    cube *= k
    return cube


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² (formula above) of two equally sized samples, cubic polynomial kernel."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    # Drop the diagonals k(x_i, x_i): they are what makes the plain V-statistic biased.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid(features_a, features_b, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> ScoreWithStd:
    """KID ``(mean, std)`` of unbiased MMD² over ``num_subsets`` random subsets.

    Each subset draws ``subset_size`` rows *without replacement* from each set, with
    ``numpy.random.default_rng(seed)`` (so results are reproducible). ``subset_size`` is
    clipped to the smaller set size, so small evaluation sets still work (with fewer
    distinct subsets; when it equals both set sizes every draw is the whole set and
    ``std`` is 0). ``std`` is the population standard deviation (ddof=0) over subsets.
    """
    a = as_features(features_a, "features_a", min_rows=2)
    b = as_features(features_b, "features_b", min_rows=2)
    check_same_dim(a, b, "features_a", "features_b")
    num_subsets = check_int(num_subsets, "num_subsets", minimum=1)
    subset_size = min(check_int(subset_size, "subset_size", minimum=2), len(a), len(b))
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        values.append(_mmd2_unbiased(x, y))
    return ScoreWithStd(float(np.mean(values)), float(np.std(values)))
