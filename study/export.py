"""``python -m study export RUN_DIR --out FILE.npz|FOLDER``: a finished run's evaluation
samples, drawn again from its ``model.pt`` exactly as ``evaluate`` drew them.

The run's model is rebuilt from its recorded config (``study.build.build_model``), its
weights loaded with ``torch.load(weights_only=True)``, and ``study.build.sampler`` (seeded by
the run's seed) called with the run's ``eval_samples`` in the batches and, for a conditional
model, with the labels ``lgm.evaluation.evaluate`` requested (``balanced_labels`` with the
run's seed, ``BATCH_SIZE`` per call). So ``python -m lgm.evaluation score`` of the exported
``.npz`` (float32 images, exact) with ``--seed`` the run's seed reproduces the sample metrics
the run logged, bit for bit on the same machine and thread count; a PNG folder quantises the
images to 8 bits (see ``tests/test_scoring_cli.py`` for how close that stays).

Output: ``FILE.npz`` holds ``images`` (float32 N×C×H×W in [0, 1]), ``labels`` (int64 N, empty
when unconditional) and ``seed``; a folder gets ``00000.png, 00001.png, ...`` (8-bit grey or
RGB, in the same order) and ``labels.txt`` when conditional.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from contracts.record import FINISHED, WEIGHTS_FILE, RecordError, read_record
from lgm.data import dataset_info
from lgm.evaluation.evaluator import BATCH_SIZE, balanced_labels, generate_batches
from study.build import build_model, sampler
from study.config import ConfigError, RunConfig, resolve

__all__ = ["main", "draw_evaluation_samples", "write_npz", "write_png_folder", "ExportError"]


class ExportError(ValueError):
    """The run folder cannot be exported; the message says why."""


def _run_config(run_dir: Path) -> RunConfig:
    try:
        record = read_record(run_dir)
    except RecordError as err:
        raise ExportError(str(err)) from None
    if record is None:
        raise ExportError(f"{run_dir}: no run record (record.json); pass a run folder")
    if record["status"] != FINISHED:
        raise ExportError(f"{run_dir}: run status is {record['status']!r}, only finished runs "
                          f"have final weights")
    if not (run_dir / WEIGHTS_FILE).is_file():
        raise ExportError(f"{run_dir}: {WEIGHTS_FILE} is missing")
    config = {k: v for k, v in record["config"].items() if not k.startswith("_")}
    try:
        return resolve(RunConfig.from_dict(config))
    except ConfigError as err:
        raise ExportError(f"{run_dir}: its config does not load: {err}") from None


@torch.no_grad()
def draw_evaluation_samples(run_dir: str | Path, *, device: str = "cpu",
                            batch_size: int = BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """``(images float32 N×C×H×W on the CPU, labels or None, seed)`` of a finished run: the
    samples ``evaluate`` scored (module docstring)."""
    run_dir = Path(run_dir)
    config = _run_config(run_dir)
    model = build_model(config)
    model.load_state_dict(torch.load(run_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    model.to(device).eval()
    sample_fn = sampler(model, seed=config.seed, device=device)
    n = config.eval_samples
    labels = (balanced_labels(n, dataset_info(config.dataset).num_classes, config.seed)
              if config.conditional else None)
    batches = [x.float().cpu() for x in generate_batches(sample_fn, labels, n, batch_size=batch_size,
                                                         device=device)]
    return torch.cat(batches), labels, config.seed


def write_npz(path: Path, images: torch.Tensor, labels: torch.Tensor | None, seed: int) -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    np.savez_compressed(path, images=images.numpy(), seed=seed,
                        labels=(labels if labels is not None else empty).numpy())


def write_png_folder(folder: Path, images: torch.Tensor, labels: torch.Tensor | None) -> None:
    """8-bit PNGs (round to the nearest of 256 levels), named by their position."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    levels = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    width = max(5, len(str(len(levels) - 1)))
    for i, image in enumerate(levels):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            folder / f"{i:0{width}d}.png")
    if labels is not None:
        (folder / "labels.txt").write_text("".join(f"{int(k)}\n" for k in labels))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m study export",
                                description="A finished run's evaluation samples, drawn again.")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="FILE.npz, or a folder for PNG files")
    p.add_argument("--device", default="cpu", help="device to draw on (default cpu: the "
                                                    "study's runs are scored on the device they ran on)")
    args = p.parse_args(argv)
    try:
        images, labels, seed = draw_evaluation_samples(args.run_dir, device=args.device)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.suffix.lower() == ".npz":
        write_npz(out, images, labels, seed)
    else:
        write_png_folder(out, images, labels)
    print(f"wrote {out}: {len(images)} samples{' with labels' if labels is not None else ''} "
          f"(seed {seed}: score with --seed {seed} --num-samples {len(images)})")
    return 0
