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

A second, independent extractor per dataset (``"mlp"``, :class:`MLPClassifierNet`, an
all-MLP network on the flattened pixels) checks that a verdict is not the primary's feature
space: see its docstring for why that family. Extractor names are owned by
``lgm.evaluation.registry`` (``EXTRACTORS``, ``PRIMARY_EXTRACTOR``); each extractor has its
own weights folder with the same ``registry.json`` format (:func:`weights_folder`: the
primary's is ``weights/`` itself, another's ``weights/<extractor>/``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from lgm.data import DATASETS, dataset_info
from lgm.evaluation.registry import EXTRACTORS, PRIMARY_EXTRACTOR, check_extractor

__all__ = [
    "ARCHITECTURE", "ClassifierNet", "MLPClassifierNet", "ARCHITECTURES", "ClassifierWeightsError",
    "WEIGHTS_DIR", "PROGRAM", "classifier", "classifier_sha256", "verify_classifier",
    "file_sha256", "read_registry", "train_command", "clear_cache", "trained_datasets",
    "inference_net", "weights_folder", "build_net", "PRIMARY_EXTRACTOR", "EXTRACTORS",
]

ARCHITECTURE = "cnn32-64-128"  # the primary's architecture (registry.json's "architecture")
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


def _linear_bn_relu(n_in: int, n_out: int) -> list[nn.Module]:
    return [nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.ReLU(inplace=True)]


class MLPClassifierNet(ClassifierNet):
    """The second extractor (``"mlp"``, architecture ``"mlp384-256-128"``): an all-MLP network
    on the flattened pixels::

        flatten C·H·W -> [linear-BN-ReLU] 384 -> [linear-BN-ReLU] 256
        linear 256 -> feature_dim, BN, ReLU        = net.features(x)
        dropout, linear feature_dim -> num_classes = net(x)

    Why this family. The check asks whether a verdict survives *another feature space*, so
    the second network should share as little inductive bias with the primary CNN as
    possible: no convolution, no weight sharing, no pooling, hence no built-in translation
    equivariance or locality — every pixel position has its own weights, so it weighs
    global layout and stroke position where the CNN weighs local texture. A small ResNet
    would be the same convolutional family as the primary (local 3×3 filters, pooling) and
    would likely agree with it for the same reasons. Cost: ≈ 0.43 M multiply-adds per
    28×28 image (the CNN: ≈ 20 M), so embedding 10,000 samples adds well under a second
    and training takes minutes on one CPU thread; 0.43 M parameters, a 1.7 MB file. Same
    feature width (128, post-ReLU) and the same head as the primary, so every metric's
    settings carry over. Expected accuracy: ≈ 98.5 % MNIST, ≈ 90 % Fashion-MNIST (an MLP's
    usual level; the registry records the measured one).
    """

    def __init__(self, in_channels: int, num_classes: int, feature_dim: int = FEATURE_DIM,
                 image_size: tuple[int, int] = (28, 28)):
        nn.Module.__init__(self)
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("feature_dim", feature_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.in_channels, self.num_classes, self.feature_dim = in_channels, num_classes, feature_dim
        pixels = in_channels * image_size[0] * image_size[1]
        self.body = nn.Sequential(nn.Flatten(), *_linear_bn_relu(pixels, 384),
                                  *_linear_bn_relu(384, 256))
        self.embed = nn.Sequential(*_linear_bn_relu(256, feature_dim))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))


# extractor name -> (network class, architecture name recorded in registry.json)
ARCHITECTURES: dict[str, tuple[type, str]] = {
    PRIMARY_EXTRACTOR: (ClassifierNet, ARCHITECTURE),
    "mlp": (MLPClassifierNet, "mlp384-256-128"),
}
assert tuple(ARCHITECTURES) == EXTRACTORS, "every registered extractor needs an architecture"


def build_net(extractor: str, dataset: str, feature_dim: int = FEATURE_DIM) -> ClassifierNet:
    """A fresh (untrained) network of ``extractor`` sized for ``dataset``'s images."""
    check_extractor(extractor)
    info = DATASETS[dataset]
    cls = ARCHITECTURES[extractor][0]
    if cls is ClassifierNet:
        return ClassifierNet(info.shape[0], info.num_classes, feature_dim)
    return cls(info.shape[0], info.num_classes, feature_dim, image_size=tuple(info.shape[1:]))


def weights_folder(extractor: str = PRIMARY_EXTRACTOR, weights_dir: str | Path | None = None) -> Path:
    """The folder holding ``extractor``'s weight files and ``registry.json``:
    ``weights_dir`` when given, else the shipped ``weights/`` (the primary) or
    ``weights/<extractor>/``."""
    check_extractor(extractor)
    if weights_dir is not None:
        return Path(weights_dir).resolve()
    return WEIGHTS_DIR if extractor == PRIMARY_EXTRACTOR else WEIGHTS_DIR / extractor


# --------------------------------------------------------------------------- registry

def train_command(dataset: str, extractor: str = PRIMARY_EXTRACTOR) -> str:
    """The command that (re)trains ``extractor``'s classifier of ``dataset`` (default recipe)."""
    arch = "" if extractor == PRIMARY_EXTRACTOR else f" --arch {extractor}"
    return f"OMP_NUM_THREADS=1 python {PROGRAM} --dataset {dataset}{arch}"


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


def _entry(dataset: str, weights_dir: str | Path | None,
           extractor: str = PRIMARY_EXTRACTOR) -> dict:
    dataset_info(dataset)  # unknown name -> DataError listing the allowed ones
    registry = read_registry(weights_folder(extractor, weights_dir))
    if dataset not in registry:
        trained = ", ".join(sorted(registry)) or "none"
        raise ClassifierWeightsError(
            f"no evaluation classifier ({extractor}) has been trained for dataset {dataset!r} "
            f"(trained: {trained}); train one with:\n  {train_command(dataset, extractor)}")
    return registry[dataset]


def classifier_sha256(dataset: str, weights_dir: str | Path | None = None, *,
                      extractor: str = PRIMARY_EXTRACTOR) -> str:
    """The registered SHA-256 of ``extractor``'s weights for ``dataset`` (what every metric
    logs; ``weights_dir``: that extractor's folder, default :func:`weights_folder`)."""
    return str(_entry(dataset, weights_dir, extractor)["sha256"])


def trained_datasets(weights_dir: str | Path | None = None, *,
                     extractor: str = PRIMARY_EXTRACTOR) -> list[str]:
    """The datasets that have a registered classifier of ``extractor``."""
    return sorted(read_registry(weights_folder(extractor, weights_dir)))


def verify_classifier(dataset: str, weights_dir: str | Path | None = None, *,
                      extractor: str = PRIMARY_EXTRACTOR) -> str:
    """Check, without building the network, that ``extractor``'s classifier of ``dataset``
    is registered, its weight file exists, matches the recorded SHA-256 and was trained for
    this architecture; returns the SHA-256. Runs call it before training, so a missing or
    tampered file is reported before a training budget is spent, not after."""
    folder = weights_folder(extractor, weights_dir)
    _check_weights(dataset, folder, extractor)
    return classifier_sha256(dataset, folder, extractor=extractor)


# --------------------------------------------------------------------------- loading

_CACHE: dict[tuple[str, str, str, str], ClassifierNet] = {}


def clear_cache() -> None:
    """Forget loaded networks (tests that swap weight files use it)."""
    _CACHE.clear()


def _check_weights(dataset: str, weights_dir: Path,
                   extractor: str = PRIMARY_EXTRACTOR) -> tuple[dict, Path]:
    entry = _entry(dataset, weights_dir, extractor)
    path = weights_dir / entry["file"]
    architecture = ARCHITECTURES[extractor][1]
    retrain = f"retrain it with:\n  {entry.get('command') or train_command(dataset, extractor)}"
    if not path.is_file():
        raise ClassifierWeightsError(f"classifier weights {path} for {dataset!r} are missing; "
                                     f"{retrain}")
    actual = file_sha256(path)
    if actual != entry["sha256"]:
        raise ClassifierWeightsError(
            f"classifier weights {path} have SHA-256 {actual}, but the registry records "
            f"{entry['sha256']}: the file was modified or replaced; restore it or {retrain}")
    if entry.get("architecture") != architecture:
        raise ClassifierWeightsError(f"{path} was trained as architecture "
                                     f"{entry.get('architecture')!r}, this code builds "
                                     f"{architecture!r}; {retrain}")
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


def _load_checked(dataset: str, weights_dir: Path, device: torch.device,
                  extractor: str) -> ClassifierNet:
    entry, path = _check_weights(dataset, weights_dir, extractor)
    net = build_net(extractor, dataset, int(entry["feature_dim"]))
    # weights_only=True: a state_dict is plain tensors; never unpickle arbitrary objects.
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return inference_net(net.to(device)).requires_grad_(False)


def classifier(dataset: str, device: str | torch.device = "cpu",
               weights_dir: str | Path | None = None, *,
               extractor: str = PRIMARY_EXTRACTOR) -> ClassifierNet:
    """The fixed evaluation classifier of ``dataset`` (``extractor``: default the primary),
    in eval mode, on ``device``.

    The weight file's SHA-256 is checked against ``registry.json`` on first load; a
    missing file, a mismatch or an untrained dataset raise ``ClassifierWeightsError``
    that gives the command to (re)train. The network is cached per
    ``(extractor, dataset, device, weights_dir)`` and shared: do not train or modify it. It
    is the :func:`inference_net` form (batch norms folded): for embedding, not for training.
    """
    folder = weights_folder(extractor, weights_dir)
    device = torch.device(device)
    key = (extractor, dataset, str(device), str(folder))
    if key not in _CACHE:
        _CACHE[key] = _load_checked(dataset, folder, device, extractor)
    return _CACHE[key]
