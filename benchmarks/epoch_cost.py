"""Seconds per Fashion-MNIST epoch of the default VAE and the default DCGAN, side by side.

The study's budgets (``study/budgets.py``) rest on this ratio: ``gan_vs_vae`` compares the
two families at matched wall-clock, so the VAE gets as many more epochs as a GAN epoch costs
more. Both models train through ``lgm.train`` at batch 128 in this one process, each in its
family's default training mode on this CPU (``lgm.train.fast_mode``: the DCGAN in bf16 +
channels_last where bf16 is native, the VAE in float32), alternating, best of
``--repeats``; the per-step time is scaled to a full epoch (468 steps). ``--fp32`` times
both in float32 (the ratio the budgets rested on before the fast mode).

Last line: ``gan_vae_epoch_ratio=<GAN seconds per epoch / VAE seconds per epoch>``
(the budgets assume about 4).

    OMP_NUM_THREADS=1 python benchmarks/epoch_cost.py [--steps 40 --repeats 3]
"""

import argparse

import torch

from lgm.data import load_dataset
from lgm.train import TrainMode, fast_mode
from quick_run import BATCH, FAMILIES, seconds_per_step

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
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    print(f"gan_vae_epoch_ratio={best['gan'] / best['vae']:.2f}")


if __name__ == "__main__":
    main()
