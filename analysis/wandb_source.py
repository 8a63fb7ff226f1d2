"""W&B public API → table rows, with images and histories materialised in a local cache.

A W&B run maps onto the record.json contract (``contracts.record``) like this, and the row is
then built by the same ``table_row`` as for a run folder:

- ``run_id`` = the study's run id, which the study logs in the summary (else the W&B run
  id); ``wandb_id`` = the W&B run id; ``config`` = ``run.config`` (``_`` keys dropped);
- ``sweep`` = the name in the run's sweep config (the sweep YAML's ``name``), else the run's
  W&B group (runs synced from offline folders belong to no W&B sweep), else ``"(no sweep)"``;
- ``status``/``reason``/``code_version``: the summary's ``status``/``reason``/
  ``code_version`` when the study logged them, else from the W&B state (crashed, failed,
  killed → failed) and ``config["code_version"]``;
- images: summary media entries (``{"_type": "image-file", "path": ...}``) whose key ends
  in ``samples`` / ``reconstructions`` (the study logs ``images/samples``), downloaded
  with ``run.file(path).download``;
- history: ``run.scan_history()`` written to ``history.jsonl``, ``step`` being the study's
  ``train/step`` (else W&B's ``_step``).

The API object is injected (tests pass a fake one; by default ``wandb.Api()``), so nothing
here touches the network unless asked to.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from contracts.record import (FAILED, FINISHED, HISTORY_FILE, IMAGE_FILES, RUNNING, STATUSES,
                              STEP_KEY, table_row)

from analysis.errors import AnalysisError, RunSourceError, SweepSpecError

__all__ = ["rows_from_wandb", "sweep_config", "WANDB_STATES"]

WANDB_STATES = {"finished": FINISHED, "running": RUNNING, "pending": RUNNING,
                "preempting": RUNNING, "crashed": FAILED, "failed": FAILED,
                "killed": FAILED, "preempted": FAILED}
_NO_SWEEP = "(no sweep)"


def _api_errors() -> tuple:
    import wandb

    return (wandb.errors.Error, OSError, ValueError)


def _default_api():
    import wandb

    try:
        return wandb.Api(timeout=30)
    except _api_errors() as err:
        raise RunSourceError(f"cannot open the W&B API ({type(err).__name__}: {err}); log in "
                             f"with `wandb login`, or pass a runs folder that exists") from None


def _sweep_name(sweep) -> str:
    config = sweep.config if isinstance(sweep.config, dict) else {}
    return str(config.get("name") or getattr(sweep, "name", None) or sweep.id)


def _run_sweep_name(run, logged: str | None) -> str:
    """The W&B sweep's name, else the sweep the study logged, else the W&B group."""
    sweep = getattr(run, "sweep", None)
    if sweep is not None:
        return _sweep_name(sweep)
    return str(logged or getattr(run, "group", None) or _NO_SWEEP)


def _status(run, summary: dict) -> tuple[str, object]:
    logged = summary.pop("status", None)
    reason = summary.pop("reason", None)
    state = str(getattr(run, "state", "finished"))
    status = logged if logged in STATUSES else WANDB_STATES.get(state, FAILED)
    if status == FAILED and not reason:
        reason = f"W&B run state {state!r}"
    return status, reason


def _media_path(summary: dict, name: str) -> str | None:
    for key, value in summary.items():
        if key.split("/")[-1] == name and isinstance(value, dict) and value.get("path"):
            return str(value["path"])
    return None


def _download(run, remote: str, cache: Path) -> str | None:
    local = cache / remote
    if not local.is_file():
        handle = run.file(remote).download(root=str(cache), replace=False, exist_ok=True)
        handle.close()
    return str(local.resolve()) if local.is_file() else None


def _history_row(row: dict) -> dict:
    # The study logs its own step as "train/step" (W&B's _step counts log calls instead).
    out = {"step": row.get(STEP_KEY, row.get("_step"))}
    for key, value in row.items():
        if key.startswith("_") or key == STEP_KEY or isinstance(value, (dict, list)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # JSON has no nan/inf; "nan" keeps the divergence visible
        out[key] = value
    return out


def _write_history(run, cache: Path, refresh: bool) -> str | None:
    path = cache / HISTORY_FILE
    if refresh or not path.is_file():
        rows = [_history_row(row) for row in run.scan_history()]
        if not rows:
            return None
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
        tmp.replace(path)  # atomic: a half-written cache never looks complete
    return str(path.resolve())


def _record(run, cache: Path, sweep_name: str | None) -> dict:
    """The W&B run as a record (see the module docstring), media downloaded into ``cache``."""
    summary = dict(run.summary_metrics)
    config = dict(run.config)
    status, reason = _status(run, summary)
    code_version = summary.pop("code_version", None) or config.pop("code_version", None)
    run_id = summary.pop("run_id", None) or run.id
    logged_sweep = summary.pop("sweep", None)
    for key in ("run_id", "sweep"):
        config.pop(key, None)
    cache.mkdir(parents=True, exist_ok=True)
    images = {}
    for name in IMAGE_FILES:
        remote = _media_path(summary, name)
        images[name] = _download(run, remote, cache) if remote else None
    return {"run_id": run_id, "sweep": sweep_name or _run_sweep_name(run, logged_sweep),
            "config": config, "summary": summary, "status": status, "reason": reason,
            "code_version": code_version, "started_at": getattr(run, "created_at", None),
            "wandb_id": run.id, "images": images,
            "history": _write_history(run, cache, refresh=status == RUNNING)}


def _row(run, cache: Path, sweep_name: str | None) -> dict:
    return table_row(_record(run, cache, sweep_name), run_dir=cache, origin=f"W&B run {run.id}")


def rows_from_wandb(entity: str, project: str, sweep_id: str | None, *, api=None,
                    cache_dir=None) -> list[dict]:
    """Table rows for every run of a W&B project, or of one sweep when ``sweep_id`` is given."""
    api = api if api is not None else _default_api()
    cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "lgm-analysis"
    cache = cache / entity / project
    try:
        if sweep_id:
            sweep = api.sweep(f"{entity}/{project}/sweeps/{sweep_id}")
            runs, name = list(sweep.runs), _sweep_name(sweep)
        else:
            runs, name = list(api.runs(f"{entity}/{project}")), None
        return [_row(run, cache / run.id, name)
                for run in tqdm(runs, desc="W&B runs", disable=None)]
    except _api_errors() as err:
        if isinstance(err, AnalysisError):
            raise  # already explained (e.g. a record breaking the contract)
        raise RunSourceError(f"reading W&B {entity}/{project} failed: "
                             f"{type(err).__name__}: {err}") from None


def sweep_config(entity: str, project: str, sweep_id: str | None, sweep_name: str, *,
                 api=None) -> dict:
    """The config of the W&B sweep ``sweep_id``, or of the project's sweep named ``sweep_name``."""
    api = api if api is not None else _default_api()
    if sweep_id:
        return api.sweep(f"{entity}/{project}/sweeps/{sweep_id}").config
    sweeps = list(api.project(project, entity=entity).sweeps())
    for sweep in sweeps:
        if _sweep_name(sweep) == sweep_name:
            return sweep.config
    names = ", ".join(sorted(_sweep_name(s) for s in sweeps)) or "none"
    raise SweepSpecError(f"W&B project {entity}/{project} has no sweep named {sweep_name!r} "
                         f"(its sweeps: {names})")
