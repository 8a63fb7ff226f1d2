"""Where the runs of a sweep execute: ``local`` (this machine) or ``slurm`` (a cluster).

The runner (``study.runner.run_sweep``) plans the runs — finished ones skipped, finished
results of other sweeps reused, interrupted ones resumed — and hands the rest to
:func:`execute`, the one entry point of every executor. Any round-based command (``sweep``,
``settle``) gets every executor by accepting :func:`add_executor_arguments` on its command
line, building an :class:`Executor` with :func:`executor_from_args`, and passing it to
``run_sweep(..., executor=...)``.

- ``local`` (the default): each run is its own process on this machine, N at a time — a warm
  fork of a preloaded server (``study.workers``), or with ``cold`` a fresh
  ``python -m study run`` interpreter. The machine's threads are divided among the workers
  (``OMP_NUM_THREADS = threads // workers``).
- ``slurm``: each run is a Slurm job (one job array per call) submitted through submitit, the
  job calling the same ``python -m study run`` code in the same run folder on the shared
  filesystem (``study.slurm``).

Whatever the executor, every run writes its own ``record.json``; the executor reads the
outcome from there, so a failed run reports its own error line.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from contracts.record import FAILED, LOG_FILE, RECORD_FILE, RUNNING, RecordError, read_record, utc_now, write_json_atomic
from study.run import EXIT_BUSY, EXIT_INTERRUPTED

__all__ = ["Executor", "ExecutorError", "EXECUTORS", "add_executor_arguments", "executor_from_args",
           "check_executor", "execute", "child_env", "outcome_from_record", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.5  # how often a local worker reads its run's record.json for the progress bar
EXECUTORS = ("local", "slurm")
SLURM_ONLY = ("partition", "time_limit", "cpus_per_run", "gpus_per_run", "max_parallel")
LOCAL_ONLY = ("workers", "threads", "cold")


class ExecutorError(ValueError):
    """Bad executor settings, or an executor that cannot run here (one line, before any work)."""


@dataclass(frozen=True)
class Executor:
    """How the runs of one call execute (one flat config; each field says which kind reads it)."""

    kind: str = "local"  # local | slurm
    workers: int = 1  # local: runs at the same time
    threads: int | None = None  # local: threads divided among the workers (None: this process's CPUs)
    cold: bool = False  # local: a fresh interpreter per run instead of a warm fork
    partition: str | None = None  # slurm: None = the cluster's default partition
    time_limit: int = 60  # slurm: minutes per job (a timed-out job is requeued and resumes)
    cpus_per_run: int = 1  # slurm: CPUs (and torch threads) per job
    gpus_per_run: int = 0  # slurm: GPUs per job; > 0 runs the job with device=auto
    max_parallel: int | None = None  # slurm: jobs of the array running at once (None: no cap)

    @property
    def parallel_runs(self) -> int:
        """How many runs execute at once (what a cost estimate divides by): the local workers,
        or Slurm's --max-parallel (unknown without it: 1, the cautious estimate)."""
        return self.workers if self.kind == "local" else (self.max_parallel or 1)

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ExecutorError(f"--executor {self.kind!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
        for name in ("workers", "threads", "time_limit", "cpus_per_run", "max_parallel"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExecutorError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.gpus_per_run < 0:
            raise ExecutorError(f"--gpus-per-run must be >= 0, got {self.gpus_per_run}")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """The executor options of a round-based command (``sweep``, ``settle``)."""
    g = parser.add_argument_group("executor")
    g.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where runs execute: local processes (default) or Slurm jobs through submitit")
    g.add_argument("--workers", type=int, default=None, help="local: runs at the same time (default 1)")
    g.add_argument("--threads", type=int, default=None,
                   help="local: threads to divide among the workers (default: the CPUs this process may use)")
    g.add_argument("--cold", action="store_true", default=None,
                   help="local: start every run as a fresh `python -m study run` process (as a W&B "
                        "agent does) instead of a warm fork of a preloaded server")
    g.add_argument("--partition", default=None, help="slurm: partition (default: the cluster's default)")
    g.add_argument("--time-limit", type=int, default=None, metavar="MIN",
                   help=f"slurm: minutes per job (default {Executor.time_limit}); a job out of time "
                        "is requeued and resumes from its checkpoint")
    g.add_argument("--cpus-per-run", type=int, default=None, help="slurm: CPUs per job (default 1)")
    g.add_argument("--gpus-per-run", type=int, default=None,
                   help="slurm: GPUs per job (default 0); > 0 runs with device=auto")
    g.add_argument("--max-parallel", type=int, default=None,
                   help="slurm: jobs running at once (default: as many as the cluster gives)")


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The :class:`Executor` of parsed :func:`add_executor_arguments` options; an option of the
    other kind is an error (``--workers`` means nothing to Slurm, ``--partition`` nothing locally)."""
    other = SLURM_ONLY if args.executor == "local" else LOCAL_ONLY
    for name in other:
        if getattr(args, name) is not None:
            hint = " (use --max-parallel)" if name == "workers" else ""
            raise ExecutorError(f"--{name.replace('_', '-')} does not apply to --executor {args.executor}{hint}")
    given = {name: getattr(args, name) for name in (*LOCAL_ONLY, *SLURM_ONLY) if getattr(args, name) is not None}
    return Executor(kind=args.executor, **given)


def check_executor(executor: Executor, todo: list, out: Path) -> None:
    """Refuse an executor that cannot run ``todo`` here (raises :class:`ExecutorError`)."""
    if executor.kind == "slurm" and todo:
        from study.slurm import check_slurm

        check_slurm(executor, todo, out)


def execute(todo: list, *, out: Path, sweep: str, executor: Executor, report, progress: bool | None = None,
            command=None) -> None:
    """Run (or resume) the planned runs ``todo`` (``study.runner.PlannedRun``) of ``sweep``
    under ``out``; each outcome goes to ``report.account``. ``command(config, out=, sweep=)``
    (local only) replaces the run program with a fresh process's argument list (tests)."""
    if executor.kind == "slurm":
        if command is not None:
            raise ExecutorError("a substitute run command works with --executor local only")
        from study.slurm import execute_slurm

        execute_slurm(todo, out=out, sweep=sweep, executor=executor, report=report, progress=progress)
    else:
        _execute_local(todo, out=out, sweep=sweep, executor=executor, report=report, progress=progress,
                       command=command)


# --------------------------------------------------------------------------- outcomes

def outcome_from_record(run_dir: Path, *, code: int | None, how: str) -> tuple[str, str | None]:
    """(status, reason) of a run whose process ended with ``code`` (None: unknown), from its
    record; ``how`` says how the process ended when it left no outcome. A record still
    ``running`` after its process ended is set ``failed`` (the sweep's state on disk is true;
    ``--retry-failed`` resumes it from its checkpoint), unless the run was interrupted or
    another process holds its lock."""
    try:
        record = read_record(run_dir)
    except RecordError as err:
        return FAILED, str(err)
    if record is None:
        return FAILED, f"{how} before writing a record (see {run_dir / LOG_FILE})"
    if record["status"] == RUNNING:
        if code == EXIT_INTERRUPTED:
            return "interrupted", None
        if code == EXIT_BUSY:  # another process holds the run's lock: not ours to judge
            return FAILED, "running in another process (its lock is held)"
        record.update(status=FAILED, reason=f"process {how} during the run (see {LOG_FILE})",
                      finished_at=utc_now())
        write_json_atomic(run_dir / RECORD_FILE, record)
    return record["status"], record.get("reason")


def child_env(threads_per_run: int) -> dict:
    """The environment of a run's process: its thread share, W&B quiet, this repository importable."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads_per_run)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env.setdefault("WANDB_SILENT", "true")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


# --------------------------------------------------------------------------- local

def _recorded_step(run_dir: Path) -> int:
    try:
        return int((read_record(run_dir) or {}).get("step") or 0)
    except (RecordError, ValueError):
        return 0  # mid-replace on a filesystem without atomic rename: try again next tick


def _watch(process, plan, position: int, disable: bool | None) -> int:
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


def _start(plan, command: list[str], env: dict, launcher):
    """The run's process: a warm child of ``launcher``, else ``command`` in a fresh process."""
    log_path = plan.run_dir / LOG_FILE
    with open(log_path, "a") as log:
        log.write(f"==== {utc_now()} {' '.join(command)}\n")
        log.flush()
        if launcher is not None:
            return launcher.start(command, log_path)
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def _launch(plan, command: list[str], env: dict, position: int, disable: bool | None,
            launcher=None) -> tuple[str, str | None, float]:
    """Run one child to completion; returns (status, reason, seconds) from its record."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    code = _watch(_start(plan, command, env, launcher), plan, position, disable)
    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    status, reason = outcome_from_record(plan.run_dir, code=code, how=how)
    return status, reason, time.perf_counter() - started


def _slots(workers: int) -> queue.Queue:
    """Progress-bar rows 1..workers, one per concurrently running run (row 0: the sweep)."""
    slots = queue.Queue()
    for position in range(1, workers + 1):
        slots.put(position)
    return slots


def _collect(futures: dict, report, bar, total: int) -> None:
    """Account for each run as it ends; Ctrl-C marks the sweep interrupted."""
    try:
        for future in as_completed(futures):
            plan = futures[future]
            status, reason, seconds = future.result()
            report.account(plan, status, reason)
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


def _execute_local(todo: list, *, out: Path, sweep: str, executor: Executor, report,
                   progress: bool | None, command) -> None:
    """Each run a process of this machine, ``executor.workers`` at a time."""
    from study.runner import run_arguments, run_command

    workers = executor.workers
    env = child_env(max(1, (executor.threads or len(os.sched_getaffinity(0))) // workers))
    disable = None if progress is None else not progress  # None: bars only on a terminal
    slots = _slots(workers)
    launcher = None
    if command is None and not executor.cold and todo:
        from study.workers import WarmLauncher

        launcher = WarmLauncher(env)
    build = command or (run_arguments if launcher is not None else run_command)

    def work(plan):
        position = slots.get()
        try:
            return _launch(plan, build(plan.config, out=out, sweep=sweep), env, position, disable, launcher)
        finally:
            slots.put(position)

    bar = tqdm(total=len(todo), desc=f"sweep {sweep}", unit="run", position=0,
               disable=disable, dynamic_ncols=True)
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        _collect({pool.submit(work, plan): plan for plan in todo}, report, bar, len(todo))
