"""Overhead of ``lgm.train`` over a bare, hand-written PyTorch loop.

The default conv VAE on Fashion-MNIST, a fixed number of steps, the same initial weights and
the same batches (``BatchStream.batch(step)``) in both; the bare loop is just
``loss → zero_grad → backward → step``. ``lgm.train`` adds the NaN check, metric averaging,
logging callbacks and the progress bar (disabled here, as in a sweep's non-terminal runs).
Runs alternate (lgm, bare, lgm, bare, ...) and the best of each is kept, so machine noise
hits both alike.

Last line: ``overhead=<(t_lgm - t_bare) / t_bare>`` (target ≤ 0.05).

    python benchmarks/train_step.py [--steps 150 --repeats 3]
"""

import argparse
import time

import torch

from lgm.data import BatchStream, load_dataset
from lgm.train import TrainConfig, seed_everything, train
from lgm.vae import VAE, VAEConfig

BATCH = 128


def _fresh_vae() -> VAE:
    seed_everything(0)
    return VAE(VAEConfig())


def time_lgm(stream: BatchStream, steps: int) -> float:
    model = _fresh_vae()
    config = TrainConfig(steps=steps, batch_size=BATCH, progress=False, log_every=50)
    start = time.perf_counter()
    train(model, stream, config, callback=lambda step, metrics: None)
    return time.perf_counter() - start


def time_bare(stream: BatchStream, steps: int) -> float:
    model = _fresh_vae()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for step in range(steps):
        x, _ = stream.batch(step)
        loss = model.loss(x, generator=generator)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    stream = BatchStream(load_dataset("fashion_mnist", "train"), BATCH, scaling="zero_one", seed=0)
    time_bare(stream, 10)  # warm-up: allocator, kernels, first-touch of the dataset
    lgm_times, bare_times = [], []
    for _ in range(args.repeats):
        lgm_times.append(time_lgm(stream, args.steps))
        bare_times.append(time_bare(stream, args.steps))
    t_lgm, t_bare = min(lgm_times), min(bare_times)
    print(f"lgm.train : {t_lgm:.3f} s for {args.steps} steps ({1000 * t_lgm / args.steps:.1f} ms/step)")
    print(f"bare loop : {t_bare:.3f} s for {args.steps} steps ({1000 * t_bare / args.steps:.1f} ms/step)")
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    print(f"overhead={(t_lgm - t_bare) / t_bare:.4f}")


if __name__ == "__main__":
    main()
