"""The sweep runner: every run of a sweep file, planned here, executed by an executor.

The plan (:func:`plan_runs`) comes from the records on disk; the planned runs go to
``study.executors.execute``: local processes (the default, described below) or Slurm jobs
(``study.slurm``), whose runs execute the same ``python -m study run`` code in the same folders.

Locally each run executes exactly what ``python -m study run --out DIR --sweep NAME --key=value ...``
does (the program a W&B agent starts) in its own process, so a crash, a NaN or an
out-of-memory kill stays inside its run. By default the processes are warm: forked from a
server that imported torch, wandb and the study once (``study.workers``), which removes
seconds of start-up per run; ``cold=True`` (``--cold``) starts a fresh interpreter per run
instead (an argument list, never a shell string). The machine's threads are divided among
the workers (``OMP_NUM_THREADS = threads // workers``, ``OMP_WAIT_POLICY=PASSIVE``).

On a terminal the runner draws a sweep bar (runs done, failed, ETA) and, under it, one bar
per running run, fed by the step each run writes to its ``record.json``; the runs themselves
write to their ``run.log``.

A run's folder is named by its id (sweep name + hash of the resolved config), so running a
sweep again skips finished runs, resumes interrupted ones from their checkpoint, and
leaves failed ones alone unless ``retry_failed``. The sweep ends with a summary line and is
unsuccessful if any of its runs is failed.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts.record import FAILED, FINISHED, SWEEP_FILE, read_record
from study.config import RunConfig
from study.executors import Executor, check_executor, execute
from study.identity import run_id
from study.reuse import how_to_start
from study.sweepfile import Sweep, enumerate_runs

__all__ = ["PlannedRun", "SweepReport", "plan_runs", "run_sweep", "run_command", "run_arguments",
           "format_value"]


@dataclass
class PlannedRun:
    config: RunConfig
    run_id: str
    run_dir: Path
    previous: str | None  # status found on disk: None (new), running, finished, failed
    action: str  # "run" | "resume" | "reuse" (finished in another sweep) | "extend" | "skip"
    source: Path | None = None  # the finished run folder a "reuse" copies or an "extend" continues


@dataclass
class SweepReport:
    done: list = field(default_factory=list)  # finished this time (trained or reused)
    reused: list = field(default_factory=list)  # of those, reused from another sweep
    extended: list = field(default_factory=list)  # of those, continued from a shorter run
    failed: list = field(default_factory=list)  # (run_id, reason), this time
    skipped_finished: list = field(default_factory=list)
    skipped_failed: list = field(default_factory=list)  # failed earlier, not retried
    seconds: float = 0.0
    interrupted: bool = False
    run_seconds: dict = field(default_factory=dict)  # run id -> seconds its process took, in order

    def account(self, plan: "PlannedRun", status: str, reason: str | None) -> None:
        """One run's outcome: finished (trained or reused), interrupted, or failed with its reason."""
        if status == FINISHED:
            self.done.append(plan.run_id)
            if plan.action == "reuse":
                self.reused.append(plan.run_id)
            if plan.action == "extend":
                self.extended.append(plan.run_id)
        elif status == "interrupted":
            self.interrupted = True
        else:
            self.failed.append((plan.run_id, reason))

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped_failed or self.interrupted)

    def line(self, name: str, out: Path) -> str:
        skipped = len(self.skipped_finished) + len(self.skipped_failed)
        detail = []
        if self.reused:
            detail.append(f"{len(self.reused)} of the done reused from other sweeps")
        if self.extended:
            detail.append(f"{len(self.extended)} of the done extended from shorter runs")
        if self.skipped_finished:
            detail.append(f"{len(self.skipped_finished)} finished earlier")
        if self.skipped_failed:
            detail.append(f"{len(self.skipped_failed)} failed earlier: rerun with --retry-failed")
        extra = f" ({'; '.join(detail)})" if detail else ""
        state = "interrupted; " if self.interrupted else ""
        return (f"sweep {name}: {state}done {len(self.done)}, failed {len(self.failed)}, "
                f"skipped {skipped}{extra} in {self.seconds:.0f} s -> {out / name}")


def format_value(value) -> str:
    """A config value as the ``--key=value`` text a W&B agent would write."""
    return repr(value) if isinstance(value, float) else str(value)


def run_arguments(config: RunConfig, *, out: Path, sweep: str) -> list[str]:
    """The ``python -m study run`` arguments of one run (every field explicit, as resolved)."""
    return [f"--out={out}", f"--sweep={sweep}",
            *(f"--{k}={format_value(v)}" for k, v in config.to_dict().items())]


def run_command(config: RunConfig, *, out: Path, sweep: str) -> list[str]:
    """The command line of one run in a fresh interpreter."""
    return [sys.executable, "-m", "study", "run", *run_arguments(config, out=out, sweep=sweep)]


def plan_runs(sweep: Sweep, out: Path, *, overrides: dict | None = None, limit: int | None = None,
              retry_failed: bool = False) -> list[PlannedRun]:
    """Every run of the sweep with what to do about it, from the records on disk."""
    plans = []
    for config in enumerate_runs(sweep, overrides=overrides, limit=limit if limit is not None else sweep.run_cap):
        rid = run_id(sweep.name, config)
        run_dir = out / sweep.name / rid
        record = read_record(run_dir)
        status = record["status"] if record else None
        if action_skip(status, retry_failed):
            action, source = "skip", None
        else:  # what the run program will decide when it starts (study.reuse.how_to_start)
            start = how_to_start(out, config, run_dir)
            action, source = start.action, start.source
            if status is not None and action != "reuse":
                action = "resume"  # an earlier attempt: its record goes on
        plans.append(PlannedRun(config, rid, run_dir, status, action, source))
    return plans


def action_skip(status: str | None, retry_failed: bool) -> bool:
    """Finished runs are never run again; failed ones only when asked."""
    return status == FINISHED or (status == FAILED and not retry_failed)


def _skipped(report: SweepReport, plans: list[PlannedRun]) -> list[PlannedRun]:
    """Account for the runs left alone; returns those to run or resume."""
    for plan in plans:
        if plan.action == "skip":
            finished = plan.previous == FINISHED
            (report.skipped_finished if finished else report.skipped_failed).append(plan.run_id)
    return [p for p in plans if p.action != "skip"]


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int = 1, overrides: dict | None = None,
              limit: int | None = None, retry_failed: bool = False, threads: int | None = None,
              command=None, cold: bool = False, progress: bool | None = None,
              executor: Executor | None = None) -> SweepReport:
    """Run (or resume) every run of ``sweep`` under ``out``; returns what happened.

    ``executor`` says where the runs execute (``study.executors``); without it, local
    processes with ``workers``, ``threads`` and ``cold``. Runs are warm children
    (``study.workers``) unless ``cold``, or unless ``command`` is given:
    ``command(config, out=, sweep=)`` builds a fresh process's argument list (tests inject a
    fake program that way). An executor that cannot run here raises ``ExecutorError`` before
    anything runs or is submitted.
    """
    if executor is None:
        executor = Executor(kind="local", workers=workers, threads=threads, cold=cold)
    out = Path(out).resolve()
    plans = plan_runs(sweep, out, overrides=overrides, limit=limit, retry_failed=retry_failed)
    report = SweepReport()
    todo = _skipped(report, plans)
    check_executor(executor, todo, out)
    (out / sweep.name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sweep.path, out / sweep.name / SWEEP_FILE)
    started = time.perf_counter()
    execute(todo, out=out, sweep=sweep.name, executor=executor, report=report, progress=progress,
            command=command)
    report.seconds = time.perf_counter() - started
    return report
