"""Train the fixed evaluation classifier of one dataset and register its weights.

    OMP_NUM_THREADS=1 python scripts/train_classifier.py --dataset fashion_mnist \
        [--arch cnn|mlp] [--epochs N] [--seed S] [--out FOLDER]

The recipe, the augmentation and the registration are library code
(``lgm.evaluation.classifier_training``); this program only parses the command line, trains,
writes ``<out>/<dataset>.pt`` and updates ``<out>/registry.json`` (default: the shipped
weights folder of ``--arch``: ``lgm/evaluation/weights/`` for the primary, its subfolder
``<arch>/`` for another extractor), then prints the test accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lgm.data import DATASETS  # noqa: E402
from lgm.evaluation.classifier_training import TrainConfig, register, train  # noqa: E402
from lgm.evaluation.classifiers import weights_folder  # noqa: E402
from lgm.evaluation.registry import EXTRACTORS, PRIMARY_EXTRACTOR  # noqa: E402


def parse(argv: list[str] | None) -> tuple[TrainConfig, Path, str]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    defaults = TrainConfig("mnist")
    for name in ("epochs", "seed", "batch_size"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "erase_prob"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    p.add_argument("--shift", type=int, default=defaults.shift)
    p.add_argument("--arch", choices=EXTRACTORS, default=PRIMARY_EXTRACTOR,
                   help="the extractor whose network to train (default: the primary)")
    p.add_argument("--out", type=Path, default=None,
                   help="weights folder (default: the shipped folder of --arch)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    config = TrainConfig(a.dataset, a.epochs, a.seed, a.batch_size, a.lr, a.weight_decay,
                         a.shift, a.erase_prob, a.arch)
    return config, a.out or weights_folder(a.arch), a.device


def main(argv: list[str] | None = None) -> dict:
    config, out, device = parse(argv)
    start = time.perf_counter()
    net, test_acc = train(config, torch.device(device))
    entry = register(net, config, test_acc, out, time.perf_counter() - start)
    print(f"{config.dataset}: test accuracy {test_acc:.4%} -> {out / entry['file']} "
          f"(sha256 {entry['sha256'][:16]}...)")
    return entry


if __name__ == "__main__":
    main(sys.argv[1:])
