"""Runs → one pandas table, from run folders or from W&B; and the sweep files' questions.

One row per run, built by ``contracts.record.table_row`` (the record contract the study
writes with). Columns, one name per concept (the same as the config keys and W&B keys):

- every config key (``dataset``, ``model``, ``scaling``, ``seed``, ...);
- every scalar summary metric, named as logged (``eval/fid``, ``train/kl``, ...); a summary
  key without a ``/`` becomes ``summary/<key>`` so that config columns are exactly the
  columns without a ``/`` that are not in :data:`META_COLUMNS`;
- :data:`META_COLUMNS`: ``run_id``, ``sweep``, ``status`` (running|finished|failed),
  ``reason``, ``code_version``, ``wandb_id`` (the W&B run holding the result),
  ``reused_from``, absolute ``samples_path``/``reconstructions_path``/``history_path``
  (``None`` where the file is absent), and ``set_aside``: why the run may not be compared
  with its sweep's other runs (``None`` when it may).

Comparability (DESIGN: "the analysis refuses to compare runs where they differ"): within a
sweep, among finished runs, each of :data:`COMPARABILITY_KEYS` must equal the sweep's
majority value; a run that differs (or lacks the key while others have it) is set aside.
A tie for the majority sets aside every tied run: there is no principled winner.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from contracts import record as contract
from contracts.record import (FINISHED, META_COLUMNS, RECORD_FILE, SETTLE_FILE, STATUSES, SWEEP_FILE,
                              read_settle, settled_state)
from contracts.sweep import SweepSpec, parse_sweep_config
from lgm.evaluation.registry import PROVENANCE_KEYS

from analysis.errors import NoRunsError, RunRecordError, RunSourceError, SweepSpecError

__all__ = ["load_runs", "load_sweep_spec", "mark_comparable", "config_columns", "usable_runs",
           "is_usable", "is_set_aside", "has_status", "history_frame", "load_settle",
           "budget_state", "at_budget", "budget_factors", "META_COLUMNS", "COMPARABILITY_KEYS"]

# Numbers are compared only between runs that agree on these (the registry's provenance keys).
COMPARABILITY_KEYS = PROVENANCE_KEYS
# entity/project or entity/project/sweeps/<id>; W&B names are letters, digits, - _ .
WANDB_PATH = re.compile(r"^(?P<entity>[\w.-]+)/(?P<project>[\w.-]+)(?:/sweeps/(?P<sweep_id>[\w-]+))?/?$")
_SOURCE_FORMS = "a runs folder (DIR or DIR/<sweep>), 'entity/project' or 'entity/project/sweeps/<id>'"


# --------------------------------------------------------------------------- rows

def _row_from_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunRecordError(f"{path}: cannot read the run record: {err}") from None
    return contract.table_row(record, run_dir=path.parent.resolve(), origin=str(path))


# --------------------------------------------------------------------------- table

def config_columns(runs: pd.DataFrame) -> list[str]:
    """The config keys among the table's columns (no ``/``, not a meta column), in order."""
    return [c for c in runs.columns if "/" not in c and c not in META_COLUMNS]


def _majority(values: pd.Series) -> tuple[list, bool]:
    """The most common value(s) among ``values`` (missing counted as its own value).

    Returns ``(winners, has_key)``; ``has_key`` is False when no run has the key at all.
    """
    keys = [None if pd.isna(v) else v for v in values]
    if all(k is None for k in keys):
        return [], False
    counts = Counter(keys).most_common()
    top = counts[0][1]
    return [value for value, count in counts if count == top], True


def mark_comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``runs`` with ``set_aside`` filled for finished runs that may not be compared."""
    out = runs.copy()
    reasons = {index: [] for index in out.index}
    finished = out[has_status(out, FINISHED)]
    for sweep, group in finished.groupby("sweep", sort=True):
        for key in COMPARABILITY_KEYS:
            if key not in group:
                continue
            winners, has_key = _majority(group[key])
            if not has_key:
                continue
            for index, value in group[key].items():
                value = None if pd.isna(value) else value
                if len(winners) > 1:
                    if value in winners:
                        reasons[index].append(f"{key} has no majority in sweep {sweep!r} "
                                              f"(tie between {winners!r})")
                elif value != winners[0]:
                    reasons[index].append(f"{key} = {value!r} differs from the sweep's "
                                          f"majority {winners[0]!r}")
    out["set_aside"] = pd.Series({i: "; ".join(r) if r else None for i, r in reasons.items()},
                                 dtype=object)
    return out


def has_status(runs: pd.DataFrame, status: str) -> pd.Series:
    """Which runs have ``status`` (one of ``contracts.record.STATUSES``)."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; allowed: {', '.join(STATUSES)}")
    return runs["status"] == status


def is_set_aside(runs: pd.DataFrame) -> pd.Series:
    """Finished runs that may not be compared with the others (``mark_comparable``)."""
    return has_status(runs, FINISHED) & runs["set_aside"].notna()


def is_usable(runs: pd.DataFrame) -> pd.Series:
    """The one predicate for "statistics may use this run": finished and not set aside."""
    return has_status(runs, FINISHED) & runs["set_aside"].isna()


def usable_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs statistics may use (:func:`is_usable`)."""
    return runs[is_usable(runs)]


def _table(rows: list[dict], source) -> pd.DataFrame:
    if not rows:
        raise NoRunsError(f"no runs found in {source} (looked for {RECORD_FILE} files / W&B runs)")
    runs = pd.DataFrame(rows)
    meta = [c for c in META_COLUMNS if c in runs]
    config = config_columns(runs)
    summary = sorted(c for c in runs.columns if c not in meta and c not in config)
    runs = runs[meta + config + summary].sort_values(["sweep", "run_id"], kind="stable")
    return mark_comparable(runs.reset_index(drop=True))


def _is_folder_source(source) -> bool:
    return isinstance(source, os.PathLike) or Path(str(source)).exists()


def _wandb_match(source) -> re.Match:
    match = WANDB_PATH.match(str(source))
    if match is None or str(source).startswith((".", "/", "~")):
        raise RunSourceError(f"run source {str(source)!r} is neither an existing folder nor a "
                             f"W&B path; allowed: {_SOURCE_FORMS}")
    return match


def load_runs(source, *, api=None, cache_dir=None) -> pd.DataFrame:
    """Load every run of ``source`` into one table (see the module docstring for columns).

    ``source``: a runs folder (``DIR`` or ``DIR/<sweep>``; walked for ``record.json``), or
    a W&B path ``entity/project`` / ``entity/project/sweeps/<id>`` read with ``api``
    (default ``wandb.Api()``); W&B images and histories are downloaded into ``cache_dir``.
    Raises :class:`NoRunsError` when the source holds no runs.
    """
    if _is_folder_source(source):
        root = Path(source)
        if not root.exists():
            raise RunSourceError(f"run folder {str(root)!r} does not exist; allowed: {_SOURCE_FORMS}")
        if not root.is_dir():
            raise RunSourceError(f"run source {str(root)!r} is a file; allowed: {_SOURCE_FORMS}")
        return _table([_row_from_record(p) for p in contract.record_paths(root.resolve())], root)
    from analysis import wandb_source  # local: keeps wandb out of folder-only use

    match = _wandb_match(source)
    rows = wandb_source.rows_from_wandb(match["entity"], match["project"], match["sweep_id"],
                                        api=api, cache_dir=cache_dir)
    return _table(rows, f"W&B {source}")


def history_frame(path) -> pd.DataFrame:
    """A run's history.jsonl as a table (one row per logged step; "nan" strings → NaN).

    A last line without its newline is a write in progress (a running run) and is skipped.
    """
    table = pd.DataFrame(contract.read_history(path))
    return table.apply(pd.to_numeric, errors="coerce") if not table.empty else table


# --------------------------------------------------------------------------- sweep files

def _read_sweep_yaml(path: Path) -> dict:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SweepSpecError(f"{path}: cannot read the sweep file: {err}") from None
    if not isinstance(config, dict):
        raise SweepSpecError(f"{path}: a sweep file must be a YAML mapping")
    return config


def _folder_sweep_config(root: Path, sweep: str) -> tuple[dict, Path]:
    """``DIR/<sweep>/sweep.yaml``, else ``DIR/sweep.yaml`` when DIR is that sweep's folder."""
    nested, own = root / sweep / SWEEP_FILE, root / SWEEP_FILE
    if nested.is_file():
        return _read_sweep_yaml(nested), nested
    if own.is_file():
        config = _read_sweep_yaml(own)
        if root.name == sweep or config.get("name") == sweep:
            return config, own
    raise SweepSpecError(f"no {SWEEP_FILE} for sweep {sweep!r} under {root} "
                         f"(expected {nested})")


def load_settle(source, sweep: str) -> dict | None:
    """The rounds ``python -m study settle`` recorded for ``sweep`` (``DIR/<sweep>/settle.json``
    or ``DIR/settle.json`` in the sweep's own folder); None when it was never settled or the
    source is W&B (the rounds live in the runs folder)."""
    if not _is_folder_source(source):
        return None
    root = Path(source).resolve()
    for folder in (root / sweep, root):
        if (folder / SETTLE_FILE).is_file():
            return read_settle(folder)
    return None


def budget_state(runs: pd.DataFrame, settle: dict | None) -> dict | None:
    """Which runs a sweep's verdict is about when it holds several budgets: the settled state
    (the last done round's ``budget_factor`` and ``seeds``, ``contracts.record.settled_state``),
    else the largest ``budget_factor`` present; None when the runs hold one budget only."""
    state = settled_state(settle)
    if state is not None:
        return state
    factors = budget_factors(runs)
    if factors.nunique() <= 1:
        return None
    return {"budget_factor": int(factors.max()), "seeds": None, "round": None}


def budget_factors(runs: pd.DataFrame) -> pd.Series:
    """Each run's ``budget_factor``; records written before it existed trained at the budget
    as named: factor 1."""
    if "budget_factor" not in runs:
        return pd.Series(1, index=runs.index)
    return pd.to_numeric(runs["budget_factor"], errors="coerce").fillna(1).astype(int)


def at_budget(runs: pd.DataFrame, *, budget_factor: int, seeds=None) -> pd.DataFrame:
    """The runs of one budget state: trained ``budget_factor`` × the budget, with one of
    ``seeds`` (all seeds when None). The settle loop and the report select with this."""
    keep = budget_factors(runs) == int(budget_factor)
    if seeds is not None:
        keep &= runs["seed"].isin(list(seeds))
    return runs[keep]


def load_sweep_spec(source, sweep: str, *, api=None) -> SweepSpec:
    """The question, expectation and prediction of ``sweep``.

    From ``DIR/<sweep>/sweep.yaml`` (or ``DIR/sweep.yaml`` when the source is the sweep's
    own folder), or from the W&B sweep's config. Raises :class:`SweepSpecError` when there
    is none or it is malformed.
    """
    if _is_folder_source(source):
        config, path = _folder_sweep_config(Path(source).resolve(), sweep)
        return parse_sweep_config(config, origin=str(path))
    from analysis import wandb_source

    match = _wandb_match(source)
    config = wandb_source.sweep_config(match["entity"], match["project"], match["sweep_id"],
                                       sweep, api=api)
    return parse_sweep_config(config, origin=f"W&B sweep {sweep!r}")
