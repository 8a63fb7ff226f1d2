"""One epoch of Fashion-MNIST train at batch 128: lgm.data.BatchStream vs torchvision.

Side by side in one process, on the same machine state: torchvision's ``FashionMNIST`` +
``ToTensor`` + ``DataLoader`` (the better of ``num_workers=0`` and ``2``) against
``BatchStream`` (uint8 tensor in memory, gather + cast + scale per batch). Each pipeline
yields float batches in [0, 1] with labels, and each batch is touched (summed) so that
lazy work cannot hide. Best of ``--repeats`` epochs each, to damp a noisy machine.

Last line: ``speedup=<torchvision seconds / lgm seconds>`` (target ≥ 10).

    python benchmarks/data_pipeline.py [--repeats 3]
"""

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import torch

from lgm.data import BatchStream, load_dataset

BATCH = 128


def _epoch_seconds(batches) -> float:
    start = time.perf_counter()
    total = 0.0
    for x, y in batches:
        total += float(x.sum()) + float(y.sum())
    return time.perf_counter() - start


def _torchvision_root(root: Path) -> str:
    """A torchvision-layout folder (FashionMNIST/raw/*-ubyte, decompressed, as it expects)."""
    source = Path(load_dataset("fashion_mnist", "train").source)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in source.glob("*-ubyte.gz"):
        with gzip.open(f) as src:
            (raw / f.name[:-3]).write_bytes(src.read())
    return str(root)


def torchvision_epoch(root: str, num_workers: int) -> float:
    import torchvision
    from torch.utils.data import DataLoader

    ds = torchvision.datasets.FashionMNIST(root, train=True, download=False,
                                           transform=torchvision.transforms.ToTensor())
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, drop_last=True,
                        num_workers=num_workers, generator=torch.Generator().manual_seed(0),
                        persistent_workers=False)
    return _epoch_seconds(loader)


def lgm_epoch(stream: BatchStream, epoch: int) -> float:
    return _epoch_seconds(stream.epoch(epoch))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lgm-bench-") as tmp:
        run(_torchvision_root(Path(tmp)), args.repeats)


def run(root: str, repeats: int):
    stream = BatchStream(load_dataset("fashion_mnist", "train"), BATCH, scaling="zero_one", seed=0)
    times = {"lgm": [], "torchvision_w0": [], "torchvision_w2": []}
    for r in range(repeats):  # interleaved, so drifts in machine load hit all alike
        times["lgm"].append(lgm_epoch(stream, r))
        times["torchvision_w0"].append(torchvision_epoch(root, 0))
        times["torchvision_w2"].append(torchvision_epoch(root, 2))
    best = {k: min(v) for k, v in times.items()}
    for k, v in best.items():
        print(f"{k:16s} best of {repeats}: {v:7.3f} s/epoch")
    baseline = min(best["torchvision_w0"], best["torchvision_w2"])
    print(f"torch threads={torch.get_num_threads()} batch={BATCH}")
    print(f"speedup={baseline / best['lgm']:.1f}")


if __name__ == "__main__":
    main()
