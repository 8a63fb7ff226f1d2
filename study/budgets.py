"""Named training budgets: one table, translated into train steps per family and dataset.

``steps = round(epochs[model] * steps_per_epoch)`` with ``steps_per_epoch = N_train //
batch_size`` (``lgm.data.BatchStream`` drops the last partial batch), so a budget means the
same amount of data seen whatever the batch size.

Why these numbers (one thread per run, batch 128, Fashion-MNIST):

- ``quick``: in each family's default training mode (the DCGAN in bf16 autocast with
  channels-last tensors where the CPU has native bf16, the VAE in float32; both with fused
  Adam) an epoch of the default DCGAN costs 2.9 times an epoch of the default conv VAE
  (``benchmarks/epoch_cost.py``: 38.7 s vs 13.3 s on one thread), so 12 VAE epochs and 4 GAN
  epochs are about *the same wall-clock*, roughly 2.6 minutes of training; the
  ``gan_vs_vae`` sweep relies on that (each run logs ``time/train_s`` to check it). (In
  float32 the ratio was 4.4–4.8 and the budget 12 / 3.) After 1 epoch the DCGAN still drew
  blobs; after 3 its samples were recognisable garments (seen during development).
- Diffusion (``lgm.diffusion``, the default U-Net of width 12 in float32): an epoch costs
  2.67 DCGAN epochs (``benchmarks/epoch_cost.py``, measured on the shared, loaded 2-core
  machine: 938 s vs 351 s per epoch there, both alternating in one process), so ``quick``
  gives it 4 / 2.67 = 1.5 epochs and ``full`` 20 / 2.67 = 7.5, the DCGAN's wall-clock.
  Its evaluation is dearer than the others' (each sample costs ``sample_steps`` network
  calls): 10,000 samples took 1043 s at 10 Euler steps there, 1.1 diffusion epochs, about
  three quarters of a quick run's training; the default is 5 steps. Measured in a quick
  run (seed 0, same loaded machine): 1205 s of training, 320 s of final evaluation (10,000
  samples, all metrics), so the final evaluation is 21 % of the run (train + final
  evaluation); its three intermediate curve points (2,000 samples each) add about as much
  again, as for every family.
- ``full``: 60 VAE epochs and 20 GAN epochs, matched in wall-clock the same way (about 13
  minutes of training per run on one CPU thread, minutes on a GPU).
- ``smoke``: a few dozen steps and a small evaluation, for tests and for checking a sweep
  file end to end. An explicit ``eval_samples`` or ``train_steps`` always wins over a budget.

Curves: ``eval_points`` evaluations at 1/P, 2/P, ..., 1 of the training steps, each on
``curve_samples`` samples (``curve/...`` keys; the final ``eval/...`` stays at
``eval_samples``). 2,000 samples keep the three intermediate points of a quick run within
10 % of its wall-clock (``benchmarks/curve_overhead.py``); the full budget, five times
longer, affords 5,000.

A budget is an *amount* of work (:class:`Budget`). How often a run logs and checkpoints is
its *cadence* (:class:`Cadence`, one per budget name in :data:`CADENCES`); both are copied
into the run's config by ``study.config.resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lgm.data import dataset_info

__all__ = ["Budget", "BUDGETS", "Cadence", "CADENCES", "budget_steps", "steps_per_epoch"]


@dataclass(frozen=True)
class Budget:
    """One preset amount of work. Either ``epochs`` per model family or a fixed ``steps``."""

    epochs: dict | None  # model family -> epochs
    steps: int | None  # fixed step count (smoke), independent of dataset and family
    eval_samples: int  # generated samples for FID & co. (real reference uses as many)
    eval_points: int  # evaluations along training (i/P of the steps); 1: the final one only
    curve_samples: int  # samples at every curve point (the same N at every point)


@dataclass(frozen=True)
class Cadence:
    """How often a run of a budget logs and checkpoints (changes no trained weight)."""

    log_every: int  # train/... metrics are averaged and logged every this many steps
    checkpoint_every: int  # steps between checkpoints (a kill loses at most this much)


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(epochs=None, steps=40, eval_samples=200, eval_points=2, curve_samples=200),
    "quick": Budget(epochs={"vae": 12, "gan": 4, "diffusion": 1.5}, steps=None, eval_samples=10_000,
                    eval_points=4, curve_samples=2_000),
    "full": Budget(epochs={"vae": 60, "gan": 20, "diffusion": 7.5}, steps=None, eval_samples=10_000,
                   eval_points=4, curve_samples=5_000),
}
CADENCES: dict[str, Cadence] = {
    "smoke": Cadence(log_every=10, checkpoint_every=20),
    "quick": Cadence(log_every=50, checkpoint_every=100),
    "full": Cadence(log_every=100, checkpoint_every=500),
}


def steps_per_epoch(dataset: str, batch_size: int) -> int:
    """Full batches in one pass over the train split (the partial last batch is dropped)."""
    return dataset_info(dataset).sizes["train"] // batch_size


def budget_steps(budget: str, *, model: str, dataset: str, batch_size: int) -> int:
    """Train steps of a named budget for one model family, dataset and batch size."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
    preset = BUDGETS[budget]
    if preset.steps is not None:
        return preset.steps
    if model not in preset.epochs:
        raise ValueError(f"budget {budget!r} has no entry for model {model!r}; "
                         f"allowed: {', '.join(preset.epochs)}")
    return max(1, round(preset.epochs[model] * steps_per_epoch(dataset, batch_size)))
