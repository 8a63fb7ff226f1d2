"""What the study layer costs: one run through the local runner vs lgm called in-process,
and a 4-run sweep with 1 vs 2 workers.

1. Overhead per run. The same tiny run (smoke budget: MLP VAE, 40 steps, 200 evaluation
   samples), best of ``--repeats``:
   - in-process: ``seed_everything`` → build → ``lgm.train.train`` → ``lgm.evaluation.evaluate``
     in this (warmed-up) process, no W&B, no files;
   - warm (the local runner's default): each run a child forked from the preloaded server
     (``study.workers``), timed by the runner from start to exit, the server's one-off start
     excluded (it is printed separately);
   - cold: ``python -m study run`` in a fresh process (interpreter, torch, wandb imports),
     what a W&B agent starts per run.
   Each does the whole run: an offline W&B run, record.json, history, sample grids, weights.
   ``overhead_s`` = warm - in-process; cold - in-process is printed beside it, with
   ``study.run.main`` called in this process and the cold ``import torch, wandb``.
2. Parallel speedup. A 4-run sweep (conv VAE, 150 steps, 200 evaluation samples each)
   through ``python -m study sweep`` with ``--workers 1`` and ``--workers 2``, both with
   ``--threads 2`` (one run with 2 threads vs two runs with 1 thread each).

Last line: ``overhead_s=<seconds per run> parallel_speedup=<ratio>`` (targets ≤ 1 s, ≥ 1.8).
The machine is shared and noisy: read the numbers with ``uptime``'s load beside them.

    OMP_NUM_THREADS=1 python benchmarks/study_overhead.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"budget": "smoke", "arch": "mlp", "width": 8, "latent_dim": 4, "eval_samples": 200}
SWEEP_RUN = {"budget": "smoke", "train_steps": 150, "eval_samples": 200}


def _env(threads: int = 1) -> dict:
    return {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}


def _in_process_run() -> float:
    from lgm.data import load_dataset
    from lgm.evaluation import evaluate
    from lgm.train import seed_everything, train
    from study.build import build_model, build_stream, reconstructor, sampler, train_config
    from study.config import RunConfig, resolve

    started = time.perf_counter()
    config = dataclasses.replace(resolve(RunConfig(**TINY)), device="cpu")
    seed_everything(config.seed)
    model = build_model(config)
    stream = build_stream(config, load_dataset(config.dataset, "train"), "cpu")
    train(model, stream, train_config(config, "cpu", progress=False))
    evaluate(sample_fn=sampler(model, seed=config.seed, device="cpu"), dataset=config.dataset,
             num_samples=config.eval_samples, reconstruct_fn=reconstructor(model), seed=config.seed,
             progress=False)
    return time.perf_counter() - started


def _subprocess_run(out: Path, tag: str) -> float:
    argv = [sys.executable, "-m", "study", "run", f"--out={out}", f"--sweep={tag}",
            *(f"--{k}={v}" for k, v in TINY.items())]
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def _warm_study_run(out: Path, tag: str) -> float:
    """`study.run.main` in this warmed-up process: the study layer without interpreter start."""
    from study.run import main as run_main

    started = time.perf_counter()
    code = run_main([f"--out={out}", f"--sweep={tag}", *(f"--{k}={v}" for k, v in TINY.items())])
    assert code == 0, f"study run failed with exit code {code}"
    return time.perf_counter() - started


def _warm_runner_runs(workdir: Path, runs: int) -> tuple[float, list[float]]:
    """(sweep wall-clock, seconds of each run's process) for ``runs`` tiny runs in a row
    through the runner's warm children (1 worker); the first includes the server's start."""
    from study.runner import run_sweep
    from study.sweepfile import load_sweep

    description = {"question": "benchmark", "expected": "-", "prediction": {
        "metric": "eval/fid", "kind": "pairwise", "parameter": "seed", "better": 0, "worse": 1}}
    sweep = {"name": "warm", "method": "grid", "description": yaml.safe_dump(description),
             "parameters": {**{k: {"value": v} for k, v in TINY.items()},
                            "seed": {"values": list(range(runs))}}}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "warm.yaml"
    path.write_text(yaml.safe_dump(sweep))
    started = time.perf_counter()
    report = run_sweep(load_sweep(path), workdir / "runs", workers=1, threads=1, progress=False)
    assert report.ok and len(report.done) == runs, report.line("warm", workdir)
    return time.perf_counter() - started, list(report.run_seconds.values())


def _cold_import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, wandb"], env=_env(), check=True)
    return time.perf_counter() - started


def _sweep_seconds(workdir: Path, workers: int) -> float:
    description = {"question": "benchmark", "expected": "-", "prediction": {
        "metric": "eval/fid", "kind": "pairwise", "parameter": "seed", "better": 0, "worse": 1}}
    sweep = {"name": f"bench{workers}", "method": "grid", "description": yaml.safe_dump(description),
             "parameters": {**{k: {"value": v} for k, v in SWEEP_RUN.items()},
                            "seed": {"values": [0, 1, 2, 3]}}}
    path = workdir / f"bench{workers}.yaml"
    path.write_text(yaml.safe_dump(sweep))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "study", "sweep", str(path), "--workers", str(workers),
                    "--threads", "2", "--out", str(workdir / f"runs{workers}")], cwd=ROOT, env=_env(),
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ["WANDB_MODE"] = "offline"
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        # Every timed run gets its own --out: a finished configuration under the same --out
        # would be reused (study.reuse) instead of run, and time nothing.
        tmp = Path(tmp)
        _in_process_run()  # warm-up: imports, classifier, reference statistics cache
        direct = min(_in_process_run() for _ in range(args.repeats))
        warm = min(_warm_study_run(tmp / f"warm{i}", f"w{i}") for i in range(args.repeats))
        via_cli = min(_subprocess_run(tmp / f"cli{i}", f"r{i}") for i in range(args.repeats))
        cold = _cold_import_seconds()
        _, forked = _warm_runner_runs(tmp / "forked", args.repeats + 1)
        warm_child = min(forked[1:])
        print(f"one tiny run: lgm in-process {direct:.2f} s; study.run.main in-process {warm:.2f} s "
              f"(W&B, records, images, weights); a warm runner child {warm_child:.2f} s (the first, "
              f"with the fork server's start, {forked[0]:.2f} s); python -m study run {via_cli:.2f} s "
              f"(a fresh interpreter: 'import torch, wandb' alone takes {cold:.2f} s, "
              f"cold overhead {via_cli - direct:.2f} s)")
        serial = _sweep_seconds(tmp, 1)
        parallel = _sweep_seconds(tmp, 2)
        print(f"4-run sweep: 1 worker {serial:.1f} s, 2 workers {parallel:.1f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"overhead_s={warm_child - direct:.2f} parallel_speedup={serial / parallel:.2f}")


if __name__ == "__main__":
    main()
