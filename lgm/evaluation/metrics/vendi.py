"""The Vendi score: diversity of one sample set, without a reference (Friedman & Dieng 2022).

Friedman, Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning",
TMLR 2023 (arXiv 2210.02410, 2022). For n samples and a similarity kernel with k(x, x) = 1,

    VS = exp( -Σ_i λ_i log λ_i ),      λ_i the eigenvalues of K / n,  K_ij = k(x_i, x_j),

the exponential of the Shannon entropy of K/n's spectrum (its eigenvalues are ≥ 0 and sum to
tr(K)/n = 1): the "effective number of distinct samples". n copies of one point score 1;
k mutually dissimilar points (k(x_i, x_j) = 0), each repeated equally often, score exactly k.

Kernel: cosine similarity of the classifier features, ``K = X̂ X̂ᵀ`` with X̂ the rows scaled
to unit length. Then K/n = X̂ X̂ᵀ / n shares its non-zero eigenvalues with the d × d matrix
``X̂ᵀ X̂ / n`` (the paper's dual form for explicit features), so the cost is one n × d × d
product and a d × d symmetric eigenproblem instead of an n × n one: ~0.05 s at
10,000 × 128. Higher is more diverse; at most min(n, d) with this kernel (here d = 128).

Trap: a feature vector of zeros (every unit switched off) has no direction. Such rows are
treated as one more point, identical to each other and dissimilar to every other row: they
get an extra coordinate 1 (all other rows 0), which keeps k(x, x) = 1 and tr(K/n) = 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ._arrays import as_features

__all__ = ["vendi_score", "unit_rows"]


def unit_rows(features) -> np.ndarray:
    """Rows scaled to unit Euclidean length, float64; zero rows handled as described above
    (an extra column is appended only when there are any)."""
    x = as_features(features, "features", min_rows=1)
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0.0
    unit = x / np.where(zero, 1.0, norms)[:, None]
    if zero.any():
        unit = np.hstack([unit, zero[:, None].astype(np.float64)])
    return unit


def vendi_score(features) -> float:
    """Vendi score of ``features`` (n, d) with the cosine-similarity kernel (module docstring)."""
    unit = unit_rows(features)
    n = unit.shape[0]
    gram = unit.T @ unit / n  # d × d, same non-zero spectrum as K / n
    eig = np.linalg.eigvalsh((gram + gram.T) / 2.0)
    # Rank-deficient spectra come out with eigenvalues like -1e-17: clip, then renormalise
    # the rounding away so that λ is exactly a probability vector.
    eig = np.clip(eig, 0.0, None)
    eig /= eig.sum()
    return float(np.exp(-xlogy(eig, eig).sum()))
