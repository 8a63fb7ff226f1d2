"""What a settle round will cost, estimated from the records of finished runs.

Per configuration apart from its seed and length (:func:`unit`): seconds per training step
(``time/train_s / train_steps``), and the rest of a run's wall-clock — its evaluations, curve
points and start-up: ``finished_at − started_at`` of a run finished in one attempt, minus the
training it did itself (an extension's clock includes the run it continues). A planned run
costs ``step_s × the steps it trains itself + other_s``; a configuration finished anywhere
under the runs folder costs nothing (it is reused), one that continues a shorter finished run
trains only the extra steps, and an interrupted one only the steps after its checkpoint (the
start as the run program will take it: ``study.reuse.how_to_start``). A round's wall-clock
is, per sweep (they run one after another), its runs' sum over the workers, at least its
longest run.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from contracts.record import FINISHED, TRAIN_SECONDS_KEY, RecordError, parse_utc, read_record
from study.budgets import steps_per_epoch
from study.config import RunConfig
from study.identity import config_hash, run_id
from study.reuse import how_to_start

__all__ = ["CostModel", "PlannedRun", "plan_costs", "wall_seconds", "unit", "minutes",
           "describe_steps", "own_training", "wall_of"]


def unit(config: RunConfig) -> str:
    """A configuration apart from its seed and length: the unit step times are measured on."""
    values = config.to_dict()
    for name in ("seed", "budget_factor", "train_steps", "checkpoint_every", "device"):
        values.pop(name, None)
    return json.dumps(values, sort_keys=True)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (parse_utc(end) - parse_utc(start)).total_seconds()


def own_training(record: dict, run_dir: Path) -> float:
    """The training this run did itself (an extension's clock includes the run it extends)."""
    train = float(record["summary"].get(TRAIN_SECONDS_KEY) or 0.0)
    if record.get("extends"):
        try:
            source = read_record((run_dir / record["extends"]).resolve()) or {}
        except RecordError:
            source = {}
        train -= float((source.get("summary") or {}).get(TRAIN_SECONDS_KEY) or 0.0)
    return max(0.0, train)


def wall_of(record: dict) -> float | None:
    """A run's wall-clock from its record, when it finished in one attempt (a resumed run's
    timestamps do not measure one run), else None."""
    attempts = record.get("attempts") or []
    if len(attempts) != 1:
        return None
    return _seconds_between(attempts[0].get("started_at"), record.get("finished_at"))


@dataclass
class CostModel:
    """Seconds per training step and per run besides training, per configuration (:func:`unit`),
    measured from finished runs' records under ``out``."""

    step_s: dict = field(default_factory=dict)
    other_s: dict = field(default_factory=dict)

    @classmethod
    def measure(cls, out: Path) -> "CostModel":
        model = cls()
        for path in sorted(Path(out).glob("*/*/record.json")):
            try:
                record = read_record(path.parent)
            except RecordError:
                continue
            if not record or record["status"] != FINISHED or record.get("reused_from"):
                continue
            model._add(record, path.parent)
        return model

    def _add(self, record: dict, run_dir: Path) -> None:
        try:
            key = unit(RunConfig.from_dict(record["config"]))
        except ValueError:
            return
        train, steps = record["summary"].get(TRAIN_SECONDS_KEY), record["config"].get("train_steps")
        if train and steps:
            self.step_s.setdefault(key, []).append(float(train) / steps)
        wall = wall_of(record)
        if wall is not None:
            self.other_s.setdefault(key, []).append(max(0.0, wall - own_training(record, run_dir)))

    @staticmethod
    def _median(table: dict, key: str) -> float:
        values = table.get(key) or [v for vs in table.values() for v in vs]
        return statistics.median(values) if values else 0.0

    def run_seconds(self, config: RunConfig, new_steps: int) -> float:
        key = unit(config)
        return self._median(self.step_s, key) * new_steps + self._median(self.other_s, key)


@dataclass
class PlannedRun:
    sweep: str
    config: RunConfig
    new_steps: int  # steps this run trains itself (fewer when it extends a shorter run)
    seconds: float
    extends: bool


def plan_costs(rounds: list[tuple[str, list[RunConfig]]], out: Path, model: CostModel) -> list[PlannedRun]:
    """The runs a round of (sweep name, its configurations) would train, each once (a
    configuration shared by two sweeps, or finished already, costs nothing), with their
    estimated seconds."""
    planned, seen = [], set()
    for name, configs in rounds:
        for config in configs:
            digest = config_hash(config)
            if digest in seen:
                continue
            seen.add(digest)
            run_dir = out / name / run_id(name, config)
            if (_safe_record(run_dir) or {}).get("status") == FINISHED:
                continue
            start = how_to_start(out, config, run_dir)
            if start.action == "reuse":
                continue
            new_steps = config.train_steps - _done_steps(start, run_dir)
            planned.append(PlannedRun(name, config, new_steps,
                                      model.run_seconds(config, new_steps), start.action == "extend"))
    return planned


def _done_steps(start, run_dir: Path) -> int:
    """Steps a planned run has behind it when it starts (``study.reuse.how_to_start``): its
    own checkpoint's step when it resumes, the shorter run's when it extends, else 0."""
    if start.action == "resume":
        from study.pipeline import checkpoint_step  # torch: only where a checkpoint is read

        return int(checkpoint_step(run_dir) or 0)
    if start.action == "extend":
        return int((_safe_record(start.source) or {}).get("step") or 0)
    return 0


def _safe_record(run_dir: Path | None) -> dict | None:
    try:
        return read_record(run_dir) if run_dir is not None else None
    except RecordError:
        return None


def wall_seconds(planned: list[PlannedRun], workers: int) -> float:
    """A round's wall-clock: per sweep (they run one after another) its runs' sum over the
    workers, at least its longest run."""
    total = 0.0
    for name in dict.fromkeys(p.sweep for p in planned):
        seconds = [p.seconds for p in planned if p.sweep == name]
        total += max(max(seconds), sum(seconds) / workers)
    return total


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def describe_steps(config: RunConfig) -> str:
    epochs = config.train_steps / steps_per_epoch(config.dataset, config.batch_size)
    return f"{config.train_steps} steps ({epochs:.3g} epochs)"
