"""``python -m study run [--out DIR] [--sweep NAME] [--key=value ...]``: one run, logged.

The same command works standalone and under ``wandb agent`` (which passes the sweep's
parameters as ``--key=value`` arguments and in ``wandb.config``): the program builds the
defaults from the command line, calls ``wandb.init(config=defaults)``, then reads only
``run.config`` back, validated through ``RunConfig`` and resolved (``study.config.resolve``).

The run folder is ``DIR/<sweep>/<run_id>`` (``--out`` default ``runs``; ``--sweep`` default
the agent's sweep id, else ``adhoc``). ``record.json`` is rewritten atomically at the start
(status ``running``), at every logged step and at the end (``finished`` or ``failed`` with
the reason), beside ``history.jsonl``, the images and the W&B run folder. A folder whose
run already finished is left alone; one with a checkpoint resumes from it. A configuration
already finished in another sweep under the same ``--out`` (same config hash) is not
trained again: its result is reused (``study.reuse``) and logged as a W&B run of this sweep.
A run with a larger ``budget_factor`` than a finished run of the same configuration
continues that run's final training state (an exact extension, ``study.reuse``): its record
says ``extends`` and its W&B run is tagged ``extended``. One that differs from a finished run
only in evaluation-only keys (``sample_steps``, ``guidance_scale``) starts from that run's
trained weights and is only evaluated.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from pathlib import Path

from contracts.record import (CHECKPOINT_FILE, EVAL_SECONDS_KEY, FAILED, FINISHED, HISTORY_FILE,
                              RECORD_FILE, STEP_KEY, TRAIN_SECONDS_KEY, History, new_record,
                              read_record, utc_now, write_json_atomic)
from lgm.evaluation.registry import CURVE_NAMESPACE
from lgm.train import TrainClock
from study.config import (FIELD_NAMES, ConfigError, RunConfig, check_device, parse_value,
                          resolve, resolve_device)
from study.identity import code_version, config_hash, run_id, training_hash
from study.reuse import (EXTENDED_TAG, copy_training_state, find_trained, how_to_start,
                         start_extension)

__all__ = ["main", "parse_run_args", "usage", "RUN_OPTIONS", "RunLock", "AlreadyRunningError",
           "EXIT_FAILED", "EXIT_USAGE", "EXIT_BUSY", "EXIT_INTERRUPTED"]

CURVE_PREFIX = f"{CURVE_NAMESPACE}/"
RUN_OPTIONS = {"out": "runs", "sweep": None}  # program options (not config keys) and defaults
EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 1, 2, 3, 130


def parse_run_args(argv: list[str]) -> tuple[dict, dict]:
    """``--key=value`` / ``--key value`` tokens → (program options, typed config overrides)."""
    options, overrides, seen, i = dict(RUN_OPTIONS), {}, set(), 0
    allowed = ", ".join((*FIELD_NAMES, *RUN_OPTIONS))
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or len(token) < 3:
            raise ConfigError(token, f"expected --key=value arguments; allowed keys: {allowed}")
        key, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(argv):
                raise ConfigError(key, "missing value (use --key=value)")
            i, value = i + 1, argv[i + 1]
        if key in seen:
            raise ConfigError(key, "given twice")
        seen.add(key)
        if key in RUN_OPTIONS:
            options[key] = value
        elif key in FIELD_NAMES:
            overrides[key] = parse_value(key, value)
        else:
            raise ConfigError(key, f"unknown key; allowed: {allowed}")
        i += 1
    return options, overrides


class AlreadyRunningError(RuntimeError):
    """Another process holds the run folder's lock."""


class RunLock:
    """An exclusive ``flock`` on ``run_dir/.lock``, released by the OS even on kill -9."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd = None

    def __enter__(self):
        import fcntl

        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise AlreadyRunningError(f"{self.path.parent}: another process is running this run") from None
        return self

    def __exit__(self, *exc):
        os.close(self._fd)  # closing the descriptor releases the lock


class Recorder:
    """Writes the run's own files: record.json (atomically) and history.jsonl."""

    def __init__(self, run_dir: Path, rid: str, sweep: str, config: RunConfig, previous: dict | None):
        self.run_dir = run_dir
        self.history = History(run_dir / HISTORY_FILE)
        self.previous_wandb_id = (previous or {}).get("wandb_id")
        self.curve_done: set[int] = set()  # curve points the history already holds
        commit, dirty = code_version()
        self.record = new_record(run=rid, sweep=sweep, config=config.to_dict(), code_version=commit,
                                 code_dirty=dirty, previous=previous)
        if (run_dir / CHECKPOINT_FILE).exists():  # an interrupted extension goes on extending
            self.record["extends"] = (previous or {}).get("extends")
        self.write()

    def extend(self, source: Path, config: RunConfig) -> None:
        """Start this run from ``source``'s final training state (``study.reuse``); the
        record names it first, so a kill before the checkpoint is copied starts over."""
        self.record["extends"] = os.path.relpath(source, self.run_dir)
        self.record["attempts"][-1]["extends"] = self.record["extends"]
        self.write()
        start_extension(source, self.run_dir, log_every=config.log_every)

    def write(self) -> None:
        write_json_atomic(self.run_dir / RECORD_FILE, self.record)

    def attach(self, wandb_run, config: RunConfig, resumed_from: int | None) -> list[dict]:
        """The validated config, the W&B run's id and folder, and where this attempt resumed;
        the history is cut back to that step. Returns the history kept (to replay)."""
        self.record["config"] = config.to_dict()
        self.record["attempts"][-1]["resumed_from_step"] = resumed_from
        self.set_wandb(wandb_run)
        kept = self.history.resume(resumed_from or 0)
        self.curve_done = {e["step"] for e in kept if any(k.startswith(CURVE_PREFIX) for k in e)}
        self.write()
        return kept

    def set_wandb(self, wandb_run) -> None:
        """The W&B run holding this attempt: its id and its folder (relative when inside)."""
        self.record["wandb_id"] = wandb_run.id
        sync_dir = Path(wandb_run.settings.sync_dir)
        self.record["wandb_dir"] = str(sync_dir.relative_to(self.run_dir)) \
            if sync_dir.is_relative_to(self.run_dir) else str(sync_dir)
        self.write()

    def on_step(self, step: int, metrics: dict, train_seconds: float) -> None:
        """One logged step of train/... means."""
        self.history.append(step, metrics)
        self.record["step"] = step
        self.record["summary"].update(metrics)
        self.record["summary"][TRAIN_SECONDS_KEY] = train_seconds
        self.write()

    def on_curve(self, step: int, metrics: dict) -> None:
        """One training-curve point (its ``curve/...`` metrics and ``time/train_s``)."""
        self.history.append(step, metrics)
        self.curve_done.add(step)
        self.record["summary"].update(metrics)
        self.write()

    def summary(self, outcome) -> dict:
        """The final summary: the last value of every logged train/... mean and curve/...
        point, eval/..., model/..., time/..."""
        summary = {}
        for entry in self.history.entries():
            summary.update({k: v for k, v in entry.items() if k != "step"})
        summary.update(outcome.eval_metrics)
        summary.update({TRAIN_SECONDS_KEY: outcome.train_seconds, EVAL_SECONDS_KEY: outcome.eval_seconds})
        return summary

    def finish(self, outcome, summary: dict) -> None:
        self.record.update(status=FINISHED, summary=summary, images=outcome.images,
                           step=outcome.step, finished_at=utc_now())
        self.write()

    def fail(self, reason: str, trace: str) -> None:
        self.record.update(status=FAILED, reason=reason, traceback=trace, finished_at=utc_now())
        self.write()


class Logger:
    """Mirrors the record to the W&B run: every step and curve point, then images, metrics
    and summary; everything against ``train/step`` (curves also carry ``time/train_s``)."""

    def __init__(self, recorder: Recorder, wandb_run, clock: TrainClock):
        self.recorder, self.wandb_run, self.clock = recorder, wandb_run, clock
        wandb_run.define_metric(STEP_KEY)
        for prefix in ("train/*", "eval/*", f"{CURVE_PREFIX}*", "time/*", "images/*"):
            wandb_run.define_metric(prefix, step_metric=STEP_KEY)

    def start(self, kept: list[dict]) -> None:
        """A fresh W&B run of a resumed study run replays the history kept on disk."""
        if not self.wandb_run.resumed:
            self.replay(kept)

    def on_step(self, step: int, metrics: dict) -> None:
        """``lgm.train`` callback: history line and record update, then the W&B point."""
        self.recorder.on_step(step, metrics, self.clock.seconds)
        self.wandb_run.log({**metrics, STEP_KEY: step})

    def on_curve(self, step: int, train_seconds: float, evaluate_point) -> None:
        """A curve point: evaluated unless a killed attempt already recorded it."""
        if step in self.recorder.curve_done:
            return
        metrics = {**evaluate_point(), TRAIN_SECONDS_KEY: train_seconds}
        self.recorder.on_curve(step, metrics)
        self.wandb_run.log({**metrics, STEP_KEY: step})

    def replay(self, entries: list[dict]) -> None:
        """Log history entries (from history.jsonl) as W&B points against train/step."""
        for entry in entries:
            values = {k: v for k, v in entry.items() if k != "step"}
            self.wandb_run.log({**values, STEP_KEY: entry["step"]})

    def finish(self, outcome, summary: dict) -> None:
        from study.wandb_io import log_images

        record = self.recorder.record
        log_images(self.wandb_run, outcome.images, self.recorder.run_dir, step=outcome.step,
                   caption=record["run_id"])
        self.wandb_run.log({**outcome.eval_metrics, STEP_KEY: outcome.step})
        extends = {"extends": record["extends"]} if record.get("extends") else {}
        self.wandb_run.summary.update({**summary, "code_version": record["code_version"],
                                       "run_id": record["run_id"], "sweep": record["sweep"],
                                       **extends})


def _wandb_config(run) -> dict:
    return {k: v for k, v in dict(run.config).items() if not k.startswith("_")}


def _start_wandb(recorder: Recorder, config: RunConfig, rid: str, sweep: str, run_dir: Path):
    from study.wandb_io import init_run, wandb_run_id

    extended = [EXTENDED_TAG] if recorder.record.get("extends") else []
    return init_run(config=config.to_dict(), run_dir=run_dir, name=rid, sweep=sweep,
                    wandb_id=wandb_run_id(rid, recorder.previous_wandb_id),
                    tags=[config.model, config.dataset, config.budget, *extended])


def _config_from_wandb(wb, requested: RunConfig) -> RunConfig:
    """``run.config`` back through ``RunConfig``: what W&B (or an agent) says is what runs."""
    from_wandb = resolve(RunConfig.from_dict(_wandb_config(wb)))
    if config_hash(from_wandb) != config_hash(requested):
        raise ConfigError("config", "W&B's run.config differs from the --key=value arguments; "
                                    "a sweep's command must pass ${args}")
    config = dataclasses.replace(from_wandb, device=resolve_device(from_wandb.device))
    wb.config.update(config.to_dict(), allow_val_change=True)
    return config


def _train_and_record(recorder: Recorder, wb, config: RunConfig, run_dir: Path) -> str:
    """Train, evaluate, record and log one run; returns the printed one-line result."""
    from study import pipeline  # local: imports torch and lgm.evaluation

    kept = recorder.attach(wb, config, pipeline.checkpoint_step(run_dir))
    clock = TrainClock()
    logger = Logger(recorder, wb, clock)
    logger.start(kept)
    outcome = pipeline.execute(config, run_dir, device=config.device, callback=logger.on_step,
                               clock=clock, on_curve=logger.on_curve)
    summary = recorder.summary(outcome)
    logger.finish(outcome, summary)
    recorder.finish(outcome, summary)
    return ", ".join(f"{k}={v:.4g}" for k, v in summary.items()
                     if k in ("eval/fid", "eval/is", "eval/elbo"))


def _execute_logged(recorder: Recorder, config: RunConfig, rid: str, sweep: str, run_dir: Path) -> int:
    """W&B init → validate run.config → train/evaluate → log; failures recorded, not raised."""
    wb = None
    try:
        wb = _start_wandb(recorder, config, rid, sweep, run_dir)
        result = _train_and_record(recorder, wb, _config_from_wandb(wb, config), run_dir)
        wb.finish()
        print(f"finished {rid}: {result}")
        return 0
    except KeyboardInterrupt:
        _finish_wandb(wb, EXIT_INTERRUPTED)  # record stays "running": a re-run resumes
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 — any failure of the run is recorded with its reason
        reason = f"{type(err).__name__}: {err}"
        recorder.fail(reason, traceback.format_exc())
        print(f"failed {rid}: {reason}", file=sys.stderr)
        _finish_wandb(wb, EXIT_FAILED)
        return EXIT_FAILED


def _reuse_logged(recorder: Recorder, config: RunConfig, source: Path, run_dir: Path) -> int:
    """Reuse the finished result in ``source`` (same config hash, another sweep): copy its
    files, record it as this sweep's finished run, and log it as a W&B run tagged reused."""
    from study.reuse import REUSED_TAG, copy_result, reused_record
    from study.wandb_io import init_run, log_images, wandb_run_id

    record = recorder.record
    source_record = read_record(source)
    copy_result(source, run_dir, source_record)
    recorder.record = reused_record(source_record, fresh=record, source=source, target=run_dir)
    recorder.write()  # finished, before W&B: the result is safe even if W&B fails
    wb = init_run(config=config.to_dict(), run_dir=run_dir, name=record["run_id"],
                  sweep=record["sweep"], wandb_id=wandb_run_id(record["run_id"], None),
                  tags=[config.model, config.dataset, config.budget, REUSED_TAG])
    recorder.set_wandb(wb)
    Logger(recorder, wb, TrainClock()).replay(recorder.history.entries())
    summary = recorder.record["summary"]
    log_images(wb, recorder.record["images"], run_dir, step=recorder.record["step"],
               caption=record["run_id"])
    wb.summary.update({**summary, "code_version": recorder.record["code_version"],
                       "run_id": record["run_id"], "sweep": record["sweep"],
                       "reused_from": recorder.record["reused_from"]})
    wb.finish()
    print(f"reused {record['run_id']} from {source}")
    return 0


def _training_hash_of(values: dict) -> str | None:
    """The training hash of a record's config, or None when it no longer loads."""
    try:
        return training_hash(RunConfig.from_dict({k: v for k, v in values.items()
                                                  if not k.startswith("_")}))
    except (ConfigError, TypeError, ValueError):
        return None


def _start_from_trained(recorder: Recorder, config: RunConfig, out: Path, run_dir: Path) -> None:
    """A fresh run whose weights a finished run already trained (same training hash, other
    evaluation-only keys) starts from that run's final training state (``study.reuse``)."""
    from contracts.record import CHECKPOINT_FILE

    if (run_dir / CHECKPOINT_FILE).exists():
        return  # an attempt of this run itself: resume it
    trained = find_trained(out, training_hash(config), _training_hash_of, exclude=run_dir)
    if trained is None:
        return
    copy_training_state(trained, run_dir, CURVE_PREFIX)
    recorder.record["attempts"][-1]["trained_from"] = os.path.relpath(trained, run_dir)
    recorder.write()
    print(f"trained weights from {trained}: evaluating only")


def _finish_wandb(wb, exit_code: int) -> None:
    if wb is not None:
        wb.finish(exit_code=exit_code)


def _set_threads() -> None:
    """Honour the thread share a sweep runner gives this run (OMP_NUM_THREADS)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        import torch

        torch.set_num_threads(int(threads))


def usage() -> str:
    """``--help`` text: program options, then every config key with its type and default."""
    lines = ["usage: python -m study run [--out DIR] [--sweep NAME] [--key=value ...]", "",
             "  --out DIR        root of run folders (default: runs)",
             "  --sweep NAME     folder / W&B group (default: the agent's sweep id, else adhoc)", "",
             "config keys (null = family or budget default, see study/config.py):"]
    for f in dataclasses.fields(RunConfig):
        lines.append(f"  --{f.name:<14} {f.type:<12} default {f.default!r:<16} {f.metadata['help']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if any(token in ("-h", "--help") for token in argv):
        print(usage())
        return 0
    try:
        options, overrides = parse_run_args(argv)
        requested = RunConfig.from_dict({**RunConfig().to_dict(), **overrides})
        config = resolve(requested)
        check_device(config.device)  # a CUDA device this machine lacks: refused before any work
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    sweep = options["sweep"] or os.environ.get("WANDB_SWEEP_ID") or "adhoc"
    rid = run_id(sweep, config)
    run_dir = Path(options["out"]).resolve() / sweep / rid
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = read_record(run_dir)
    if previous and previous["status"] == FINISHED:
        print(f"already finished: {run_dir} (delete the folder to run it again)")
        return 0
    out = Path(options["out"]).resolve()
    start = how_to_start(out, config, run_dir)
    source = start.source if start.action == "reuse" else None
    shorter = start.source if start.action == "extend" else None
    _set_threads()
    try:
        with RunLock(run_dir):
            recorder = Recorder(run_dir, rid, sweep, config, previous)
            if source is not None:
                try:
                    return _reuse_logged(recorder, config, source, run_dir)
                except Exception as err:  # noqa: BLE001 — the copied result stays recorded
                    print(f"error: reused {source}, but logging it to W&B failed: "
                          f"{type(err).__name__}: {err}", file=sys.stderr)
                    return EXIT_FAILED
            if shorter is not None:
                recorder.extend(shorter, config)
                print(f"extending {shorter} ({read_record(shorter)['step']} steps) to {config.train_steps} steps")
            else:
                _start_from_trained(recorder, config, out, run_dir)
            return _execute_logged(recorder, config, rid, sweep, run_dir)
    except AlreadyRunningError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
