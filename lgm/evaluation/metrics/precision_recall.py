"""Improved precision and recall (Kynkäänniemi et al. 2019).

Kynkäänniemi, Karras, Laine, Lehtinen, Aila, "Improved Precision and Recall Metric for
Assessing Generative Models", NeurIPS 2019. Each set's manifold is the union of balls
around its points, each ball's radius the distance to the point's k-th nearest neighbour
within its own set (the point itself excluded):

    precision = (1/M) Σ_j 1[ ∃ i : |fake_j - real_i| <= r_k(real_i) ]   (fake on real manifold)
    recall    = (1/N) Σ_i 1[ ∃ j : |real_i - fake_j| <= r_k(fake_j) ]   (real on fake manifold)

Balls are closed (``<=``), as in the authors' code. Precision measures fidelity (are the
samples realistic?), recall diversity (is all of the data covered?). Distances are
squared Euclidean in float64, computed ``block_size`` rows at a time (see ``_knn``), so
10,000 × 10,000 sets never materialise the full distance matrix; one pass over the
fake × real distances serves both numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import as_features, check_int, check_same_dim
from ._knn import (DEFAULT_BLOCK_SIZE, center_on, check_k_fits, cross_distance_blocks,
                   kth_neighbour_sq_radii)

__all__ = ["PrecisionRecall", "precision_recall"]


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def precision_recall(real, fake, k: int = 3,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> PrecisionRecall:
    """``(precision, recall)`` of ``fake`` (M, d) against ``real`` (N, d), k-NN radii.

    Needs ``k <= N - 1`` and ``k <= M - 1`` (k neighbours other than the point itself).
    Peak extra memory is about ``block_size × max(N, M)`` float64 values.
    """
    k = check_int(k, "k", minimum=1)
    real = as_features(real, "real", min_rows=1)
    fake = as_features(fake, "fake", min_rows=1)
    check_same_dim(real, fake, "real", "fake")
    check_k_fits(k, real, "real")
    check_k_fits(k, fake, "fake")
    block_size = check_int(block_size, "block_size", minimum=1)
    real, fake = center_on(real, real, fake)
    real_sq_radii = kth_neighbour_sq_radii(real, k, block_size)
    fake_sq_radii = kth_neighbour_sq_radii(fake, k, block_size)
    fake_on_real = 0
    real_covered = np.zeros(len(real), dtype=bool)
    for rows, d in cross_distance_blocks(fake, real, block_size):  # d: fake rows × real
        fake_on_real += int(np.count_nonzero((d <= real_sq_radii[None, :]).any(axis=1)))
        real_covered |= (d <= fake_sq_radii[rows, None]).any(axis=0)
    return PrecisionRecall(fake_on_real / len(fake), float(real_covered.mean()))
