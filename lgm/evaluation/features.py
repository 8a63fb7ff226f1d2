"""Classifier features and class probabilities of images, and cached reference statistics.

Every metric of a run works on the same two arrays per image set: the classifier's
``feature_dim``-wide penultimate activations (FID, KID, precision/recall,
density/coverage) and its softmax class probabilities (IS, conditional accuracy).
``extract`` computes both in one pass.

The real side of every comparison is a seeded subset of a dataset split; its features
depend only on ``(dataset, split, classifier SHA-256, num_samples, seed)``, so they are
computed once and cached on disk under ``$LGM_CACHE_DIR/reference/`` (default
``~/.cache/lgm/reference/``). The key is in the filename *and* stored inside the file and
checked on load, so a stale or renamed file (other weights, other n) is never used.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lgm.data import SPLITS, dataset_info, load_dataset, scale
from lgm.evaluation.classifiers import ClassifierNet, classifier, classifier_sha256
from lgm.evaluation.metrics import feature_statistics
from lgm.evaluation.metrics.fwd import WaveletMoments
from lgm.evaluation.metrics.manifold import real_sq_radii
from lgm.evaluation.registry import PRIMARY_EXTRACTOR

__all__ = ["extract", "check_images", "ReferenceStatistics", "reference_statistics",
           "reference_cache_dir", "reference_cache_path", "cached_numbers",
           "pixel_reference_statistics"]

# 2: features from the folded, channels-last inference net (equal to format 1's to round-off,
# but a run's features and its reference must come from one computation), plus k-NN radii.
CACHE_FORMAT = 2
# Images must lie in [0, 1]; allow float rounding of a sigmoid/clamp, catch [-1, 1] outputs.
RANGE_TOLERANCE = 1e-4


def check_images(images: torch.Tensor, shape: tuple[int, int, int], name: str = "images") -> None:
    """Raise ``ValueError`` unless ``images`` is a finite float N×C×H×W batch in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be float images in [0, 1], got dtype {images.dtype} "
                         f"(convert uint8 with lgm.data.scale(x, 'zero_one'))")
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must have shape N×{'×'.join(map(str, shape))}, "
                         f"got {tuple(images.shape)}")
    lo, hi = torch.aminmax(images.detach())
    if not (torch.isfinite(lo) and torch.isfinite(hi)):
        raise ValueError(f"{name} contain NaN or inf values")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(f"{name} must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}] "
                         f"(map [-1, 1] outputs with lgm.data.to_unit(x, 'minus_one_one'))")


def _net_device(net: ClassifierNet) -> torch.device:
    return next(net.parameters()).device


@torch.inference_mode()
def extract(net: ClassifierNet, images: torch.Tensor, batch_size: int = 500,
            device: str | torch.device | None = None,
            progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, probs)``: float32 N×feature_dim and N×num_classes, on the CPU.

    ``images``: float N×C×H×W in [0, 1] on any device; moved batch by batch to ``device``
    (default: the net's). ``probs = softmax(logits)``. In eval mode every layer acts on
    each image alone, so the result does not depend on ``batch_size``.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if net.training:
        raise ValueError("net is in training mode (batch norm would use batch statistics); "
                         "call net.eval() or use lgm.evaluation.classifier(...)")
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a 4-D tensor N×C×H×W, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    check_images(images, (net.in_channels, *images.shape[2:]))
    device = _net_device(net) if device is None else torch.device(device)
    feats, probs = [], []
    starts = range(0, images.shape[0], batch_size)
    for start in tqdm(starts, desc="features", disable=None if progress is None else not progress):
        x = images[start:start + batch_size].to(device, torch.float32)
        x = x.contiguous(memory_format=torch.channels_last)  # the inference net's layout
        f, logits = net.features_and_logits(x)
        feats.append(f.float().cpu())
        # softmax in float32 from logits: stable (max-subtracted) inside torch.
        probs.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(feats), torch.cat(probs)


# --------------------------------------------------------------------------- reference

@dataclass(frozen=True)
class ReferenceStatistics:
    """Features of a seeded real subset, with their labels, probabilities and FID moments."""

    dataset: str
    split: str
    num_samples: int
    seed: int
    sha256: str
    features: torch.Tensor  # float32 N×D
    probs: torch.Tensor  # float32 N×K
    labels: torch.Tensor  # int64 N
    mu: np.ndarray  # float64 D
    sigma: np.ndarray  # float64 D×D
    # k -> squared k-th-neighbour radius of each point (centred features), for the k-NN metrics
    radii: dict = field(default_factory=dict)

    @property
    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mu, self.sigma

    def key(self) -> dict:
        return {"dataset": self.dataset, "split": self.split, "num_samples": self.num_samples,
                "seed": self.seed, "sha256": self.sha256, "format": CACHE_FORMAT}


def reference_cache_dir(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("LGM_CACHE_DIR", Path.home() / ".cache" / "lgm")
    return Path(root) / "reference"


def cached_numbers(key: dict, compute, cache_dir: str | Path | None = None) -> dict:
    """``compute()`` (a dict of numbers) cached on disk under a hash of ``key`` (a JSON
    object naming everything the numbers depend on); the key is stored in the file and
    checked on load, and the file is written atomically, like the reference caches."""
    import hashlib
    import json

    blob = json.dumps(key, sort_keys=True)
    path = reference_cache_dir(cache_dir) / f"numbers-{hashlib.sha256(blob.encode()).hexdigest()[:20]}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == json.loads(blob):
            return stored["values"]
    except (OSError, ValueError, AttributeError):
        pass  # absent, torn or foreign: compute again
    values = {k: float(v) for k, v in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": json.loads(blob), "values": values}))
    os.replace(tmp, path)
    return values


def reference_cache_path(dataset: str, split: str, num_samples: int, seed: int, sha256: str,
                         cache_dir: str | Path | None = None) -> Path:
    name = f"{dataset}-{split}-n{num_samples}-seed{seed}-{sha256[:16]}.pt"
    return reference_cache_dir(cache_dir) / name


def _save(ref: ReferenceStatistics, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**ref.key(), "features": ref.features, "probs": ref.probs, "labels": ref.labels,
               "mu": torch.from_numpy(ref.mu), "sigma": torch.from_numpy(ref.sigma),
               "radii": {int(k): torch.from_numpy(v) for k, v in ref.radii.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:  # a file object: the archive's inner name stays fixed
        torch.save(payload, f)
    os.replace(tmp, path)  # atomic: a concurrent reader sees no file or a whole one


def _load(path: Path, expected: dict) -> ReferenceStatistics | None:
    """The cached statistics, or ``None`` when absent, unreadable or for another key."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None  # truncated or corrupt: recompute and overwrite
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in expected.items()):
        return None
    return ReferenceStatistics(
        expected["dataset"], expected["split"], expected["num_samples"], expected["seed"],
        expected["sha256"], payload["features"], payload["probs"], payload["labels"],
        payload["mu"].numpy(), payload["sigma"].numpy(),
        {int(k): v.numpy() for k, v in (payload.get("radii") or {}).items()})


def _compute(net: ClassifierNet, dataset: str, split: str, num_samples: int, seed: int,
             sha256: str, batch_size: int, progress: bool | None) -> ReferenceStatistics:
    data = load_dataset(dataset, split).subset(num_samples, seed=seed)
    images = scale(data.images, "zero_one")
    features, probs = extract(net, images, batch_size=batch_size, progress=progress)
    mu, sigma = feature_statistics(features)
    return ReferenceStatistics(dataset, split, num_samples, seed, sha256, features, probs,
                               data.labels.clone(), mu, sigma)


def reference_statistics(dataset: str, *, split: str = "train", num_samples: int = 10_000,
                         seed: int = 0, device: str | torch.device = "cpu",
                         batch_size: int = 500, cache_dir: str | Path | None = None,
                         weights_dir: str | Path | None = None,
                         progress: bool | None = None, radii_ks=(),
                         extractor: str = PRIMARY_EXTRACTOR) -> ReferenceStatistics:
    """Reference features of ``num_samples`` real images (a seeded subset of ``split``)
    in ``extractor``'s feature space (default the primary; its SHA-256 keys the cache).

    Loaded from the cache when a file with the same (dataset, split, n, seed, classifier
    SHA-256) exists and its stored key matches; otherwise computed and written atomically.
    ``radii_ks``: k values whose k-NN radii the reference should carry (computed once and
    added to the cache file: every run of the study compares with the same radii).
    """
    info = dataset_info(dataset)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    size = info.sizes[split]
    if not isinstance(num_samples, int) or not 2 <= num_samples <= size:
        raise ValueError(f"num_samples must be an int in 2..{size} for {dataset} {split}, "
                         f"got {num_samples!r}")
    sha = classifier_sha256(dataset, weights_dir, extractor=extractor)
    expected = {"dataset": dataset, "split": split, "num_samples": num_samples, "seed": seed,
                "sha256": sha, "format": CACHE_FORMAT}
    path = reference_cache_path(dataset, split, num_samples, seed, sha, cache_dir)
    ref = _load(path, expected)
    changed = ref is None
    if ref is None:
        net = classifier(dataset, device, weights_dir, extractor=extractor)
        ref = _compute(net, dataset, split, num_samples, seed, sha, batch_size, progress)
    missing = sorted(set(int(k) for k in radii_ks) - set(ref.radii))
    if missing and len(ref.features) > max(missing):
        ref = replace(ref, radii={**ref.radii, **real_sq_radii(ref.features, missing)})
        changed = True
    if changed:
        _save(ref, path)
    return ref


def pixel_reference_statistics(dataset: str, *, level: int, split: str = "train",
                               num_samples: int = 10_000, seed: int = 0,
                               batch_size: int = 500,
                               cache_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-packet Haar wavelet statistics ``(mu, sigma)`` of the same seeded real subset the
    feature reference uses (the extractor-free FWD's reference). Depends on no network, so
    its cache key is ``(dataset, split, n, seed, level)``; stored in the file and checked."""
    import json

    key = {"pixels": "haar", "dataset": dataset, "split": split, "num_samples": num_samples,
           "seed": seed, "level": level, "format": 1}
    path = reference_cache_dir(cache_dir) / (f"{dataset}-{split}-n{num_samples}-seed{seed}"
                                             f"-haar{level}.npz")
    try:
        with np.load(path) as stored:
            if json.loads(str(stored["key"])) == key:
                return stored["mu"], stored["sigma"]
    except (OSError, ValueError, KeyError):
        pass  # absent, torn or foreign: compute again
    data = load_dataset(dataset, split).subset(num_samples, seed=seed)
    moments = WaveletMoments(level)
    for start in range(0, num_samples, batch_size):
        moments.add(scale(data.images[start:start + batch_size], "zero_one").numpy())
    mu, sigma = moments.statistics()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, key=json.dumps(key, sort_keys=True), mu=mu, sigma=sigma)
    os.replace(tmp, path)
    return mu, sigma
