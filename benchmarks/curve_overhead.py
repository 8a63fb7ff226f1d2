"""What a training curve adds to a quick run: the intermediate evaluations' share of the run.

A quick run evaluates at ``eval_points`` = 4 points (25/50/75/100 % of its steps) on
``curve_samples`` = 2,000 samples each, besides its final evaluation on 10,000. Per family
(the default VAE and DCGAN, their default training modes) this times, side by side in one
process and alternating, best of ``--repeats``:

- the run with 1 point (today's behaviour): training (``--train-steps`` steps timed, scaled
  to the budget's steps) + the final evaluation (``study.pipeline.evaluate_model``, warm reference);
- one curve point (``evaluate_model(..., namespace="curve")``), of which a 4-point run does 4 extra
  (three intermediate and the 100 % point, which is evaluated like the others so that
  every point of a curve comes from the same computation).

``curve_overhead`` = 4 points / (training + final evaluation); the target is ≤ 0.10 for the
intermediate points (3 of the 4), printed separately. Last line: ``curve_overhead=<largest
fraction over the families, all 4 points>``.

    OMP_NUM_THREADS=1 python benchmarks/curve_overhead.py [--train-steps 40 --repeats 2]
"""

from __future__ import annotations

import argparse
import time

from lgm.evaluation.registry import CURVE_NAMESPACE
from lgm.train import train
from quick_run import quick_run
from study.pipeline import curve_steps, evaluate_model


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def family_costs(family: str, train_steps: int, repeats: int) -> dict:
    config, model, stream, timed = quick_run(family, train_steps)
    for namespace in ("eval", CURVE_NAMESPACE):  # warm-up: both reference caches
        evaluate_model(model, config, device="cpu", namespace=namespace, progress=False)
    times = {"train": [], "final": [], "point": []}
    for _ in range(repeats):
        times["train"].append(best_of(lambda: train(model, stream, timed), 1) / train_steps * config.train_steps)
        times["final"].append(best_of(lambda: evaluate_model(model, config, device="cpu", progress=False), 1))
        times["point"].append(best_of(lambda: evaluate_model(model, config, device="cpu", namespace=CURVE_NAMESPACE), 1))
    best = {k: min(v) for k, v in times.items()}
    best["points"] = len(curve_steps(config))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    overheads = {}
    for family in ("vae", "gan"):
        c = family_costs(family, args.train_steps, args.repeats)
        run = c["train"] + c["final"]
        overheads[family] = c["points"] * c["point"] / run
        intermediate = (c["points"] - 1) * c["point"] / run
        print(f"quick {family}: training {c['train']:.1f} s + final evaluation {c['final']:.1f} s; "
              f"one curve point {c['point']:.2f} s x {c['points']} points = {100 * overheads[family]:.1f} % "
              f"of the run (the {c['points'] - 1} intermediate points: {100 * intermediate:.1f} %)")
    print(f"curve_overhead={max(overheads.values()):.3f}")


if __name__ == "__main__":
    main()
