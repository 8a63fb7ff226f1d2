"""Content-addressed results: a configuration finished once is reused by every sweep that has it.

A run's folder is ``DIR/<sweep>/<sweep>-<config hash>`` and the hash covers every setting that
changes what the run computes (``study.identity.config_hash``), so two sweeps that contain the
same configuration (the default VAE is in five of them) would train and evaluate the same
thing twice and get the same numbers. Instead, when ``DIR/<other sweep>/<other>-<hash>``
has finished, the run of this sweep *reuses* it: its files are copied into this sweep's
folder, its record says ``reused_from`` (the source folder, relative), keeps the source's
summary, images and code version (the code that computed the numbers), and the run is
logged as its own W&B run of this sweep, tagged ``reused`` (history, images and summary
replayed from the stored result), so every W&B sweep view stays complete.

Nothing here trains or evaluates; a reuse costs a file copy and a W&B run.

Exact extension. A run whose ``budget_factor`` is larger than that of a finished run of the
same configuration (every other identity field equal) *continues* it instead of starting
over: a finished run keeps its final training state (``checkpoint.pt``: model, optimizers,
RNG states, step, the open window of running means, the training clock), and ``lgm.train``
resumes a checkpoint with a larger ``steps`` exactly, so the longer run trains only the
extra steps and ends bit-identical to the same run trained from scratch
(``tests/test_settle.py``). Its history starts as the shorter run's: the curve points it
evaluated (at i/P of the shorter budget) and the ``train/...`` means on the ``log_every``
grid (a budget's last step off that grid logged an early mean a from-scratch run does not
have); the longer run adds its own points beyond them (i/P of the longer budget). Its record
names the run it extends (``extends``), and its W&B run is tagged ``extended``.

Trained weights are reused too. A run that differs from a finished one only in
evaluation-only settings (``sample_steps``, ``guidance_scale``: ``study.config.EVALUATION_FIELDS``)
has the same *training hash* (``study.identity.training_hash``) and trains the same weights,
so it starts from that run's final training state (``checkpoint.pt``, at the last step) and
its ``train/...`` history instead of training: ``lgm.train`` resumes at the end, nothing
is trained, and the run is evaluated with its own settings (the final evaluation and the
last curve point; the intermediate curve points would need intermediate weights and are
absent). Its attempt records ``trained_from``.
"""

from __future__ import annotations

import os
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from contracts.record import (CHECKPOINT_FILE, FINISHED, HISTORY_FILE, RECORD_FILE,
                              SAMPLES_ARRAY_FILE, WEIGHTS_FILE, History, RecordError, read_history,
                              read_record, utc_now)
from lgm.evaluation.registry import CURVE_NAMESPACE
from study.config import RunConfig, base_config
from study.identity import config_hash as hash_of

__all__ = ["REUSED_TAG", "EXTENDED_TAG", "Start", "how_to_start", "find_finished",
           "find_extendable", "start_extension", "copy_result", "reused_record", "find_trained",
           "copy_training_state"]

REUSED_TAG = "reused"
EXTENDED_TAG = "extended"


def find_finished(out: Path, config_hash: str, *, exclude: Path,
                  with_file: str | None = None) -> Path | None:
    """A finished run folder with this config hash in any sweep under ``out``, else None.

    Runs that trained (``reused_from`` empty) are preferred over reuses of them; a folder
    whose record cannot be read is passed over (its own sweep reports it). ``with_file``:
    only folders that hold that file (e.g. the final training state).
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
        if with_file is not None and not (folder / with_file).is_file():
            continue
        if record and record["status"] == FINISHED:
            (reuses if record.get("reused_from") else originals).append(folder)
    found = originals + reuses
    return found[0] if found else None


@dataclass(frozen=True)
class Start:
    """How an unfinished run starts: ``reuse`` (``source`` finished the same configuration in
    another sweep), ``resume`` (its own checkpoint), ``extend`` (``source``: the shorter
    finished run it continues) or ``run`` (from step 0)."""

    action: str
    source: Path | None = None


def how_to_start(out: Path, config: RunConfig, run_dir: Path) -> Start:
    """The one decision of how a run not finished in ``run_dir`` starts, as the run program
    takes it when the run starts (``study.run``) and as the runner's plan and the settle
    loop's cost estimates foresee it. Taken again at the start, not passed down from a plan:
    a run that finished after the plan was made (the same configuration in another sweep of
    the same settle round) is reused then."""
    source = find_finished(out, hash_of(config), exclude=run_dir)
    if source is not None:
        return Start("reuse", source)
    if (Path(run_dir) / CHECKPOINT_FILE).exists():
        return Start("resume")
    shorter = find_extendable(out, config, exclude=run_dir)
    return Start("extend", shorter) if shorter is not None else Start("run")


def find_extendable(out: Path, config: RunConfig, *, exclude: Path) -> Path | None:
    """The finished run that ``config`` (resolved) can continue: the same configuration at
    the largest smaller ``budget_factor`` whose final training state is kept, else None."""
    for factor in range(config.budget_factor - 1, 0, -1):
        found = find_finished(out, hash_of(base_config(config, factor)), exclude=exclude,
                              with_file=CHECKPOINT_FILE)
        if found is not None:
            return found
    return None


def _prefix_history(source: Path, *, log_every: int) -> list[dict]:
    """The shorter run's history as the longer run's first part: its curve points, and its
    ``train/...`` means on the ``log_every`` grid (see the module docstring)."""
    curve = f"{CURVE_NAMESPACE}/"
    return [e for e in read_history(source / HISTORY_FILE)
            if any(k.startswith(curve) for k in e) or e.get("step", 0) % log_every == 0]


def start_extension(source: Path, target: Path, *, log_every: int) -> None:
    """Make ``target`` (a fresh run folder) resume from ``source``'s final training state:
    its history prefix first, the checkpoint last (atomically: a kill in between leaves no
    checkpoint, and the next attempt starts the extension again)."""
    history = History(target / HISTORY_FILE)
    history.path.unlink(missing_ok=True)
    for entry in _prefix_history(source, log_every=log_every):
        history.append(entry["step"], {k: v for k, v in entry.items() if k != "step"})
    tmp = target / f".{CHECKPOINT_FILE}.tmp"
    shutil.copyfile(source / CHECKPOINT_FILE, tmp)
    os.replace(tmp, target / CHECKPOINT_FILE)


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


def find_trained(out: Path, training_hash: str, hash_of, *, exclude: Path) -> Path | None:
    """A finished run folder under ``out`` that trained (not a reuse) the same weights
    (``hash_of(record config) == training_hash``) and kept its final training state, else
    None. ``hash_of`` maps a record's config dict to its training hash, or None when the
    config no longer loads (such a folder is passed over)."""
    for record_path in sorted(Path(out).glob(f"*/*/{RECORD_FILE}")):
        folder = record_path.parent
        if folder.resolve() == Path(exclude).resolve() or not (folder / CHECKPOINT_FILE).is_file():
            continue
        try:
            record = read_record(folder)
        except RecordError:
            continue
        if (record and record["status"] == FINISHED and not record.get("reused_from")
                and hash_of(record.get("config") or {}) == training_hash):
            return folder
    return None


def copy_training_state(source: Path, target: Path, curve_prefix: str) -> None:
    """``source``'s final training state and its logged training history (without its
    ``curve_prefix`` entries, which were evaluated with the source's own settings) into
    ``target``, where the run resumes at its last step."""
    _link_or_copy(source / CHECKPOINT_FILE, target / CHECKPOINT_FILE)
    kept = [e for e in read_history(source / HISTORY_FILE)
            if not any(k.startswith(curve_prefix) for k in e)]
    tmp = target / f".{HISTORY_FILE}.tmp"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
    os.replace(tmp, target / HISTORY_FILE)
