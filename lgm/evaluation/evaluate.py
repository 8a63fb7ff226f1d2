"""``evaluate``: the one entry point a run calls to score a generative model.

Generates ``num_samples`` images with ``sample_fn`` in batches, embeds each batch once
with the dataset's fixed classifier, and computes every requested metric from those
features and probabilities against a cached reference (the same seeded ``num_samples``
subset of the real training split for every run, see ``lgm.evaluation.features``):

- ``fid``: Fréchet distance of Gaussian fits (Heusel et al. 2017);
- ``is``: Inception Score over 10 splits (Salimans et al. 2016), with its std;
- ``kid``: unbiased MMD² with a cubic polynomial kernel (Bińkowski et al. 2018), with std;
- ``precision_recall``: k-NN manifold precision/recall (Kynkäänniemi et al. 2019);
- ``density_coverage``: Naeem et al. 2020.

Conditional models also get ``eval/conditional_accuracy`` (share of samples the classifier
assigns to the requested class) and ``eval/fid_class/<k>`` (FID of class ``k``'s samples
against class ``k``'s real reference features). With ``reconstruct_fn`` (VAEs),
``eval/fid_recon`` is the FID of reconstructions of real test images against the reference.

FID is biased in the sample count, so ``eval/num_samples`` and ``eval/classifier_sha256``
are returned with every result: only runs that agree on both are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from lgm.data import dataset_info, load_dataset, scale
from lgm.evaluation.classifier import ClassifierNet, classifier, classifier_sha256
from lgm.evaluation.features import check_images, extract, reference_statistics
from lgm.evaluation.metrics import METRICS as METRIC_FUNCTIONS
from lgm.evaluation.metrics import (density_coverage, feature_statistics, fid,
                                    fid_from_statistics, inception_score, kid, precision_recall)

__all__ = ["evaluate", "METRICS", "REFERENCE_SEED", "balanced_labels"]

# The metric names, one per concept, as the metrics package defines them.
METRICS = tuple(METRIC_FUNCTIONS)
# Every run compares against the same real subset, whatever its own seed: a per-run
# reference would add the reference's sampling noise to every difference between runs.
REFERENCE_SEED = 0

SampleFn = Callable[[int, "torch.Tensor | None"], torch.Tensor]
ReconstructFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def balanced_labels(num_samples: int, num_classes: int, seed: int) -> torch.Tensor:
    """``num_samples / num_classes`` of each class, in a seeded random order."""
    labels = torch.arange(num_classes).repeat_interleave(num_samples // num_classes)
    return labels[torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))]


def _validate(sample_fn, reconstruct_fn, dataset: str, num_samples: int, conditional: bool,
              metrics: Sequence[str], batch_size: int, seed: int) -> int:
    """Check every argument before any work; returns the number of classes."""
    if not callable(sample_fn):
        raise TypeError(f"sample_fn must be callable as sample_fn(n, labels), got {sample_fn!r}")
    if reconstruct_fn is not None and not callable(reconstruct_fn):
        raise TypeError(f"reconstruct_fn must be None or callable as reconstruct_fn(x, labels), "
                        f"got {reconstruct_fn!r}")
    info = dataset_info(dataset)
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a sequence of names, got the string {metrics!r}; "
                         f"allowed names: {', '.join(METRICS)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; allowed: {', '.join(METRICS)}")
    size = info.sizes["train"]
    if not isinstance(num_samples, int) or not 2 <= num_samples <= size:
        raise ValueError(f"num_samples must be an int in 2..{size}, got {num_samples!r}")
    if conditional and num_samples % info.num_classes:
        raise ValueError(f"conditional evaluation draws num_samples / {info.num_classes} "
                         f"samples per class; num_samples={num_samples} is not a multiple "
                         f"of {info.num_classes}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    classifier_sha256(dataset)  # no classifier for this dataset -> error naming the command
    return info.num_classes


def _embed_generated(net: ClassifierNet, sample_fn: SampleFn, labels: torch.Tensor | None,
                     num_samples: int, shape: tuple, batch_size: int, device: torch.device,
                     disable: bool | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate in batches and embed each batch at once (images are never all held)."""
    feats, probs = [], []
    with tqdm(total=num_samples, desc="evaluate: samples", disable=disable) as bar:
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            y = None if labels is None else labels[start:start + n].to(device)
            with torch.no_grad():
                x = sample_fn(n, y)
            check_images(x, shape, name="sample_fn output")
            if x.shape[0] != n:
                raise ValueError(f"sample_fn({n}, labels) returned {x.shape[0]} images")
            f, p = extract(net, x, batch_size=batch_size, device=device, progress=False)
            feats.append(f)
            probs.append(p)
            bar.update(n)
    return torch.cat(feats), torch.cat(probs)


def _embed_reconstructions(net: ClassifierNet, reconstruct_fn: ReconstructFn, dataset: str,
                           num_samples: int, shape: tuple, batch_size: int,
                           device: torch.device, disable: bool | None) -> torch.Tensor:
    """Features of reconstructions of ``num_samples`` real test images (at most the whole
    split), the same seeded subset for every run."""
    test = load_dataset(dataset, "test")
    test = test.subset(min(num_samples, len(test)), seed=REFERENCE_SEED)
    feats = []
    for start in tqdm(range(0, len(test), batch_size), desc="evaluate: reconstructions",
                      disable=disable):
        x = scale(test.images[start:start + batch_size].to(device), "zero_one")
        y = test.labels[start:start + batch_size].to(device)
        with torch.no_grad():
            r = reconstruct_fn(x, y)
        check_images(r, shape, name="reconstruct_fn output")
        feats.append(extract(net, r, batch_size=batch_size, device=device, progress=False)[0])
    return torch.cat(feats)


def _sample_metrics(metrics: Sequence[str], feats: torch.Tensor, probs: torch.Tensor,
                    ref, seed: int) -> dict:
    out = {}
    if "fid" in metrics:
        out["eval/fid"] = fid_from_statistics(feature_statistics(feats), ref.statistics)
    if "is" in metrics:
        out["eval/is"], out["eval/is_std"] = inception_score(probs, splits=10, seed=seed)
    if "kid" in metrics:
        out["eval/kid"], out["eval/kid_std"] = kid(feats, ref.features, seed=seed)
    if "precision_recall" in metrics:
        out["eval/precision"], out["eval/recall"] = precision_recall(ref.features, feats, k=3)
    if "density_coverage" in metrics:
        out["eval/density"], out["eval/coverage"] = density_coverage(ref.features, feats, k=5)
    return out


def _conditional_metrics(feats: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor,
                         ref, num_classes: int) -> dict:
    out = {"eval/conditional_accuracy": (probs.argmax(1) == labels).double().mean().item()}
    for k in range(num_classes):
        out[f"eval/fid_class/{k}"] = fid(ref.features[ref.labels == k], feats[labels == k])
    return out


def evaluate(*, sample_fn: SampleFn, dataset: str, num_samples: int = 10_000,
             conditional: bool = False, reconstruct_fn: ReconstructFn | None = None,
             metrics: Sequence[str] = METRICS, batch_size: int = 500,
             device: str | torch.device = "cpu", seed: int = 0,
             progress: bool | None = None) -> dict:
    """Score a generative model; returns a flat dict of plain Python numbers and strings.

    ``sample_fn(n, labels)`` returns ``n`` float images in [0, 1] (N×C×H×W) on any device;
    ``labels`` is ``None`` unless ``conditional``, then an int64 tensor of ``n`` requested
    classes (balanced overall, seeded order). ``reconstruct_fn(x, labels)`` maps real test
    images in [0, 1] to reconstructions in [0, 1]. ``progress=None`` shows bars only on a
    terminal. Keys: ``eval/fid``, ``eval/is``, ``eval/is_std``, ``eval/kid``,
    ``eval/kid_std``, ``eval/precision``, ``eval/recall``, ``eval/density``,
    ``eval/coverage`` (those of the requested ``metrics``), ``eval/conditional_accuracy``
    and ``eval/fid_class/<k>`` (conditional), ``eval/fid_recon`` (with ``reconstruct_fn``),
    ``eval/classifier_sha256``, ``eval/num_samples``.
    """
    num_classes = _validate(sample_fn, reconstruct_fn, dataset, num_samples, conditional,
                            metrics, batch_size, seed)
    device = torch.device(device)
    disable = None if progress is None else not progress
    net = classifier(dataset, device)  # SHA-256 checked here, before any generation
    shape = dataset_info(dataset).shape
    ref = reference_statistics(dataset, split="train", num_samples=num_samples,
                               seed=REFERENCE_SEED, device=device, batch_size=batch_size,
                               progress=progress)
    labels = balanced_labels(num_samples, num_classes, seed) if conditional else None
    feats, probs = _embed_generated(net, sample_fn, labels, num_samples, shape, batch_size,
                                    device, disable)
    out = _sample_metrics(metrics, feats, probs, ref, seed)
    if conditional:
        out.update(_conditional_metrics(feats, probs, labels, ref, num_classes))
    if reconstruct_fn is not None:
        recon = _embed_reconstructions(net, reconstruct_fn, dataset, num_samples, shape,
                                       batch_size, device, disable)
        out["eval/fid_recon"] = fid_from_statistics(feature_statistics(recon), ref.statistics)
    out = {k: float(v) for k, v in out.items()}
    out["eval/classifier_sha256"] = classifier_sha256(dataset)
    out["eval/num_samples"] = int(num_samples)
    return out
