"""Seconds per Fashion-MNIST epoch of the default VAE and the default DCGAN, side by side.

The study's budgets (``study/budgets.py``) rest on this ratio: ``gan_vs_vae`` compares the
two families at matched wall-clock, so the VAE gets as many more epochs as a GAN epoch costs
more. Both models train through ``lgm.train`` at batch 128 in this one process, alternating,
best of ``--repeats``; the per-step time is scaled to a full epoch (468 steps).

Last line: ``gan_vae_epoch_ratio=<GAN seconds per epoch / VAE seconds per epoch>``
(the budgets assume about 4).

    OMP_NUM_THREADS=1 python benchmarks/epoch_cost.py [--steps 40 --repeats 3]
"""

import argparse
import time

import torch

from lgm.data import BatchStream, load_dataset
from lgm.gan import GAN, GANConfig
from lgm.train import TrainConfig, seed_everything, train
from lgm.vae import VAE, VAEConfig

BATCH = 128
FAMILIES = {"vae": (lambda: VAE(VAEConfig()), "zero_one"),
            "gan": (lambda: GAN(GANConfig()), "minus_one_one")}


def seconds_per_step(data, family: str, steps: int) -> float:
    build, scaling = FAMILIES[family]
    seed_everything(0)
    model = build()
    stream = BatchStream(data, BATCH, scaling=scaling, seed=0)
    train(model, stream, TrainConfig(steps=3, progress=False))  # warm-up: allocator, kernels
    start = time.perf_counter()
    train(model, stream, TrainConfig(steps=steps, progress=False))
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("fashion_mnist", "train")
    steps_per_epoch = len(data) // BATCH
    best = {family: float("inf") for family in FAMILIES}
    for _ in range(args.repeats):
        for family in FAMILIES:
            best[family] = min(best[family], seconds_per_step(data, family, args.steps))
    for family, seconds in best.items():
        print(f"{family}: {1000 * seconds:6.1f} ms/step, {seconds * steps_per_epoch:5.1f} s/epoch")
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    print(f"gan_vae_epoch_ratio={best['gan'] / best['vae']:.2f}")


if __name__ == "__main__":
    main()
