"""A run's identity and provenance: the config hash behind its id, and the code version.

The record's files, fields and statuses are the contract with the analysis and live in
``contracts.record``; this module adds what needs the study's config: a run's id is
``<sweep>-<10 hex digits>``, a SHA-256 of its *resolved* configuration
(``study.config.resolve``) over the identity fields only (``IDENTITY_FIELDS``: not
``device`` nor ``checkpoint_every``), so the same experiment has the same id on any machine,
and a re-run finds its folder (skip if finished, resume if interrupted). The training hash
covers the fields that decide the trained weights, for reusing them across evaluations.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from contracts import record as contract
from study.config import (EVALUATION_FIELDS, HASHED_UNLESS, IDENTITY_FIELDS, TRAINING_FIELDS,
                          RunConfig, resolve)

__all__ = ["run_id", "config_hash", "training_hash", "code_version"]

_REPO_ROOT = Path(__file__).resolve().parents[1]


def _hash(config: RunConfig, fields: tuple) -> str:
    values = resolve(config).to_dict()
    # Keys added after runs existed are left out at the value those runs implicitly had, so
    # their ids are unchanged: evaluation-only fields that do not apply (None: every VAE and
    # GAN), and a HASHED_UNLESS field at its old value (budget_factor 1).
    chosen = {k: values[k] for k in fields if not (k in EVALUATION_FIELDS and values[k] is None)
              and not (k in HASHED_UNLESS and values[k] == HASHED_UNLESS[k])}
    blob = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def config_hash(config: RunConfig) -> str:
    """10 hex digits of SHA-256 over the resolved config's identity fields (sorted JSON)."""
    return _hash(config, IDENTITY_FIELDS)


def training_hash(config: RunConfig) -> str:
    """The same over the training fields only (``TRAINING_FIELDS``: the identity without the
    evaluation-only ``sample_steps`` / ``guidance_scale``): equal for runs whose trained
    weights are equal."""
    return _hash(config, TRAINING_FIELDS)


def run_id(sweep: str, config: RunConfig) -> str:
    return contract.run_id(sweep, config_hash(config))


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
