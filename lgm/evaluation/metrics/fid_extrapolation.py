"""FID's dependence on the sample count: FID∞ by extrapolation, and FID's resampling error.

**FID∞** (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to
find them", CVPR). The plug-in FID of N generated samples is biased upwards, and the bias
depends on the model, so two models' FIDs at one N can rank differently from their
FIDs at another. To first order ``E[FID_N] = FID_∞ + k / N``. From the same features:
FID at several subset sizes ``N_i`` (seeded subsets without replacement, the reference's
statistics fixed), a least-squares line ``FID_{N_i} = a + b / N_i``; the intercept ``a`` is
FID∞. No extra generation, a few covariance matrices of cost.

**Resampling standard error.** The spread of FID over redraws of the generated samples of
one trained model: the standard deviation of FID over bootstrap resamples of the generated
features (Efron & Tibshirani 1993), the reference fixed. A bootstrap resample holds ~63 %
distinct points, so its FIDs sit higher than the plug-in value; their *spread* is what is
used (``analysis.inference`` floors a configuration's seed variance at it).
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_features, check_int
from .fid import feature_statistics, fid_from_statistics

__all__ = ["SIZE_FRACTIONS", "fid_at_sizes", "fid_infinity", "fid_bootstrap_se"]

# Subset sizes as fractions of N. Chong & Forsyth use 5k..50k; here N is the evaluation's
# sample count and the smallest subset must keep the covariance full rank (> dimension).
SIZE_FRACTIONS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def fid_at_sizes(features, reference_statistics, *, fractions=SIZE_FRACTIONS,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, FIDs): FID of a seeded random subset of each size ``round(f · N)``."""
    x = as_features(features, "features", min_rows=2)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    sizes = np.array(sorted({max(2, round(f * len(x))) for f in fractions}))
    fids = np.array([fid_from_statistics(feature_statistics(x[rng.choice(len(x), n, replace=False)]),
                                         reference_statistics) for n in sizes])
    return sizes, fids


def fid_infinity(features, reference_statistics, *, fractions=SIZE_FRACTIONS, seed: int = 0) -> float:
    """The intercept of the least-squares line of FID against 1/N (see the module
    docstring); NaN when the smallest subset has no more samples than feature dimensions
    (its covariance would be singular and the line meaningless)."""
    x = as_features(features, "features", min_rows=2)
    if min(fractions) * len(x) <= x.shape[1]:
        return float("nan")
    sizes, fids = fid_at_sizes(x, reference_statistics, fractions=fractions, seed=seed)
    design = np.column_stack([np.ones(len(sizes)), 1.0 / sizes])
    (intercept, _), *_ = np.linalg.lstsq(design, fids, rcond=None)
    return float(intercept)


def fid_bootstrap_se(features, reference_statistics, *, resamples: int = 30, seed: int = 0) -> float:
    """Standard deviation (ddof = 1) of FID over ``resamples`` bootstrap resamples of the
    generated features (seeded)."""
    x = as_features(features, "features", min_rows=2)
    resamples = check_int(resamples, "resamples", minimum=2)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    values = [fid_from_statistics(feature_statistics(x[rng.integers(0, len(x), len(x))]),
                                  reference_statistics) for _ in range(resamples)]
    return float(np.std(values, ddof=1))
