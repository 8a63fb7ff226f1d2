"""Fréchet distance between feature Gaussians: FID (Heusel et al. 2017).

Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017. The Fréchet (2-Wasserstein)
distance between N(mu1, S1) and N(mu2, S2) is (Dowson & Landau 1982)

    d² = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

The same chain of small functions as pytorch-fid: features → ``feature_statistics`` →
``frechet_distance``; ``fid`` and ``fid_from_statistics`` compose them.

The trace of the square root is *not* taken with ``scipy.linalg.sqrtm(S1 @ S2)`` (a
Schur decomposition of a non-symmetric matrix: slow, and it returns complex or NaN results
for the singular covariances that dead ReLU units produce). Instead: with Cholesky factors
``S1 = L1 L1ᵀ``, ``S2 = L2 L2ᵀ``, the product ``S1 S2 = L1 (L1ᵀ S2 L1) L1⁻¹`` is similar to
the symmetric PSD matrix ``A = L1ᵀ S2 L1 = P Pᵀ`` with ``P = L1ᵀ L2``, so ``S1 S2`` has A's
eigenvalues λ_i ≥ 0 and

    tr((S1 S2)^{1/2}) = Σ_i sqrt(λ_i),      λ = eigvalsh(P Pᵀ)

(the nuclear norm of P). When a covariance is singular (Cholesky fails) its symmetric
square root ``R`` from ``eigh`` (``S = R Rᵀ``) plays its factor's role; ``XY`` and ``YX``
share their non-zero eigenvalues, so nothing else changes. Cost: two Cholesky
factorisations, one triangular product, one ``syrk`` and one symmetric eigenvalue problem,
all symmetric LAPACK/BLAS; at d=2048 an order of magnitude faster than ``sqrtm`` (see
``benchmarks/metrics.py``).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.linalg.blas

from ._arrays import as_features, as_float64, check_same_dim

__all__ = ["FeatureStatistics", "RankDeficientCovarianceWarning", "feature_statistics",
           "frechet_distance", "fid", "fid_from_statistics"]


class RankDeficientCovarianceWarning(UserWarning):
    """Fewer samples than feature dimensions: the sample covariance is singular."""


class FeatureStatistics(NamedTuple):
    """Mean ``mu`` (d,) and unbiased covariance ``sigma`` (d, d) of a feature set, float64."""

    mu: np.ndarray
    sigma: np.ndarray


def feature_statistics(features) -> FeatureStatistics:
    """float64 mean and unbiased covariance (``np.cov(features, rowvar=False)``, ddof=1).

    ``features`` is ``(n_samples, d)`` with ``n_samples >= 2``. Warns with
    ``RankDeficientCovarianceWarning`` when ``n_samples < d``: the covariance then has rank
    at most ``n_samples - 1`` and FID is biased (still finite here).
    """
    x = as_features(features, "features", min_rows=2)
    n, d = x.shape
    if n < d:
        warnings.warn(f"{n} samples for {d} feature dimensions: the covariance has rank "
                      f"<= {n - 1} < {d}; FID is finite but strongly biased, use more samples",
                      RankDeficientCovarianceWarning, stacklevel=2)
    mu = x.mean(axis=0)
    centred = x - mu
    # One GEMM in float64; the same numbers as np.cov(x, rowvar=False) without its copies.
    sigma = centred.T @ centred / (n - 1)
    return FeatureStatistics(mu, _symmetrize(sigma))


def _symmetrize(m: np.ndarray) -> np.ndarray:
    # Rounding can leave a covariance asymmetric in the last bits; stored statistics
    # should be exactly symmetric so that every consumer reads the same matrix.
    return (m + m.T) / 2.0


def _check_statistics(mu, sigma, label: str) -> tuple[np.ndarray, np.ndarray]:
    mu = as_float64(mu, f"mu{label}", ndim=1)
    sigma = as_float64(sigma, f"sigma{label}", ndim=2)
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"sigma{label} must be ({d}, {d}) to match mu{label}, "
                         f"got {sigma.shape}")
    scale = max(float(np.abs(sigma).max()), np.finfo(float).tiny)
    asymmetry = float(np.abs(sigma - sigma.T).max())
    if asymmetry > 1e-6 * scale:
        raise ValueError(f"sigma{label} is not symmetric (max |S - Sᵀ| = {asymmetry:.3g}, "
                         f"max |S| = {scale:.3g}); pass a covariance matrix")
    return mu, sigma


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root ``V diag(sqrt(max(w, 0))) Vᵀ`` of a symmetric PSD matrix."""
    w, v = np.linalg.eigh(s)
    # Singular covariances come out with eigenvalues like -1e-17: clip, never sqrt(<0).
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _factor(s: np.ndarray) -> tuple[np.ndarray, bool]:
    """``F`` with ``S = F Fᵀ``: Cholesky's lower ``L`` (flag True), or, when S is singular
    and Cholesky fails, the symmetric eigh root ``R = S^{1/2}`` (flag False). Both read
    only S's lower triangle."""
    try:
        return np.linalg.cholesky(s), True
    except np.linalg.LinAlgError:
        return _psd_sqrt(s), False


def _cross(f1: np.ndarray, tri1: bool, f2: np.ndarray, tri2: bool) -> np.ndarray:
    """``F1ᵀ F2``; a triangular × triangular product when both are Cholesky factors.

    BLAS ``dtrmm`` does half the flops of a general product. Its operands are passed as
    transposed views, which are Fortran-ordered, so no copies are made: ``L1ᵀ`` (upper,
    overwritten with the result) times ``op(L2ᵀ) = L2``.
    """
    if not (tri1 and tri2):
        return f1.T @ f2
    return scipy.linalg.blas.dtrmm(1.0, f2.T, f1.T, side=1, lower=0, trans_a=1,
                                   overwrite_b=1)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((S1 S2)^{1/2})`` for symmetric PSD ``S1, S2`` via a symmetric eigenproblem.

    With ``S1 = F1 F1ᵀ`` and ``S2 = F2 F2ᵀ`` (Cholesky, or the eigh square root for a
    singular matrix), ``S1 S2`` has the eigenvalues of ``A = F1ᵀ S2 F1 = P Pᵀ``,
    ``P = F1ᵀ F2``; ``A`` is symmetric PSD by construction (``P @ P.T`` runs as BLAS
    ``syrk``, exactly symmetric, half a GEMM). Returns ``Σ sqrt(max(eigvalsh(A), 0))``:
    real and finite by construction. Only the lower triangles of S1 and S2 are read.
    """
    f1, tri1 = _factor(sigma1)
    f2, tri2 = _factor(sigma2)
    cross = _cross(f1, tri1, f2, tri2)
    eig = np.linalg.eigvalsh(cross @ cross.T)
    # Tiny negative eigenvalues are rounding of true zeros (rank-deficient S2 or S1).
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})``, clipped at 0.

    Inputs are means ``(d,)`` and symmetric PSD covariances ``(d, d)`` (arrays or
    tensors). The clip only removes rounding: the true value is a squared distance, but
    for (nearly) equal inputs the sum of large traces can cancel to ``-1e-12``.
    """
    mu1, sigma1 = _check_statistics(mu1, sigma1, "1")
    mu2, sigma2 = _check_statistics(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two statistics have different dimensions: "
                         f"{mu1.shape[0]} and {mu2.shape[0]}")
    diff = mu1 - mu2
    value = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
             - 2.0 * _trace_sqrt_product(sigma1, sigma2))
    return max(float(value), 0.0)


def _unpack(stats, name: str) -> tuple:
    if isinstance(stats, (str, bytes)) or not hasattr(stats, "__len__") or len(stats) != 2:
        raise TypeError(f"{name} must be a FeatureStatistics or a (mu, sigma) pair, "
                        f"got {type(stats).__name__}")
    return stats[0], stats[1]


def fid_from_statistics(stats_a, stats_b) -> float:
    """FID from cached statistics: each a ``FeatureStatistics`` or a ``(mu, sigma)`` pair."""
    mu_a, sigma_a = _unpack(stats_a, "stats_a")
    mu_b, sigma_b = _unpack(stats_b, "stats_b")
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def fid(features_a, features_b) -> float:
    """FID between two feature sets ``(n_a, d)`` and ``(n_b, d)`` (Heusel et al. 2017)."""
    a = as_features(features_a, "features_a", min_rows=2)
    b = as_features(features_b, "features_b", min_rows=2)
    check_same_dim(a, b, "features_a", "features_b")  # before any O(n d²) work
    return fid_from_statistics(feature_statistics(a), feature_statistics(b))
