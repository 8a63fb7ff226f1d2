"""Precision/recall and density/coverage from one pass over the fake × real distances.

The four k-NN manifold metrics (Kynkäänniemi et al. 2019; Naeem et al. 2020, formulas in
``precision_recall.py`` and ``density_coverage.py``) all compare the same squared
distances between generated and real features with k-th-neighbour radii:

- the real radii (k of precision/recall and k of density/coverage) depend on the real set
  only, so the evaluation computes them once per reference and caches them with it;
- the fake radii (recall) need one pass over the fake × fake distances;
- precision, recall, density and coverage all read one pass over the fake × real distances.

So one evaluation costs two blocked 10,000 × 10,000 distance passes instead of five
(the separate functions each compute their own radii and cross distances). The numbers
are identical to the separate functions': the same float64 arithmetic on the same
centred features, the same closed (``<=``) and open (``<``) balls.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import as_features, check_int, check_same_dim
from ._knn import (DEFAULT_BLOCK_SIZE, center_on, check_k_fits, cross_distance_blocks,
                   kth_neighbour_sq_radii)

__all__ = ["ManifoldMetrics", "manifold_metrics", "real_sq_radii"]


class ManifoldMetrics(NamedTuple):
    precision: float
    recall: float
    density: float
    coverage: float


def real_sq_radii(real, ks, block_size: int = DEFAULT_BLOCK_SIZE) -> dict:
    """``{k: squared distance of each real point to its k-th nearest other real point}``,
    on the real features centred on their own mean (as :func:`manifold_metrics` uses them)."""
    real = as_features(real, "real", min_rows=2)
    (centred,) = center_on(real, real)
    return {int(k): kth_neighbour_sq_radii(centred, check_int(k, "k", minimum=1), block_size)
            for k in ks}


def manifold_metrics(real, fake, *, k_precision_recall: int = 3, k_density_coverage: int = 5,
                     block_size: int = DEFAULT_BLOCK_SIZE,
                     real_radii: dict | None = None) -> ManifoldMetrics:
    """All four metrics of ``fake`` (M, d) against ``real`` (N, d).

    ``real_radii``: precomputed :func:`real_sq_radii` of this ``real`` for both ks (else
    computed here). Peak extra memory about ``block_size × max(N, M)`` float64 values.
    """
    k_pr = check_int(k_precision_recall, "k_precision_recall", minimum=1)
    k_dc = check_int(k_density_coverage, "k_density_coverage", minimum=1)
    real = as_features(real, "real", min_rows=1)
    fake = as_features(fake, "fake", min_rows=1)
    check_same_dim(real, fake, "real", "fake")
    for k in (k_pr, k_dc):
        check_k_fits(k, real, "real")
    check_k_fits(k_pr, fake, "fake")
    block_size = check_int(block_size, "block_size", minimum=1)
    radii = real_radii if real_radii is not None else real_sq_radii(real, {k_pr, k_dc}, block_size)
    for k in (k_pr, k_dc):
        if k not in radii or len(radii[k]) != len(real):
            raise ValueError(f"real_radii lacks the k={k} radii of these {len(real)} real points")
    real, fake = center_on(real, real, fake)
    fake_sq_radii = kth_neighbour_sq_radii(fake, k_pr, block_size)
    r_precision, r_density = radii[k_pr][None, :], radii[k_dc][None, :]
    fake_on_real, balls_hit = 0, 0
    real_covered = np.zeros(len(real), dtype=bool)
    nearest_fake = np.full(len(real), np.inf)
    for rows, d in cross_distance_blocks(fake, real, block_size):  # d: fake rows × real
        fake_on_real += int(np.count_nonzero((d <= r_precision).any(axis=1)))
        real_covered |= (d <= fake_sq_radii[rows, None]).any(axis=0)
        balls_hit += int(np.count_nonzero(d < r_density))
        np.minimum(nearest_fake, d.min(axis=0), out=nearest_fake)
    return ManifoldMetrics(precision=fake_on_real / len(fake), recall=float(real_covered.mean()),
                           density=balls_hit / (k_dc * len(fake)),
                           coverage=float(np.mean(nearest_fake < radii[k_dc])))
