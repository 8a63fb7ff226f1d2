"""How much of a FID is the class histogram? FID after matching predicted-class histograms.

Kynkäänniemi, Karras, Aittala, Aila, Lehtinen, "The Role of ImageNet Classes in Fréchet
Inception Distance", ICLR 2023: FID can be lowered without better images by making the
generated set's histogram of the extractor's predicted classes match the real one's (their
§4, "matching Top-1 class histograms", by resampling the generated set). A classifier's
feature space rewards class balance by construction, so the diagnostic here is the FID of
the generated set *resampled* so that its predicted-class histogram equals the
reference's:

- ``g_k``: generated samples predicted as class ``k`` (argmax of the class probabilities),
  ``h_k``: the reference's share of class ``k`` (its predictions, the same classifier);
- target counts ``t_k``: ``h_k`` renormalised over the classes the generated set has
  (``g_k > 0``; a class the model never produces cannot be resampled into existence, and
  the TV distance below shows that gap), times ``N`` (the generated set's size, so FID's
  bias in N is unchanged), rounded by largest remainders so that ``Σ t_k = N``;
- class ``k`` contributes ``t_k`` of its samples, drawn without replacement when
  ``t_k ≤ g_k`` and as all ``g_k`` plus ``t_k - g_k`` drawn with replacement otherwise
  (seeded).

The gap ``FID - FID_matched`` between two configurations is the part of their FID
difference that their class histograms explain. ``class_histogram_tv`` is the total
variation distance ``½ Σ_k |g_k/N - h_k|`` between the two predicted-class histograms.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_float64

__all__ = ["predicted_histogram", "class_histogram_tv", "matched_counts", "histogram_matched_indices"]


def predicted_histogram(probs, num_classes: int) -> np.ndarray:
    """Counts of the argmax class of each row of ``probs`` (N×K), length ``num_classes``."""
    p = as_float64(probs, "probs", 2)
    if p.shape[1] != num_classes:
        raise ValueError(f"probs must be N×{num_classes}, got shape {p.shape}")
    return np.bincount(p.argmax(1), minlength=num_classes)


def class_histogram_tv(probs_generated, probs_reference, num_classes: int) -> float:
    """Total variation distance between the two sets' predicted-class histograms."""
    g = predicted_histogram(probs_generated, num_classes)
    h = predicted_histogram(probs_reference, num_classes)
    return float(0.5 * np.abs(g / g.sum() - h / h.sum()).sum())


def matched_counts(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Target count per class: the reference's shares over the classes present in the
    generated counts, times their total, rounded by largest remainders (sum preserved)."""
    generated, reference = np.asarray(generated), np.asarray(reference, dtype=np.float64)
    n = int(generated.sum())
    share = np.where(generated > 0, reference, 0.0)
    if share.sum() == 0:  # the reference has none of the generated classes: nothing to match
        return generated.copy()
    exact = share / share.sum() * n
    counts = np.floor(exact).astype(np.int64)
    remainder = n - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")  # largest remainders first
    counts[order[:remainder]] += 1
    return counts


def histogram_matched_indices(probs_generated, probs_reference, num_classes: int,
                              seed: int) -> np.ndarray:
    """Indices (with repeats where a class is oversampled) of the resampled generated set
    (module docstring), sorted; as many as there are generated samples."""
    pred = as_float64(probs_generated, "probs_generated", 2).argmax(1)
    g = np.bincount(pred, minlength=num_classes)
    targets = matched_counts(g, predicted_histogram(probs_reference, num_classes))
    rng = np.random.default_rng(seed)
    picks = []
    for k in range(num_classes):
        rows = np.flatnonzero(pred == k)
        t = int(targets[k])
        if t <= len(rows):
            picks.append(rng.choice(rows, size=t, replace=False))
        else:
            picks.append(np.concatenate([rows, rng.choice(rows, size=t - len(rows), replace=True)]))
    return np.sort(np.concatenate(picks))
