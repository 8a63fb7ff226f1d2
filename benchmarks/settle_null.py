"""The whole settle loop, simulated: false verdicts with no real effect, and power.

A simulated question compares two configurations ("a" predicted to have the lower FID) in a
world shaped like this study's quick DCGAN runs. Each configuration's true mean FID over
training time is ``m(t) = floor + 40·(t/t0)^(−0.6)`` (t0 = the quick budget's 240 s); a seed
multiplies its run's curve by ``1 + sd·z`` for the whole run (training seed effect, kept when
the run is extended); every curve point adds evaluation noise (SE 1 % at N = 2,000) and FID's
small-sample bias (+1.5 at N = 2,000, +0.3 at the final N = 10,000). Under the null both
floors are 15 (the curves improve with budget but never separate); under the alternative "a"'s
floor is lower so that its final FID is ``1 − effect`` of "b"'s at every budget.

The loop, as ``python -m study settle`` runs it: look ``k`` analyses the runs
(:func:`analysis.settle_rule.settle_decision` with the curves' forecast); settled → stop; else
``extend`` doubles every compared run's budget (an extension keeps its curve and adds the new
budget's points beyond the old one: 3/4 and 4/4 of it), ``add_seeds`` trains that many new
seeds per configuration at the current budget (capped), and the next look follows; the loop
stops at ``max_looks``, at the caps, or when the decision asks for nothing it can add. The
verdict the loop ends with is the question's answer (provisional or not: a decisive answer
at the last look counts as decisive).

Run: ``python benchmarks/settle_null.py [--questions N]``; the last line is
``settle_null_false_verdicts=<fraction>`` (supported or contradicted among null questions).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from contracts.sweep import Prediction, SweepSpec
from analysis.curves import OverTraining, curve_key
from analysis.forecast import forecast_question
from analysis.settle_rule import settle_decision
from analysis.sweep_analysis import SweepAnalysis

PREDICTION = Prediction(metric="eval/fid", kind="pairwise", parameter="p", better="a", worse="b")
SPEC = SweepSpec(name="sim", question="q", expected="e", prediction=PREDICTION,
                 parameters={"p": ["a", "b"], "seed": [0, 1, 2]})
T0, AMPLITUDE, SHAPE, FLOOR = 240.0, 40.0, 0.6, 15.0
NOISE, BIAS_CURVE, BIAS_EVAL = 0.01, 1.5, 0.3
DECISIVE = ("supported", "contradicted")


def _true_curve(t: np.ndarray, shape: tuple) -> np.ndarray:
    floor, amplitude, exponent = shape
    return floor + amplitude * (t / T0) ** (-exponent)


def _shapes(effect: float) -> dict:
    """(floor, amplitude, exponent) per configuration: 'a' at (1 − effect) × 'b' at the quick
    budget (and close to it at every budget)."""
    b_final = _true_curve(np.array([T0]), (FLOOR, AMPLITUDE, SHAPE))[0]
    return {"a": (FLOOR - effect * b_final, AMPLITUDE, SHAPE), "b": (FLOOR, AMPLITUDE, SHAPE)}


# gan_vs_vae as measured (study/README.md): the DCGAN 31.5 at quick and 14.3 at 5× (full),
# the VAE 27.3 and 24.0: a + b·u^(−c) through both points (c 0.6 for the GAN, 1.0 for the
# VAE) cross at about 1.5× the quick budget.
CROSSING = {"a": (3.7, 27.8, 0.6), "b": (23.2, 4.1, 1.0)}


def _new_times(before: float | None, after: float) -> np.ndarray:
    """Curve times a run trained to ``after`` × T0 adds beyond ``before`` × T0 (None: a new run)."""
    return np.array([T0 * after * k / 4 for k in range(1, 5) if before is None or after * k / 4 > before])


class World:
    """One simulated question: its runs, each with its seed effect and the curve points and
    final evaluation it has logged so far (an extension keeps the points it had)."""

    def __init__(self, rng, *, effect: float, sd: float, shapes: dict | None = None):
        self.rng, self.sd, self.shapes = rng, sd, shapes or _shapes(effect)
        self.runs = {"a": [], "b": []}    # per run: {"z", "budget", "t", "y", "final", "se"}

    def _train(self, run: dict, value: str, budget: float) -> None:
        nominal = _new_times(run.get("budget"), budget)
        t = nominal * (1 + 0.05 * self.rng.normal(size=nominal.size))  # measured seconds wobble
        run["steps"] = np.concatenate([run.get("steps", []), np.round(nominal / T0 * 1872)])  # 4 epochs
        mean = _true_curve(t, self.shapes[value]) * (1 + self.sd * run["z"])
        run["t"] = np.concatenate([run.get("t", []), t])
        run["y"] = np.concatenate([run.get("y", []), mean + BIAS_CURVE + NOISE * mean * self.rng.normal(size=t.size)])
        run["final"] = mean[-1] + BIAS_EVAL + NOISE / 2 * mean[-1] * self.rng.normal()
        run["se"], run["budget"] = NOISE / 2 * mean[-1], budget

    def add_seeds(self, count: int, budget: float) -> None:
        for value, runs in self.runs.items():
            for _ in range(count):
                runs.append({"z": self.rng.normal()})
                self._train(runs[-1], value, budget)

    def extend(self, budget: float) -> None:
        for value, runs in self.runs.items():
            for run in runs:
                self._train(run, value, budget)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(runs, curves) as analysis.load and analysis.curves.curve_table give them."""
        rows, curves = [], []
        for value, runs in self.runs.items():
            for seed, run in enumerate(runs):
                run_id = f"{value}-{seed}"
                rows.append({"run_id": run_id, "p": value, "seed": seed, "eval/fid": run["final"],
                             "eval/fid_se": run["se"]})
                curves += [{"run_id": run_id, "p": value, "seed": seed, "point": k + 1, "step": sk,
                            "time/train_s": tk, "curve/fid": yk, "curve/num_samples": 2000}
                           for k, (sk, tk, yk) in enumerate(zip(run["steps"], run["t"], run["y"]))]
        return pd.DataFrame(rows), pd.DataFrame(curves)


def analyse(runs: pd.DataFrame, curves: pd.DataFrame) -> SweepAnalysis:
    """The SweepAnalysis settle_decision reads, built from in-memory tables."""
    forecast = forecast_question(curves, runs, PREDICTION, key=curve_key(PREDICTION.metric))
    over = OverTraining(metric=curve_key(PREDICTION.metric), forecast=forecast)
    return SweepAnalysis(name="sim", runs=runs, usable=runs, spec=SPEC, spec_error=None, result=None,
                         table=pd.DataFrame(), metric=PREDICTION.metric, by=["p"], over_training=over)


def settle_loop(rng, *, effect: float, sd: float, max_looks: int, max_seeds: int,
                max_budget: float, shapes: dict | None = None) -> dict:
    """One question through the whole loop; what it ended with."""
    world, budget, seeds = World(rng, effect=effect, sd=sd, shapes=shapes), 1.0, 3
    first = None
    world.add_seeds(seeds, budget)
    for look in range(1, max_looks + 1):
        decision = settle_decision(analyse(*world.tables()), look=look, max_looks=max_looks)
        first = first or decision.verdict
        if decision.settled or look == max_looks:
            break
        grew = False
        if decision.extend and budget * 2 <= max_budget:
            budget *= 2
            world.extend(budget)
            grew = True
        add = min(decision.add_seeds, max_seeds - seeds)
        if add > 0:
            world.add_seeds(add, budget)
            seeds += add
            grew = True
        if not grew:
            break
    return {"verdict": decision.verdict, "first": first, "settled": decision.settled, "looks": look,
            "budget": budget, "seeds": seeds}


def simulate(questions: int, *, seed: int, effect: float = 0.0, sd: float = 0.05, max_looks: int = 4,
             max_seeds: int = 10, max_budget: float = 8.0, shapes: dict | None = None) -> pd.DataFrame:
    """``questions`` simulated questions through the loop; one row each (``shapes``: the
    configurations' true curves, e.g. :data:`CROSSING`; default from ``effect``)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([settle_loop(rng, effect=effect, sd=sd, max_looks=max_looks, max_seeds=max_seeds,
                                     max_budget=max_budget, shapes=shapes) for _ in range(questions)])


def _summary(d: pd.DataFrame) -> str:
    return (f"settled {d['settled'].mean():.2f}, mean looks {d['looks'].mean():.1f}, "
            f"seeds {d['seeds'].mean():.1f}, budget ×{d['budget'].mean():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    start = time.perf_counter()
    for effect, sd in ((0.25, 0.02), (0.25, 0.05), (0.25, 0.08), (0.10, 0.05)):
        power = simulate(args.questions // 4, seed=11, effect=effect, sd=sd)
        print(f"power: FID ratio {1 - effect:.2f}, seed SD {sd:.0%}: "
              f"supported {(power['verdict'] == 'supported').mean():.2f}, {_summary(power)}")
    cross = simulate(args.questions // 4, seed=13, sd=0.02, shapes=CROSSING)
    print(f"gan_vs_vae-like (curves crossing at ~1.5× quick), seed SD 2 %: first look "
          f"{cross['first'].value_counts().to_dict()}, end {cross['verdict'].value_counts().to_dict()}, "
          f"{_summary(cross)}")
    null = simulate(args.questions, seed=7, effect=0.0, sd=0.05)
    rate = float(null["verdict"].isin(DECISIVE).mean())
    print(f"null: {args.questions} questions, seed SD 5 %: verdicts {null['verdict'].value_counts().to_dict()}, "
          f"{_summary(null)} ({time.perf_counter() - start:.0f} s)")
    print(f"settle_null_false_verdicts={rate:.4f}")


if __name__ == "__main__":
    main()
