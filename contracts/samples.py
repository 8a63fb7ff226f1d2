"""``samples.npz``: a run's sample grid as an array, without any title or label drawn on it.

Written by the study (``study.build.save_images``) and read by the analysis (the report's
sample figure, the blind rating page) through :func:`write_samples_array` and
:func:`read_samples_array`, the one place its layout is spelled out:

- ``images``: uint8, N×C×H×W, C in (1, 3), levels 0–255 (the [0, 1] samples × 255, rounded);
- ``labels``: int64, N (one class per image, conditional models) or empty (unconditional).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from contracts.record import SAMPLES_ARRAY_FILE

__all__ = ["SAMPLES_ARRAY_FILE", "SamplesArray", "SamplesArrayError", "write_samples_array",
           "read_samples_array"]


class SamplesArrayError(ValueError):
    """A samples.npz that cannot be read or does not have the layout above."""


@dataclass(frozen=True)
class SamplesArray:
    images: np.ndarray   # uint8 N×C×H×W
    labels: np.ndarray   # int64 N, or empty (unconditional)

    @property
    def conditional(self) -> bool:
        return self.labels.size > 0


def _check(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3) or not len(images):
        raise SamplesArrayError(f"{where}: 'images' must be uint8 N×C×H×W with C in (1, 3), got "
                                f"{images.dtype} {images.shape}")
    if labels.size and labels.shape != (len(images),):
        raise SamplesArrayError(f"{where}: 'labels' must be empty or one per image, got {labels.shape}")


def write_samples_array(path, *, images: np.ndarray, labels: np.ndarray) -> None:
    """Write ``images`` (uint8 N×C×H×W) and ``labels`` (N, or empty) to ``path``."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    _check(images, labels, str(path))
    np.savez_compressed(path, images=images, labels=labels)


def read_samples_array(path) -> SamplesArray:
    """Read and check a samples.npz; :class:`SamplesArrayError` says what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise SamplesArrayError(f"{path}: cannot read samples (need arrays 'images' and 'labels'): "
                                f"{err}") from None
    _check(images, labels, str(path))
    return SamplesArray(images=images, labels=labels.astype(np.int64))
