"""What a rater sees: sample grids and single images rendered from samples.npz, never
samples.png (its title names the model).

Everything goes through one path: uint8 N×C×H×W → :func:`lgm.images.uint8_grid` (white
2-pixel gaps) → nearest-neighbour upscaling → PNG without text chunks. A real test image
and a generated one therefore come out byte-for-byte alike in size and format.

Pairs of grids share one layout: when both configurations are conditional with the same
labels, the same class rows on both sides (one row per class); otherwise the same number of
images (at most 64) in an 8-wide grid, a conditional run's images in a random order, so
that the layout does not tell a conditional model from an unconditional one.
"""

from __future__ import annotations

import io
import math

import matplotlib.image as mpimg
import numpy as np

from contracts.samples import SamplesArray, SamplesArrayError, read_samples_array

from analysis.errors import RatingError

__all__ = ["GRID_SCALE", "IMAGE_SCALE", "GRID_IMAGES", "Samples", "load_samples", "pair_arrays",
           "upscale", "png_bytes", "grid_png", "image_png"]

GRID_SCALE = 4      # grids: 28×28 samples become 112×112 pixels
IMAGE_SCALE = 8     # single images (real or generated): 28×28 → 224×224
GRID_IMAGES = 64    # images per grid when no class rows are shown


Samples = SamplesArray  # a run's samples.npz, as contracts.samples reads it


def load_samples(path) -> Samples:
    """Read and check a samples.npz (:func:`contracts.samples.read_samples_array`)."""
    try:
        return read_samples_array(path)
    except SamplesArrayError as err:
        raise RatingError(str(err)) from None


def _class_columns(labels: np.ndarray) -> int | None:
    """Images per class row when ``labels`` are class rows (0,0,…,1,1,…), else None."""
    classes, counts = np.unique(labels, return_counts=True)
    per_class = int(counts[0])
    if (counts != per_class).any() or not np.array_equal(labels, np.repeat(classes, per_class)):
        return None
    return per_class


def pair_arrays(a: Samples, b: Samples, rng: np.random.Generator) -> tuple:
    """``(images_a, images_b, columns)`` in one shared layout (see the module docstring)."""
    if a.conditional and b.conditional and np.array_equal(a.labels, b.labels):
        columns = _class_columns(a.labels)
        if columns is not None:
            return a.images, b.images, columns
    n = min(len(a.images), len(b.images), GRID_IMAGES)
    def pick(s: Samples) -> np.ndarray:
        return s.images[rng.permutation(len(s.images))[:n]] if s.conditional else s.images[:n]
    return pick(a), pick(b), 8 if n >= 8 * 8 else max(1, math.ceil(math.sqrt(n)))


def upscale(array: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an H×W×3 array by an integer factor."""
    return np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def png_bytes(array: np.ndarray) -> bytes:
    """An H×W×3 uint8 array as PNG bytes, without text chunks (no software name, no date)."""
    buffer = io.BytesIO()
    mpimg.imsave(buffer, array, format="png", metadata={"Software": None})
    return buffer.getvalue()


def grid_png(images: np.ndarray, columns: int, *, scale: int = GRID_SCALE) -> bytes:
    from lgm.images import uint8_grid  # here: lgm.images imports torch, analysis stays light

    return png_bytes(upscale(uint8_grid(images, columns), scale))


def image_png(image: np.ndarray, *, scale: int = IMAGE_SCALE) -> bytes:
    """One C×H×W uint8 image (real or generated, rendered alike) as PNG bytes."""
    return grid_png(image[None], 1, scale=scale)
