"""The Slurm executor: each planned run a Slurm job, submitted through submitit.

One call submits one job array (``out/<sweep>/.slurm`` holds submitit's pickles and job
logs). Each job calls :class:`RunJob`, which does exactly what ``python -m study run`` does
(``study.run.main``) in the run's own folder on the shared filesystem, with its output in
the run's ``run.log``, ``OMP_NUM_THREADS`` = ``--cpus-per-run`` and W&B offline unless
``WANDB_MODE`` says otherwise (``wandb sync`` the run folders afterwards). Skipping finished
runs and reusing results of other sweeps happen in the plan, before anything is submitted.

Faults, with nothing of our own beyond what submitit and Slurm provide:

- out of time or preempted: Slurm signals the job ``SIGNAL_DELAY_S`` before the end, submitit
  calls :meth:`RunJob.checkpoint` (the same call again: the run resumes from its own
  ``checkpoint.pt``) and requeues the job;
- cancelled (``scancel``), node failure: the record stays ``running`` with its checkpoint,
  the sweep reports the run as interrupted, and the next call resumes it;
- failed: the summary shows the run's own error line from its ``record.json``; a job that
  died without one (out of memory) is recorded failed, with the job's state.

A run is never running twice: the run itself holds an ``flock`` on its folder (``RunLock``:
cluster-wide on NFS, on Lustre mounted with ``-o flock``, on GPFS), and the run folder
records the job that runs it (``slurm_job.json``). A call finding its run's job still queued
or running follows that job instead of submitting another; a run whose configuration is
being trained by another sweep's job is submitted with ``--dependency=afterany`` on it, so
that it starts after that job and reuses its result.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from contracts.record import FAILED, FINISHED, LOG_FILE, RECORD_FILE, RUNNING, RecordError, read_record, utc_now, write_json_atomic
from study.executors import REPO_ROOT, Executor, ExecutorError, outcome_from_record
from study.identity import config_hash
from study.run import EXIT_BUSY, EXIT_INTERRUPTED

__all__ = ["check_slurm", "execute_slurm", "RunJob", "CLAIM_FILE", "JOBS_DIR", "SUBMITIT"]

SUBMITIT = "submitit==1.5.4"  # the pin of requirements.txt, named in the "missing" error
CLAIM_FILE = "slurm_job.json"  # in a run folder: the Slurm job that runs it
JOBS_DIR = ".slurm"  # under out/<sweep>: submitit's pickles and the jobs' own logs
SIGNAL_DELAY_S = 30  # USR2 this long before the time limit: RunJob.checkpoint only resubmits
MAX_REQUEUES = 20  # time-outs a run may take (each resumes from its checkpoint)
POLL_S = 2.0  # one sacct call per tick for all jobs
COMMAND_TIMEOUT_S = 30
# Seconds per training step on one CPU thread when no finished run under --out says better:
# the default models' Fashion-MNIST epoch costs (benchmarks/epoch_cost.py, study/budgets.py:
# VAE 13.3 s, DCGAN 38.7 s per 468-step epoch).
FALLBACK_SECONDS_PER_STEP = {"vae": 13.3 / 468, "gan": 38.7 / 468}
# Job states after which a job does nothing more (sacct's first word: "CANCELLED by 0").
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
# Ended from outside the run: the record stays "running" and the next call resumes it.
RESUMABLE = {"CANCELLED", "TIMEOUT", "NODE_FAIL", "DEADLINE", "PREEMPTED"}
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING"}


# --------------------------------------------------------------------------- checks

def _slurm_command(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)


def _tried() -> str:
    return f"SLURM_CONF={os.environ.get('SLURM_CONF', 'unset (the system default)')}"


def _check_controller() -> None:
    try:
        import submitit  # noqa: F401 — only whether it imports
    except ImportError:
        raise ExecutorError(f"--executor slurm needs submitit, which {sys.executable} cannot import: "
                            f"pip install {SUBMITIT}") from None
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        raise ExecutorError(f"--executor slurm: no Slurm client here (sbatch/scontrol not on PATH; {_tried()})")
    conf = os.environ.get("SLURM_CONF")
    if conf is not None and not Path(conf).is_file():  # scontrol would retry reading it for a minute
        raise ExecutorError(f"--executor slurm: SLURM_CONF={conf} is not a file (no Slurm configuration)")
    try:
        ping = _slurm_command(["scontrol", "ping"])
    except subprocess.TimeoutExpired:
        raise ExecutorError(f"--executor slurm: no Slurm controller answered `scontrol ping` in "
                            f"{COMMAND_TIMEOUT_S} s ({_tried()})") from None
    said = next((line.strip() for line in (ping.stdout + ping.stderr).splitlines() if line.strip()), "nothing")
    if ping.returncode != 0 or " is UP" not in said:
        raise ExecutorError(f"--executor slurm: no Slurm controller answers: `scontrol ping` said "
                            f"{said!r} ({_tried()}; a local one: sudo scripts/slurm_local.sh up)")


def _check_partition(partition: str | None) -> None:
    if partition is None:
        return
    listed = _slurm_command(["sinfo", "-h", "-o", "%R"])
    names = sorted(set(listed.stdout.split()))
    if partition not in names:
        raise ExecutorError(f"--partition {partition!r} is not a partition of this cluster; "
                            f"it has: {', '.join(names) or 'none'} ({_tried()})")


def _check_gpus(executor: Executor) -> None:
    if not executor.gpus_per_run:
        return
    where = ["-p", executor.partition] if executor.partition else []
    gres = sorted(set(_slurm_command(["sinfo", "-h", "-o", "%G", *where]).stdout.split()))
    if not any(g.startswith("gpu") for g in gres):
        scope = f"partition {executor.partition!r}" if executor.partition else "this cluster"
        raise ExecutorError(f"--gpus-per-run {executor.gpus_per_run}: no node of {scope} has GPUs (sinfo GRES: "
                            f"{', '.join(gres) or 'none'}; {_tried()})")


def _seconds_per_step(out: Path, model: str) -> tuple[float, str]:
    """Training seconds per step of ``model`` runs: the median over finished runs under ``out``
    (their ``time/train_s`` / step), else the one-thread CPU figure of the default model."""
    measured = []
    for path in out.glob(f"*/*/{RECORD_FILE}"):
        try:
            record = read_record(path.parent)
        except RecordError:
            continue
        seconds = (record or {}).get("summary", {}).get("time/train_s")
        if record and record["status"] == FINISHED and record["config"].get("model") == model \
                and seconds and record.get("step"):
            measured.append(seconds / record["step"])
    if measured:
        return statistics.median(measured), f"measured on {len(measured)} finished {model} run(s) under {out}"
    return FALLBACK_SECONDS_PER_STEP[model], f"the default {model}'s cost on one CPU thread"


def _check_time_limit(executor: Executor, todo: list, out: Path) -> None:
    """A job must live long enough to write one checkpoint, else a requeued run never progresses."""
    usable_s = executor.time_limit * 60 - SIGNAL_DELAY_S
    per_model = {}
    for plan in todo:
        if plan.action == "reuse":
            continue  # a copy, no training
        model = plan.config.model
        if model not in per_model:
            per_model[model] = _seconds_per_step(out, model)
        seconds_per_step, source = per_model[model]
        interval_s = plan.config.checkpoint_every * seconds_per_step
        if interval_s > usable_s:
            need = math.ceil((interval_s + SIGNAL_DELAY_S) / 60)
            raise ExecutorError(
                f"--time-limit {executor.time_limit} min is shorter than one checkpoint interval: run "
                f"{plan.run_id} checkpoints every {plan.config.checkpoint_every} steps, about "
                f"{interval_s / 60:.1f} min at {seconds_per_step:.3g} s/step ({source}) plus the "
                f"{SIGNAL_DELAY_S} s warning before the limit; give at least {need} min")


def check_slurm(executor: Executor, todo: list, out: Path) -> None:
    """Everything that would make the submission fail or loop, each a one-line ExecutorError."""
    _check_controller()
    _check_partition(executor.partition)
    _check_gpus(executor)
    _check_time_limit(executor, todo, out)


# --------------------------------------------------------------------------- the job

def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}: the job is being cancelled")


class RunJob:
    """The callable a job runs: ``python -m study run ARGV`` in this process, output to the run's
    log. ``checkpoint`` (called by submitit when the job is out of time or preempted) submits
    the same call again, which resumes from the run's own checkpoint."""

    def __call__(self, argv: list[str], log_path: str) -> int:
        saved = [os.dup(1), os.dup(2)]
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', os.environ.get('SLURM_JOB_ID'))}"
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        os.write(log, f"==== {utc_now()} slurm job {job}{'_' + task if task else ''} on "
                      f"{os.uname().nodename}: python -m study run {' '.join(argv)}\n".encode())
        sys.stdout.flush(), sys.stderr.flush()
        os.dup2(log, 1), os.dup2(log, 2)
        # scancel's SIGTERM interrupts the run as Ctrl-C does locally (its record stays
        # "running", its checkpoint stays), instead of submitit ignoring it until SIGKILL
        # while W&B's service process, killed by the same signal, fails the run.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            from study.run import main

            return main(argv)
        finally:
            signal.signal(signal.SIGTERM, previous)
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            for fd in (*saved, log):
                os.close(fd)

    def checkpoint(self, argv: list[str], log_path: str):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, argv, log_path)


def _job_argv(plan, *, out: Path, sweep: str, executor: Executor) -> list[str]:
    """The run's ``python -m study run`` arguments; with GPUs, ``device=auto`` (not an
    identity field: the run id is the same)."""
    import dataclasses

    from study.runner import run_arguments

    config = plan.config
    if executor.gpus_per_run > 0:
        config = dataclasses.replace(config, device="auto")
    return run_arguments(config, out=out, sweep=sweep)


def _setup_lines(executor: Executor) -> list[str]:
    """The job script's environment: this repository importable, the CPU share, W&B offline."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
           "OMP_NUM_THREADS": executor.cpus_per_run, "MKL_NUM_THREADS": executor.cpus_per_run,
           "OPENBLAS_NUM_THREADS": executor.cpus_per_run, "OMP_WAIT_POLICY": "PASSIVE",
           "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"),
           "WANDB_SILENT": os.environ.get("WANDB_SILENT", "true")}
    return [f"export {name}={shlex.quote(str(value))}" for name, value in env.items()]


# --------------------------------------------------------------------------- claims

def _read_claim(run_dir: Path) -> dict | None:
    import json

    try:
        return json.loads((run_dir / CLAIM_FILE).read_text())
    except (OSError, ValueError):
        return None


def _sacct_states(job_ids: list[str]) -> dict[str, str]:
    """job id (``123`` or ``123_4``) -> state's first word, one sacct call."""
    if not job_ids:
        return {}
    from submitit.slurm.slurm import SlurmInfoWatcher

    done = _slurm_command(["sacct", "-X", "-o", "JobID,State", "--parsable2", "-j", ",".join(job_ids)])
    info = SlurmInfoWatcher().read_info(done.stdout)
    return {jid: (info.get(jid, {}).get("State") or "UNKNOWN").split()[0] for jid in job_ids}


def _active_claims(todo: list, out: Path) -> dict[str, tuple[str, dict]]:
    """run id -> ("own" | "other", claim) for runs whose configuration a live job is running:
    in this run's folder ("own") or in another sweep's folder of the same config ("other")."""
    candidates = {}
    for plan in todo:
        folders = [plan.run_dir, *(p for p in sorted(out.glob(f"*/*-{config_hash(plan.config)}"))
                                   if p.resolve() != plan.run_dir.resolve())]
        candidates[plan.run_id] = [(i == 0, c) for i, c in enumerate(map(_read_claim, folders)) if c]
    states = _sacct_states(sorted({c["job_id"] for found in candidates.values() for _, c in found}))
    active = {}
    for rid, found in candidates.items():
        for own, claim in found:
            if states.get(claim["job_id"], "UNKNOWN") not in TERMINAL | {"UNKNOWN"}:
                active[rid] = ("own" if own else "other", claim)
                break
    return active


# --------------------------------------------------------------------------- submit and follow

def _executor(folder: Path, executor: Executor, sweep: str, count: int, dependency: str | None = None):
    import submitit

    ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=MAX_REQUEUES)
    params = dict(job_name=f"lgm-{sweep}", time=executor.time_limit, cpus_per_task=executor.cpus_per_run,
                  signal_delay_s=SIGNAL_DELAY_S, array_parallelism=executor.max_parallel or max(1, count),
                  setup=_setup_lines(executor), stderr_to_stdout=True)
    if executor.partition:
        params["partition"] = executor.partition
    if executor.gpus_per_run:
        params["gpus_per_node"] = executor.gpus_per_run
    if dependency:
        params["dependency"] = dependency
    ex.update_parameters(**params)
    return ex


def _submit(todo: list, *, out: Path, sweep: str, executor: Executor) -> dict:
    """plan -> submitit job: followed (own live claim), after another sweep's job, or new
    (one array). Each new job's id goes to its run folder's claim."""
    import submitit

    folder = out / sweep / JOBS_DIR
    active = _active_claims(todo, out)
    jobs, fresh, after = {}, [], []
    for plan in todo:
        kind, claim = active.get(plan.run_id, (None, None))
        if kind == "own":  # queued or running already (another call submitted it): follow that job
            jobs[plan.run_id] = submitit.SlurmJob(folder=claim["folder"], job_id=claim["job_id"])
            jobs[plan.run_id].followed = True
        else:
            (after if kind == "other" else fresh).append((plan, claim))

    def submit(ex, group):
        with ex.batch():
            delayed = [ex.submit(RunJob(), _job_argv(p, out=out, sweep=sweep, executor=executor),
                                 str(p.run_dir / LOG_FILE)) for p, _ in group]
        for (plan, _), job in zip(group, delayed):
            jobs[plan.run_id] = job
            write_json_atomic(plan.run_dir / CLAIM_FILE, {"job_id": job.job_id, "folder": str(folder),
                                                         "submitted_at": utc_now()})

    for plan, _ in fresh + after:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        if fresh:
            submit(_executor(folder, executor, sweep, len(fresh)), fresh)
        for plan, claim in after:
            submit(_executor(folder, executor, sweep, 1, f"afterany:{claim['job_id']}"), [(plan, claim)])
    except (submitit.core.utils.FailedJobError, subprocess.CalledProcessError) as err:
        raise ExecutorError(f"sbatch refused the jobs: {' '.join(str(err).split())[:300]}") from None
    return jobs


def _resumable(plan, job, state: str) -> tuple[str, str | None]:
    """A job ended from outside (cancelled, out of time, preempted, node failure) leaves its run
    resumable: a ``failed`` it recorded on the way down (W&B's service killed by the same
    signal) goes back to ``running``, so that the next call resumes it, not skips it."""
    try:
        record = read_record(plan.run_dir)
    except RecordError as err:
        return FAILED, str(err)
    if record is not None and record["status"] == FINISHED:
        return FINISHED, None
    if record is not None and record["status"] == FAILED:
        record.update(status=RUNNING, reason=None, traceback=None, finished_at=None)
        write_json_atomic(plan.run_dir / RECORD_FILE, record)
    step = (record or {}).get("step", 0)
    return "interrupted", f"job {job.job_id} {state} at step {step}: the next call resumes it from its checkpoint"


def _job_outcome(plan, job, state: str) -> tuple[str, str | None]:
    """(status, reason) of a run whose job ended in ``state``, from the run's record."""
    code = None
    if job.paths.result_pickle.exists():
        try:
            code = job.result()
        except Exception as err:  # noqa: BLE001 — a job that raised: its message is the reason
            code = f"{type(err).__name__}"
    if state in RESUMABLE:
        return _resumable(plan, job, state)
    if code == EXIT_BUSY:
        return outcome_from_record(plan.run_dir, code=EXIT_BUSY, how="")
    if code == EXIT_INTERRUPTED:  # the run was stopped (SIGTERM) and kept its checkpoint
        return _resumable(plan, job, state)
    how = f"job {job.job_id} ended {state}" + (f" (exit {code})" if code is not None else "")
    return outcome_from_record(plan.run_dir, code=code if isinstance(code, int) else None,
                               how=f"{how}; its log: {job.paths.stdout}")


def _account(report, plan, status: str, reason: str | None) -> str:
    """Record one outcome in the report; returns what the run did (run, resume, reuse)."""
    if status == "interrupted":  # not the sweep's interruption: this run resumes next call
        report.failed.append((plan.run_id, reason))
        return plan.action
    report.account(plan, status, reason)
    try:
        record = read_record(plan.run_dir) or {}
    except RecordError:
        record = {}
    if status == FINISHED and plan.action != "reuse" and record.get("reused_from"):
        report.reused.append(plan.run_id)  # another sweep's job finished it while this one waited
        return "reuse"
    return plan.action


def _eta(started: float, finished: int, left: int) -> str:
    if not finished or not left:
        return "?" if left else "0 s"
    seconds = (time.perf_counter() - started) / finished * left
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _follow(todo: list, jobs: dict, report, *, sweep: str, progress: bool | None) -> None:
    """Wait for every job, printing queued/running/finished/failed counts when they change."""
    from submitit.slurm.slurm import SlurmJob

    plans = {p.run_id: p for p in todo}
    left, started, last, ended = dict(jobs), time.perf_counter(), None, 0
    disable = None if progress is None else not progress
    with tqdm(total=len(jobs), desc=f"sweep {sweep} (slurm)", unit="run", disable=disable,
              dynamic_ncols=True) as bar:
        while left:
            SlurmJob.watcher.update()  # one sacct for every job of the class's watcher
            counts = {"queued": 0, "running": 0}
            for rid, job in list(left.items()):
                state = job.watcher.get_state(job.job_id, mode="cache").split()[0]
                # sacct's state, not submitit's result file: a job requeued after an
                # interruption may have left one from its earlier attempt.
                if state in TERMINAL:
                    status, reason = _job_outcome(plans[rid], job, state)
                    how = _account(report, plans[rid], status, reason)
                    if getattr(job, "followed", False):
                        how = f"followed, {how}"
                    del left[rid]
                    ended += 1
                    bar.update(1)
                    tqdm.write(f"[{ended}/{len(jobs)}] {status} {rid} (job {job.job_id}, {how})"
                               + (f": {reason}" if reason else ""))
                else:
                    counts["queued" if state in QUEUED or state == "UNKNOWN" else "running"] += 1
            line = (f"queued {counts['queued']}, running {counts['running']}, finished "
                    f"{len(report.done)}, failed {len(report.failed)}")
            if line != last:
                tqdm.write(f"sweep {sweep}: {line}; ETA {_eta(started, ended, len(left))}")
                last = line
            if left:
                time.sleep(POLL_S)


def execute_slurm(todo: list, *, out: Path, sweep: str, executor: Executor, report,
                  progress: bool | None) -> None:
    """Submit the runs not already queued (one array), then follow every job to its end.
    Ctrl-C stops following, not the jobs: the next call follows them again."""
    if not todo:
        return
    jobs = _submit(todo, out=out, sweep=sweep, executor=executor)
    tqdm.write(f"sweep {sweep}: {len(jobs)} Slurm job(s): "
               + ", ".join(sorted({j.job_id.split('_')[0] for j in jobs.values()})))
    try:
        _follow(todo, jobs, report, sweep=sweep, progress=progress)
    except KeyboardInterrupt:
        report.interrupted = True
        tqdm.write(f"sweep {sweep}: stopped following; the jobs go on (squeue), the next call follows them")
