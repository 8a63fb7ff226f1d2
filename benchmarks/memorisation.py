"""Benchmark the memorisation and diversity metrics on real classifier features, in one process.

Real Fashion-MNIST features (the cached train reference and test reference of ``--n``
images, as a study run's evaluation uses them):

1. ``data_copying`` (k-means cells, in-cell nearest training distances, C_T and the copy
   fraction) for three "models" with a known answer: the training reference itself (a
   verbatim copier), real held-out data (the other training images, never in the
   reference), and held-out data blurred by noise in feature space (farther from the
   training set). Prints C_T, copy fraction and time.
2. The obvious alternative for the distances: the exact nearest training point over the
   *whole* reference (blocked float64, as ``metrics/_knn.py``), instead of within the
   point's cell. Prints its time and how often the two agree (the in-cell neighbour is
   the global one).
3. ``vendi_score`` (dual form, d × d) and the n × n definition it replaces.

Times are the best of ``--repeats`` (the machine is shared and noisy); run with
``OMP_NUM_THREADS=1``. The LAST printed line is ``in_cell_speedup=<global NN time /
in-cell NN time>``.

    OMP_NUM_THREADS=1 python benchmarks/memorisation.py [--n 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lgm.data import load_dataset, scale
from lgm.evaluation import classifier, extract
from lgm.evaluation.evaluator import REFERENCE_SEED, held_out_reference
from lgm.evaluation.features import reference_statistics
from lgm.evaluation.metrics import data_copying, vendi_score
from lgm.evaluation.metrics._knn import DEFAULT_BLOCK_SIZE, center_on, cross_distance_blocks
from lgm.evaluation.metrics.data_copying import (_partition, assign_cells, cell_count,
                                                 cell_nearest_sq_distances)


def best(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def held_out_train_features(n: int) -> np.ndarray:
    """Features of ``n`` training images outside the reference subset (fresh to the test)."""
    train = load_dataset("fashion_mnist", "train")
    import torch

    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(REFERENCE_SEED))
    outside = order[n:2 * n]  # the reference is order[:n]
    images = scale(train.images[outside], "zero_one")
    return extract(classifier("fashion_mnist"), images)[0].double().numpy()


def global_nearest_sq(queries: np.ndarray, train: np.ndarray) -> np.ndarray:
    out = np.empty(len(queries))
    for rows, d in cross_distance_blocks(queries, train, DEFAULT_BLOCK_SIZE):
        out[rows] = d.min(axis=1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    n = args.n
    train = reference_statistics("fashion_mnist", num_samples=n).features.double().numpy()
    test = held_out_reference("fashion_mnist", n).features.double().numpy()
    fresh = held_out_train_features(n)
    rng = np.random.default_rng(0)
    models = {"copier (the reference itself)": train[rng.permutation(n)],
              "held-out training images": fresh,
              "held-out + feature noise": fresh + 0.5 * fresh.std(0) * rng.normal(size=fresh.shape)}
    print(f"data_copying at n = {n}, d = {train.shape[1]}, {cell_count(n)} cells (best of {args.repeats})")
    for name, gen in models.items():
        seconds, r = best(lambda: data_copying(train, test, gen), args.repeats)
        print(f"  {name:32s} C_T {r.ct:8.2f}  copy_fraction {r.copy_fraction:.4f}  {seconds:.3f} s")

    # in-cell vs global nearest training distances, on centred features as data_copying uses
    tc, gc = center_on(train, train, fresh)
    centres, train_cells = _partition(tc, cell_count(n), 0, 10, DEFAULT_BLOCK_SIZE)
    cells = assign_cells(gc, centres)
    t_cell, in_cell = best(lambda: cell_nearest_sq_distances(gc, cells, tc, train_cells, len(centres)),
                           args.repeats)
    t_global, nearest = best(lambda: global_nearest_sq(gc, tc), args.repeats)
    agree = float(np.mean(np.isclose(in_cell, nearest, rtol=1e-9, atol=1e-9)))
    print(f"nearest training distance of {n} held-out points: in-cell {t_cell:.3f} s, "
          f"global {t_global:.3f} s; the in-cell neighbour is the global one for {agree:.1%}")

    t_dual, v = best(lambda: vendi_score(fresh), args.repeats)
    unit = fresh[:2000] / np.linalg.norm(fresh[:2000], axis=1, keepdims=True)
    t_primal, _ = best(lambda: np.linalg.eigvalsh(unit @ unit.T / len(unit)), 1)
    print(f"vendi at n = {n}: {v:.3f} in {t_dual:.3f} s (dual d × d); the n × n eigenproblem "
          f"takes {t_primal:.2f} s already at n = 2000")
    print(f"in_cell_speedup={t_global / t_cell:.1f}")


if __name__ == "__main__":
    main()
