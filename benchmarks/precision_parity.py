"""Parity of the GAN's fast training mode: the gan_scaling question trained in float32 and in
the fast mode (bf16 autocast + channels_last), 3 seeds each at the quick budget.

With ``--run`` it trains both (``python -m study sweep sweeps/gan_scaling.yaml`` once with
``--set precision=fp32 --set memory_format=contiguous`` and once with the default ``auto``,
about 40 minutes with 2 workers on 2 CPU cores); without, it reads the runs already under
``--out``. It prints, per training mode and scaling, the FIDs of the seeds, their mean and
standard deviation, the difference of the modes' means against the seed spread, and the
question's verdict computed separately from each mode's runs by the analysis.

Last line: ``parity_max_z=<largest |mean difference| / its standard error> verdicts=<fp32>/<fast>``
(parity: z well inside seed noise, |z| < 2, and the same verdict).

    OMP_NUM_THREADS=1 python benchmarks/precision_parity.py [--run] [--out out/parity]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "sweeps" / "gan_scaling.yaml"


def train_both(out: Path) -> None:
    base = [sys.executable, "-m", "study", "sweep", str(SWEEP), "--workers", "2", "--out", str(out)]
    subprocess.run([*base, "--set", "precision=fp32", "--set", "memory_format=contiguous"], cwd=ROOT, check=True)
    subprocess.run(base, cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "parity")
    parser.add_argument("--run", action="store_true", help="train both modes first")
    args = parser.parse_args()
    if args.run:
        train_both(args.out)
    from analysis import load_runs, load_sweep_spec
    from analysis.sweep_analysis import analyse_sweep

    runs = load_runs(args.out / "gan_scaling")
    spec = load_sweep_spec(args.out / "gan_scaling", "gan_scaling")
    verdicts, means = {}, {}
    for mode, group in runs.groupby("precision", sort=True):
        analysis = analyse_sweep(group.drop(columns=["precision", "memory_format"]), spec, resamples=2000)
        verdicts[mode] = analysis.result.verdict
        for scaling, fids in group.groupby("scaling")["eval/fid"]:
            values = fids.tolist()
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            means[(mode, scaling)] = (mean, std, len(values))
            shown = ", ".join(f"{v:.2f}" for v in values)
            print(f"{mode:5s} {scaling:14s} FID {shown}: mean {mean:.2f} ± {std:.2f}")
    z_values = []
    for scaling in sorted({s for _, s in means}):
        (m1, s1, n1), (m2, s2, n2) = means[("fp32", scaling)], means[("bf16", scaling)]
        z = (m2 - m1) / math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)
        z_values.append(z)
        print(f"{scaling}: fast - fp32 = {m2 - m1:+.2f} FID, z = {z:+.2f} (seed standard errors)")
    print(f"verdict with fp32 runs: {verdicts.get('fp32')}; with fast runs: {verdicts.get('bf16')}")
    print(f"parity_max_z={max(abs(z) for z in z_values):.2f} "
          f"verdicts={verdicts.get('fp32')}/{verdicts.get('bf16')}")


if __name__ == "__main__":
    main()
