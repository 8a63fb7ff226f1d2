"""What a settle is about: its caps, and the state of each sweep it settles.

``prepare`` makes every check before any training (caps, sweep files, ``--set``, an earlier
settle record of the folder) and returns one :class:`SweepState` per sweep: the sweep file
with ``--set`` baked in, the compared configurations of its question, its current budget
factor and seeds, and its record (``settle.json``, resumed when there is one). The loop that
moves these states round by round is ``study.settle``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from contracts.record import RecordError, read_settle
from study.config import RunConfig
from study.sweepfile import Sweep, enumerate_runs, load_sweep

__all__ = ["Caps", "SettleError", "SweepState", "prepare", "resolve_sweep_path", "max_looks",
           "DEFAULT_CAPS", "GROWTH"]

GROWTH = 2  # an extension doubles the budget factor
_REPO_ROOT = Path(__file__).resolve().parents[1]
_OWNED = ("budget_factor", "train_steps", "seed")  # set by settle, never by --set or the file


class SettleError(ValueError):
    """Bad settle input (a cap, a sweep, an option); refused before any training."""


@dataclass(frozen=True)
class Caps:
    """What one settle call may spend: wall-clock minutes, seeds per configuration, and the
    largest budget factor (×1, ×2, ×4, ... up to it)."""

    max_minutes: float
    max_seeds: int = 8
    max_budget_factor: int = 4

    def check(self) -> None:
        if not (isinstance(self.max_minutes, (int, float)) and math.isfinite(self.max_minutes)
                and self.max_minutes > 0):
            raise SettleError(f"--max-minutes must be a positive number, got {self.max_minutes!r}")
        for name in ("max_seeds", "max_budget_factor"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettleError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")


DEFAULT_CAPS = Caps(max_minutes=40.0)


def max_looks(caps: Caps, initial_seeds: int) -> int:
    """An upper bound on a sweep's analyses: round 0, one per doubling, one for added seeds
    (seeds are added in one round at most)."""
    doublings = int(math.floor(math.log2(caps.max_budget_factor) + 1e-9))
    return 1 + doublings + (1 if caps.max_seeds > initial_seeds else 0)


def resolve_sweep_path(name_or_path: str) -> Path:
    """A sweep file path, or a name under the repository's ``sweeps/``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return _REPO_ROOT / "sweeps" / f"{name_or_path}.yaml"


# --------------------------------------------------------------------------- sweeps

@dataclass
class SweepState:
    """One sweep being settled: its current budget factor and seeds, its settle record."""

    sweep: Sweep
    parameters: dict  # the file's parameters with --set baked in (no seed, no budget_factor)
    compared: tuple  # the prediction parameter's compared values (all when empty)
    factor: int
    seeds: list
    record: dict
    initial_seeds: int  # the file's seeds per configuration
    max_looks: int = 1  # fixed by the first settle call of the folder (settle.json)
    closed: str | None = None  # why no further round: settled, a cap, no looks left
    decision: object = None

    @property
    def name(self) -> str:
        return self.sweep.name

    def round_sweep(self) -> Sweep:
        """The sweep file as this state runs it: its compared configurations at the current
        factor and seeds (run ids, W&B config and reuse as for any run of the sweep)."""
        parameters = dict(self.parameters)
        parameter = self.sweep.spec.prediction.parameter
        if self.compared and "values" in parameters.get(parameter, {}):
            parameters[parameter] = {"values": [v for v in parameters[parameter]["values"]
                                                if v in self.compared]}
        parameters["seed"] = {"values": list(self.seeds)}
        parameters["budget_factor"] = {"value": self.factor}
        return dataclasses.replace(self.sweep, parameters=parameters)

    def configs(self) -> list[RunConfig]:
        return enumerate_runs(self.round_sweep())


def _seed_values(sweep: Sweep) -> list[int]:
    spec = sweep.parameters["seed"]
    values = spec["values"] if "values" in spec else [spec.get("value")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SettleError(f"{sweep.path}: parameters.seed: settle adds seeds after the largest "
                          f"one, so seeds must be integers, got {values!r}")
    return sorted(values)


def _load_state(path: Path, out: Path, overrides: dict, caps: Caps) -> SweepState:
    """Load and check one sweep for settling; resume its settle record if there is one."""
    from study.sweepfile import SweepFileError

    try:
        sweep = load_sweep(path)
    except SweepFileError as err:
        raise SettleError(str(err)) from None
    if sweep.method != "grid":
        raise SettleError(f"{path}: method {sweep.method}: settle extends and adds seeds to a "
                          f"grid's configurations; allowed: grid")
    fixed = [k for k in _OWNED[:2] if k in sweep.parameters]
    if fixed:
        raise SettleError(f"{path}: parameters.{fixed[0]}: the budget is fixed, so settle cannot "
                          f"extend it; use a named budget (budget: smoke|quick|full) without "
                          f"train_steps or budget_factor")
    if sweep.spec is None or sweep.spec.prediction is None:
        raise SettleError(f"{path}: no prediction: settle needs a question it can test")
    seeds = _seed_values(sweep)
    parameters = {k: v for k, v in sweep.parameters.items() if k != "seed"}
    parameters.update({k: {"value": v} for k, v in overrides.items()})
    prediction = sweep.spec.prediction
    compared = tuple(prediction.compared) if prediction.kind == "pairwise" else ()
    state = SweepState(sweep=sweep, parameters=parameters, compared=compared, factor=1,
                       seeds=seeds, record={}, initial_seeds=len(seeds))
    try:
        state.configs()  # every configuration builds: a bad --set value is refused now
    except SweepFileError as err:
        raise SettleError(str(err)) from None
    try:
        record = read_settle(out / sweep.name)
    except RecordError as err:
        raise SettleError(str(err)) from None
    if record is None:
        record = {"sweep": sweep.name, "file": str(path), "overrides": overrides, "rounds": []}
    elif record.get("overrides", {}) != overrides:
        raise SettleError(f"{out / sweep.name}: settled before with --set "
                          f"{_sets(record.get('overrides', {}))}, now {_sets(overrides)}; use the "
                          f"same --set or another --out")
    record["caps"] = dataclasses.asdict(caps)
    # The bound on looks is the procedure's: fixed when the sweep's settle began, whatever
    # caps later calls give (more looks than the rule spent its error rate on would break it).
    record.setdefault("max_looks", max_looks(caps, len(seeds)))
    state.record, state.max_looks = record, int(record["max_looks"])
    if record["rounds"]:
        last = record["rounds"][-1]
        state.factor, state.seeds = int(last["budget_factor"]), list(last["seeds"])
    return state


def _sets(overrides: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "(none)"


def prepare(sweeps: list[str], out: Path, *, overrides: dict, caps: Caps) -> list[SweepState]:
    """Every check before any training: caps, sweep files, --set, earlier settle records."""
    caps.check()
    if not sweeps:
        raise SettleError("give at least one sweep (a file, or a name under sweeps/)")
    owned = sorted(set(overrides) & set(_OWNED))
    if owned:
        raise SettleError(f"--set {owned[0]}: settle chooses budget_factor and seeds itself and "
                          f"cannot extend a fixed train_steps; allowed: any other run key")
    states = [_load_state(resolve_sweep_path(s), Path(out), overrides, caps) for s in sweeps]
    for state in states:
        prediction = state.sweep.spec.prediction
        asked = sorted(set(overrides) & {prediction.parameter, prediction.group_by})
        if asked:
            raise SettleError(f"--set {asked[0]}: {state.name}'s question compares the values of "
                              f"{asked[0]}; fixing it leaves nothing to compare")
    names = [s.name for s in states]
    if len(set(names)) != len(names):
        raise SettleError(f"sweep names given twice: {', '.join(names)}")
    return states
