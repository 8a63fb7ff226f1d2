"""Data copying: the three-sample test C_T (Meehan et al. 2020) and the copy fraction.

Meehan, Chaudhuri, Dasgupta, "A Non-Parametric Test to Detect Data-Copying in Generative
Models", AISTATS 2020. Three samples live in one feature space: the training set ``T``, a
held-out test sample ``P_n`` (n points) and the generated sample ``Q_m`` (m points). A model
that copies its training data puts samples *closer* to ``T`` than fresh data from the same
distribution are; one that underfits puts them farther away. The space is cut into cells
``Π`` (k-means on ``T``, as in the paper: 50 cells at m = n = 10,000); inside each cell π the
distance to the cell's nearest training point,

    L(x) = min_{t ∈ T ∩ π} |x - t|,        x ∈ π,

of generated and test points are compared by the Mann–Whitney U statistic, z-scored under
the null hypothesis that both come from one distribution:

    U_π    = #{(q, p): L(q) > L(p)} + ½ #{(q, p): L(q) = L(p)},  q ∈ Q_m ∩ π, p ∈ P_n ∩ π
    Z_U(π) = (U_π - (n_π m_π / 2 - ½)) / sqrt(n_π m_π (n_π + m_π + 1) / 12)

(the ½ is the authors' continuity correction; no tie correction of the variance, as in their
code). The statistic is the test-weighted mean over the cells that hold enough samples,

    C_T = Σ_{π ∈ Π_τ} P_n(π) Z_U(π) / Σ_{π ∈ Π_τ} P_n(π),   Π_τ = {π : m_π > τ m},

with ``τ m = 20`` samples as in the paper's experiments (τ = 20/m). C_T ≈ 0 when the samples
are as far from ``T`` as held-out data; **C_T ≪ 0 means data copying, C_T ≫ 0
underfitting** (samples farther from the training data than real data are). It is a z-score,
so its size grows like sqrt(m) at a fixed effect: compare it only at equal m.

The copy fraction (this project's companion number, in the spirit of dgm-eval's AuthPct) is

    copy_fraction = (1/m) Σ_q 1[ L(q) < quantile_α({L(p) : p ∈ P_n}) ],

the share of generated samples closer to the training set than all but a fraction α of
held-out images are (α = 5 %): ≈ α for a model whose samples are as novel as real data,
→ 1 for a model that returns training images. It uses the same in-cell distance ``L`` as
C_T, not the distance to the nearest of *all* training points: that needs only the within-
cell distances (about 1/k of a full nearest-neighbour search: the whole test takes 0.26 s
at 10,000 × 10,000 × 128, ``benchmarks/memorisation.py``), and it equals the global nearest
distance whenever that neighbour lies in the point's own cell (83 % of held-out points). A
verbatim copy of a training point is at L = 0 either way.

Cells. The partition is a seeded k-means (k-means++ start, 10 Lloyd iterations) of ``T``; a
point belongs to the cell of its nearest centre (training points too, so a copy of a
training point falls in that point's cell). The number of cells follows the paper's ratio,
one per 200 generated samples, at most 50: ``k = clip(m // 200, 1, 50)``. Cells without test
points have weight P_n(π) = 0 and an undefined Z_U; they are left out (the authors' code
raises an error there). If no cell qualifies (m ≤ 20), C_T is NaN.

Distances are squared (ranks and quantiles are unchanged by the monotone square root),
float64, on features centred on ``T``'s mean (see ``_knn.center_on``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import rankdata

from ._arrays import as_features, check_int, check_same_dim
from ._knn import DEFAULT_BLOCK_SIZE, center_on, cross_distance_blocks, squared_distances

__all__ = ["DataCopying", "data_copying", "kmeans", "assign_cells", "cell_count",
           "cell_nearest_sq_distances", "mann_whitney_z", "ct_statistic", "copy_fraction"]


class DataCopying(NamedTuple):
    ct: float             # C_T: ≪ 0 copying, ≈ 0 like held-out data, ≫ 0 underfitting
    copy_fraction: float  # share of samples nearer to T than the α-quantile of test points
    num_cells: int        # cells of the partition
    cells_used: int       # cells in Π_τ (enough generated samples, some test points)


def cell_count(m: int, *, max_cells: int = 50, samples_per_cell: int = 200) -> int:
    """``clip(m // samples_per_cell, 1, max_cells)``: the paper's 50 cells at m = 10,000."""
    return int(min(max_cells, max(1, m // samples_per_cell)))


def assign_cells(x: np.ndarray, centres: np.ndarray,
                 block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Index of the nearest centre of each row of ``x`` (ties: the lowest index)."""
    cells = np.empty(len(x), dtype=np.int64)
    for rows, d in cross_distance_blocks(x, centres, block_size):
        cells[rows] = d.argmin(axis=1)
    return cells


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Arthur & Vassilvitskii 2007: each new centre drawn with probability ∝ D(x)², the
    squared distance to the nearest centre chosen so far."""
    x_sq = np.einsum("ij,ij->i", x, x)  # once, not once per centre
    centres = [x[rng.integers(len(x))]]
    nearest = squared_distances(x, centres[0][None, :], a_sq=x_sq)[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        # All remaining points coincide with a centre: any point will do (a duplicate
        # centre ends up empty and is dropped by ``kmeans``).
        i = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=nearest / total)
        centres.append(x[i])
        np.minimum(nearest, squared_distances(x, x[i][None, :], a_sq=x_sq)[:, 0], out=nearest)
    return np.array(centres)


def kmeans(x, k: int, *, seed: int = 0, iterations: int = 50,
           block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Centres (k', d), k' ≤ k, of a seeded k-means of ``x`` (n, d).

    k-means++ start, then Lloyd's iterations until no assignment changes (at most
    ``iterations``). Centres left without points are dropped at the end, so every returned
    centre owns at least one row of ``x`` under :func:`assign_cells` with the same
    ``block_size`` (the same blocks give the same rounding, hence the same assignment).
    """
    x = as_features(x, "x", min_rows=1)
    k = check_int(k, "k", minimum=1, maximum=len(x))
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    centres = _kmeans_plus_plus(x, k, rng)
    cells = assign_cells(x, centres, block_size)
    columns = np.arange(len(x))
    for _ in range(iterations):
        # Cell sums as one GEMM with the k × n indicator matrix (np.add.at is unbuffered
        # and ~100× slower at 10,000 × 128).
        indicator = np.zeros((len(centres), len(x)))
        indicator[cells, columns] = 1.0
        counts = indicator.sum(axis=1)
        keep = counts > 0  # an emptied cell keeps its old centre
        centres[keep] = (indicator @ x)[keep] / counts[keep, None]
        new = assign_cells(x, centres, block_size)
        if np.array_equal(new, cells):
            break
        cells = new
    # Dropping a centre that owns no point changes no point's nearest centre.
    owned = np.bincount(assign_cells(x, centres, block_size), minlength=len(centres)) > 0
    return centres[owned]


def _partition(train: np.ndarray, k: int, seed: int, iterations: int,
               block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means centres of ``train`` and each training point's cell, every cell owning at
    least one training point (re-checked here: a centre array of another shape may round
    a near-tie differently inside BLAS)."""
    centres = kmeans(train, k, seed=seed, iterations=iterations, block_size=block_size)
    while True:
        cells = assign_cells(train, centres, block_size)
        owned = np.unique(cells)
        if len(owned) == len(centres):
            return centres, cells
        centres = centres[owned]


def cell_nearest_sq_distances(queries: np.ndarray, query_cells: np.ndarray, train: np.ndarray,
                              train_cells: np.ndarray, num_cells: int,
                              block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """``L(x)²``: squared distance of each query to the nearest training point of its cell.

    Every cell must own a training point (``kmeans`` guarantees it for its own centres).
    """
    out = np.empty(len(queries))
    for j in range(num_cells):
        t = train[train_cells == j]
        rows = np.flatnonzero(query_cells == j)
        if len(rows) and not len(t):
            raise ValueError(f"cell {j} holds queries but no training point")
        t_sq = np.einsum("ij,ij->i", t, t)
        for start in range(0, len(rows), block_size):
            r = rows[start:start + block_size]
            out[r] = squared_distances(queries[r], t, b_sq=t_sq).min(axis=1)
    return out


def mann_whitney_z(generated: np.ndarray, test: np.ndarray) -> float:
    """Z_U of one cell (formula in the module docstring): U counts the pairs in which the
    generated distance is the larger; mid-ranks for ties (``scipy.stats.rankdata``)."""
    m, n = len(generated), len(test)
    ranks = rankdata(np.concatenate([generated, test]))
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    mean = n * m / 2.0 - 0.5  # the authors' continuity correction
    std = np.sqrt(n * m * (n + m + 1) / 12.0)
    return float((u - mean) / std)


def ct_statistic(gen_l: np.ndarray, gen_cells: np.ndarray, test_l: np.ndarray,
                 test_cells: np.ndarray, num_cells: int,
                 min_cell_samples: int = 20) -> tuple[float, int]:
    """``(C_T, cells used)`` from in-cell distances ``L`` and cell indices (module docstring).

    A cell is used when it holds more than ``min_cell_samples`` generated points (the
    paper's Q_m(π) > τ with τ = 20/m) and at least one test point.
    """
    m_counts = np.bincount(gen_cells, minlength=num_cells)
    n_counts = np.bincount(test_cells, minlength=num_cells)
    used = np.flatnonzero((m_counts > min_cell_samples) & (n_counts > 0))
    if not len(used):
        return float("nan"), 0
    z = np.array([mann_whitney_z(gen_l[gen_cells == j], test_l[test_cells == j]) for j in used])
    weights = n_counts[used] / len(test_l)  # P_n(π)
    return float(weights @ z / weights.sum()), int(len(used))


def copy_fraction(gen_l: np.ndarray, test_l: np.ndarray, alpha: float = 0.05) -> float:
    """Share of ``gen_l`` strictly below the α-quantile of ``test_l`` (``np.quantile``,
    linear interpolation). Held-out data score ≈ α, verbatim training copies 1."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    threshold = np.quantile(test_l, alpha)
    return float(np.mean(gen_l < threshold))


def data_copying(train, test, generated, *, max_cells: int = 50, samples_per_cell: int = 200,
                 min_cell_samples: int = 20, alpha: float = 0.05, seed: int = 0,
                 kmeans_iterations: int = 10,
                 block_size: int = DEFAULT_BLOCK_SIZE) -> DataCopying:
    """C_T and the copy fraction of ``generated`` (m, d) against ``train`` (l, d), with
    ``test`` (n, d) as the held-out sample (module docstring).

    ``seed`` seeds the k-means partition of ``train``; keep it fixed across the models you
    compare (the evaluation uses 0 for every run, like its fixed reference subset).
    ``kmeans_iterations`` caps Lloyd's iterations: the test is valid for *any* partition
    fixed before the samples are seen, k-means only makes the cells local, and 10
    iterations cost a fifth of running to convergence (~40 at 10,000 points).
    """
    train = as_features(train, "train", min_rows=1)
    test = as_features(test, "test", min_rows=1)
    generated = as_features(generated, "generated", min_rows=1)
    check_same_dim(train, test, "train", "test")
    check_same_dim(train, generated, "train", "generated")
    block_size = check_int(block_size, "block_size", minimum=1)
    train, test, generated = center_on(train, train, test, generated)
    k = cell_count(len(generated), max_cells=max_cells, samples_per_cell=samples_per_cell)
    centres, train_cells = _partition(train, min(k, len(train)), seed,
                                      check_int(kmeans_iterations, "kmeans_iterations", minimum=0),
                                      block_size)
    test_cells = assign_cells(test, centres, block_size)
    gen_cells = assign_cells(generated, centres, block_size)
    num_cells = len(centres)
    gen_l = cell_nearest_sq_distances(generated, gen_cells, train, train_cells, num_cells, block_size)
    test_l = cell_nearest_sq_distances(test, test_cells, train, train_cells, num_cells, block_size)
    ct, used = ct_statistic(gen_l, gen_cells, test_l, test_cells, num_cells, min_cell_samples)
    return DataCopying(ct, copy_fraction(gen_l, test_l, alpha), num_cells, used)
