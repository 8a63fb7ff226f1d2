"""Score sample sets that exist as files or arrays with the shipped classifiers.

The library behind ``python -m lgm.evaluation`` (usable from a notebook with numpy arrays or
tensors too). A sample set is read and checked (``lgm.evaluation.files``), cut to ``N``
samples, embedded once with the dataset's classifier, and scored by the same dispatch over
the metric registry as ``evaluate`` (``evaluator.score_features``), so the keys and numbers
are those a study run logs:

- ``score(x, dataset=...)``: every sample metric against the dataset's cached reference (a
  seeded subset of the training split of the same N, ``features.reference_statistics``) and,
  for the memorisation metrics, the cached test subset; with labels also the conditional
  metrics. Equal samples in equal order with the same seed give the numbers ``evaluate``
  gave them, bit for bit (``tests/test_scoring_cli.py`` checks a study run's record).
- ``compare(a, b, dataset=...)``: ``b`` plays the reference's role (FID, KID,
  precision/recall, density/coverage between two sets; IS and Vendi of ``a``). The
  memorisation metrics are left out: they need the training split as the reference.
- ``embed`` + ``write_stats``: a statistics file (``.npz``) that stands in for a set in
  ``score``/``compare``. It holds the features and class probabilities (4.4 MB at 10,000
  samples) and the images' wavelet packet statistics, so *every* metric can be computed
  from it; ``mu``/``sigma`` are stored too, under the names pytorch-fid's ``.npz``
  statistics use, for FID in other tools. A file made with another extractor, another
  classifier (SHA-256) or for another dataset is refused.

Extractor. ``extractor=`` (``--extractor``) chooses the shipped feature extractor whose
space every metric is computed in (default the primary); another extractor's numbers come
under its keys (``registry.extractor_key``: ``eval/mlp/fid`` ...). The extractor-free
``eval/fwd`` is computed whenever the images (or a statistics file's wavelet statistics)
are there.

Sample count. More than ``num_samples`` samples: a seeded subset of ``num_samples`` (balanced,
``N / K`` per class, when there are labels); fewer: computed at the smaller N with a
:class:`SampleCountWarning` (FID, KID and the k-NN metrics are biased in N: numbers at
different N are not comparable, ``eval/num_samples`` records N). Every refusal (a
``files.SampleInputError``) comes before any embedding.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lgm.data import DataError, dataset_info, load_dataset, scale
from lgm.evaluation import registry
from lgm.evaluation.classifiers import (classifier, classifier_sha256, read_registry,
                                        trained_datasets, verify_classifier, weights_folder)
from lgm.evaluation.copies import closest_pairs, save_copies_figure
from lgm.evaluation.evaluator import (BATCH_SIZE, NUM_SAMPLES, REFERENCE_SEED, SAMPLE_METRICS,
                                      held_out_reference, pixel_reference, score_features)
from lgm.evaluation.features import ReferenceStatistics, extract, reference_statistics
from lgm.evaluation.files import (SampleInputError, SampleSet, as_images, check_labels, load_npz,
                                  read_array_file, read_labels, read_samples)
from lgm.evaluation.metrics import feature_statistics
from lgm.evaluation.metrics.fwd import WaveletMoments

__all__ = ["EmbeddedSet", "Scores", "SampleCountWarning", "STATS_KIND", "check_dataset",
           "load_set", "choose_samples", "check_enough", "check_reference_classes", "prepare",
           "embed", "score", "compare",
           "write_stats", "read_stats", "COMPARE_METRICS"]

STATS_KIND = "lgm-feature-statistics"  # the "kind" entry that marks a statistics .npz
# 2: records the extractor that made the features and the images' wavelet statistics (a
# format-1 file was made by the primary, the only extractor then, and has no wavelets).
STATS_FORMAT = 2
STATS_KEYS = ("kind", "format", "dataset", "sha256", "num_samples", "features", "probs", "labels",
              "mu", "sigma", "source")
STATS_KEYS_2 = ("extractor", "pixel_mu", "pixel_sigma")
PRIMARY = registry.PRIMARY_EXTRACTOR
# compare has no training split on the reference side: no memorisation metrics there.
COMPARE_METRICS = tuple(n for n in SAMPLE_METRICS if registry.METRICS[n].needs != "test_reference")


class SampleCountWarning(UserWarning):
    """Fewer samples than asked for: the numbers are computed at a smaller N."""


@dataclass(frozen=True)
class EmbeddedSet:
    """A sample set as the classifier sees it (from images, or a statistics file)."""

    features: torch.Tensor  # float32 N×D
    probs: torch.Tensor  # float32 N×K
    labels: torch.Tensor | None  # int64 N
    dataset: str
    sha256: str
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    extractor: str = PRIMARY  # whose features these are
    pixels: tuple | None = None  # (mu, sigma) wavelet packet statistics of the images (FWD)

    def __len__(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class Scores:
    """``values``: the flat ``eval/...`` dict (as ``evaluate`` returns); ``notes``: what was
    read and done; ``warnings``: the sample-count warning, if any."""

    values: dict
    notes: list[str]
    warnings: list[str]


# --------------------------------------------------------------------------- checks

def check_extractor(extractor: str) -> str:
    """``extractor`` if shipped, else a refusal listing the shipped ones."""
    try:
        return registry.check_extractor(extractor)
    except ValueError as err:
        raise SampleInputError(str(err)) from None


def check_dataset(dataset: str, extractor: str = PRIMARY) -> str:
    """The SHA-256 of ``dataset``'s classifier (of ``extractor``), or a refusal naming the
    datasets that have one (an unknown name, or a dataset without a trained classifier)."""
    check_extractor(extractor)
    trained = trained_datasets(extractor=extractor)
    try:
        dataset_info(dataset)
    except DataError:
        raise SampleInputError(f"unknown dataset {dataset!r}; datasets with a classifier: "
                               f"{', '.join(trained) or 'none'}") from None
    if dataset not in trained:
        raise SampleInputError(f"dataset {dataset!r} has no trained classifier; datasets with a "
                               f"classifier: {', '.join(trained) or 'none'}")
    # missing or tampered weights: refused before any work
    return verify_classifier(dataset, extractor=extractor)


def choose_samples(n_total: int, num_samples: int, labels: torch.Tensor | None, num_classes: int,
                   seed: int) -> tuple[torch.Tensor | None, list[str]]:
    """``(indices or None for all, warnings)``: which of ``n_total`` samples to score.

    More than ``num_samples``: a seeded subset, balanced (``N / K`` per class) with labels;
    otherwise all of them, with a warning when fewer than asked. With labels, N must be a
    multiple of ``num_classes`` and the classes balanced, as ``evaluate`` draws them.
    Indices are sorted: the set's own order is kept.
    """
    n = min(num_samples, n_total)
    notes = []
    if n_total < num_samples:
        notes.append(f"{n_total} samples, fewer than the {num_samples} asked for: computed at "
                     f"N = {n_total}. FID, KID and the k-NN metrics are biased in N: numbers at "
                     f"different N are not comparable (eval/num_samples records N)")
    generator = torch.Generator().manual_seed(seed)
    if labels is None:
        if n == n_total:
            return None, notes
        return torch.randperm(n_total, generator=generator)[:n].sort().values, notes
    if n % num_classes:
        raise SampleInputError(f"with labels the conditional metrics use N / {num_classes} samples "
                               f"of each class, as evaluate draws them; N = {n} is not a multiple "
                               f"of {num_classes} (choose --num-samples accordingly)")
    per_class = n // num_classes
    counts = torch.bincount(labels, minlength=num_classes)
    short = [f"class {k}: {int(c)}" for k, c in enumerate(counts) if c < per_class]
    unbalanced = n == n_total and bool((counts != per_class).any())
    if short or unbalanced:
        found = ", ".join(f"{k}: {int(c)}" for k, c in enumerate(counts))
        largest = num_classes * int(counts.min())
        raise SampleInputError(f"labels are not balanced: N = {n} needs {per_class} samples of each "
                               f"class (found {found}); pass a smaller --num-samples to draw a "
                               f"balanced subset (at most {largest} here)")
    if n == n_total:
        return None, notes
    picks = []
    for k in range(num_classes):
        rows = torch.nonzero(labels == k).flatten()
        picks.append(rows[torch.randperm(len(rows), generator=generator)[:per_class]])
    return torch.cat(picks).sort().values, notes


def _per_class_need() -> tuple[str, int]:
    need = {name: registry.min_samples(name) for name, m in registry.METRICS.items()
            if m.needs == "labels"}
    name = max(need, key=need.get)
    return name, need[name]


def check_enough(n: int, metrics, *, conditional: bool, num_classes: int) -> None:
    """Refuse fewer samples than a chosen metric needs (``registry.min_samples``; per class
    for the conditional metrics)."""
    need = {name: registry.min_samples(name) for name in metrics}
    name = max(need, key=need.get)
    if n < need[name]:
        raise SampleInputError(f"N = {n} samples; the metrics need at least {need[name]} "
                               f"({name} needs {need[name]})")
    if conditional:
        name, per_class = _per_class_need()
        if n // num_classes < per_class:
            raise SampleInputError(f"N / {num_classes} = {n // num_classes} samples per class; "
                                   f"{name} needs at least {per_class} per class")


def check_reference_classes(dataset: str, n: int) -> None:
    """The per-class metrics need each class in the training reference of N images too (a
    seeded subset, not balanced): its labels are read without embedding anything."""
    name, per_class = _per_class_need()
    num_classes = dataset_info(dataset).num_classes
    labels = load_dataset(dataset, "train").subset(n, seed=REFERENCE_SEED).labels
    counts = torch.bincount(labels, minlength=num_classes)
    if int(counts.min()) < per_class:
        k = int(counts.argmin())
        raise SampleInputError(f"the training reference of N = {n} images holds {int(counts[k])} "
                               f"of class {k}; {name} needs at least {per_class} per class: use "
                               f"a larger N")


# --------------------------------------------------------------------------- statistics files

def write_stats(path: str | os.PathLike, embedded: EmbeddedSet) -> str:
    """Write a statistics ``.npz`` (module docstring), atomically; returns the path."""
    path = Path(path)
    if embedded.pixels is None:
        raise SampleInputError(f"{embedded.source}: no wavelet statistics (a statistics file of "
                               f"format 1?); write statistics from the images")
    mu, sigma = feature_statistics(embedded.features)
    labels = embedded.labels if embedded.labels is not None else torch.zeros(0, dtype=torch.int64)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:  # a file object: numpy appends no second ".npz"
        np.savez_compressed(f, kind=STATS_KIND, format=STATS_FORMAT, dataset=embedded.dataset,
                            sha256=embedded.sha256, num_samples=len(embedded),
                            features=embedded.features.numpy(), probs=embedded.probs.numpy(),
                            labels=labels.numpy(), mu=mu, sigma=sigma, source=embedded.source,
                            extractor=embedded.extractor, pixel_mu=embedded.pixels[0],
                            pixel_sigma=embedded.pixels[1])
    os.replace(tmp, path)
    return str(path)


def _is_stats(arrays: dict) -> bool:
    return "kind" in arrays and str(arrays["kind"]) == STATS_KIND


def read_stats(path: str | os.PathLike, dataset: str, arrays: dict | None = None,
               extractor: str = PRIMARY) -> EmbeddedSet:
    """A statistics file as an :class:`EmbeddedSet`, refused when it was made for another
    dataset, by another extractor or with other weights, or when its arrays do not fit
    together. A format-1 file was made by the primary (the only extractor then)."""
    path = Path(path)
    a = load_npz(path) if arrays is None else arrays
    if not _is_stats(a):
        raise SampleInputError(f"{path}: not a statistics file from 'python -m lgm.evaluation stats'")
    missing = [k for k in STATS_KEYS if k not in a]
    if missing:
        raise SampleInputError(f"{path}: statistics file without {', '.join(missing)}; recompute "
                               f"it with 'python -m lgm.evaluation stats'")
    version = int(a["format"])
    if version not in (1, STATS_FORMAT) or (version == 2 and any(k not in a for k in STATS_KEYS_2)):
        raise SampleInputError(f"{path}: statistics format {version}, this code reads 1 and "
                               f"{STATS_FORMAT}; recompute it with 'python -m lgm.evaluation stats'")
    made_for, sha = str(a["dataset"]), str(a["sha256"])
    if made_for != dataset:
        raise SampleInputError(f"{path}: statistics of {made_for!r}, but --dataset is {dataset!r}")
    made_by = str(a["extractor"]) if version >= 2 else PRIMARY
    if made_by != extractor:
        raise SampleInputError(f"{path}: features of extractor {made_by!r}, but --extractor is "
                               f"{extractor!r}: two feature spaces are never mixed; make the "
                               f"statistics with 'python -m lgm.evaluation stats --extractor "
                               f"{extractor}'")
    current = classifier_sha256(dataset, extractor=extractor)
    if sha != current:
        raise SampleInputError(f"{path}: made with the {dataset} classifier of SHA-256 {sha}, but "
                               f"the current one is {current}: features of two networks are not "
                               f"comparable; recompute it with 'python -m lgm.evaluation stats'")
    features, probs, labels = a["features"], a["probs"], a["labels"]
    n, k = int(a["num_samples"]), dataset_info(dataset).num_classes
    d = int(read_registry(weights_folder(extractor))[dataset]["feature_dim"])
    if features.shape != (n, d) or probs.shape != (n, k) or labels.shape not in ((0,), (n,)):
        raise SampleInputError(f"{path}: arrays do not fit together (features {features.shape}, "
                               f"probs {probs.shape}, labels {labels.shape}, num_samples {n})")
    mu, sigma = feature_statistics(features)
    if not (np.allclose(mu, a["mu"], rtol=1e-9, atol=1e-12)
            and np.allclose(sigma, a["sigma"], rtol=1e-9, atol=1e-12)):
        raise SampleInputError(f"{path}: mu/sigma do not match the stored features (edited file?)")
    pixels = (a["pixel_mu"], a["pixel_sigma"]) if version >= 2 else None
    return EmbeddedSet(torch.from_numpy(features), torch.from_numpy(probs),
                       torch.from_numpy(labels) if len(labels) else None, dataset, sha, str(path),
                       (f"statistics file of {n} samples ({a['source']})",), made_by, pixels)


# --------------------------------------------------------------------------- sets

def load_set(source, dataset: str, *, labels=None, progress: bool | None = None,
             extractor: str = PRIMARY) -> SampleSet | EmbeddedSet:
    """A sample set from a path (folder, array or tensor file, statistics file) or an
    in-memory array/tensor, with ``labels`` (a path or an array) checked against it."""
    info = dataset_info(dataset)
    if isinstance(source, (np.ndarray, torch.Tensor)):
        images, notes = as_images(source, info.shape)
        loaded = SampleSet(images, None, "array", tuple(notes))
    else:
        path = Path(source)
        arrays = load_npz(path) if path.suffix.lower() == ".npz" and path.is_file() else None
        if arrays is not None and _is_stats(arrays):
            loaded = read_stats(path, dataset, arrays, extractor)
        elif arrays is not None:
            loaded = read_array_file(path, info.shape, arrays)
        else:
            loaded = read_samples(path, info.shape, progress)
    if labels is not None:
        if loaded.labels is not None:
            raise SampleInputError(f"{loaded.source} holds labels already; do not pass --labels too")
        given = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
        where = str(labels) if isinstance(labels, (str, os.PathLike)) else "labels"
        loaded = replace(loaded, labels=check_labels(given, len(loaded), info.num_classes, where))
    elif loaded.labels is not None:
        loaded = replace(loaded, labels=check_labels(loaded.labels, len(loaded), info.num_classes,
                                                     f"{loaded.source} [labels]"))
    return loaded


def _subset(x, indices: torch.Tensor | None):
    if indices is None:
        return x
    labels = None if x.labels is None else x.labels[indices]
    if isinstance(x, SampleSet):
        return SampleSet(x.images[indices], labels, x.source, x.notes)
    notes = x.notes
    if x.pixels is not None:  # summary statistics of the whole set cannot be cut: no FWD
        notes += (f"eval/fwd left out: the file's wavelet statistics are of all {len(x)} "
                  f"samples, not of the subset",)
    return EmbeddedSet(x.features[indices], x.probs[indices], labels, x.dataset, x.sha256,
                       x.source, notes, x.extractor)


def _pixel_statistics(images: torch.Tensor, batch_size: int) -> tuple:
    moments = WaveletMoments(registry.METRICS["fwd"].settings["level"])
    for start in range(0, len(images), batch_size):
        moments.add(images[start:start + batch_size].to(torch.float64).numpy())
    return moments.statistics()


def embed(x: SampleSet | EmbeddedSet, dataset: str, *, device: str | torch.device = "cpu",
          batch_size: int = BATCH_SIZE, progress: bool | None = None,
          extractor: str = PRIMARY) -> EmbeddedSet:
    """``extractor``'s features and probabilities of ``x``, and its images' wavelet
    statistics (an embedded set is returned as is). Batches of ``batch_size`` from the
    start, as ``evaluate`` embeds its samples."""
    if isinstance(x, EmbeddedSet):
        return x
    features, probs = extract(classifier(dataset, device, extractor=extractor), x.images,
                              batch_size=batch_size, device=device, progress=progress)
    return EmbeddedSet(features, probs, x.labels, dataset,
                       classifier_sha256(dataset, extractor=extractor), x.source, x.notes,
                       extractor, _pixel_statistics(x.images, batch_size))


def prepare(x, dataset: str, *, labels, num_samples: int, seed: int, metrics,
            progress: bool | None, extractor: str = PRIMARY):
    """Load and check a set and cut it to N: everything that can refuse, before any work."""
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise SampleInputError(f"num_samples must be a positive int, got {num_samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SampleInputError(f"seed must be a non-negative int, got {seed!r}")
    unknown = [m for m in metrics if m not in SAMPLE_METRICS]
    if isinstance(metrics, str) or unknown:
        raise SampleInputError(f"unknown metric(s) {unknown or metrics!r}; allowed: {', '.join(SAMPLE_METRICS)}")
    info = dataset_info(dataset)
    if num_samples > info.sizes["train"]:
        raise SampleInputError(f"num_samples must be at most {info.sizes['train']} (the reference "
                               f"is a subset of the {dataset} training split), got {num_samples}")
    if not isinstance(x, (SampleSet, EmbeddedSet)):
        x = load_set(x, dataset, labels=labels, progress=progress, extractor=extractor)
    elif labels is not None:
        raise SampleInputError("pass labels when loading the set (load_set), not with a loaded one")
    sha = classifier_sha256(dataset, extractor=extractor)
    if isinstance(x, EmbeddedSet) and (x.dataset, x.extractor, x.sha256) != (dataset, extractor, sha):
        raise SampleInputError(f"{x.source}: embedded for {x.dataset!r} by extractor "
                               f"{x.extractor!r} ({x.sha256}), not for {dataset!r} by "
                               f"{extractor!r} ({sha})")
    indices, notes = choose_samples(len(x), num_samples, x.labels, info.num_classes, seed)
    x = _subset(x, indices)
    check_enough(len(x), metrics, conditional=x.labels is not None, num_classes=info.num_classes)
    for note in notes:
        warnings.warn(note, SampleCountWarning, stacklevel=3)
    picked = "all" if indices is None else f"a seeded (seed {seed}) subset of"
    return x, [*x.notes, f"scored: {picked} {len(x)} samples"
               + (" with labels" if x.labels is not None else "")], notes


def score(x, *, dataset: str, labels=None, num_samples: int = NUM_SAMPLES, seed: int = 0,
          metrics=SAMPLE_METRICS, device: str | torch.device = "cpu", batch_size: int = BATCH_SIZE,
          copies: str | os.PathLike | None = None, progress: bool | None = None,
          extractor: str = PRIMARY) -> Scores:
    """Every chosen sample metric of ``x`` (a path, an array/tensor, a ``SampleSet`` or an
    ``EmbeddedSet``) against ``dataset``'s cached references (module docstring), in
    ``extractor``'s feature space. ``copies``: also write the PNG of the samples closest to
    the training reference beside their nearest training images (``lgm.evaluation.copies``;
    needs images, not statistics)."""
    check_dataset(dataset, extractor)
    x, notes, warned = prepare(x, dataset, labels=labels, num_samples=num_samples, seed=seed,
                                metrics=metrics, progress=progress, extractor=extractor)
    if x.labels is not None:
        check_reference_classes(dataset, len(x))
    if copies is not None and not isinstance(x, SampleSet):
        raise SampleInputError(f"{x.source}: a statistics file holds no images to draw copies of")
    n = len(x)
    ref = reference_statistics(dataset, split="train", num_samples=n, seed=REFERENCE_SEED,
                               device=device, batch_size=batch_size, progress=progress,
                               extractor=extractor)
    held_out = None
    if any(registry.METRICS[name].needs == "test_reference" for name in metrics):
        held_out = held_out_reference(dataset, n, device=device, batch_size=batch_size,
                                      progress=progress, extractor=extractor)
    e = embed(x, dataset, device=device, batch_size=batch_size, progress=progress,
              extractor=extractor)
    values = score_features(features=e.features, probs=e.probs, dataset=dataset, reference=ref,
                            seed=seed, labels=e.labels, test_reference=held_out, metrics=metrics,
                            extractor=extractor, pixels=e.pixels,
                            pixel_reference=None if e.pixels is None else
                            pixel_reference(dataset, n, batch_size=batch_size))
    notes.append(f"reference: {n} {dataset} training images (seed {REFERENCE_SEED})"
                 + (f", held out: {len(held_out.features)} test images" if held_out else ""))
    if copies is not None:
        pairs = closest_pairs(e.features, ref.features)
        train = load_dataset(dataset, "train").subset(n, seed=REFERENCE_SEED)
        save_copies_figure(copies, x.images[torch.as_tensor(pairs.generated)],
                           scale(train.images[torch.as_tensor(pairs.train)], "zero_one"),
                           pairs.distance, title=f"{x.source}: the {len(pairs.generated)} samples "
                           f"closest to {n} {dataset} training images (feature distance)")
        notes.append(f"copies figure: {copies}")
    return Scores(values, notes, warned)


def _as_reference(e: EmbeddedSet, seed: int) -> ReferenceStatistics:
    mu, sigma = feature_statistics(e.features)
    labels = e.labels if e.labels is not None else torch.zeros(0, dtype=torch.int64)
    return ReferenceStatistics(dataset=e.dataset, split=e.source, num_samples=len(e), seed=seed,
                               sha256=e.sha256, features=e.features, probs=e.probs, labels=labels,
                               mu=mu, sigma=sigma)


def compare(a, b, *, dataset: str, labels_a=None, labels_b=None, num_samples: int = NUM_SAMPLES,
            seed: int = 0, metrics=COMPARE_METRICS, device: str | torch.device = "cpu",
            batch_size: int = BATCH_SIZE, progress: bool | None = None,
            extractor: str = PRIMARY) -> Scores:
    """The sample metrics of ``a`` with ``b`` as the reference (module docstring), in
    ``extractor``'s feature space; the conditional metrics when both sets have labels, FWD
    when both have images or wavelet statistics. ``eval/num_samples`` is ``a``'s N."""
    check_dataset(dataset, extractor)
    memorisation = [n for n in metrics if registry.METRICS[n].needs == "test_reference"]
    if memorisation:
        raise SampleInputError(f"compare cannot compute {', '.join(memorisation)}: it needs the "
                               f"training split as the reference; use score")
    a, notes_a, warned_a = prepare(a, dataset, labels=labels_a, num_samples=num_samples,
                                    seed=seed, metrics=metrics, progress=progress,
                                    extractor=extractor)
    b, notes_b, warned_b = prepare(b, dataset, labels=labels_b, num_samples=num_samples,
                                    seed=seed, metrics=metrics, progress=progress,
                                    extractor=extractor)
    ea = embed(a, dataset, device=device, batch_size=batch_size, progress=progress,
               extractor=extractor)
    eb = embed(b, dataset, device=device, batch_size=batch_size, progress=progress,
               extractor=extractor)
    both = ea.labels is not None and eb.labels is not None
    values = score_features(features=ea.features, probs=ea.probs, dataset=dataset,
                            reference=_as_reference(eb, seed), seed=seed,
                            labels=ea.labels if both else None, metrics=metrics,
                            extractor=extractor, pixels=ea.pixels, pixel_reference=eb.pixels)
    notes = [f"A: {n}" for n in notes_a] + [f"B (reference): {n}" for n in notes_b]
    if (ea.labels is None) != (eb.labels is None):
        notes.append("conditional metrics left out: only one of the sets has labels")
    return Scores(values, notes, warned_a + warned_b)
