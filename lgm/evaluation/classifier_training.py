"""Training and registering the fixed evaluation classifier of one dataset (library code;
the program is ``scripts/train_classifier.py``)::

    OMP_NUM_THREADS=1 python scripts/train_classifier.py --dataset fashion_mnist \
        [--arch cnn|mlp] [--epochs N] [--seed S] [--out lgm/evaluation/weights]

``--arch`` names the extractor whose network is trained (``lgm.evaluation.registry.EXTRACTORS``;
default the primary); ``--out`` defaults to that extractor's weights folder.

Recipe: AdamW (Loshchilov & Hutter 2019) with a one-cycle learning-rate schedule (Smith &
Topin 2017), batch 128, cross-entropy without label smoothing (smoothing would cap the
confidence that the Inception Score measures), augmentation by random shifts (zero-pad 2
px, random 28×28 crop), horizontal flips only where the classes are mirror-symmetric
(clothes, CIFAR-10; never digits), and light random erasing. Seeded end to end: batches
come from ``lgm.data.BatchStream`` (a pure function of ``(seed, step)``) and augmentation
from a ``torch.Generator`` seeded from ``seed``.

``register`` writes ``<out>/<dataset>.pt`` (float32 state_dict) and updates
``<out>/registry.json`` with the file, SHA-256, architecture, feature width, test accuracy,
epochs, seed and the exact command; nothing here writes anywhere unless called.
"""

from __future__ import annotations

import io
import json
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lgm.data import DATASETS, BatchStream, load_dataset, scale
from lgm.evaluation.classifiers import (ARCHITECTURES, FEATURE_DIM, PROGRAM, REGISTRY_NAME,
                                        ClassifierNet, build_net, file_sha256)
from lgm.evaluation.registry import PRIMARY_EXTRACTOR, check_extractor

__all__ = ["TrainConfig", "augment", "train", "accuracy", "register", "canonical_command",
           "FLIP_SAFE"]

# Classes unchanged by a left-right mirror image; digits are not (a flipped 2 is no 2).
FLIP_SAFE = {"fashion_mnist": True, "cifar10": True, "mnist": False, "svhn": False}


@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    epochs: int = 8
    seed: int = 0
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    shift: int = 2
    erase_prob: float = 0.25
    arch: str = PRIMARY_EXTRACTOR  # the extractor whose architecture is trained

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; allowed: {', '.join(DATASETS)}")
        check_extractor(self.arch)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.shift < 0:
            raise ValueError(f"need lr > 0, weight_decay >= 0, shift >= 0; got lr={self.lr}, "
                             f"weight_decay={self.weight_decay}, shift={self.shift}")
        if not 0.0 <= self.erase_prob <= 1.0:
            raise ValueError(f"erase_prob must be in [0, 1], got {self.erase_prob}")


# --------------------------------------------------------------------------- augmentation

def random_shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back at a per-image random offset in ``[0, 2 pad]``.

    Vectorised with advanced indexing: row ``i`` of image ``n`` is padded row
    ``oy[n] + i`` (likewise columns), so no Python loop over images.
    """
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # n×h×1
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # n×1×w
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=gen, device=gen.device) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_erase(x: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Zero one random rectangle (side 1/4..1/2 of the image) in a ``prob`` share of images
    (Zhong et al. 2020, "Random Erasing Data Augmentation"), vectorised with masks."""
    if prob == 0.0:
        return x
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=gen, device=gen.device).to(x.device)
    eh = (h * (0.25 + 0.25 * u[:, 0])).long()
    ew = (w * (0.25 + 0.25 * u[:, 1])).long()
    y0 = ((h - eh + 1) * u[:, 2]).long()
    x0 = ((w - ew + 1) * u[:, 3]).long()
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys[None] >= y0[:, None]) & (ys[None] < (y0 + eh)[:, None])  # n×h
    in_cols = (xs[None] >= x0[:, None]) & (xs[None] < (x0 + ew)[:, None])  # n×w
    mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[:, 4] < prob)[:, None, None]
    return x.masked_fill(mask[:, None], 0.0)


def augment(x: torch.Tensor, config: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    x = random_shift(x, config.shift, gen)
    if FLIP_SAFE[config.dataset]:
        x = random_flip(x, gen)
    return random_erase(x, config.erase_prob, gen)


# --------------------------------------------------------------------------- training

@torch.inference_mode()
def accuracy(net: ClassifierNet, dataset, device: torch.device,
             batch_size: int = 1000) -> float:
    """Share of ``dataset`` (an ``ImageDataset``) classified correctly, net in eval mode."""
    was_training = net.training
    net.eval()
    correct = 0
    for start in range(0, len(dataset), batch_size):
        x = scale(dataset.images[start:start + batch_size].to(device), "zero_one")
        y = dataset.labels[start:start + batch_size].to(device)
        correct += int((net(x).argmax(1) == y).sum())
    net.train(was_training)
    return correct / len(dataset)


def train(config: TrainConfig, device: torch.device) -> tuple[ClassifierNet, float]:
    """Train from scratch; returns the net (eval mode, on ``device``) and its test accuracy."""
    torch.manual_seed(config.seed)  # weight init
    train_set = load_dataset(config.dataset, "train")
    test_set = load_dataset(config.dataset, "test")
    stream = BatchStream(train_set, config.batch_size, "zero_one", device=device, seed=config.seed)
    net = build_net(config.arch, config.dataset, FEATURE_DIM).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * stream.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total)
    gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    net.train()
    bar = tqdm(range(total), desc=f"classifier {config.dataset}", disable=None)
    for step in bar:
        x, y = stream.batch(step)
        loss = F.cross_entropy(net(augment(x, config, gen)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=step // stream.steps_per_epoch)
        if (step + 1) % stream.steps_per_epoch == 0:
            epoch = (step + 1) // stream.steps_per_epoch
            acc = accuracy(net, test_set, device)
            tqdm.write(f"epoch {epoch}/{config.epochs}: loss {loss.item():.4f}, "
                       f"test accuracy {acc:.4%}")
    net.eval()
    return net, accuracy(net, test_set, device)


# --------------------------------------------------------------------------- registry

def canonical_command(config: TrainConfig) -> str:
    """Every hyper-parameter spelled out, so the command reproduces the weights even if
    the defaults change (``--arch`` only for a non-primary extractor: the primary's recorded
    commands predate the option)."""
    args = [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in asdict(config).items()
            if not (k == "arch" and v == PRIMARY_EXTRACTOR)]
    return f"OMP_NUM_THREADS=1 python {PROGRAM} " + " ".join(args)


def state_dict_bytes(state: dict) -> bytes:
    """``torch.save`` into memory. Saving to a path would name the zip archive's root
    folder after the file (a temporary name with a pid), so the same tensors would hash
    differently; in memory the root is always ``archive``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _recorded_config(config: TrainConfig) -> dict:
    """The config as registry.json records it (``arch`` only for a non-primary extractor,
    so the primary's entries keep their recorded form)."""
    return {k: v for k, v in asdict(config).items() if not (k == "arch" and v == PRIMARY_EXTRACTOR)}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic on POSIX: readers see the old or the new file, never half


def register(net: ClassifierNet, config: TrainConfig, test_acc: float, out: Path,
             seconds: float) -> dict:
    """Save the float32 state_dict and update ``registry.json``; returns the new entry."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{config.dataset}.pt"
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.cpu()
             for k, v in net.state_dict().items()}
    _atomic_write(weights, state_dict_bytes(state))
    entry = {
        "file": weights.name, "sha256": file_sha256(weights),
        "architecture": ARCHITECTURES[config.arch][1],
        "feature_dim": net.feature_dim, "num_classes": net.num_classes,
        "in_channels": net.in_channels, "test_accuracy": round(test_acc, 6),
        "epochs": config.epochs, "seed": config.seed, "command": canonical_command(config),
        "config": _recorded_config(config), "device": str(next(net.parameters()).device),
        "torch": torch.__version__, "train_seconds": round(seconds),
    }
    registry_path = out / REGISTRY_NAME
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    registry[config.dataset] = entry
    _atomic_write(registry_path, (json.dumps(registry, indent=2, sort_keys=True) + "\n").encode())
    return entry
