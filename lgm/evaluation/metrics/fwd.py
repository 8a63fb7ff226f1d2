"""Fréchet Wavelet Distance (FWD): a Fréchet distance with no learned features.

Veeramacheneni, Lorenz, Wolter, Gall, "Fréchet Wavelet Distance: A Domain-Agnostic Metric
for Image Generation", ICLR 2025 (package ``pytorchfwd``). Each image is decomposed by a
2-D wavelet packet transform to ``level`` (``P = 4**level`` packets of ``C·h·w``
coefficients each); per packet ``p`` the coefficients of a set are summarised by their mean
``mu_p`` and unbiased covariance ``S_p``, and

    FWD = (1/P) Σ_p  |mu_p - mu'_p|² + tr(S_p) + tr(S'_p) - 2 tr((S_p S'_p)^{1/2}),

the Fréchet distance of every frequency band, averaged over the bands. No network trained
on any data is involved, so it checks a verdict independently of every classifier.

The Haar packet transform is computed here in numpy, exactly as ``ptwt.WaveletPacket2D``
(``pytorchfwd``'s transform) computes it with the Haar wavelet and its default ``reflect``
boundary: per level, rows and columns are split into ``(x[2i] + x[2i+1]) / √2`` (low) and
``(x[2i+1] - x[2i]) / √2`` (high), an odd length first padded by one reflected sample at
the end (``x[n-2]``, pywt's output length ``⌊(n+1)/2⌋``). The Fréchet distance of each
band is ``lgm.evaluation.metrics.fid.frechet_distance`` (no ``sqrtm``).
``tests/test_fwd.py`` checks the value against the package's own code on the same images.

Grey images: the package reads every image as RGB (three equal channels), which multiplies
each band's distance by exactly 3 (``C ⊗ J`` covariances, ``J`` the 3×3 all-ones matrix);
here a grey image is its one channel, so ``FWD_package = 3 · FWD`` on grey data.

Sets are summarised batch by batch (:class:`WaveletMoments`: sums and summed outer products
in float64), so the images of an evaluation are never all held.
"""

from __future__ import annotations

import math

import numpy as np

from .fid import frechet_distance

__all__ = ["haar_packets", "WaveletMoments", "packet_statistics", "fwd_from_statistics",
           "frechet_wavelet_distance"]

_SQRT2 = math.sqrt(2.0)


def _pad_odd(x: np.ndarray, axis: int) -> np.ndarray:
    """Append the reflected sample ``x[n-2]`` along ``axis`` (-1 or -2) when its length
    ``n`` is odd (torch's ``reflect`` padding by one at the end, ptwt's for the Haar wavelet)."""
    n = x.shape[axis]
    if n % 2 == 0:
        return x
    last = x[..., n - 2:n - 1] if axis == -1 else x[..., n - 2:n - 1, :]
    return np.concatenate([x, last], axis=axis)


def _split(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One Haar step along ``axis`` (-1 or -2): (low, high) halves."""
    x = _pad_odd(x, axis)
    even, odd = (x[..., 0::2], x[..., 1::2]) if axis == -1 else (x[..., 0::2, :], x[..., 1::2, :])
    return (even + odd) / _SQRT2, (odd - even) / _SQRT2


def haar_packets(images, level: int) -> np.ndarray:
    """The level-``level`` Haar packets of ``images`` (N×C×H×W): float64 N×P×C×h×w,
    ``P = 4**level`` (each level splits every packet into low/high rows × low/high columns)."""
    if not isinstance(level, int) or level < 1:
        raise ValueError(f"level must be a positive int, got {level!r}")
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"images must be N×C×H×W, got shape {x.shape}")
    if min(x.shape[-2:]) < 2 ** level:
        raise ValueError(f"images of {x.shape[-2]}×{x.shape[-1]} are too small for level {level}")
    x = x[:, None]  # N×P×C×H×W with P = 1
    for _ in range(level):
        low, high = _split(x, axis=-2)  # rows: the first letter's low/high part
        ll, lh = _split(low, axis=-1)
        hl, hh = _split(high, axis=-1)
        # The packets come out in another order than ptwt's natural one (and some with the
        # opposite sign): the same set of bands, and FWD averages over bands, so the value
        # is the same (a sign flip of a coordinate leaves a Fréchet distance unchanged).
        x = np.stack([ll, lh, hl, hh], axis=2)  # N×P×4×C×h×w: child k of packet p
        x = x.reshape(x.shape[0], -1, *x.shape[3:])
    return x


class WaveletMoments:
    """Running per-packet sums for the mean and unbiased covariance of a set's packets."""

    def __init__(self, level: int):
        self.level, self.count = level, 0
        self.total = self.outer = None

    def add(self, images) -> "WaveletMoments":
        """Add a batch of N×C×H×W images in [0, 1]."""
        p = haar_packets(images, self.level)
        flat = p.reshape(p.shape[0], p.shape[1], -1)  # N×P×D
        per_packet = flat.transpose(1, 0, 2)  # P×N×D: one batched BLAS product below
        total, outer = flat.sum(0), np.swapaxes(per_packet, 1, 2) @ per_packet
        if self.total is None:
            self.total, self.outer = total, outer
        else:
            if total.shape != self.total.shape:
                raise ValueError(f"batch packets {total.shape} differ from earlier {self.total.shape}")
            self.total, self.outer = self.total + total, self.outer + outer
        self.count += flat.shape[0]
        return self

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)``: P×D means and P×D×D unbiased covariances (``ddof=1``)."""
        if self.count < 2:
            raise ValueError(f"need at least 2 images for a covariance, have {self.count}")
        mu = self.total / self.count
        sigma = (self.outer - self.count * np.einsum("pi,pj->pij", mu, mu)) / (self.count - 1)
        return mu, (sigma + np.swapaxes(sigma, 1, 2)) / 2


def packet_statistics(images, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-packet mean and covariance of one set of images (N×C×H×W)."""
    return WaveletMoments(level).add(images).statistics()


def fwd_from_statistics(stats_a, stats_b) -> float:
    """FWD from two ``(mu, sigma)`` packet statistics (the module docstring's formula)."""
    (mu_a, s_a), (mu_b, s_b) = stats_a, stats_b
    if mu_a.shape != mu_b.shape or s_a.shape != s_b.shape:
        raise ValueError(f"packet statistics differ in shape: {mu_a.shape} vs {mu_b.shape}")
    return float(np.mean([frechet_distance(mu_a[p], s_a[p], mu_b[p], s_b[p])
                          for p in range(mu_a.shape[0])]))


def frechet_wavelet_distance(images_a, images_b, level: int) -> float:
    """FWD between two image sets (N×C×H×W arrays in [0, 1]), Haar packets to ``level``."""
    return fwd_from_statistics(packet_statistics(images_a, level),
                               packet_statistics(images_b, level))
