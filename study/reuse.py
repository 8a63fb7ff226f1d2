"""Content-addressed results: a configuration finished once is reused by every sweep that has it.

A run's folder is ``DIR/<sweep>/<sweep>-<config hash>`` and the hash covers every setting that
changes what the run computes (``study.records.config_hash``), so two sweeps that contain the
same configuration (the default VAE is in five of them) would train and evaluate the same
thing twice and get the same numbers. Instead, when ``DIR/<other sweep>/<other>-<hash>``
has finished, the run of this sweep *reuses* it: its files are copied into this sweep's
folder, its record says ``reused_from`` (the source folder, relative), keeps the source's
summary, images and code version (the code that computed the numbers), and the run is
logged as its own W&B run of this sweep, tagged ``reused`` (history, images and summary
replayed from the stored result), so every W&B sweep view stays complete.

Nothing here trains or evaluates; a reuse costs a file copy and a W&B run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from contracts.record import (CHECKPOINT_FILE, FINISHED, HISTORY_FILE, RECORD_FILE,
                              SAMPLES_ARRAY_FILE, WEIGHTS_FILE, RecordError, read_record, utc_now)

__all__ = ["REUSED_TAG", "find_finished", "copy_result", "reused_record"]

REUSED_TAG = "reused"


def find_finished(out: Path, config_hash: str, *, exclude: Path) -> Path | None:
    """A finished run folder with this config hash in any sweep under ``out``, else None.

    Runs that trained (``reused_from`` empty) are preferred over reuses of them; a folder
    whose record cannot be read is passed over (its own sweep reports it).
    """
    originals, reuses = [], []
    for record_path in sorted(Path(out).glob(f"*/*-{config_hash}/{RECORD_FILE}")):
        folder = record_path.parent
        if folder.resolve() == Path(exclude).resolve():
            continue
        try:
            record = read_record(folder)
        except RecordError:
            continue
        if record and record["status"] == FINISHED:
            (reuses if record.get("reused_from") else originals).append(folder)
    found = originals + reuses
    return found[0] if found else None


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it (no second copy on disk), else a copy."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def copy_result(source: Path, target: Path, record: dict) -> None:
    """The result files of ``source`` (history, images, sample array, weights, final training
    state) into ``target``."""
    names = [HISTORY_FILE, SAMPLES_ARRAY_FILE, WEIGHTS_FILE, CHECKPOINT_FILE, *(record.get("images") or {}).values()]
    for name in names:
        if (source / name).is_file():
            _link_or_copy(source / name, target / name)


def reused_record(source_record: dict, *, fresh: dict, source: Path, target: Path) -> dict:
    """``fresh`` (the new record of this sweep's run) completed from the source's result."""
    record = dict(fresh)
    record.update(status=FINISHED, summary=dict(source_record.get("summary") or {}),
                  images=dict(source_record.get("images") or {}), step=source_record.get("step", 0),
                  code_version=source_record.get("code_version"),
                  code_dirty=source_record.get("code_dirty", False),
                  reused_from=os.path.relpath(source, target), finished_at=utc_now())
    record["attempts"][-1]["reused_from"] = record["reused_from"]
    return record
