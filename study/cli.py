"""Command line: ``python -m study run|sweep|validate|export``.

    python -m study run [--out DIR] [--sweep NAME] [--key=value ...]     one run (what an agent runs)
    python -m study sweep FILE --workers N --out DIR [--set key=value ...] [--limit N]
                          [--retry-failed] [--threads T] [--cold]        a whole sweep, locally
    python -m study sweep FILE --executor slurm [--partition P] [--time-limit MIN]
                          [--cpus-per-run N] [--gpus-per-run N] [--max-parallel N]
                                                                         ... as Slurm jobs
    python -m study validate FILE [FILE ...]                             check sweep files only
    python -m study export RUN_DIR --out FILE.npz|FOLDER                 a run's evaluation samples again
    python -m study settle SWEEP... --out DIR --max-minutes M [--max-seeds S]
                          [--max-budget-factor F] [--workers N] [--set key=value ...]
                          [--retry-failed]                               train longer / add seeds until settled

Bad input gets one ``error:`` line naming the key or value (never a traceback) and a
non-zero exit: 2 for usage errors, 1 for invalid sweep files and failed sweeps.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _parse_sets(pairs: list[str]) -> dict:
    from study.config import ConfigError, parse_value

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(pair, "--set expects key=value")
        if key in overrides:
            raise ConfigError(key, "given twice in --set")
        overrides[key] = parse_value(key, value)
    return overrides


def _sweep_parser() -> argparse.ArgumentParser:
    from study.executors import add_executor_arguments

    p = argparse.ArgumentParser(prog="python -m study sweep",
                                description="Run every run of a W&B sweep file, locally or as Slurm jobs.")
    p.add_argument("file", help="sweep YAML (sweeps/<name>.yaml)")
    p.add_argument("--out", default="runs", help="root of the run folders (default runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter in every run, e.g. --set budget=full")
    p.add_argument("--limit", type=int, default=None, help="only the first N runs")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again (resuming)")
    add_executor_arguments(p)
    return p


def _sweep(argv: list[str]) -> int:
    from study.config import ConfigError
    from study.executors import ExecutorError, executor_from_args
    from study.runner import run_sweep
    from study.sweepfile import SweepFileError, load_sweep

    args = _sweep_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print(f"error: --limit must be >= 1, got {args.limit}", file=sys.stderr)
        return 2
    try:
        executor = executor_from_args(args)
        overrides = _parse_sets(args.set)
        sweep = load_sweep(args.file)
        report = run_sweep(sweep, args.out, overrides=overrides, limit=args.limit,
                           retry_failed=args.retry_failed, executor=executor)
    except (ConfigError, SweepFileError, ExecutorError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from pathlib import Path

    print(report.line(sweep.name, Path(args.out).resolve()))
    for rid, reason in report.failed:
        print(f"  failed {rid}: {reason}")
    if report.interrupted:
        return 130
    return 0 if report.ok else 1


def _validate(argv: list[str]) -> int:
    from study.sweepfile import SweepFileError, enumerate_runs, load_sweep

    if not argv or any(a.startswith("-") for a in argv):
        print("usage: python -m study validate FILE [FILE ...]", file=sys.stderr)
        return 2
    bad = 0
    for path in argv:
        try:
            sweep = load_sweep(path)
        except SweepFileError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
            continue
        if sweep.method == "grid":
            size = f"{len(enumerate_runs(sweep, limit=sweep.run_cap))} runs"
        else:
            size = f"{sweep.run_cap} runs" if sweep.run_cap else "no run_cap (pass --limit)"
        print(f"ok {path}: {sweep.name}, {sweep.method}, {size}")
    return 1 if bad else 0


def _settle_parser() -> argparse.ArgumentParser:
    from study.executors import add_executor_arguments
    from study.settle import DEFAULT_CAPS

    p = argparse.ArgumentParser(prog="python -m study settle",
                                description="Run sweeps, then train longer and add seeds only where "
                                            "the verdict is still open, until settled or a cap.")
    p.add_argument("sweeps", nargs="+", metavar="SWEEP", help="sweep files, or names under sweeps/")
    p.add_argument("--out", default="runs", help="root of the run folders (default runs)")
    p.add_argument("--max-minutes", type=float, required=True,
                   help="wall-clock this call may spend, base sweeps included")
    p.add_argument("--max-seeds", type=int, default=DEFAULT_CAPS.max_seeds,
                   help=f"seeds per configuration at most (default {DEFAULT_CAPS.max_seeds})")
    p.add_argument("--max-budget-factor", type=int, default=DEFAULT_CAPS.max_budget_factor,
                   help=f"longest budget, as a multiple of the sweep's (x2 per round; default "
                        f"{DEFAULT_CAPS.max_budget_factor})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter in every run, e.g. --set budget=smoke")
    p.add_argument("--retry-failed", action="store_true",
                   help="run a round's failed runs again (resuming) and look at it again")
    add_executor_arguments(p)  # --executor local|slurm and their options, as for `sweep`
    return p


def _settle(argv: list[str]) -> int:
    from study.config import ConfigError
    from study.executors import ExecutorError, executor_from_args
    from study.settle import Caps, SettleError, settle, settle_runner

    args = _settle_parser().parse_args(argv)
    caps = Caps(max_minutes=args.max_minutes, max_seeds=args.max_seeds,
                max_budget_factor=args.max_budget_factor)
    try:
        executor = executor_from_args(args)
        return settle(args.sweeps, args.out, caps, overrides=_parse_sets(args.set),
                      workers=executor.parallel_runs, runner=settle_runner(executor),
                      retry_failed=args.retry_failed)
    except (ConfigError, SettleError, ExecutorError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("settle interrupted: run the same command again to resume its round", file=sys.stderr)
        return 130


def _export(argv: list[str]) -> int:
    from study.export import main as export_main

    return export_main(argv)


def main(argv: list[str]) -> int:
    commands = {"run": None, "sweep": _sweep, "validate": _validate, "export": _export,
                "settle": _settle}
    if not argv or argv[0] not in commands:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    if argv[0] == "run":
        from study.run import main as run_main

        return run_main(argv[1:])
    return commands[argv[0]](argv[1:])
