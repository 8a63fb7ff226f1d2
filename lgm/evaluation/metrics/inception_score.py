"""Inception Score (Salimans et al. 2016) from class probabilities.

Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen, "Improved Techniques for Training
GANs", NeurIPS 2016:

    IS = exp( E_x KL( p(y|x) || p(y) ) ),      p(y) = E_x p(y|x),

natural log, so ``1 <= IS <= K`` for K classes: 1 when every sample gets the same
prediction, K when predictions are confident (one-hot) and spread evenly over the classes.
As in the original code the samples are cut into ``splits`` parts, the score is computed
per part (each with its own marginal p(y)) and the mean and standard deviation over parts
are reported. Here the parts are contiguous slices *after a seeded shuffle*, so a
class-sorted input scores like a shuffled one (without the shuffle every part of a sorted
input would hold a single class and score ~1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ._arrays import ScoreWithStd, as_float64, check_int

__all__ = ["inception_score", "PROBABILITY_TOLERANCE"]

# Softmax outputs in float32 sum to 1 within ~1e-6; 1e-3 catches logits or
# unnormalised scores passed by mistake while tolerating half precision.
PROBABILITY_TOLERANCE = 1e-3


def _check_probabilities(probs) -> np.ndarray:
    p = as_float64(probs, "probs", ndim=2)
    if p.min() < 0.0:
        rows = np.unique(np.nonzero(p < 0.0)[0])
        raise ValueError(f"probs must be non-negative class probabilities; {len(rows)} row(s) "
                         f"have negative entries (e.g. row {rows[0]}, min {p.min():.3g}); "
                         f"pass softmax outputs, not logits")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBABILITY_TOLERANCE
    if off.any():
        first = int(np.argmax(off))
        raise ValueError(f"probs rows must sum to 1 (within {PROBABILITY_TOLERANCE}); "
                         f"{int(off.sum())} row(s) do not, e.g. row {first} sums to "
                         f"{sums[first]:.6g}; pass softmax outputs, not logits")
    # Renormalise the accepted rounding so that KL is exactly a KL and IS <= K holds.
    return p / sums[:, None]


def _split_score(part: np.ndarray) -> float:
    """exp(mean_x KL(p(y|x) || p(y))) with p(y) the part's own marginal."""
    marginal = part.mean(axis=0, keepdims=True)
    # KL_x = Σ_y p log p - p log p(y). xlogy(0, ·) = 0 makes 0·log 0 = 0, and p(y) = 0
    # forces p(y|x) = 0 for every x of the part, so no log 0 ever multiplies a p > 0.
    kl = (xlogy(part, part) - xlogy(part, marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def inception_score(probs, splits: int = 10, seed: int = 0) -> ScoreWithStd:
    """Inception Score ``(mean, std)`` over ``splits`` parts of ``probs`` (n, K).

    Rows of ``probs`` are class probabilities p(y|x) (non-negative, summing to 1 within
    ``PROBABILITY_TOLERANCE``; a clear ``ValueError`` otherwise). The rows are shuffled
    with ``numpy.random.default_rng(seed)`` and cut into ``splits`` contiguous parts of
    sizes differing by at most one (``np.array_split``: no sample is dropped, unlike the
    original code). ``std`` is the population standard deviation over parts (ddof=0),
    as in the original code. Computed in float64.
    """
    p = _check_probabilities(probs)
    splits = check_int(splits, "splits", minimum=1, maximum=p.shape[0])
    seed = check_int(seed, "seed", minimum=0)
    order = np.random.default_rng(seed).permutation(p.shape[0])
    scores = [_split_score(part) for part in np.array_split(p[order], splits)]
    return ScoreWithStd(float(np.mean(scores)), float(np.std(scores)))
