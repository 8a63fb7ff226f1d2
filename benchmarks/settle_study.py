"""The default settle study, timed, and the CPU it saved against a fixed design.

    python benchmarks/settle_study.py --out out/settle_bench [--max-minutes 40] [--workers 2]
                                      [--budget quick] [--sweeps gan_scaling gan_vs_vae]
    python benchmarks/settle_study.py --out DIR --from-records      # numbers of a finished settle

Runs ``python -m study settle`` on the default questions into a fresh ``--out`` (what
``make study`` runs) and prints, from the run records:

- ``settle_cpu_minutes``: what the settle's runs cost, each run once (reused runs are copies,
  free): its own training (an extension's clock minus the run it continues) plus the rest of
  its wall-clock (evaluations, curve points, start-up; one thread per run, so wall ≈ CPU of
  one core);
- ``fixed_cpu_minutes``: every configuration the settle compared, with the seeds it ended
  with, trained from scratch at the largest budget factor any question reached — the fixed
  design that gets there without looking — estimated per configuration from the same
  records (seconds per step × steps + the measured rest; ``study.settle_costs``);
- ``cpu_saved_minutes`` and their ratio, then the last line ``settle_minutes=<wall-clock>``.

``--from-records``: no training, the numbers of a settle already in ``--out`` (wall-clock
from its ``settle.json`` rounds). Do not run the full default here casually: it is the
``make study`` workload (about 40 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts.record import (EVAL_SECONDS_KEY, FINISHED, read_record, read_settle,  # noqa: E402
                              settled_state)
from study.config import RunConfig, base_config  # noqa: E402
from study.identity import config_hash  # noqa: E402
from study.settle_costs import CostModel, own_training, wall_of  # noqa: E402

DEFAULT_SWEEPS = ("gan_scaling", "gan_vs_vae")


def _trained_runs(out: Path, sweeps) -> list[tuple[Path, dict]]:
    """Every finished run the settle trained itself (not a reuse), each configuration once."""
    runs, seen = [], set()
    for name in sweeps:
        for folder in sorted((out / name).glob(f"{name}-*")):
            record = read_record(folder)
            if not record or record["status"] != FINISHED or record.get("reused_from"):
                continue
            digest = folder.name.rsplit("-", 1)[-1]
            if digest not in seen:
                seen.add(digest)
                runs.append((folder, record))
    return runs


def settle_cpu_seconds(out: Path, sweeps) -> float:
    """What the settle's runs cost: own training + the rest of each run's wall-clock."""
    total = 0.0
    for folder, record in _trained_runs(out, sweeps):
        train = own_training(record, folder)
        wall = wall_of(record)
        rest = (wall - train) if wall is not None else float(record["summary"].get(EVAL_SECONDS_KEY) or 0)
        total += train + max(0.0, rest)
    return total


def fixed_cpu_seconds(out: Path, sweeps) -> tuple[float, int, int]:
    """Every compared configuration × the final seeds, from scratch at the largest factor
    reached; returns (seconds, runs, factor)."""
    finals = {name: settled_state(read_settle(out / name)) for name in sweeps}
    factor = max(int(r["budget_factor"]) for r in finals.values())
    model, seen, total = CostModel.measure(out), set(), 0.0
    for name, final in finals.items():
        for folder in (out / name).glob(f"{name}-*"):
            record = read_record(folder)
            if not record or (record["config"].get("budget_factor") or 1) != final["budget_factor"] \
                    or record["config"]["seed"] not in final["seeds"]:
                continue
            config = base_config(RunConfig.from_dict(record["config"]), factor)
            if config_hash(config) not in seen:
                seen.add(config_hash(config))
                total += model.run_seconds(config, config.train_steps)
    return total, len(seen), factor


def wall_from_records(out: Path, sweeps) -> float:
    """The settle's wall-clock from its rounds (a round shared by sweeps counted once)."""
    rounds = {(r.get("planned_at"), r.get("seconds")) for name in sweeps
              for r in read_settle(out / name)["rounds"] if r["status"] == "done"}
    return sum(seconds or 0.0 for _, seconds in rounds)


def run_settle(args) -> float:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        sys.exit(f"error: {out} is not empty; the benchmark times a fresh settle (or pass --from-records)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_SILENT": "true"}
    command = [sys.executable, "-m", "study", "settle", *args.sweeps, "--out", str(out),
               "--max-minutes", str(args.max_minutes), "--workers", str(args.workers),
               "--set", f"budget={args.budget}"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env)
    if done.returncode not in (0, 1):
        sys.exit(f"error: settle exited with {done.returncode}")
    return time.monotonic() - started


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--sweeps", nargs="+", default=list(DEFAULT_SWEEPS))
    p.add_argument("--max-minutes", type=float, default=40.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", default="quick")
    p.add_argument("--from-records", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    wall = wall_from_records(out, args.sweeps) if args.from_records else run_settle(args)
    spent = settle_cpu_seconds(out, args.sweeps)
    fixed, runs, factor = fixed_cpu_seconds(out, args.sweeps)
    for name in args.sweeps:
        final = [r for r in read_settle(out / name)["rounds"] if r["status"] == "done"][-1]
        print(f"{name}: {final.get('verdict')}{' (settled)' if final.get('settled') else ''} at "
              f"budget x{final['budget_factor']}, {len(final['seeds'])} seeds, round {final['round']}")
    print(f"settle_cpu_minutes={spent / 60:.1f}")
    print(f"fixed_cpu_minutes={fixed / 60:.1f} ({runs} runs from scratch at budget x{factor})")
    print(f"cpu_saved_minutes={(fixed - spent) / 60:.1f} (fixed/settle = {fixed / max(spent, 1e-9):.2f})")
    print(f"settle_minutes={wall / 60:.1f}")


if __name__ == "__main__":
    main()
