"""W&B for one run: mode selection, quiet settings, init, logging helpers.

Mode: ``WANDB_MODE`` when set; ``online`` under a W&B agent (``WANDB_SWEEP_ID`` is set) or
when the user is logged in (``WANDB_API_KEY``, or a netrc entry for the W&B host);
``offline`` otherwise, so a run never waits on a login prompt. Offline runs are written to
``<run_dir>/wandb/offline-run-*`` and uploaded later with ``wandb sync``.

Offline W&B writes its ``.wandb`` log through a separate service process and flushes it on
an interval; a SIGKILL can lose what was logged since the last flush. The interval is
lowered to one second here, and ``record.json``/``history.jsonl`` (written by the run
itself, see ``study.identity``) remain the durable copy the analysis reads.
"""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

from contracts import record as contract

__all__ = ["wandb_mode", "under_agent", "wandb_run_id", "init_run", "DEFAULT_PROJECT", "log_images"]

DEFAULT_PROJECT = "lgm"
FLUSH_INTERVAL_S = 1.0


def under_agent() -> bool:
    """True when launched by ``wandb agent`` (it sets the sweep and run ids in the env)."""
    return bool(os.environ.get("WANDB_SWEEP_ID"))


def _logged_in() -> bool:
    """Whether W&B credentials exist (checked for presence only, never read or printed)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if under_agent() or _logged_in() else "offline"


def wandb_run_id(run_id: str, previous_id: str | None) -> str:
    """The W&B id of this attempt: the previous attempt's when resuming online (W&B then
    continues that run), else a fresh ``<run_id>-<6 hex>`` — unique, so attempts on other
    machines or after a crash never collide in a shared project, and each offline attempt is
    its own syncable run."""
    if previous_id and wandb_mode() == "online":
        return previous_id
    return contract.wandb_id(run_id)


def init_run(*, config: dict, run_dir, name: str, wandb_id: str, sweep: str, tags: list[str]):
    """``wandb.init`` with the study's conventions; returns the run.

    Under an agent the agent's run id is kept (``wandb_id`` is ignored). ``config`` is the
    flat dict of defaults + command-line values; W&B (or the agent) may override it, and the
    caller reads the result back from ``run.config``.
    """
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb  # local: importing study must not import wandb (and it costs ~1 s)

    mode = wandb_mode()
    settings = wandb.Settings(silent=True, console="off",
                              x_transaction_log_flush_interval=FLUSH_INTERVAL_S)
    agent = under_agent()
    return wandb.init(project=os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT), config=config,
                      dir=str(run_dir), id=None if agent else wandb_id, name=None if agent else name,
                      group=sweep, tags=tags, mode=mode, settings=settings,
                      resume=None if (agent or mode != "online") else "allow")


def log_images(run, images: dict, run_dir, *, step: int, caption: str) -> None:
    import wandb

    run.log({f"images/{name}": wandb.Image(str(run_dir / path), caption=caption)
             for name, path in images.items()}, step=step)
