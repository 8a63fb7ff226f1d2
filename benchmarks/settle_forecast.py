"""The forecast against what was measured: fitted on the quick runs' curves alone, the full
budget's FIDs (``study/README.md``, "Quick vs full, measured"; ``tests/fixtures/settle/full.csv``).

The full budget is 5× quick's (20 vs 4 GAN epochs, 60 vs 12 VAE epochs), so each
configuration is forecast at 5× its own quick runs' trained time. Measured seconds are not
used across sessions: they depend on the machine's load (the same quick run took 220 s per
epoch under a loaded machine, 60 s on a quiet one), while the budget factor does not. FID's
small-sample bias: curves are at N = 2,000, the final evaluation at N = 10,000; each seed's
forecast is shifted by its own final ``eval/fid − curve/fid`` (``analysis.forecast``).

    python benchmarks/settle_forecast.py --write-fixture out/runs   # quick curves → fixture
    python benchmarks/settle_forecast.py                            # the check, from the fixture

Last line: ``settle_forecast_error=<mean relative error of the full-budget FID forecasts>``.

Measured (fixture of 2026-12-05: all nine quick runs, 3 seeds each, from one ``make study``;
the first fixture held only the two DCGAN [-1, 1] runs finished by then and gave 16.07 vs
14.33, error 0.12): DCGAN [-1, 1] forecast 12.56 [−3.1, 28.2] vs 14.33 at full (−12 %),
DCGAN [0, 1] 13.50 [0.4, 40.6] vs 19.97 (−32 %), VAE 20.44 [17.0, 26.4] vs 24.01 (−15 %):
``settle_forecast_error=0.1802`` (the mean over the four rows printed: DCGAN [-1, 1]
is in both sweeps; over the three distinct configurations 0.20). Every full value lies in its 90 % interval, but the DCGAN's
intervals are wide (its curve still falls steeply at quick's end: 59 → 32 over the four
points), and the [0, 1] DCGAN's forecast is too optimistic, so gan_scaling's gap is forecast to
close and cross at 5.4× (full training keeps the order): the forecast cannot exclude a change
there, which is why ``settle`` extends that question instead of answering it from quick.
gan_vs_vae: closing, forecast to cross at 1.3× quick (≈ 5 GAN epochs; measured: the VAE
ahead at 5 epochs, the DCGAN from 10).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from contracts.sweep import parse_sweep_config
from analysis.curves import curve_table
from analysis.forecast import fit_configuration, forecast_gap
from analysis.load import at_budget, load_runs, usable_runs

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "settle"
SWEEPS = ("gan_scaling", "gan_vs_vae")
FULL_FACTOR = 5.0    # full / quick budget, both families (study/budgets.py)
GAN_QUICK_EPOCHS = 4
CONFIG = ("model", "scaling")
RUN_COLUMNS = ("eval/fid", "eval/fid_se", "eval/num_samples")
CURVE_COLUMNS = ("point", "step", "time/train_s", "curve/fid", "curve/fid_se", "curve/num_samples")


def write_fixture(runs_dir: Path, out: Path = FIXTURE) -> Path:
    """The quick runs' curve points and final FIDs as one CSV (not the run folders)."""
    runs = usable_runs(load_runs(str(runs_dir)))
    runs = at_budget(runs[runs["sweep"].isin(SWEEPS)], budget_factor=1)  # quick itself, not a settle's x2
    curves = curve_table(runs, by=list(CONFIG))
    finals = runs[["run_id", "sweep", *RUN_COLUMNS]]
    table = curves[["run_id", *CONFIG, "seed", *CURVE_COLUMNS]].merge(finals, on="run_id")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quick_curves.csv"
    table.sort_values(["sweep", "run_id", "point"]).to_csv(path, index=False)
    return path


def _spec(name: str):
    root = Path(__file__).resolve().parent.parent
    return parse_sweep_config(yaml.safe_load((root / "sweeps" / f"{name}.yaml").read_text()))


def forecasts(fixture: Path) -> dict:
    """Per sweep: per configuration the forecast mean FID at the full budget with its 90 %
    interval against the measured full mean, and the comparison's gap (when both
    configurations have at least 2 finished quick runs)."""
    quick = pd.read_csv(fixture / "quick_curves.csv")
    full = pd.read_csv(fixture / "full.csv")
    out = {}
    for name in SWEEPS:
        curves = quick[quick["sweep"] == name]
        runs = curves.drop_duplicates("run_id")[["run_id", *CONFIG, "seed", *RUN_COLUMNS]].reset_index(drop=True)
        prediction = _spec(name).prediction
        rows, fits = [], []
        for value in prediction.compared:
            chosen = runs[runs[prediction.parameter].astype(str) == str(value)]
            fit = fit_configuration(curves[curves["run_id"].isin(chosen["run_id"])], chosen, key="curve/fid",
                                    metric=prediction.metric, label=f"{prediction.parameter}={value}")
            fits.append(fit)
            if fit is None:
                continue
            measured = full[(full["sweep"] == name) & (full[prediction.parameter].astype(str) == str(value))]
            mean, low, high = fit.mean_interval([FULL_FACTOR * fit.t_last])
            rows.append({"configuration": fit.label, "form": fit.form, "quick_seeds": fit.seeds,
                         "quick": chosen["eval/fid"].mean(), "forecast": float(mean[0]), "low": float(low[0]),
                         "high": float(high[0]), "full": float(measured["eval/fid"].mean()),
                         "full_seeds": len(measured)})
        table = pd.DataFrame(rows)
        if not table.empty:
            table["error"] = (table["forecast"] - table["full"]) / table["full"]
        gap = (forecast_gap(*fits, expected_sign=-1, margin=prediction.margin)
               if None not in fits else None)
        out[name] = (gap, table)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-fixture", metavar="RUNS_DIR", type=Path)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    args = parser.parse_args()
    if args.write_fixture:
        print(f"wrote {write_fixture(args.write_fixture)}")
        return
    errors = []
    for name, (gap, table) in forecasts(args.fixture).items():
        print(f"== {name}: quick curves → full budget ({FULL_FACTOR:g}× quick)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}") if not table.empty
              else "  no configuration with 2 finished quick runs")
        if not table.empty:
            errors += list(np.abs(table["error"]))
        if gap is not None:
            print("  " + gap.describe())
            cross = gap.crossing()
            if cross is not None:
                factor = cross / gap.t_now
                print(f"  crossing at {factor:.1f}× the quick budget ≈ {factor * GAN_QUICK_EPOCHS:.0f} GAN epochs")
    print(f"settle_forecast_error={np.mean(errors):.4f}")


if __name__ == "__main__":
    main()
