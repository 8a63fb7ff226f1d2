"""Warm run processes for the local runner: one fork server imports everything once.

A fresh ``python -m study run`` process spends seconds before any work: the interpreter,
torch, ``torch._dynamo`` (imported by the first Adam step), wandb, matplotlib
(``benchmarks/study_overhead.py`` measures it). The local runner therefore starts each run
as a child *forked* from a server process (multiprocessing's ``forkserver``) that has
imported all of that once. Each run is still its own process — a crash, a NaN, an
out-of-memory kill or a ``kill -9`` of one run ends that child only, and every other run's
result is on disk in its own folder — and the next run is a fresh fork, so a killed child
needs no replacing; a killed server is restarted by multiprocessing on the next run.

Why a fork server and not ``fork`` of the runner: the runner has threads (one per worker)
and may have used torch; a fork server is a single-threaded process that has only
*imported* torch (no OpenMP pool exists yet), which is what makes forking it safe.

``wandb agent`` keeps starting one ``python -m study run`` process per run, as it must.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

__all__ = ["PRELOAD", "WarmLauncher", "run_child"]

# What a run imports, in the order it needs it (errors are ignored by the fork server).
PRELOAD = ["torch", "torch.optim", "torch._dynamo", "numpy", "scipy.linalg", "scipy.stats",
           "matplotlib.figure", "matplotlib.backends.backend_agg", "wandb", "study.run",
           "study.pipeline", "study.wandb_io", "study.reuse", "lgm.evaluation.evaluator"]


def run_child(argv: list[str], log_path: str, env: dict) -> None:
    """The body of one warm run: its environment, its log as stdout/stderr, then exactly
    what ``python -m study run ARGV`` does; exits with the run's exit code."""
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    for target, fd in ((0, null), (1, log), (2, log)):
        os.dup2(fd, target)
    from study.run import main

    sys.exit(main(argv))  # multiprocessing flushes stdout/stderr and reports the code


class _Child:
    """A running warm child with the ``subprocess.Popen`` methods the runner uses."""

    def __init__(self, process):
        self._process = process

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode


class WarmLauncher:
    """Starts runs as children of a fork server that has imported :data:`PRELOAD`.

    ``env``: the variables every run gets (thread counts, W&B settings); they are also set
    in this process before the server starts, so the server's torch sees the same thread
    settings as the children.
    """

    def __init__(self, env: dict):
        self.env = dict(env)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY"):
            if name in self.env:
                os.environ[name] = self.env[name]
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)

    def start(self, argv: list[str], log_path: Path) -> _Child:
        """Start one run (``argv`` as for ``python -m study run``), output to ``log_path``."""
        process = self._context.Process(target=run_child, args=(list(argv), str(log_path), self.env),
                                        daemon=False)
        process.start()
        return _Child(process)
