"""The local sweep runner: every run of a sweep file, N at a time, each in its own process.

Each run executes exactly what ``python -m study run --out DIR --sweep NAME --key=value ...``
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

import os
import queue
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from contracts.record import (CHECKPOINT_FILE, FAILED, FINISHED, LOG_FILE, RECORD_FILE, RUNNING,
                              SWEEP_FILE, RecordError, read_record, utc_now, write_json_atomic)
from study.config import RunConfig
from study.records import config_hash, run_id
from study.reuse import find_extendable, find_finished
from study.run import EXIT_BUSY, EXIT_INTERRUPTED
from study.sweepfile import Sweep, enumerate_runs

__all__ = ["PlannedRun", "SweepReport", "plan_runs", "run_sweep", "run_command", "run_arguments",
           "format_value"]

_REPO_ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.5  # how often a worker reads its run's record.json for the progress bar


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
        skip = action_skip(status, retry_failed)
        source = None if skip else find_finished(out, config_hash(config), exclude=run_dir)
        if skip:
            action = "skip"
        elif source is not None:
            action = "reuse"  # the run program finds the same source and copies it
        elif status is not None or (run_dir / CHECKPOINT_FILE).exists():
            action = "resume"
        else:
            source = find_extendable(out, config, exclude=run_dir)
            action = "run" if source is None else "extend"  # the run program finds it too
        plans.append(PlannedRun(config, rid, run_dir, status, action, source))
    return plans


def action_skip(status: str | None, retry_failed: bool) -> bool:
    """Finished runs are never run again; failed ones only when asked."""
    return status == FINISHED or (status == FAILED and not retry_failed)


def _child_env(threads_per_run: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads_per_run)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env.setdefault("WANDB_SILENT", "true")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _recorded_step(run_dir: Path) -> int:
    try:
        return int((read_record(run_dir) or {}).get("step") or 0)
    except (RecordError, ValueError):
        return 0  # mid-replace on a filesystem without atomic rename: try again next tick


def _watch(process: subprocess.Popen, plan: PlannedRun, position: int, disable: bool | None) -> int:
    """Wait for the child while drawing its training progress (read from its record.json).

    The children themselves write to run.log, never to the terminal: bars drawn by several
    processes at once garble each other, so this process draws all of them.
    """
    total = plan.config.train_steps
    with tqdm(total=total, desc=plan.run_id, position=position, leave=False, disable=disable,
              dynamic_ncols=True, unit="step") as bar:
        while process.poll() is None:
            try:
                process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
            step = _recorded_step(plan.run_dir)
            if step > bar.n:
                bar.update(step - bar.n)
                if step >= total:
                    bar.set_description(f"{plan.run_id} evaluating")
    return process.returncode


def _start(plan: PlannedRun, command: list[str], env: dict, launcher):
    """The run's process: a warm child of ``launcher``, else ``command`` in a fresh process."""
    log_path = plan.run_dir / LOG_FILE
    with open(log_path, "a") as log:
        log.write(f"==== {utc_now()} {' '.join(command)}\n")
        log.flush()
        if launcher is not None:
            return launcher.start(command, log_path)
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def _launch(plan: PlannedRun, command: list[str], env: dict, position: int,
            disable: bool | None, launcher=None) -> tuple[str, str | None, float]:
    """Run one child to completion; returns (status, reason, seconds) from its record."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    code = _watch(_start(plan, command, env, launcher), plan, position, disable)
    seconds = time.perf_counter() - started
    try:
        record = read_record(plan.run_dir)
    except RecordError as err:
        return FAILED, str(err), seconds
    if record is None:
        return FAILED, f"exit code {code} before writing a record (see {plan.run_dir / LOG_FILE})", seconds
    if record["status"] == RUNNING:
        if code == EXIT_INTERRUPTED:
            return "interrupted", None, seconds
        if code == EXIT_BUSY:  # another process holds the run's lock: not ours to judge
            return FAILED, "running in another process (its lock is held)", seconds
        # Died without recording an outcome (killed, out of memory): record it so that the
        # sweep's state on disk is true; --retry-failed resumes it from its checkpoint.
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        record.update(status=FAILED, reason=f"process {how} during the run (see {LOG_FILE})",
                      finished_at=utc_now())
        write_json_atomic(plan.run_dir / RECORD_FILE, record)
    return record["status"], record.get("reason"), seconds


def _skipped(report: SweepReport, plans: list[PlannedRun]) -> list[PlannedRun]:
    """Account for the runs left alone; returns those to run or resume."""
    for plan in plans:
        if plan.action == "skip":
            finished = plan.previous == FINISHED
            (report.skipped_finished if finished else report.skipped_failed).append(plan.run_id)
    return [p for p in plans if p.action != "skip"]


def _slots(workers: int) -> queue.Queue:
    """Progress-bar rows 1..workers, one per concurrently running run (row 0: the sweep)."""
    slots = queue.Queue()
    for position in range(1, workers + 1):
        slots.put(position)
    return slots


def _collect(futures: dict, report: SweepReport, bar, total: int) -> None:
    """Account for each run as it ends; Ctrl-C marks the sweep interrupted."""
    try:
        for future in as_completed(futures):
            plan = futures[future]
            status, reason, seconds = future.result()
            _account(report, plan, status, reason)
            report.run_seconds[plan.run_id] = seconds
            bar.update(1)
            bar.set_postfix(done=len(report.done), failed=len(report.failed))
            tqdm.write(f"[{len(report.done) + len(report.failed)}/{total}] {status} "
                       f"{plan.run_id} ({plan.action}, {seconds:.0f} s)" + (f": {reason}" if reason else ""))
    except KeyboardInterrupt:
        # The children got the same SIGINT (same process group) and leave their
        # records "running" with a checkpoint: the next invocation resumes them.
        report.interrupted = True
        for future in futures:
            future.cancel()


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int = 1, overrides: dict | None = None,
              limit: int | None = None, retry_failed: bool = False, threads: int | None = None,
              command=None, cold: bool = False, progress: bool | None = None) -> SweepReport:
    """Run (or resume) every run of ``sweep`` under ``out``; returns what happened.

    Runs are warm children (``study.workers``) unless ``cold``, or unless ``command`` is
    given: ``command(config, out=, sweep=)`` builds a fresh process's argument list (tests
    inject a fake program that way).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out).resolve()
    plans = plan_runs(sweep, out, overrides=overrides, limit=limit, retry_failed=retry_failed)
    (out / sweep.name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sweep.path, out / sweep.name / SWEEP_FILE)
    report = SweepReport()
    todo = _skipped(report, plans)
    env = _child_env(max(1, (threads or len(os.sched_getaffinity(0))) // workers))
    disable = None if progress is None else not progress  # None: bars only on a terminal
    slots = _slots(workers)
    launcher = None
    if command is None and not cold and todo:
        from study.workers import WarmLauncher

        launcher = WarmLauncher(env)
    build = command or (run_arguments if launcher is not None else run_command)

    def work(plan: PlannedRun):
        position = slots.get()
        try:
            return _launch(plan, build(plan.config, out=out, sweep=sweep.name), env, position,
                           disable, launcher)
        finally:
            slots.put(position)

    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"sweep {sweep.name}", unit="run", position=0,
               disable=disable, dynamic_ncols=True)
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        _collect({pool.submit(work, plan): plan for plan in todo}, report, bar, len(todo))
    report.seconds = time.perf_counter() - started
    return report


def _account(report: SweepReport, plan: PlannedRun, status: str, reason: str | None) -> None:
    if status == FINISHED:
        report.done.append(plan.run_id)
        if plan.action == "reuse":
            report.reused.append(plan.run_id)
        if plan.action == "extend":
            report.extended.append(plan.run_id)
    elif status == "interrupted":
        report.interrupted = True
    else:
        report.failed.append((plan.run_id, reason))
