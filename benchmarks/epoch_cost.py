"""Seconds per Fashion-MNIST epoch of the default VAE, DCGAN and diffusion model, side by side.

The study's budgets (``study/budgets.py``) rest on this ratio: ``gan_vs_vae`` compares the
two families at matched wall-clock, so the VAE gets as many more epochs as a GAN epoch costs
more. Both models train through ``lgm.train`` at batch 128 in this one process, each in its
family's default training mode on this CPU (``lgm.train.fast_mode``: the DCGAN in bf16 +
channels_last where bf16 is native, the VAE in float32), alternating, best of
``--repeats``; the per-step time is scaled to a full epoch (468 steps). ``--fp32`` times
both in float32 (the ratio the budgets rested on before the fast mode).

The diffusion model's evaluation cost is timed too: seconds to draw 10,000 samples
(``Diffusion.sample`` in batches of 500 at its default ``sample_steps``, eval mode), the
sampling part of its final evaluation, beside its epoch.

Lines ``diffusion_gan_epoch_ratio=...`` and ``diffusion_sampling_s_per_10k=...``, then last
line: ``gan_vae_epoch_ratio=<GAN seconds per epoch / VAE seconds per epoch>``.

    OMP_NUM_THREADS=1 python benchmarks/epoch_cost.py [--steps 40 --repeats 3]
"""

import argparse
import time

import torch

from lgm.data import load_dataset
from lgm.train import TrainMode, fast_mode
from quick_run import BATCH, FAMILIES, seconds_per_step

def sampling_seconds(per_batch: int = 500, total: int = 10_000) -> float:
    """Seconds to draw ``total`` samples from a fresh default diffusion model (timed on one
    batch and scaled: every batch costs the same ``sample_steps`` network calls)."""
    cls, config_cls, _ = FAMILIES["diffusion"]
    model = cls(config_cls()).eval()
    generator = torch.Generator().manual_seed(0)
    model.sample(8, generator=generator)  # warm-up
    start = time.perf_counter()
    model.sample(per_batch, generator=generator)
    return (time.perf_counter() - start) * total / per_batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fp32", action="store_true", help="both families in float32")
    args = parser.parse_args()
    data = load_dataset("fashion_mnist", "train")
    steps_per_epoch = len(data) // BATCH
    best = {family: float("inf") for family in FAMILIES}
    for _ in range(args.repeats):
        for family in FAMILIES:
            mode = TrainMode() if args.fp32 else fast_mode(FAMILIES[family][0], "cpu")
            best[family] = min(best[family], seconds_per_step(data, family, mode, args.steps))
    for family, seconds in best.items():
        print(f"{family}: {1000 * seconds:6.1f} ms/step, {seconds * steps_per_epoch:5.1f} s/epoch")
    sampling = sampling_seconds()
    steps = FAMILIES["diffusion"][1]().sample_steps
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    print(f"diffusion_gan_epoch_ratio={best['diffusion'] / best['gan']:.2f}")
    print(f"diffusion_sampling_s_per_10k={sampling:.1f}  (at sample_steps={steps})")
    print(f"gan_vae_epoch_ratio={best['gan'] / best['vae']:.2f}")


if __name__ == "__main__":
    main()
