"""Benchmark the metrics side by side with the obvious alternative, in one process.

1. FID from cached statistics on random correlated features (n × d, d in 128, 512, 2048):
   this implementation (Cholesky + one symmetric eigenvalue problem, ``lgm``) against the
   formula pytorch-fid uses (``scipy.linalg.sqrtm(s1.dot(s2), disp=False)``, real part,
   trace). Prints both times, their ratio and the relative difference of the two values.
2. KID (100 subsets of 1000) and the four k-NN metrics at n × 128: precision/recall and
   density/coverage each on its own (five distance passes) against the one-pass
   ``manifold_metrics`` with the reference's cached radii (what ``evaluate`` runs), with
   the values side by side (they must be equal).
3. The evaluation entry point on 10,000 samples, cold and warm reference cache.
4. The cost of the extractor checks (issue 21): ``evaluate`` on 10,000 samples (warm
   caches) as it ran before them — the primary extractor only, without ``fwd``/``fid_hm`` —
   against what a run now computes (every shipped extractor's ``EXTRACTOR_METRICS``, the
   extractor-free FWD and the histogram-matched FID), side by side; prints both and the
   added share. ``--extractors-only`` runs just this (last line ``extractor_share=...``).
5. The share of a quick study run that is evaluation, per family: the run's training time
   (``train_steps`` of the ``quick`` budget, the family's default training mode, timed over
   ``--train-steps`` steps and scaled) against the run's whole evaluation (``evaluate`` with
   the run's reconstructions and test ELBO for the VAE, the sample grids and weights), timed
   side by side in this process, the reference cache warm as in every run but the first.

Times are the best of ``--repeats`` runs (the machine is shared and noisy). The number of
BLAS threads changes every figure: run with ``OMP_NUM_THREADS=1`` for comparable numbers.
The LAST printed line is ``eval_share=<largest evaluation / (training + evaluation)>``
(target ≤ 0.10). The FID-at-d=2048 target is retired (the project's classifiers have 128
features, where FID from statistics takes under a millisecond); ``--dims`` still times it.

    OMP_NUM_THREADS=1 python benchmarks/metrics.py [--n 10000] [--dims 128 2048]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import scipy.linalg

from lgm.evaluation.metrics import (density_coverage, feature_statistics, fid_from_statistics,
                                    kid, precision_recall)
from lgm.evaluation.metrics.manifold import manifold_metrics, real_sq_radii


def correlated_features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """``n`` samples of a d-dim Gaussian with a random dense covariance, plus ``shift``."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(12345).normal(size=(d, d)) / np.sqrt(d)  # shared structure
    mix += 0.1 * rng.normal(size=(d, d)) / np.sqrt(d)                  # per-set perturbation
    return rng.normal(size=(n, d)) @ mix + shift


def _scipy_sqrtm(m: np.ndarray) -> np.ndarray:
    # pytorch-fid calls sqrtm(..., disp=False); SciPy 1.17 deprecates `disp` and a later
    # release removes it: keep the call as pytorch-fid makes it while it exists.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            covmean, _ = scipy.linalg.sqrtm(m, disp=False)
    except TypeError:
        covmean = scipy.linalg.sqrtm(m)
    return covmean


def scipy_sqrtm_frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """pytorch-fid's ``calculate_frechet_distance``, step for step."""
    diff = mu1 - mu2
    covmean = _scipy_sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _scipy_sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def best_time(fn, repeats: int):
    """(best wall time in seconds over ``repeats`` calls, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_fid(n: int, d: int, repeats: int) -> float:
    """Time both FID formulas on the same statistics; return scipy time / lgm time."""
    stats_a = feature_statistics(correlated_features(n, d, seed=1))
    stats_b = feature_statistics(correlated_features(n, d, seed=2, shift=0.05))
    t_lgm, v_lgm = best_time(lambda: fid_from_statistics(stats_a, stats_b), repeats)
    t_scipy, v_scipy = best_time(lambda: scipy_sqrtm_frechet_distance(*stats_a, *stats_b),
                                 repeats)
    ratio = t_scipy / t_lgm
    print(f"fid d={d:5d}: lgm {t_lgm:8.3f} s   scipy-sqrtm {t_scipy:8.3f} s   "
          f"speedup {ratio:6.1f}x   values {v_lgm:.10g} vs {v_scipy:.10g} "
          f"(rel diff {abs(v_lgm - v_scipy) / abs(v_scipy):.2e})", flush=True)
    return ratio


def bench_feature_metrics(n: int, d: int, repeats: int) -> None:
    real = correlated_features(n, d, seed=3)
    fake = correlated_features(n, d, seed=4, shift=0.05)
    radii = real_sq_radii(real, (3, 5))  # once per reference, cached with it
    runs = {
        "kid (100 subsets x 1000)": lambda: kid(real, fake),
        "precision_recall (k=3)": lambda: precision_recall(real, fake),
        "density_coverage (k=5)": lambda: density_coverage(real, fake),
        "one pass, cached radii": lambda: manifold_metrics(real, fake, real_radii=radii),
    }
    for name, fn in runs.items():
        seconds, value = best_time(fn, repeats)
        shown = ", ".join(f"{v:.4f}" for v in value)
        print(f"{name:26s} at {n} x {d}: {seconds:7.3f} s   ({shown})", flush=True)


def evaluation_entry_point_timing(num_samples: int = 10_000):
    """Time ``lgm.evaluation.evaluate`` end to end on ``num_samples`` Fashion-MNIST samples.

    Side by side: a cold reference cache (the real-data features are extracted, as a
    pipeline without the cache would on every call) against a warm one (read from disk).
    The sampler is an untrained ``lgm.vae.VAE`` (generation cost of a real model) when that
    imports, else real test images. Prints both times and their ratio; returns the ratio,
    or None when ``lgm.evaluation.evaluate`` cannot be imported.
    """
    try:
        from lgm.evaluation import evaluate  # noqa: F401  (the hook's subject)
    except ImportError as err:
        print(f"evaluation entry point: skipped (cannot import lgm.evaluation.evaluate: {err})")
        return None
    import tempfile

    import torch

    sample_fn, sampler = _entry_point_sampler()
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("LGM_CACHE_DIR")
        os.environ["LGM_CACHE_DIR"] = cache  # a private, initially empty reference cache
        try:
            torch.manual_seed(0)
            times = {}
            for state in ("cold", "warm"):
                start = time.perf_counter()
                out = evaluate(sample_fn=sample_fn, dataset="fashion_mnist",
                               num_samples=num_samples, progress=False)
                times[state] = time.perf_counter() - start
        finally:
            if previous is None:
                os.environ.pop("LGM_CACHE_DIR", None)
            else:
                os.environ["LGM_CACHE_DIR"] = previous
    ratio = times["cold"] / times["warm"]
    print(f"evaluate n={num_samples} ({sampler} sampler, 5 metrics): cold reference cache "
          f"{times['cold']:7.2f} s   warm {times['warm']:7.2f} s   cache speedup {ratio:5.2f}x"
          f"   (fid {out['eval/fid']:.3f})", flush=True)
    return ratio


def extractor_cost(num_samples: int, repeats: int) -> float:
    """(all checks - primary only) / all checks, ``evaluate`` times on warm caches."""
    from lgm.evaluation import evaluate, registry

    sample_fn, sampler = _entry_point_sampler()
    before = tuple(n for n in registry.SAMPLE_METRICS if n not in ("fwd", "fid_hm"))
    runs = {"primary only": {"extractors": (registry.PRIMARY_EXTRACTOR,), "metrics": before},
            "all checks": {"extractors": registry.EXTRACTORS, "metrics": registry.SAMPLE_METRICS}}
    for kwargs in runs.values():  # warm-up: every reference cache filled once
        evaluate(sample_fn=sample_fn, dataset="fashion_mnist", num_samples=num_samples,
                 progress=False, **kwargs)
    times = {name: best_time(lambda kw=kwargs: evaluate(
        sample_fn=sample_fn, dataset="fashion_mnist", num_samples=num_samples, progress=False,
        **kw), repeats)[0] for name, kwargs in runs.items()}
    share = (times["all checks"] - times["primary only"]) / times["all checks"]
    print(f"evaluate n={num_samples} ({sampler} sampler, warm caches): primary only "
          f"{times['primary only']:6.2f} s, with the extractor checks "
          f"({', '.join(registry.EXTRACTORS)} + fwd + fid_hm) {times['all checks']:6.2f} s: "
          f"added share {share:.3f}", flush=True)
    return share


def _entry_point_sampler():
    """(sample_fn, description): an untrained VAE's samples, else real test images."""
    import torch

    try:
        from lgm.vae import VAE, VAEConfig
    except ImportError:
        from lgm.data import load_dataset, scale

        images = scale(load_dataset("fashion_mnist", "test").images, "zero_one")
        gen = torch.Generator().manual_seed(0)
        return (lambda n, labels: images[torch.randint(len(images), (n,), generator=gen)],
                "real-image")
    torch.manual_seed(0)
    vae = VAE(VAEConfig()).eval()
    gen = torch.Generator().manual_seed(0)
    return (lambda n, labels: vae.sample(n, labels, generator=gen)), "untrained-VAE"


def _entry_point_unavailable() -> tuple[type[BaseException], ...]:
    """Errors meaning "the entry point cannot run here yet" (no classifier trained)."""
    try:
        from lgm.evaluation.classifiers import ClassifierWeightsError
    except ImportError:
        return ()
    return (ClassifierWeightsError,)


def quick_run_share(family: str, train_steps: int, repeats: int) -> tuple[float, float]:
    """(training seconds, evaluation seconds) of a quick run of ``family``, side by side."""
    import tempfile
    from pathlib import Path

    from lgm.data import load_dataset
    from lgm.train import train
    from quick_run import quick_run
    from study.pipeline import evaluate_model
    from study.build import save_images

    config, model, stream, timed = quick_run(family, train_steps)

    def evaluation():
        model.eval()
        with tempfile.TemporaryDirectory() as folder:
            evaluate_model(model, config, device="cpu", progress=False)  # what a run's evaluation does
            save_images(model, config, load_dataset(config.dataset, "test"), Path(folder), "cpu")
        return None

    evaluation()  # warm-up: the reference cache, as every run after the first finds it
    per_step, _ = best_time(lambda: train(model, stream, timed), repeats)
    eval_seconds, _ = best_time(evaluation, repeats)
    return per_step / train_steps * config.train_steps, eval_seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per feature set")
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 2048])
    parser.add_argument("--train-steps", type=int, default=40, help="steps timed per family")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--extractors-only", action="store_true",
                        help="only the cost of the extractor checks (item 4)")
    args = parser.parse_args(argv)
    if args.n < 2 or args.repeats < 1 or min(args.dims) < 1:
        parser.error(f"need --n >= 2, --repeats >= 1 and --dims >= 1, got n={args.n}, "
                     f"repeats={args.repeats}, dims={args.dims}")
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
          f"repeats={args.repeats}, n={args.n}", flush=True)
    if args.extractors_only:
        print(f"extractor_share={extractor_cost(args.n, args.repeats):.3f}")
        return
    ratios = {d: bench_fid(args.n, d, args.repeats) for d in args.dims}
    bench_feature_metrics(args.n, 128, args.repeats)
    try:
        evaluation_entry_point_timing()
    except _entry_point_unavailable() as err:  # keep the last line: eval_share=...
        print(f"evaluation entry point: skipped ({type(err).__name__}: "
              f"{str(err).splitlines()[0]})")
    extractor_cost(args.n, args.repeats)
    shares = {}
    for family in ("vae", "gan"):
        train_s, eval_s = quick_run_share(family, args.train_steps, args.repeats)
        shares[family] = eval_s / (train_s + eval_s)
        print(f"quick {family} run: training {train_s:6.1f} s, evaluation {eval_s:5.1f} s, "
              f"evaluation share {shares[family]:.3f}", flush=True)
    print(f"fid_speedup at d={max(args.dims)}: {ratios[max(args.dims)]:.2f}")
    print(f"eval_share={max(shares.values()):.3f}")


if __name__ == "__main__":
    main()
