"""The run record: the files a run leaves, their fields, and the table row built from them.

Layout of a runs folder (written by ``study``, read by ``analysis``)::

    DIR/<sweep>/sweep.yaml                 the sweep file the runs came from
    DIR/<sweep>/settle.json                the rounds of ``python -m study settle`` (if settled)
    DIR/<sweep>/<run_id>/record.json       rewritten atomically: at start, while training, at the end
    DIR/<sweep>/<run_id>/history.jsonl     one JSON object per logged step
    DIR/<sweep>/<run_id>/samples.png, samples.npz, reconstructions.png (VAEs), copies.png,
                         model.pt, run.log
    DIR/<sweep>/<run_id>/wandb/offline-run-*/
    DIR/ratings.jsonl                      blind human ratings (written by ``analysis rate``)

``record.json`` holds :data:`FIELDS`; ``status`` is one of :data:`STATUSES`. A run's id is
``<sweep>-<config hash>`` (:func:`run_id`); each attempt's W&B run is ``<run_id>-<6 hex>``
(:func:`wandb_id`) unless a W&B agent chose the id, and ``record.json``'s ``wandb_id`` is
the id of the attempt that wrote the final result, the W&B run a report must point at.

Standard library only: the study writes records with these functions and the analysis
reads them with the same ones.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import secrets
from pathlib import Path

__all__ = ["STEP_KEY", "TRAIN_SECONDS_KEY", "EVAL_SECONDS_KEY", "RECORD_FILE", "HISTORY_FILE", "CHECKPOINT_FILE", "WEIGHTS_FILE", "SWEEP_FILE",
           "LOG_FILE", "WANDB_DIR", "IMAGE_FILES", "COPIES_FILE", "SAMPLES_ARRAY_FILE",
           "RATINGS_FILE", "SETTLE_FILE", "STATUSES", "RUNNING", "FINISHED", "FAILED",
           "FIELDS", "REQUIRED", "META_COLUMNS", "RecordError", "run_id", "wandb_id",
           "utc_now", "parse_utc", "json_safe", "write_json_atomic", "new_record", "read_record",
           "check_record", "read_history", "History", "table_row", "record_paths",
           "read_settle", "write_settle", "settled_state"]

RECORD_FILE = "record.json"
HISTORY_FILE = "history.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"   # resumable training state; kept once finished: the final
                                    # training state an exact extension starts from
WEIGHTS_FILE = "model.pt"           # the final weights (a state_dict)
SWEEP_FILE = "sweep.yaml"           # DIR/<sweep>/sweep.yaml: the file the runs came from
LOG_FILE = "run.log"                # the run's output when started by the local runner
WANDB_DIR = "wandb"                 # W&B's own folder inside a run folder (never a record)
# copies.png: the samples closest to the training reference beside their nearest training
# images (lgm.evaluation.copies), the picture behind eval/ct and eval/copy_fraction.
COPIES_FILE = "copies.png"
IMAGE_FILES = {"samples": "samples.png", "reconstructions": "reconstructions.png",
               "copies": COPIES_FILE}
# The images of samples.png as an array, without any title or label drawn on them (for blind
# ratings and for re-scoring): "images" uint8 N×C×H×W, "labels" int64 N (empty if unconditional).
SAMPLES_ARRAY_FILE = "samples.npz"
# At a runs folder's root: one JSON line per blind rating of the runs' samples (append-only;
# written by `python -m analysis rate`, read by the report; the study never touches it).
RATINGS_FILE = "ratings.jsonl"
# DIR/<sweep>/settle.json: what `python -m study settle` did to the sweep, round by round
# (written by study.settle, read by the report): {"sweep", "caps", "rounds": [round, ...]},
# each round {"round", "status" planned|done, "budget_factor", "seeds", "added", "why",
# "estimate_s", "seconds", "verdict", "settled", "provisional", ...}.
SETTLE_FILE = "settle.json"

# The history's step and training-time keys: W&B plots everything against STEP_KEY; every
# curve point and the summary carry TRAIN_SECONDS_KEY (training loop time only, checkpointed
# with the run: ``lgm.train.TrainClock``) and the summary EVAL_SECONDS_KEY.
STEP_KEY = "train/step"
TRAIN_SECONDS_KEY = "time/train_s"
EVAL_SECONDS_KEY = "time/eval_s"

STATUSES = ("running", "finished", "failed")
RUNNING, FINISHED, FAILED = STATUSES

# Every field of record.json, in the order written. "summary" holds the run's final numbers
# (eval/..., the last train/... means, time/..., model/...); "images" maps an image name to
# its file in the run folder; "attempts" lists each start (and the step it resumed from);
# "reused_from" names the run folder whose finished result this record reuses (same config);
# "extends" the run folder (relative) whose final training state this longer run continued
# (the same config at a smaller budget_factor; study.reuse).
FIELDS = ("run_id", "sweep", "config", "status", "reason", "traceback", "summary", "history",
          "images", "code_version", "code_dirty", "wandb_dir", "wandb_id", "started_at",
          "finished_at", "step", "attempts", "reused_from", "extends")
REQUIRED = ("run_id", "sweep", "config", "status")

# Columns of an analysis table row that are not config keys nor logged metrics.
META_COLUMNS = ("run_id", "sweep", "status", "reason", "code_version", "started_at",
                "finished_at", "run_dir", "wandb_id", "reused_from", "extends", "samples_path",
                "reconstructions_path", "copies_path", "samples_array_path", "history_path",
                "set_aside")
_IMAGE_COLUMNS = {name: f"{name}_path" for name in IMAGE_FILES}


class RecordError(ValueError):
    """A record or history file is unreadable or breaks the contract; the message names it."""


# --------------------------------------------------------------------------- identity

def run_id(sweep: str, config_hash: str) -> str:
    """``<sweep>-<config hash>``: the same configuration has the same folder on any machine."""
    return f"{sweep}-{config_hash}"


def wandb_id(run: str) -> str:
    """A fresh W&B id for one attempt of ``run``: ``<run_id>-<6 hex>`` (unique per attempt,
    so attempts on other machines never collide in a shared project)."""
    return f"{run}-{secrets.token_hex(3)}"


_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime(_UTC_FORMAT)


def parse_utc(text: str) -> _dt.datetime:
    """A time stamp written by :func:`utc_now` back as a datetime (UTC)."""
    return _dt.datetime.strptime(text, _UTC_FORMAT).replace(tzinfo=_dt.timezone.utc)


# --------------------------------------------------------------------------- files

def json_safe(value):
    """NaN/inf → None, recursively, so that record files stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then ``os.replace``.

    A reader (or a kill -9 at any instant) sees either the old or the new file, never half.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(json_safe(obj), f, indent=1, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def new_record(*, run: str, sweep: str, config: dict, code_version: str, code_dirty: bool,
               previous: dict | None = None) -> dict:
    """The record of a starting attempt (status ``running``); a resumed run keeps its first
    start time and the list of its earlier attempts."""
    previous = previous or {}
    record = dict.fromkeys(FIELDS)
    record.update(run_id=run, sweep=sweep, config=dict(config), status=RUNNING, summary={},
                  history=HISTORY_FILE, images={}, code_version=code_version,
                  code_dirty=bool(code_dirty), started_at=previous.get("started_at") or utc_now(),
                  step=0, attempts=list(previous.get("attempts") or [])
                  + [{"started_at": utc_now(), "pid": os.getpid()}])
    return record


def check_record(record, origin) -> dict:
    """``record`` if it is a record a table row can be built from, else :class:`RecordError`."""
    if not isinstance(record, dict):
        raise RecordError(f"{origin}: a run record must be a JSON object")
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        raise RecordError(f"{origin}: missing key(s) {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise RecordError(f"{origin}: status {record['status']!r} unknown; allowed: "
                          f"{', '.join(STATUSES)}")
    for key in ("config", "summary"):
        if not isinstance(record.get(key) or {}, dict):
            raise RecordError(f"{origin}: {key!r} must be an object")
    return record


def _read_json(path: Path, what: str, hint: str = ""):
    """The JSON in ``path`` (which exists); an unreadable file is a :class:`RecordError`
    naming it and ``what`` it should hold."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: cannot read the {what} ({err}){hint}") from err


def read_record(run_dir: str | os.PathLike) -> dict | None:
    """The run's record, or None when the run never started. Raises :class:`RecordError`
    for an unreadable file or an unknown status (the run's folder is named)."""
    path = Path(run_dir) / RECORD_FILE
    if not path.exists():
        return None
    record = _read_json(path, "run record", "; delete the run folder to start it over")
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        status = record.get("status") if isinstance(record, dict) else None
        raise RecordError(f"{path}: status {status!r} unknown; allowed: {', '.join(STATUSES)}")
    return record


def record_paths(root: str | os.PathLike) -> list[Path]:
    """Every ``record.json`` under ``root``, sorted, skipping W&B's folders (never records)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != WANDB_DIR)
        if RECORD_FILE in filenames:
            found.append(Path(dirpath) / RECORD_FILE)
    return found


def read_history(path: str | os.PathLike) -> list[dict]:
    """The entries of a ``history.jsonl``; a last line without its newline (a write in
    progress, or cut by a kill) is skipped, a broken line before it is a :class:`RecordError`."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                break  # the partial final line of an append in progress
            raise RecordError(f"{path}:{number}: not a JSON object: {err}") from None
    return entries


class History:
    """``history.jsonl``: one ``{"step": s, ...}`` line per logged step — the ``train/...``
    means every ``log_every`` steps, and a training curve's ``curve/...`` evaluations (with
    ``time/train_s``) at its points.

    A resumed attempt first calls :meth:`resume` with the step it resumes from: the lines
    the killed attempt logged after that checkpoint are dropped, so the file reads as one
    uninterrupted run.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def entries(self) -> list[dict]:
        return read_history(self.path)

    def resume(self, from_step: int) -> list[dict]:
        """Keep the entries up to ``from_step`` (rewritten atomically); returns them."""
        kept = [e for e in self.entries() if e.get("step", 0) <= from_step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
        os.replace(tmp, self.path)
        return kept

    def append(self, step: int, metrics: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(json_safe({"step": step, **metrics})) + "\n")


# --------------------------------------------------------------------------- settle rounds

def read_settle(sweep_dir: str | os.PathLike) -> dict | None:
    """``DIR/<sweep>/settle.json``, or None when the sweep was never settled; a broken file
    is a :class:`RecordError` naming it."""
    path = Path(sweep_dir) / SETTLE_FILE
    if not path.exists():
        return None
    settle = _read_json(path, "settle record")
    if not isinstance(settle, dict) or not isinstance(settle.get("rounds"), list):
        raise RecordError(f"{path}: a settle record must be an object with a 'rounds' list")
    return settle


def settled_state(settle: dict | None) -> dict | None:
    """The state a settled sweep's verdict is about: the last *done* round's
    ``budget_factor`` and ``seeds`` (the runs to analyse; runs of earlier rounds stay on
    disk), or None without a done round. A report analyses those runs only."""
    done = [r for r in (settle or {}).get("rounds", []) if r.get("status") == "done"]
    if not done:
        return None
    return {"budget_factor": int(done[-1]["budget_factor"]), "seeds": list(done[-1]["seeds"]),
            "round": done[-1]["round"]}


def write_settle(sweep_dir: str | os.PathLike, settle: dict) -> None:
    """Write ``DIR/<sweep>/settle.json`` atomically (a kill leaves the old or the new file)."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(sweep_dir) / SETTLE_FILE, settle)


# --------------------------------------------------------------------------- table rows

def _scalar(value):
    """Config values must be hashable to group by them: lists/dicts become sorted JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _existing(run_dir: Path | None, relative) -> str | None:
    if not relative or run_dir is None:
        return None
    path = (Path(run_dir) / str(relative)).resolve()
    return str(path) if path.is_file() else None


def table_row(record: dict, *, run_dir=None, origin="run") -> dict:
    """One analysis table row from a record (folder or W&B source alike).

    Columns: every config key; every scalar summary value under its logged name (a key
    without ``/`` becomes ``summary/<key>``, so config columns are exactly the columns
    without ``/`` that are not :data:`META_COLUMNS`); and the meta columns, with absolute
    image and history paths (``None`` where a file is absent). ``code_version`` gets
    ``+dirty`` when the run's working tree had uncommitted changes.
    """
    check_record(record, origin)
    row = {}
    for key, value in (record.get("summary") or {}).items():
        if key.startswith("_") or isinstance(value, (dict, list)):
            continue  # W&B internals (_step, _runtime, _wandb) and media entries
        row[key if "/" in key else f"summary/{key}"] = value
    for key, value in record["config"].items():
        if key.startswith("_"):
            continue  # W&B's own config entries (_wandb)
        if key in META_COLUMNS or "/" in key:
            raise RecordError(f"{origin}: config key {key!r} clashes with the table's columns "
                              f"(config keys may not contain '/' nor be one of "
                              f"{', '.join(META_COLUMNS)})")
        row[key] = _scalar(value)
    code = record.get("code_version")
    if code and record.get("code_dirty"):
        code = f"{code}+dirty"  # uncommitted changes: the commit alone does not pin the code
    images = record.get("images") or {}
    row.update(run_id=str(record["run_id"]), sweep=str(record["sweep"]), status=record["status"],
               reason=record.get("reason"), code_version=code,
               started_at=record.get("started_at"), finished_at=record.get("finished_at"),
               run_dir=None if run_dir is None else str(run_dir),
               wandb_id=record.get("wandb_id"), reused_from=record.get("reused_from"),
               extends=record.get("extends"),
               history_path=_existing(run_dir, record.get("history")), set_aside=None,
               samples_array_path=_existing(run_dir, SAMPLES_ARRAY_FILE),
               **{column: _existing(run_dir, images.get(name))
                  for name, column in _IMAGE_COLUMNS.items()})
    return row
