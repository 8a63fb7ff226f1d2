"""The one fixed classifier per dataset whose features and class probabilities define FID/IS.

FID (Heusel et al. 2017) and IS (Salimans et al. 2016) are only comparable between runs
that embed images with the *same* network and weights. ImageNet's Inception-v3 is the
wrong tool for 28×28 grey digits and clothes, so, as is common for MNIST-like data, each
dataset gets a small CNN trained once on its own training split
(``python scripts/train_classifier.py``). The weights ship with the code in
``lgm/evaluation/weights/``; ``registry.json`` records each file's SHA-256, the test
accuracy and the exact command that trained it, and every metric logs that hash.

Architecture ``ClassifierNet`` (named ``"cnn32-64-128"`` in the registry)::

    [conv3x3-BN-ReLU] x2 (32)  -> maxpool 2   28x28 -> 14x14   (32x32 -> 16x16)
    [conv3x3-BN-ReLU] x2 (64)  -> maxpool 2   14x14 -> 7x7
    [conv3x3-BN-ReLU]    (128) -> global average pool -> 128
    linear 128 -> feature_dim, BN, ReLU        = net.features(x)  (FID/KID/PR features)
    dropout, linear feature_dim -> num_classes = net(x)           (IS / accuracy logits)

Global average pooling makes the same network serve 28×28 and 32×32 inputs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from lgm.data import DATASETS, dataset_info

__all__ = [
    "ARCHITECTURE", "ClassifierNet", "ClassifierWeightsError", "WEIGHTS_DIR", "PROGRAM",
    "classifier", "classifier_sha256", "verify_classifier", "file_sha256", "read_registry",
    "train_command", "clear_cache", "trained_datasets", "inference_net",
]

ARCHITECTURE = "cnn32-64-128"
FEATURE_DIM = 128
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REGISTRY_NAME = "registry.json"
PROGRAM = "scripts/train_classifier.py"  # the program that trains and registers weights


class ClassifierWeightsError(RuntimeError):
    """The classifier's weights are missing, untrained, or do not match the registry."""


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    # bias=False: the BN that follows has its own shift, a conv bias would be redundant.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class ClassifierNet(nn.Module):
    """Small CNN; ``net(x)`` gives logits, ``net.features(x)`` the penultimate activations.

    ``x``: float N×C×H×W in [0, 1] (``lgm.data`` scaling ``zero_one``), H, W ≥ 4.
    """

    def __init__(self, in_channels: int, num_classes: int, feature_dim: int = FEATURE_DIM):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("feature_dim", feature_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.in_channels, self.num_classes, self.feature_dim = in_channels, num_classes, feature_dim
        self.body = nn.Sequential(
            *_conv_bn_relu(in_channels, 32), *_conv_bn_relu(32, 32), nn.MaxPool2d(2),
            *_conv_bn_relu(32, 64), *_conv_bn_relu(64, 64), nn.MaxPool2d(2),
            *_conv_bn_relu(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.embed = nn.Sequential(nn.Linear(128, feature_dim, bias=False),
                                   nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``feature_dim``-wide penultimate activations (post-ReLU, like Inception's pool3)."""
        return self.embed(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs from one pass (the head is a function of the features)."""
        f = self.features(x)
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --------------------------------------------------------------------------- registry

def train_command(dataset: str) -> str:
    """The command that (re)trains the classifier of ``dataset`` with the default recipe."""
    return f"OMP_NUM_THREADS=1 python {PROGRAM} --dataset {dataset}"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_registry(weights_dir: str | Path | None = None) -> dict:
    """``registry.json`` as a dict ``dataset -> entry`` (empty when the file does not exist)."""
    path = Path(weights_dir or WEIGHTS_DIR) / REGISTRY_NAME
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        registry = json.load(f)
    if not isinstance(registry, dict):
        raise ClassifierWeightsError(f"{path} must hold a JSON object, "
                                     f"found {type(registry).__name__}")
    return registry


def _entry(dataset: str, weights_dir: str | Path | None) -> dict:
    dataset_info(dataset)  # unknown name -> DataError listing the allowed ones
    registry = read_registry(weights_dir)
    if dataset not in registry:
        trained = ", ".join(sorted(registry)) or "none"
        raise ClassifierWeightsError(
            f"no evaluation classifier has been trained for dataset {dataset!r} (trained: "
            f"{trained}); train one with:\n  {train_command(dataset)}")
    return registry[dataset]


def classifier_sha256(dataset: str, weights_dir: str | Path | None = None) -> str:
    """The registered SHA-256 of ``dataset``'s classifier weights (what every metric logs)."""
    return str(_entry(dataset, weights_dir)["sha256"])


def trained_datasets(weights_dir: str | Path | None = None) -> list[str]:
    """The datasets that have a registered classifier."""
    return sorted(read_registry(weights_dir))


def verify_classifier(dataset: str, weights_dir: str | Path | None = None) -> str:
    """Check, without building the network, that ``dataset``'s classifier is registered,
    its weight file exists, matches the recorded SHA-256 and was trained for this
    architecture; returns the SHA-256. Runs call it before training, so a missing or
    tampered file is reported before a training budget is spent, not after."""
    folder = Path(weights_dir or WEIGHTS_DIR).resolve()
    _check_weights(dataset, folder)
    return classifier_sha256(dataset, folder)


# --------------------------------------------------------------------------- loading

_CACHE: dict[tuple[str, str, str], ClassifierNet] = {}


def clear_cache() -> None:
    """Forget loaded networks (tests that swap weight files use it)."""
    _CACHE.clear()


def _check_weights(dataset: str, weights_dir: Path) -> tuple[dict, Path]:
    entry = _entry(dataset, weights_dir)
    path = weights_dir / entry["file"]
    retrain = f"retrain it with:\n  {entry.get('command') or train_command(dataset)}"
    if not path.is_file():
        raise ClassifierWeightsError(f"classifier weights {path} for {dataset!r} are missing; "
                                     f"{retrain}")
    actual = file_sha256(path)
    if actual != entry["sha256"]:
        raise ClassifierWeightsError(
            f"classifier weights {path} have SHA-256 {actual}, but the registry records "
            f"{entry['sha256']}: the file was modified or replaced; restore it or {retrain}")
    if entry.get("architecture") != ARCHITECTURE:
        raise ClassifierWeightsError(f"{path} was trained as architecture "
                                     f"{entry.get('architecture')!r}, this code builds "
                                     f"{ARCHITECTURE!r}; {retrain}")
    return entry, path


def _fold_norms(layers: nn.Sequential) -> nn.Sequential:
    """Each eval-mode batch norm folded into the conv / linear layer before it, replaced by
    an identity: BN(W x) = (γ/σ) W x + (β - γμ/σ) is one affine layer. Same function up
    to float round-off (measured ≤ 1e-6 relative on the features), one pass less over
    every activation."""
    folded = list(layers)
    for i in range(len(folded) - 1):
        layer, norm = folded[i], folded[i + 1]
        if isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)):
            fuse = (torch.nn.utils.fusion.fuse_conv_bn_eval if isinstance(layer, nn.Conv2d)
                    else torch.nn.utils.fusion.fuse_linear_bn_eval)
            folded[i], folded[i + 1] = fuse(layer, norm), nn.Identity()
    return nn.Sequential(*folded)


def inference_net(net: ClassifierNet) -> ClassifierNet:
    """``net`` for embedding only: batch norms folded and channels-last tensors — about 3×
    faster on a CPU than the training layout, with the same outputs to float round-off
    (the reference-statistics cache format says which layout computed a cache file)."""
    net.eval()
    net.body, net.embed = _fold_norms(net.body), _fold_norms(net.embed)
    return net.to(memory_format=torch.channels_last)


def _load_checked(dataset: str, weights_dir: Path, device: torch.device) -> ClassifierNet:
    entry, path = _check_weights(dataset, weights_dir)
    info = DATASETS[dataset]
    net = ClassifierNet(info.shape[0], info.num_classes, int(entry["feature_dim"]))
    # weights_only=True: a state_dict is plain tensors; never unpickle arbitrary objects.
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return inference_net(net.to(device)).requires_grad_(False)


def classifier(dataset: str, device: str | torch.device = "cpu",
               weights_dir: str | Path | None = None) -> ClassifierNet:
    """The fixed evaluation classifier of ``dataset``, in eval mode, on ``device``.

    The weight file's SHA-256 is checked against ``registry.json`` on first load; a
    missing file, a mismatch or an untrained dataset raise ``ClassifierWeightsError``
    that gives the command to (re)train. The network is cached per
    ``(dataset, device, weights_dir)`` and shared: do not train or modify it. It is the
    :func:`inference_net` form (batch norms folded): for embedding, not for training.
    """
    folder = Path(weights_dir or WEIGHTS_DIR).resolve()
    device = torch.device(device)
    key = (dataset, str(device), str(folder))
    if key not in _CACHE:
        _CACHE[key] = _load_checked(dataset, folder, device)
    return _CACHE[key]
