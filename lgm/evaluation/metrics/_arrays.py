"""Input conversion, argument checks and the small result type shared by the metrics.

Every metric takes numpy arrays or torch tensors (on any device, any float or integer
dtype) and converts them *once*, here, to C-contiguous float64 numpy arrays on the host.
float64 matters: covariance traces, kernel sums and squared-distance expansions all lose
digits to cancellation in float32 (FID of two close distributions is a small difference
of large traces).
"""

from __future__ import annotations

import numbers
import sys
from typing import NamedTuple

import numpy as np

__all__ = ["ScoreWithStd", "as_float64", "as_features", "check_int", "check_same_dim"]


class ScoreWithStd(NamedTuple):
    """A metric's mean over splits/subsets and its (population, ddof=0) standard deviation."""

    mean: float
    std: float


def as_float64(x, name: str, ndim: int) -> np.ndarray:
    """``x`` (numpy array, torch tensor or nested sequence) as a finite float64 array.

    Raises ``TypeError`` for unsupported types and ``ValueError`` for a wrong number of
    dimensions, an empty array or non-finite entries, naming ``name`` and what was found.
    """
    # torch is looked up, not imported: a tensor can only exist once torch is loaded, and
    # the metrics stay importable (by the analysis) without it.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        # detach + to(cpu, float64) in one step: works for CUDA tensors and those that
        # require grad, and never aliases the caller's storage.
        arr = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    elif isinstance(x, (np.ndarray, list, tuple)) or np.isscalar(x):
        arr = np.asarray(x)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor, "
                        f"got {type(x).__name__}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(arr.shape)})")
    bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite (NaN or inf) value(s)")
    return np.ascontiguousarray(arr)


def as_features(x, name: str, min_rows: int = 1) -> np.ndarray:
    """A 2-D ``(n_samples, n_features)`` float64 array with at least ``min_rows`` rows."""
    arr = as_float64(x, name, ndim=2)
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} sample(s) (rows), "
                         f"got shape {arr.shape}")
    return arr


def check_int(value, name: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``; ``bool`` is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same feature dimension, "
                         f"got {a.shape[1]} and {b.shape[1]}")
