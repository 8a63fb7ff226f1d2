"""Sweep files: read a W&B sweep YAML, validate it, and enumerate its runs.

A sweep file is a plain W&B sweep config (``wandb sweep sweeps/x.yaml`` accepts it) with
the study's conventions on top:

- ``parameters`` is flat: every key is a :class:`study.config.RunConfig` field (the
  ``sweeps`` package's schema would silently drop nested ``parameters:`` blocks, so they are
  refused here);
- ``description`` is a YAML string holding ``question``, ``expected``, a machine-readable
  ``prediction`` and an optional ``note``, parsed and checked by ``contracts.sweep`` — the
  same function the analysis uses, so a file accepted here can be tested there;
- ``method`` is ``grid`` or ``random`` (``bayes`` needs a W&B server); every parameter of a
  grid has a ``value`` or ``values`` (a distribution such as ``{min, max}`` cannot be
  enumerated); a random sweep is enumerated with a fixed seed and needs ``run_cap`` (a W&B
  server key the ``sweeps`` 0.2.0 schema does not know, so it is checked here) or ``--limit``.

Every enumerated configuration is built and resolved as a ``RunConfig``, so an invalid value
or combination anywhere in the grid is refused before anything runs.
"""

from __future__ import annotations

import dataclasses
import random
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from contracts.sweep import SweepSpecError, parameter_values, parse_sweep_config
from study.config import FIELD_NAMES, ConfigError, RunConfig, resolve

__all__ = ["SweepFileError", "Sweep", "load_sweep", "enumerate_runs", "RANDOM_SEARCH_SEED"]

METHODS = ("grid", "random")
RANDOM_SEARCH_SEED = 0  # random sweeps enumerate the same runs every time
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SweepFileError(ValueError):
    """A sweep file is unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Sweep:
    path: str
    name: str
    method: str
    parameters: dict  # key -> W&B parameter spec ({value: x} | {values: [...]} | distribution)
    spec: object  # contracts.sweep.SweepSpec: question, expected, prediction, note
    run_cap: int | None
    raw: dict  # the file as loaded


def _fail(path, message):
    raise SweepFileError(f"{path}: {message}")


def _schema_violations(raw: dict) -> list[str]:
    with warnings.catch_warnings():  # sweeps' pydantic models warn about V2 renames on import
        warnings.simplefilter("ignore")
        from sweeps import schema_violations_from_proposed_config
    checked = {k: v for k, v in raw.items() if k != "run_cap"}
    try:
        return schema_violations_from_proposed_config(checked)
    except ValueError as err:  # raised (not listed) for non-dict parameter entries
        return [str(err)]


def load_sweep(path: str | Path) -> Sweep:
    """Load and validate one sweep file (schema, keys, description, every configuration)."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as err:
        _fail(path, f"cannot read: {err.strerror}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        _fail(path, f"not valid YAML: {err}")
    if not isinstance(raw, dict):
        _fail(path, "expected a mapping (a W&B sweep config) at the top level")
    violations = _schema_violations(raw)
    if violations:
        _fail(path, "not a valid W&B sweep config: " + "; ".join(violations))
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(path, f"name: expected a folder-safe name (letters, digits, _ . -), got {name!r}")
    if raw["method"] not in METHODS:
        _fail(path, f"method: {raw['method']!r} cannot run locally; allowed: {', '.join(METHODS)}")
    _check_command(path, raw.get("command"))
    parameters = _check_parameters(path, raw["parameters"], raw["method"])
    run_cap = raw.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1):
        _fail(path, f"run_cap: expected a positive integer, got {run_cap!r}")
    sweep = Sweep(path, name, raw["method"], parameters, None, run_cap, raw)
    # Build every configuration now (the whole grid; a random sweep's first draws), so that a
    # bad value or combination is reported before anything runs.
    enumerate_runs(sweep, limit=None if sweep.method == "grid" else (run_cap or 1))
    try:
        spec = parse_sweep_config(raw, origin=path)
    except SweepSpecError as err:
        raise SweepFileError(str(err)) from None
    return dataclasses.replace(sweep, spec=spec)


def _check_command(path, command):
    if command is None:
        return
    if not all(isinstance(part, str) for part in command) or "${args}" not in command:
        _fail(path, "command: must be a list of strings that passes ${args} (the run reads "
                    "its parameters from --key=value arguments)")


def _check_parameters(path, parameters: dict, method: str) -> dict:
    values = parameter_values(parameters)
    for key, spec in parameters.items():
        if key not in FIELD_NAMES:
            _fail(path, f"parameters.{key}: unknown key; allowed: {', '.join(FIELD_NAMES)}")
        if "parameters" in spec:
            _fail(path, f"parameters.{key}: nested parameters blocks are not supported; keep "
                        f"parameters flat (one RunConfig field each)")
        if method == "grid" and values[key] is None:
            _fail(path, f"parameters.{key}: a grid sweep enumerates value/values only, got "
                        f"{spec!r}; list the values ({{values: [...]}}) or use method: random")
    if "seed" not in parameters:
        _fail(path, "parameters.seed: missing; sweep seeds (e.g. {values: [0, 1, 2]}) so that "
                    "results carry an uncertainty")
    return dict(parameters)


# --------------------------------------------------------------------------- enumeration

def _plain(value):
    """numpy scalars (from the sweeps package's samplers) → plain Python values."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def _suggestions(sweep: Sweep, n: int) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sweeps import next_runs
    config = {"method": sweep.method, "parameters": sweep.parameters}
    if sweep.method == "random":
        # The sweeps package samples with Python's global `random`: seed it for a fixed
        # enumeration, and put the caller's state back afterwards.
        state = random.getstate()
        random.seed(RANDOM_SEARCH_SEED)
        try:
            runs = next_runs(config, [], validate=False, n=n)
        finally:
            random.setstate(state)
    else:
        runs = next_runs(config, [], validate=False, n=n)
    return [{k: _plain(v["value"]) for k, v in run.config.items()} for run in runs if run is not None]


def enumerate_runs(sweep: Sweep, *, overrides: dict | None = None, limit: int | None = None) -> list[RunConfig]:
    """The sweep's runs as resolved ``RunConfig``s, in W&B's order, without duplicates.

    ``overrides`` (already typed, e.g. from ``--set``) replace the swept values in every run;
    runs that become identical are kept once. ``limit`` keeps the first N. Grid sweeps
    enumerate the full product (W&B order: parameter names sorted, the last varies fastest);
    random sweeps draw ``limit`` (else ``run_cap``) configurations with a fixed seed.
    """
    if sweep.method == "random" and limit is None and sweep.run_cap is None:
        _fail(sweep.path, "run_cap: a random sweep needs run_cap in the file or --limit")
    n = 10**9 if sweep.method == "grid" else (limit if limit is not None else sweep.run_cap)
    unknown = sorted(set(overrides or {}) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(unknown[0], f"unknown key; allowed: {', '.join(FIELD_NAMES)}")
    configs, seen = [], set()
    for values in _suggestions(sweep, n):
        values.update(overrides or {})
        try:
            config = resolve(RunConfig.from_dict(values))
        except ConfigError as err:
            _fail(sweep.path, f"parameters.{err} (in the run {values})")
        key = tuple(sorted(config.to_dict().items()))
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs if limit is None else configs[:limit]
