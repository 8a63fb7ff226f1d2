"""Image grids of samples: one array or PNG, optionally one labelled row per class.

Uses matplotlib's object-oriented ``Figure`` with the Agg canvas directly, so importing or
calling this never changes the global matplotlib backend of a notebook.
"""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["grid_array", "uint8_grid", "save_grid", "class_rows"]


def grid_array(images: torch.Tensor, ncol: int, pad: int = 2) -> np.ndarray:
    """Tile N×C×H×W images in [0, 1] into one H'×W'×3 uint8 array, ``ncol`` per row."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images N×C×H×W with C in (1, 3), got shape {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    nrow = -(-n // ncol)
    out = torch.ones(3, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[:, top:top + h, left:left + w] = x[i]
    return (out.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def uint8_grid(images: np.ndarray, columns: int) -> np.ndarray:
    """uint8 N×C×H×W levels 0–255 (e.g. a run's samples.npz) → an H'×W'×3 uint8 grid."""
    return grid_array(torch.from_numpy(np.ascontiguousarray(images)).float() / 255.0, ncol=columns)


def class_rows(num_classes: int, per_class: int, device=None) -> torch.Tensor:
    """Labels 0,0,…,1,1,… so that a grid with ``ncol=per_class`` has one row per class."""
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


def save_grid(path: str | os.PathLike, images: torch.Tensor, ncol: int,
              row_labels: list[str] | None = None, title: str | None = None) -> str:
    """Write a PNG grid of ``images``; ``row_labels`` names each row (e.g. class names)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    array = grid_array(images, ncol)
    h, w = array.shape[:2]
    label_room = 1.4 if row_labels else 0.0
    fig = Figure(figsize=(w / 40 + label_room, h / 40 + (0.4 if title else 0.0)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((label_room / fig.get_figwidth(), 0, 1 - label_room / fig.get_figwidth(),
                       1 - (0.4 / fig.get_figheight() if title else 0)))
    ax.imshow(array, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        nrow = -(-images.shape[0] // ncol)
        if len(row_labels) != nrow:
            raise ValueError(f"{len(row_labels)} row labels for {nrow} rows")
        cell = (h - 2) / nrow
        ax.set_yticks([1 + cell * (r + 0.5) for r in range(nrow)], labels=row_labels, fontsize=8)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995)
    fig.savefig(path)
    return str(path)
