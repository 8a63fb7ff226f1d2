"""Training step time per family: float32 vs the family's chosen fast mode, through lgm.train.

For the default VAE and the default DCGAN on Fashion-MNIST at batch 128 (what the study
trains), time ``--steps`` steps of ``lgm.train.train`` in each mode, alternating modes
within each repeat so machine noise hits them alike, best of ``--repeats``. The chosen
mode is ``lgm.train.fast_mode`` on this device (bf16 autocast + channels_last for the GAN on
a CPU with native bf16; the VAE stays fp32/contiguous, measured slower otherwise). A
``--modes`` run also prints every combination, the measurement the defaults rest on.

Both modes use the fused Adam ``lgm.train`` now trains with; one more line times float32
with the unfused Adam that trained before it (``torch.optim.Adam`` as constructed before),
the speed-up of the default GAN against what it was.

Last line: ``gan_speedup=<fp32 time / fast time> vae_speedup=<...>`` (target: gan ≥ 1.7).

    OMP_NUM_THREADS=1 python benchmarks/train_precision.py [--steps 40 --repeats 3 --modes]
"""

import argparse
import itertools

import torch

import lgm.train as train_module
from lgm.data import load_dataset
from lgm.train import MEMORY_FORMATS, PRECISIONS, TrainMode, fast_mode
from quick_run import BATCH, FAMILIES, seconds_per_step

def _unfused_adam(params, config):
    return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2))


def previous_default(data, steps: int, repeats: int) -> float:
    """Seconds per GAN step in float32 with the unfused Adam (the DCGAN's training before)."""
    fused = train_module._adam
    train_module._adam = _unfused_adam
    try:
        return min(seconds_per_step(data, "gan", TrainMode(), steps) for _ in range(repeats))
    finally:
        train_module._adam = fused


def best_times(data, modes: dict, steps: int, repeats: int) -> dict:
    """``{(family, label): best seconds per step}``, modes alternating within each repeat."""
    best = {key: float("inf") for key in modes}
    for _ in range(repeats):
        for (family, label), mode in modes.items():
            best[(family, label)] = min(best[(family, label)], seconds_per_step(data, family, mode, steps))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", action="store_true", help="also time every precision x format")
    args = parser.parse_args()
    data = load_dataset("fashion_mnist", "train")
    modes = {}
    for family, (cls, _, _) in FAMILIES.items():
        modes[(family, "fp32")] = TrainMode()
        modes[(family, "fast")] = fast_mode(cls, "cpu")
        if args.modes:
            for precision, memory_format in itertools.product(PRECISIONS, MEMORY_FORMATS):
                modes[(family, f"{precision}+{memory_format}")] = TrainMode(precision, memory_format)
    best = best_times(data, modes, args.steps, args.repeats)
    for (family, label), seconds in best.items():
        mode = modes[(family, label)]
        print(f"{family} {label:26s} ({mode.precision}, {mode.memory_format}): {1000 * seconds:6.1f} ms/step")
    before = previous_default(data, args.steps, args.repeats)
    print(f"gan float32 with the unfused Adam of before: {1000 * before:6.1f} ms/step; the fast mode "
          f"is {before / best[('gan', 'fast')]:.2f}x faster than that")
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    speedups = {family: best[(family, "fp32")] / best[(family, "fast")] for family in FAMILIES}
    print(f"gan_speedup={speedups['gan']:.2f} vae_speedup={speedups['vae']:.2f}")


if __name__ == "__main__":
    main()
