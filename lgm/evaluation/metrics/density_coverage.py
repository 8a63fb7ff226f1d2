"""Density and coverage (Naeem et al. 2020).

Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for Generative
Models", ICML 2020. Only the *real* set gets k-NN balls (radius r_k(real_i), the distance
to the k-th nearest other real point), which makes both numbers robust to fake outliers:

    density  = 1/(k M) Σ_j Σ_i 1[ |fake_j - real_i| < r_k(real_i) ]
    coverage = (1/N)   Σ_i 1[ min_j |real_i - fake_j| < r_k(real_i) ]

Density counts how many real balls hold each sample (expected ≈ 1 when fake ~ real, can
exceed 1 where samples crowd dense regions); coverage is the share of real balls holding at
least one sample (in [0, 1]). Balls are open (``<``), as in the authors' ``prdc`` code.
Squared Euclidean distances in float64, ``block_size`` rows at a time (see ``_knn``); one
pass over the fake × real distances serves both numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import as_features, check_int, check_same_dim
from ._knn import (DEFAULT_BLOCK_SIZE, center_on, check_k_fits, cross_distance_blocks,
                   kth_neighbour_sq_radii)

__all__ = ["DensityCoverage", "density_coverage"]


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


def density_coverage(real, fake, k: int = 5,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> DensityCoverage:
    """``(density, coverage)`` of ``fake`` (M, d) against ``real`` (N, d), k-NN radii.

    Needs ``k <= N - 1`` (k real neighbours other than the point itself); ``fake`` may
    be any size >= 1. Peak extra memory is about ``block_size × N`` float64 values.
    """
    k = check_int(k, "k", minimum=1)
    real = as_features(real, "real", min_rows=1)
    fake = as_features(fake, "fake", min_rows=1)
    check_same_dim(real, fake, "real", "fake")
    check_k_fits(k, real, "real")
    block_size = check_int(block_size, "block_size", minimum=1)
    real, fake = center_on(real, real, fake)
    real_sq_radii = kth_neighbour_sq_radii(real, k, block_size)
    balls_hit = 0
    nearest_fake = np.full(len(real), np.inf)  # squared distance, real_i → closest fake
    for _, d in cross_distance_blocks(fake, real, block_size):  # d: fake rows × real
        balls_hit += int(np.count_nonzero(d < real_sq_radii[None, :]))
        np.minimum(nearest_fake, d.min(axis=0), out=nearest_fake)
    density = balls_hit / (k * len(fake))
    coverage = float(np.mean(nearest_fake < real_sq_radii))
    return DensityCoverage(density, coverage)
