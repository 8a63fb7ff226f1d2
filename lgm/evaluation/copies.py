"""The generated samples closest to the training set, beside their nearest training images.

The picture behind ``eval/copy_fraction`` and ``eval/ct`` (``metrics/data_copying.py``): if a
model copies, its closest samples are its training images again. ``closest_pairs`` finds,
for every generated feature vector, its *exact* nearest training feature vector (over the
whole training reference, not only its k-means cell) and returns the closest pairs;
``save_copies_figure`` draws them (generated on top, training image below, the feature
distance under each pair); ``copies_figure`` does both for a sampler, as a study run does
for ``copies.png``.

Numerical trap: the blocked expansion ``|a|² + |b|² - 2a·b`` finds the nearest neighbour,
but for (near-)copies its value is dominated by rounding (it can be 1e-13 instead of 0, or
clip to 0 for a close non-copy). The distances reported are therefore recomputed directly as
``|a - b|`` for the chosen pairs, in float64.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch

from lgm.data import dataset_info, load_dataset, scale
from lgm.evaluation.classifiers import classifier
from lgm.evaluation.evaluator import REFERENCE_SEED, held_out_reference
from lgm.evaluation.features import check_images, extract, reference_statistics
from lgm.evaluation.metrics._arrays import as_features, check_int, check_same_dim
from lgm.evaluation.metrics._knn import DEFAULT_BLOCK_SIZE, center_on, cross_distance_blocks

__all__ = ["CopyPairs", "nearest_training", "closest_pairs", "save_copies_figure",
           "copies_figure", "COPIES_SAMPLES", "COPIES_SHOWN"]

COPIES_SAMPLES = 1000  # samples a run draws for its copies figure (at most its eval_samples)
COPIES_SHOWN = 8       # pairs in the figure


class CopyPairs(NamedTuple):
    generated: np.ndarray  # int64 indices into the generated set, closest pair first
    train: np.ndarray      # int64 index of each one's nearest training point
    distance: np.ndarray   # float64 Euclidean feature distance of each pair


def nearest_training(generated, train,
                     block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(index, distance)`` of every generated row's nearest row of ``train`` (exact)."""
    g = as_features(generated, "generated", min_rows=1)
    t = as_features(train, "train", min_rows=1)
    check_same_dim(g, t, "generated", "train")
    block_size = check_int(block_size, "block_size", minimum=1)
    gc, tc = center_on(t, g, t)  # see _knn.center_on: keeps the expansion accurate
    index = np.empty(len(g), dtype=np.int64)
    for rows, d in cross_distance_blocks(gc, tc, block_size):
        index[rows] = d.argmin(axis=1)
    distance = np.sqrt(((g - t[index]) ** 2).sum(axis=1))  # direct, no cancellation
    return index, distance


def closest_pairs(generated, train, count: int = COPIES_SHOWN,
                  block_size: int = DEFAULT_BLOCK_SIZE) -> CopyPairs:
    """The ``count`` generated rows nearest to ``train``, each with its nearest training row,
    closest first (ties: the lower generated index first)."""
    count = check_int(count, "count", minimum=1)
    index, distance = nearest_training(generated, train, block_size)
    order = np.argsort(distance, kind="stable")[:count]
    return CopyPairs(order.astype(np.int64), index[order], distance[order])


def _grey(images) -> np.ndarray:
    x = images.detach().float().cpu() if isinstance(images, torch.Tensor) else torch.as_tensor(images).float()
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images N×C×H×W with C in (1, 3), got shape {tuple(x.shape)}")
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def save_copies_figure(path: str | os.PathLike, generated_images, train_images,
                       distances, title: str | None = None) -> str:
    """A PNG: column i shows ``generated_images[i]`` above ``train_images[i]`` (float
    N×C×H×W in [0, 1]) and ``distances[i]`` below; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    gen, train = _grey(generated_images), _grey(train_images)
    distances = np.asarray(distances, dtype=np.float64)
    if not len(gen) == len(train) == len(distances) >= 1:
        raise ValueError(f"need as many generated images, training images and distances "
                         f"(at least one), got {len(gen)}, {len(train)}, {len(distances)}")
    n = len(gen)
    fig = Figure(figsize=(1.0 * n + 0.9, 2.5 + (0.35 if title else 0.0)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, image in ((0, gen[i]), (1, train[i])):
            ax = axes[row][i]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0,
                      vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1][i].set_xlabel(f"{distances[i]:.3g}", fontsize=8)
    axes[0][0].set_ylabel("sample", fontsize=8)
    axes[1][0].set_ylabel("nearest\ntrain", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.savefig(path)
    return str(path)


@torch.no_grad()
def copies_figure(path: str | os.PathLike, *, sample_fn, dataset: str, num_samples: int,
                  reference_samples: int, conditional: bool = False, device: str = "cpu",
                  seed: int = 0, count: int = COPIES_SHOWN) -> CopyPairs:
    """Draw ``num_samples`` samples with ``sample_fn(n, labels)`` (labels cycling through
    the classes if ``conditional``), find the ``count`` closest to the training reference of
    ``reference_samples`` images (the evaluation's, ``features.reference_statistics``), and
    draw them beside those training images; the title gives, as a scale, the median
    distance of held-out test images to their nearest training image."""
    info = dataset_info(dataset)
    labels = (torch.arange(num_samples, device=device) % info.num_classes) if conditional else None
    x = sample_fn(num_samples, labels)
    check_images(x, info.shape, name="sample_fn output")
    features = extract(classifier(dataset, device), x, device=device)[0]
    ref = reference_statistics(dataset, num_samples=reference_samples, seed=REFERENCE_SEED,
                               device=device)
    pairs = closest_pairs(features, ref.features, count=min(count, num_samples))
    held_out = held_out_reference(dataset, reference_samples, device=device).features[:num_samples]
    typical = float(np.median(nearest_training(held_out, ref.features)[1]))
    train = load_dataset(dataset, "train").subset(reference_samples, seed=REFERENCE_SEED)
    title = (f"{dataset}: the {len(pairs.generated)} of {num_samples} samples closest to "
             f"{reference_samples} training images (feature distance; held-out test median "
             f"{typical:.3g})")
    save_copies_figure(path, x[torch.as_tensor(pairs.generated, device=x.device)],
                       scale(train.images[torch.as_tensor(pairs.train)], "zero_one"),
                       pairs.distance, title=title)
    return pairs
