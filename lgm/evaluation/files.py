"""Sample sets from files and arrays, checked and converted to what the classifier takes.

What ``python -m lgm.evaluation`` (and ``lgm.evaluation.scoring``) accept as a sample set:

- a folder of PNG/JPEG images, searched recursively, read in the order of their sorted
  relative paths (that is the order ``--labels`` must follow);
- a ``.npy`` array, a ``.npz`` archive (the ``images`` array, or its only array; labels
  from its ``labels`` array when that is non-empty) or a ``.pt`` file (a tensor, or a dict
  with ``images`` and optionally ``labels``, read with ``torch.load(weights_only=True)``);
- a numpy array or torch tensor in memory (``as_images``).

Arrays may be ``N×H×W``, ``N×H×W×C`` or ``N×C×H×W`` (told apart by where the dataset's
``H×W`` sits; the layout found is reported), ``uint8`` (or any integer type) with levels
0–255, or float in [0, 1]. Channels are converted explicitly: RGB whose channels are equal
(or within ``GREY_TOLERANCE``, as JPEG's chroma rounding leaves them) becomes grey for a
grey-scale classifier; real colour is refused, never silently averaged. Images are never
resized: a resized image gives another number. Every refusal is a :class:`SampleInputError`
saying what was found and what is allowed, raised before any embedding work.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lgm.evaluation.features import RANGE_TOLERANCE

__all__ = ["SampleInputError", "SampleSet", "IMAGE_SUFFIXES", "ARRAY_SUFFIXES", "TENSOR_SUFFIXES",
           "LABEL_SUFFIXES", "GREY_TOLERANCE", "as_images", "read_folder", "read_array_file",
           "read_samples", "read_labels", "check_labels", "image_files", "load_npz"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_SUFFIXES = (".npy", ".npz")
TENSOR_SUFFIXES = (".pt", ".pth")
LABEL_SUFFIXES = (".npy", ".txt", ".csv")
# Largest channel difference (in [0, 1] units) still read as grey: 3 of 255 levels covers the
# chroma rounding of an RGB JPEG of a grey image; real colour differs by tens of levels.
GREY_TOLERANCE = 3 / 255
# ITU-R BT.601 luma, the weights of Pillow's convert("L"), for near-grey RGB.
LUMA = (0.299, 0.587, 0.114)
# Pillow mode -> the mode it is read in (palettes expand to RGBA: they may hold transparency).
_PIL_MODES = {"1": "L", "L": "L", "P": "RGBA", "RGB": "RGB", "RGBA": "RGBA", "LA": "LA"}
_SHOWN = 5  # files named in one error message


class SampleInputError(ValueError):
    """Input a sample set cannot be scored from; the message says what was found and what
    is allowed."""


@dataclass(frozen=True)
class SampleSet:
    """Images ready for the classifier: float32 N×C×H×W in [0, 1], with optional labels."""

    images: torch.Tensor
    labels: torch.Tensor | None
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)  # what was found and converted

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _names(paths) -> str:
    shown = ", ".join(str(p) for p in paths[:_SHOWN])
    return shown + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")


# --------------------------------------------------------------------------- arrays

def _layout(shape: tuple, hw: tuple[int, int], name: str) -> str:
    """``"NHW"``, ``"NHWC"`` or ``"NCHW"`` for an array of ``shape`` holding ``hw`` images."""
    allowed = (f"N×{hw[0]}×{hw[1]}, N×{hw[0]}×{hw[1]}×C or N×C×{hw[0]}×{hw[1]} "
               f"with C = 1 (grey) or 3 (RGB)")
    if len(shape) == 3 and tuple(shape[1:]) == hw:
        return "NHW"
    if len(shape) == 4:
        if tuple(shape[2:]) == hw and shape[1] in (1, 3):
            return "NCHW"
        if tuple(shape[1:3]) == hw and shape[3] in (1, 3):
            return "NHWC"
        channels = shape[1] if tuple(shape[2:]) == hw else shape[3] if tuple(shape[1:3]) == hw else None
        if channels == 4 or channels == 2:
            raise SampleInputError(f"{name}: shape {tuple(shape)} has an alpha channel "
                                   f"({channels} channels); drop or flatten it first. "
                                   f"Allowed: {allowed}")
    if len(shape) == 2 and shape[1] == hw[0] * hw[1]:
        raise SampleInputError(f"{name}: shape {tuple(shape)} holds flattened images; reshape "
                               f"to N×{hw[0]}×{hw[1]}. Allowed: {allowed}")
    raise SampleInputError(f"{name}: shape {tuple(shape)} is not a batch of {hw[0]}×{hw[1]} "
                           f"images (images are never resized: another size gives another "
                           f"number). Allowed: {allowed}")


def _to_unit(a: np.ndarray, name: str) -> tuple[np.ndarray, str]:
    """float32 values in [0, 1] from 8-bit levels or floats, or a refusal with a hint."""
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise SampleInputError(f"{name}: dtype {a.dtype} is not image data; allowed: uint8 "
                               f"(or integer) levels 0–255, or float in [0, 1]")
    if a.size == 0:
        raise SampleInputError(f"{name}: no images (shape {tuple(a.shape)})")
    lo, hi = a.min(), a.max()
    if np.issubdtype(a.dtype, np.integer):
        if lo < 0 or hi > 255:
            raise SampleInputError(f"{name}: integer values must be 8-bit levels 0–255, found "
                                   f"{lo}..{hi}")
        return a.astype(np.float32) / np.float32(255.0), f"{a.dtype} levels 0–255 scaled by 1/255"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise SampleInputError(f"{name}: values contain NaN or inf")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = ("they look like 0–255 levels stored as floats: divide by 255 or store uint8"
                if lo >= 0 and hi <= 255 else
                "they look like [-1, 1]: map them with (x + 1) / 2" if lo >= -1 - RANGE_TOLERANCE
                and hi <= 1 + RANGE_TOLERANCE else "rescale them to [0, 1]")
        raise SampleInputError(f"{name}: float values must lie in [0, 1], found "
                               f"[{lo:.4g}, {hi:.4g}]; {hint}")
    return a.astype(np.float32, copy=False), f"float values in [0, 1] ({a.dtype})"


def _channels(x: np.ndarray, channels: int, name: str) -> tuple[np.ndarray, str | None]:
    """N×C×H×W float → N×channels×H×W; grey RGB taken as grey, colour refused."""
    have = x.shape[1]
    if have == channels:
        return x, None
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=1), "grey images repeated into 3 channels"
    if have == 3 and channels == 1:
        spread = np.maximum(np.abs(x[:, 0] - x[:, 1]), np.abs(x[:, 1] - x[:, 2]))
        worst = float(spread.max())
        if worst == 0.0:
            return np.ascontiguousarray(x[:, :1]), "RGB with equal channels, read as grey"
        if worst <= GREY_TOLERANCE + 1e-6:
            luma = sum(np.float32(w) * x[:, c] for c, w in enumerate(LUMA))
            return np.clip(luma, 0.0, 1.0)[:, None], (f"near-grey RGB (channels differ by at "
                                                        f"most {worst * 255:.1f}/255), converted "
                                                        f"with BT.601 luma")
        coloured = int((spread.reshape(len(x), -1).max(axis=1) > GREY_TOLERANCE).sum())
        raise SampleInputError(
            f"{name}: colour images (channels differ by up to {worst * 255:.0f}/255 in "
            f"{coloured} of {len(x)} images); this dataset's classifier takes grey-scale "
            f"images (1 channel). Grey images stored as RGB (equal channels, or within "
            f"{GREY_TOLERANCE * 255:.0f}/255) are accepted; convert colour to grey yourself "
            f"only if that is what you mean")
    raise SampleInputError(f"{name}: {have} channels, the classifier takes {channels}")


def as_images(array, shape: tuple[int, int, int], name: str = "images") -> tuple[torch.Tensor, list[str]]:
    """``(float32 N×C×H×W tensor in [0, 1], notes)`` from a numpy array or torch tensor in
    any accepted layout and value convention (module docstring); ``shape`` is the dataset's
    ``(C, H, W)``. float32 input in [0, 1] in N×C×H×W passes through bit for bit."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray):
        raise SampleInputError(f"{name}: expected an array or tensor, got {type(array).__name__}")
    channels, h, w = shape
    layout = _layout(array.shape, (h, w), name)
    x, values = _to_unit(array, name)
    if layout == "NHW":
        x = x[:, None]
    elif layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    x, converted = _channels(x, channels, name)
    notes = [f"layout {'N×H×W' if layout == 'NHW' else 'N×H×W×C' if layout == 'NHWC' else 'N×C×H×W'} "
             f"{tuple(array.shape)}", values] + ([converted] if converted else [])
    # Standard strides, always: an N×1×H×W array made with x[:, None] has channel stride 1,
    # which PyTorch also reads as channels_last and convolves with other kernels, so the
    # features would differ from evaluate's in the last bits (and files would not reproduce
    # a run's numbers exactly). A fresh tensor and copy_ give the canonical layout.
    out = torch.empty(x.shape, dtype=torch.float32)
    out.copy_(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return out, notes


# --------------------------------------------------------------------------- files

def image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files under ``folder`` (recursively, any case of suffix), sorted by their
    relative path."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _read_image(path: Path) -> np.ndarray:
    """One image as H×W (grey) or H×W×3 uint8; an alpha channel must be fully opaque."""
    from PIL import Image  # Pillow: a matplotlib dependency, pinned in requirements.txt

    with Image.open(path) as image:
        image.load()
        if image.mode not in _PIL_MODES:
            raise SampleInputError(f"{path}: image mode {image.mode!r} is not supported; allowed: "
                                   f"{', '.join(_PIL_MODES)}")
        target = _PIL_MODES[image.mode]
        a = np.asarray(image.convert(target) if target != image.mode else image)
    if target in ("RGBA", "LA"):
        if a[..., -1].min() < 255:
            raise SampleInputError(f"{path}: has transparent pixels (alpha < 255); flatten it "
                                   f"onto a background first")
        a = a[..., :-1]
        a = a[..., 0] if target == "LA" else a
    return a


def read_folder(folder: str | Path, shape: tuple[int, int, int],
                progress: bool | None = None) -> SampleSet:
    """Every PNG/JPEG under ``folder`` (see :func:`image_files`); all must be readable and of
    the dataset's size, else one error names the files."""
    folder = Path(folder)
    files = image_files(folder)
    if not files:
        raise SampleInputError(f"{folder}: no images found (searched recursively for "
                               f"{', '.join(IMAGE_SUFFIXES)})")
    arrays, unreadable, refused = [], [], []
    for path in tqdm(files, desc="reading", disable=None if progress is None else not progress):
        try:
            arrays.append(_read_image(path))
        except SampleInputError as err:
            refused.append(str(err))
        except (OSError, ValueError, SyntaxError, EOFError) as err:  # PIL's decode errors
            unreadable.append(f"{path.relative_to(folder)} ({type(err).__name__}: {err})")
    if unreadable:
        raise SampleInputError(f"{folder}: {len(unreadable)} of {len(files)} files cannot be read "
                               f"as images: {_names(unreadable)}")
    if refused:
        raise SampleInputError(f"{folder}: {len(refused)} of {len(files)} images refused: "
                               f"{_names(refused)}")
    _, h, w = shape
    wrong = [f"{p.relative_to(folder)} is {a.shape[1]}×{a.shape[0]}"
             for p, a in zip(files, arrays) if a.shape[:2] != (h, w)]
    if wrong:
        raise SampleInputError(f"{folder}: {len(wrong)} of {len(files)} images are not {w}×{h} "
                               f"(images are never resized): {_names(wrong)}")
    grey = [a if a.ndim == 3 else a[..., None] for a in arrays]
    if len({a.shape[-1] for a in grey}) > 1:  # mixed grey and RGB files: RGB for all
        grey = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in grey]
    images, notes = as_images(np.stack(grey), shape, name=str(folder))
    return SampleSet(images, None, str(folder), (f"{len(files)} image files", *notes[1:]))


def load_npz(path: Path) -> dict:
    """Every array of an ``.npz`` (``allow_pickle=False``: never unpickle objects)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise SampleInputError(f"{path}: cannot be read as .npz ({type(err).__name__}: {err})") from None


def _arrays_of(path: Path) -> dict:
    """The arrays of an array or tensor file as a dict (a bare array under ``images``)."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".npy":
        try:
            return {"images": np.load(path, allow_pickle=False)}
        except (OSError, ValueError, EOFError) as err:
            raise SampleInputError(f"{path}: cannot be read as .npy ({type(err).__name__}: "
                                   f"{err})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise SampleInputError(f"{path}: cannot be read with torch.load(weights_only=True) "
                               f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
    if isinstance(obj, torch.Tensor):
        return {"images": obj}
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    raise SampleInputError(f"{path}: holds {type(obj).__name__}; allowed: a tensor, or a dict "
                           f"of tensors with 'images' (and optionally 'labels')")


def read_array_file(path: str | Path, shape: tuple[int, int, int],
                    arrays: dict | None = None) -> SampleSet:
    """A ``.npy``/``.npz``/``.pt`` sample set (module docstring); ``arrays``: the file's
    contents when already loaded."""
    path = Path(path)
    arrays = _arrays_of(path) if arrays is None else arrays
    if "images" in arrays:
        key = "images"
    else:
        candidates = [k for k in arrays if k != "labels"]
        if len(candidates) != 1:
            raise SampleInputError(f"{path}: holds arrays {sorted(arrays)}; name the images "
                                   f"'images' (labels, if any, 'labels')")
        key = candidates[0]
    images, notes = as_images(arrays[key], shape, name=f"{path} [{key}]")
    labels = arrays.get("labels")
    labels = None if labels is None or np.size(labels) == 0 else _integer_labels(labels, f"{path} [labels]")
    return SampleSet(images, labels, str(path), tuple(notes))


def read_samples(path: str | Path, shape: tuple[int, int, int],
                 progress: bool | None = None) -> SampleSet:
    """A sample set from a folder or an array/tensor file."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, shape, progress)
    if not path.exists():
        raise SampleInputError(f"{path}: no such file or folder")
    if path.suffix.lower() in ARRAY_SUFFIXES + TENSOR_SUFFIXES:
        return read_array_file(path, shape)
    raise SampleInputError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; allowed: "
                           f"a folder of {'/'.join(IMAGE_SUFFIXES)} images, "
                           f"{', '.join(ARRAY_SUFFIXES + TENSOR_SUFFIXES)} arrays, or a "
                           f"statistics .npz from 'python -m lgm.evaluation stats'")


# --------------------------------------------------------------------------- labels

def _integer_labels(values, name: str) -> torch.Tensor:
    a = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if a.ndim != 1:
        raise SampleInputError(f"{name}: labels must be one class index per sample (1-D), got "
                               f"shape {a.shape}")
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise SampleInputError(f"{name}: labels must be integers, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise SampleInputError(f"{name}: labels must be whole numbers")
    return torch.from_numpy(a.astype(np.int64))


def read_labels(path: str | Path) -> torch.Tensor:
    """Labels from ``.npy`` (1-D integers), ``.txt`` (whitespace-separated integers) or
    ``.csv`` (one row per sample, the label in the last column; a header row is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise SampleInputError(f"{path}: no such labels file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise SampleInputError(f"{path}: cannot be read as .npy ({err})") from None
        return _integer_labels(values, str(path))
    if suffix not in LABEL_SUFFIXES:
        raise SampleInputError(f"{path}: unsupported labels file; allowed: {', '.join(LABEL_SUFFIXES)}")
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix == ".txt":
        tokens = text.split()
    else:
        rows = [line.split(",")[-1].strip() for line in text.splitlines() if line.strip()]
        tokens = rows[1:] if rows and not rows[0].lstrip("-").isdigit() else rows
    bad = [t for t in tokens if not t.lstrip("-").isdigit()]
    if bad:
        raise SampleInputError(f"{path}: labels must be integers, found {_names(bad)}")
    return torch.tensor([int(t) for t in tokens], dtype=torch.int64)


def check_labels(labels: torch.Tensor, num_samples: int, num_classes: int, source: str) -> torch.Tensor:
    """``labels`` if there is one per sample and each is a class index ``0..num_classes-1``."""
    labels = _integer_labels(labels, source)
    if len(labels) != num_samples:
        raise SampleInputError(f"{source}: {len(labels)} labels for {num_samples} samples; "
                               f"give exactly one label per sample, in the samples' order")
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if len(outside):
        raise SampleInputError(f"{source}: labels must be classes 0..{num_classes - 1}, found "
                               f"{len(outside)} outside (e.g. {int(outside[0])})")
    return labels
