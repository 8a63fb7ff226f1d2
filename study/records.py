"""Run identity and the files a run leaves: ``record.json`` (atomic) and ``history.jsonl``.

Layout (the contract with ``analysis``)::

    DIR/<sweep>/sweep.yaml
    DIR/<sweep>/<run_id>/record.json       rewritten atomically: at start, while training, at the end
    DIR/<sweep>/<run_id>/history.jsonl     one JSON object per logged step
    DIR/<sweep>/<run_id>/samples.png, reconstructions.png (VAEs), model.pt, run.log
    DIR/<sweep>/<run_id>/wandb/offline-run-*/

A run's id is ``<sweep>-<10 hex digits>``: a SHA-256 of its *resolved* configuration
(``study.config.resolve``) without ``device``, so the same experiment has the same id on any
machine, and a re-run finds its folder (skip if finished, resume if interrupted).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import subprocess
from pathlib import Path

from study.config import RunConfig, resolve

__all__ = ["STATUSES", "run_id", "config_hash", "write_json_atomic", "read_record",
           "RecordError", "History", "utc_now", "code_version", "json_safe"]

STATUSES = ("running", "finished", "failed")
_REPO_ROOT = Path(__file__).resolve().parents[1]


class RecordError(RuntimeError):
    """A record.json exists but cannot be read; the message says which file."""


def config_hash(config: RunConfig) -> str:
    """10 hex digits of SHA-256 over the resolved config without ``device`` (sorted JSON)."""
    values = resolve(config).to_dict()
    values.pop("device")
    blob = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def run_id(sweep: str, config: RunConfig) -> str:
    return f"{sweep}-{config_hash(config)}"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def read_record(run_dir: str | os.PathLike) -> dict | None:
    """The run's record, or None when the run never started."""
    path = Path(run_dir) / "record.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: unreadable record ({err}); delete the run folder to start it over") from err
    if record.get("status") not in STATUSES:
        raise RecordError(f"{path}: status {record.get('status')!r} is not one of {', '.join(STATUSES)}")
    return record


class History:
    """``history.jsonl``: one ``{"step": s, "train/...": ...}`` line per logged step.

    On resume the lines logged after the checkpoint (by the attempt that was killed) are
    dropped at the first new step, so the file reads as one uninterrupted run.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._checked_resume = False

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a kill mid-write: everything after is unreliable
        return out

    def append(self, step: int, metrics: dict) -> list[dict]:
        """Append one step; returns the earlier entries kept on the first call (to replay)."""
        kept = []
        if not self._checked_resume:
            self._checked_resume = True
            kept = [e for e in self.entries() if e.get("step", 0) < step]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
            os.replace(tmp, self.path)
        with open(self.path, "a") as f:
            f.write(json.dumps(json_safe({"step": step, **metrics})) + "\n")
        return kept


def code_version() -> tuple[str, bool]:
    """(short git commit, working tree dirty) of the code running; ("unknown", False) outside git."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=_REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return commit or "unknown", dirty
