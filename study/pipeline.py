"""One run's work, with no W&B in it: seed → build → train (resumable) → evaluate → images.

``execute`` is what ``python -m study run`` wraps with logging; it can equally be called
from a notebook. Checkpoints: ``lgm.train`` writes ``checkpoint.pt`` (model, optimizers,
RNG states, step) in the run folder every ``checkpoint_every`` steps and resumes from it
exactly; when the run has been evaluated its final weights are also written as ``model.pt``
(a ``state_dict``, a few MB at most, enough to draw new samples), and the checkpoint is
kept: the final training state a longer run of the same configuration continues from
(``budget_factor``, ``study.settle``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from contracts.record import CHECKPOINT_FILE, WEIGHTS_FILE
from lgm.data import load_dataset
from lgm.evaluation import evaluate, verify_classifier
from lgm.evaluation.registry import CURVE_NAMESPACE, EVAL_NAMESPACE, EXTRACTORS
from lgm.train import TrainClock, seed_everything, train
from study.build import (build_model, build_stream, configure_device, dequantized,
                         elbo_function, reconstructor, sampler, save_images, train_config)
from study.config import RunConfig

__all__ = ["execute", "evaluate_model", "curve_steps", "RunOutcome", "checkpoint_step", "preflight",
           "save_weights", "parameter_counts"]


@dataclass
class RunOutcome:
    step: int
    train_metrics: dict  # the last logged train/... means
    eval_metrics: dict  # eval/... (+ eval/elbo, eval/bpd, eval/kl for VAEs), model/parameters
    images: dict  # name -> file name in the run folder
    train_seconds: float  # the run's training clock, all attempts (lgm.train.TrainClock)
    eval_seconds: float


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's checkpoint, or None when there is none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def preflight(config: RunConfig) -> None:
    """Checks that need more than the config, before any training: the dataset's fixed
    evaluation classifier must be registered and its weight file intact (SHA-256), so a
    missing or tampered file costs nothing (the error names the command that trains one);
    the same for every other shipped extractor, whose metrics every run logs too."""
    for extractor in EXTRACTORS:
        verify_classifier(config.dataset, extractor=extractor)


def curve_steps(config: RunConfig) -> list[int]:
    """The steps of the run's training-curve points: ``i/P`` of ``train_steps`` for
    ``i = 1..P`` (``P = eval_points``; none when ``P`` is 1: the final evaluation only)."""
    if config.eval_points <= 1:
        return []
    return sorted({max(1, round(config.train_steps * i / config.eval_points))
                   for i in range(1, config.eval_points + 1)})


def evaluate_model(model, config: RunConfig, *, device: str, namespace: str = EVAL_NAMESPACE,
          progress: bool | None = None) -> dict:
    """``lgm.evaluation.evaluate`` of the model as the run scores it: the final evaluation
    (``eval/...`` at ``eval_samples``) or a curve point (``curve/...`` at ``curve_samples``).
    Every call draws the same seeded samples, so a curve's points differ only by training."""
    curve = namespace == CURVE_NAMESPACE
    return evaluate(sample_fn=sampler(model, seed=config.seed, device=device),
                    dataset=config.dataset,
                    num_samples=config.curve_samples if curve else config.eval_samples,
                    conditional=config.conditional, reconstruct_fn=reconstructor(model),
                    elbo_fn=elbo_function(model), dequantize=dequantized(config),
                    device=device, seed=config.seed, progress=False if curve else progress,
                    namespace=namespace)


def execute(config: RunConfig, run_dir: Path, *, device: str, callback=None,
            clock: TrainClock | None = None, on_curve=None,
            progress: bool | None = None) -> RunOutcome:
    """Train (resuming from ``run_dir/checkpoint.pt`` if present) and evaluate one run.

    ``config`` must be resolved (``study.config.resolve``); ``callback(step, metrics)`` gets
    the averaged ``train/...`` metrics every ``log_every`` steps; ``clock`` (read it in the
    callback) is the run's training clock. At each of :func:`curve_steps`,
    ``on_curve(step, train_seconds, evaluate_point)`` is called; ``evaluate_point()``
    returns the ``curve/...`` metrics (the caller decides whether it still needs the point).
    Raises ``lgm.train.NonFiniteLossError`` on NaN/inf losses.
    """
    run_dir = Path(run_dir)
    preflight(config)
    configure_device(device)
    seed_everything(config.seed)
    model = build_model(config)
    train_data = load_dataset(config.dataset, "train")
    stream = build_stream(config, train_data, device)
    points = curve_steps(config) if on_curve is not None else []

    def on_point(step: int, seconds: float) -> None:
        on_curve(step, seconds, lambda: evaluate_model(model, config, device=device, namespace=CURVE_NAMESPACE))

    result = train(model, stream, train_config(config, device, progress), callback=callback,
                   checkpoint_path=run_dir / CHECKPOINT_FILE, clock=clock, points=points,
                   on_point=on_point)

    started = time.perf_counter()
    model.eval()
    test = load_dataset(config.dataset, "test")
    metrics = evaluate_model(model, config, device=device, progress=progress)
    metrics.update(parameter_counts(model))
    eval_seconds = time.perf_counter() - started
    images = save_images(model, config, test, run_dir, device)
    save_weights(model, run_dir)
    return RunOutcome(result.step, dict(result.metrics), metrics, images, result.train_seconds,
                      eval_seconds)


def parameter_counts(model) -> dict:
    """``model/parameters`` (all), and per network for a GAN (``model/parameters_generator``...)."""
    counts = model.num_parameters()
    if isinstance(counts, dict):
        return {"model/parameters": sum(counts.values()),
                **{f"model/parameters_{name}": n for name, n in counts.items()}}
    return {"model/parameters": int(counts)}


def save_weights(model, run_dir: Path) -> None:
    """The final weights (no optimizer state), written atomically as ``model.pt``."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = run_dir / f".{WEIGHTS_FILE}.tmp"
    torch.save(weights, tmp)
    tmp.replace(run_dir / WEIGHTS_FILE)

