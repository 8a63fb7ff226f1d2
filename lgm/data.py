"""Datasets as in-memory uint8 tensors, and seeded, step-indexed batching on the device.

Images live once in memory as ``uint8`` (N×C×H×W); each batch is gathered, cast and
scaled on the fly on the target device. That is both faster than a ``DataLoader`` of
``ToTensor`` transforms (no per-image Python work, see ``benchmarks/data_pipeline.py``)
and makes exact resume trivial: the batch of global step ``s`` is a pure function of
``(seed, s)``, so a resumed run needs no loader state at all.

Where files are looked for, in order (the first that has the files wins):

1. an explicit ``data_dir`` argument, else the ``LGM_DATA_DIR`` environment variable:
   a root holding one folder per dataset (``mnist/``, ``fashion_mnist/``, ...);
2. known local copies: Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist``) and the project's ``../shared/data``;
3. torchvision's download into ``~/.cache/lgm`` (``LGM_CACHE_DIR``), when the network allows.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DatasetInfo", "ImageDataset", "DataError", "DATASETS", "SCALINGS", "SPLITS",
    "load_dataset", "dataset_info", "scale", "to_unit", "BatchStream",
]

SPLITS = ("train", "test")
# Named value ranges of the float images a model sees. One name per concept: the same
# strings are the `scaling` config key, the W&B config value and the report's column.
SCALINGS = {"zero_one": (0.0, 1.0), "minus_one_one": (-1.0, 1.0)}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
DIGITS = tuple(str(i) for i in range(10))


class DataError(RuntimeError):
    """Data could not be found or read; the message says where we looked and what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, int, int]  # C, H, W
    num_classes: int
    class_names: tuple[str, ...]
    sizes: dict  # split -> number of examples, to check files against

    @property
    def num_pixels(self) -> int:
        c, h, w = self.shape
        return c * h * w


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10, DIGITS, {"train": 60000, "test": 10000}),
    "fashion_mnist": DatasetInfo("fashion_mnist", (1, 28, 28), 10, FASHION_CLASSES,
                                 {"train": 60000, "test": 10000}),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10, CIFAR10_CLASSES,
                           {"train": 50000, "test": 10000}),
    "svhn": DatasetInfo("svhn", (3, 32, 32), 10, DIGITS, {"train": 73257, "test": 26032}),
}

_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_REPO_ROOT = Path(__file__).resolve().parents[1]
_KNOWN_COPIES = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist"),
                      _REPO_ROOT.parent / "shared" / "data" / "fashion_mnist"],
    "mnist": [_REPO_ROOT.parent / "shared" / "data" / "mnist"],
}
_HOW_TO_GET = {
    "fashion_mnist": "install Debian's package (apt-get install -y dataset-fashion-mnist), or put "
                     "the four *-ubyte.gz files in <root>/fashion_mnist/ and set LGM_DATA_DIR=<root>",
    "mnist": "put the four original *-ubyte.gz files in <root>/mnist/ and set LGM_DATA_DIR=<root>",
    "cifar10": "put torchvision's cifar-10-batches-py/ in <root>/cifar10/ and set LGM_DATA_DIR=<root>",
    "svhn": "put train_32x32.mat / test_32x32.mat in <root>/svhn/ and set LGM_DATA_DIR=<root>",
}


@dataclass
class ImageDataset:
    """A whole split in memory: ``images`` uint8 N×C×H×W, ``labels`` int64 N."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    split: str
    source: str  # where the files came from, for provenance in logs and reports

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, n: int, seed: int = 0) -> "ImageDataset":
        """A seeded random subset of ``n`` examples (all of them if ``n >= len``)."""
        if n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return ImageDataset(self.images[idx], self.labels[idx], self.info, self.split, self.source)


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return DATASETS[name]


# --------------------------------------------------------------------------- IDX files

def _open_maybe_gz(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err} (the file is corrupt or truncated; "
                        f"replace it with the original)") from err


def _parse_idx(raw: bytes, path: Path, expect_dims: int) -> np.ndarray:
    """Parse an IDX file (big-endian header: magic 0x0000 08 <ndim>, then ndim uint32 sizes)."""
    if len(raw) < 4 or raw[0:3] != b"\x00\x00\x08" or raw[3] != expect_dims:
        raise DataError(f"{path} is not an IDX file of {expect_dims} dimension(s) of uint8 "
                        f"(bad magic number {raw[:4].hex() or 'empty'})")
    header = 4 + 4 * expect_dims
    if len(raw) < header:
        raise DataError(f"{path} is truncated: {len(raw)} bytes, shorter than its header")
    dims = struct.unpack(">" + "I" * expect_dims, raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupt: {len(raw)} bytes where its header "
                        f"{dims} promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem, folder / "raw" / f"{stem}.gz",
                      folder / "raw" / stem):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_split(folder: Path, info: DatasetInfo, split: str):
    image_stem, label_stem = _IDX_FILES[split]
    image_path, label_path = _idx_path(folder, image_stem), _idx_path(folder, label_stem)
    if image_path is None or label_path is None:
        return None
    images = _parse_idx(_open_maybe_gz(image_path), image_path, 3)
    labels = _parse_idx(_open_maybe_gz(label_path), label_path, 1)
    n = info.sizes[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DataError(f"{folder}: expected {n} images of 28x28 and {n} labels for the "
                        f"{split} split, found images {images.shape} and labels {labels.shape}")
    if labels.max() >= info.num_classes:
        raise DataError(f"{label_path}: label {labels.max()} out of range 0..{info.num_classes - 1}")
    return (torch.from_numpy(images.copy()).unsqueeze(1),
            torch.from_numpy(labels.astype(np.int64)))


# --------------------------------------------------------------------------- torchvision

def _load_torchvision(name: str, folder: Path, split: str, download: bool):
    import torchvision  # local: only the 3-channel sets and downloads need it

    train = split == "train"
    if name == "cifar10":
        ds = torchvision.datasets.CIFAR10(str(folder), train=train, download=download)
        images, labels = torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)
    elif name == "svhn":
        ds = torchvision.datasets.SVHN(str(folder), split=split, download=download)
        images, labels = torch.from_numpy(ds.data), torch.from_numpy(ds.labels)
    else:
        cls = {"mnist": torchvision.datasets.MNIST,
               "fashion_mnist": torchvision.datasets.FashionMNIST}[name]
        ds = cls(str(folder), train=train, download=download)
        images, labels = ds.data.unsqueeze(1), ds.targets
    return images.contiguous(), labels.long()


def _candidates(name: str, data_dir) -> list[tuple[str, Path]]:
    out = []
    if data_dir is not None:
        out.append(("data_dir argument", Path(data_dir) / name))
    elif os.environ.get("LGM_DATA_DIR"):
        out.append(("LGM_DATA_DIR", Path(os.environ["LGM_DATA_DIR"]) / name))
    out += [("known local copy", p) for p in _KNOWN_COPIES.get(name, [])]
    return out


def _cache_dir(name: str) -> Path:
    root = os.environ.get("LGM_CACHE_DIR", Path.home() / ".cache" / "lgm")
    return Path(root) / name


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> ImageDataset:
    """Load a whole split into memory as uint8 images and int64 labels.

    Raises ``DataError`` naming every place looked at (and how to get the data) when no
    source has it, and a specific ``DataError`` for corrupt or truncated files.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    looked = []
    for how, folder in _candidates(name, data_dir):
        if name in ("mnist", "fashion_mnist"):
            loaded = _load_idx_split(folder, info, split)
        elif folder.is_dir():
            loaded = _try_torchvision(name, folder, split, download=False, looked=looked, how=how)
        else:
            loaded = None
        if loaded is not None:
            return ImageDataset(*loaded, info=info, split=split, source=str(folder))
        looked.append(f"{folder} ({how}): no files")
    if download:
        cache = _cache_dir(name)
        loaded = _try_torchvision(name, cache, split, download=True, looked=looked,
                                  how="torchvision download")
        if loaded is not None:
            return ImageDataset(*loaded, info=info, split=split, source=str(cache))
    places = "\n  - ".join(looked)
    raise DataError(f"dataset {name!r} ({split}) not found. Looked at:\n  - {places}\n"
                    f"To get it: {_HOW_TO_GET[name]}.")


def _try_torchvision(name, folder, split, download, looked, how):
    try:
        return _load_torchvision(name, folder, split, download)
    except (RuntimeError, OSError, ValueError) as err:  # offline, missing or bad files
        looked.append(f"{folder} ({how}): {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        return None


# --------------------------------------------------------------------------- batching

def scale(images_uint8: torch.Tensor, scaling: str, noise: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images → float in the named range.

    With ``noise`` (uniform in [0, 1), same shape) the result is the dequantized
    ``(x + u) / 256``, a continuous density's proper input (Theis et al. 2016); without it,
    ``x / 255`` so that 0 and 255 map exactly onto the range's ends.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; allowed: {', '.join(SCALINGS)}")
    x = images_uint8.float()
    x = (x + noise) / 256.0 if noise is not None else x / 255.0
    return x * 2.0 - 1.0 if scaling == "minus_one_one" else x


def to_unit(x: torch.Tensor, scaling: str) -> torch.Tensor:
    """Map images in the named range back to [0, 1] (clamped), evaluation's one convention."""
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; allowed: {', '.join(SCALINGS)}")
    if scaling == "minus_one_one":
        x = (x + 1.0) / 2.0
    return x.clamp(0.0, 1.0)


class BatchStream:
    """Shuffled batches of one split, on ``device``, as a pure function of ``(seed, step)``.

    Step ``s`` belongs to epoch ``s // steps_per_epoch``; each epoch's permutation comes
    from a generator seeded with ``(seed, epoch)``, and dequantization noise from one seeded
    with ``(seed, step)``. So ``stream.batch(s)`` is the same whether or not the run was
    stopped and resumed, with no loader state to checkpoint. The last partial batch of an
    epoch is dropped so that every step sees ``batch_size`` examples.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, scaling: str = "zero_one",
                 device: str | torch.device = "cpu", seed: int = 0, dequantize: bool = False,
                 with_labels: bool = True):
        if scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {scaling!r}; allowed: {', '.join(SCALINGS)}")
        if not 1 <= batch_size <= len(dataset):
            raise ValueError(f"batch_size must be in 1..{len(dataset)}, got {batch_size}")
        self.device = torch.device(device)
        self.images = dataset.images.to(self.device)
        self.labels = dataset.labels.to(self.device)
        self.info = dataset.info
        self.batch_size, self.scaling, self.seed = batch_size, scaling, seed
        self.dequantize, self.with_labels = dequantize, with_labels
        self.steps_per_epoch = len(dataset) // batch_size
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=g).to(self.device)
            self._epoch = epoch
        return self._perm

    def batch(self, step: int):
        """The batch of global step ``step``: images, or ``(images, labels)``."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        idx = self._permutation(epoch)[pos * self.batch_size:(pos + 1) * self.batch_size]
        raw = self.images[idx]
        noise = None
        if self.dequantize:
            g = torch.Generator(device=self.device).manual_seed(self.seed * 7_919 + step + 1)
            noise = torch.rand(raw.shape, generator=g, device=self.device)
        x = scale(raw, self.scaling, noise)
        return (x, self.labels[idx]) if self.with_labels else x

    def epoch(self, epoch: int):
        """Iterate over the batches of one epoch."""
        start = epoch * self.steps_per_epoch
        for step in range(start, start + self.steps_per_epoch):
            yield self.batch(step)
