"""Settled answers, the study side: exact budget extension from a finished run's final
training state (real training, a tiny DCGAN at the smoke budget), and the settle loop
(``study.settle``) round by round with hand-written decisions, a fake clock and a fast fake
run program — what it extends, what seeds it adds, the cap, bad input, and a resume after
kill -9 of the whole settle."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from contracts.record import read_history, read_record
from study.run import main as run_main
from tests.wandb_log import records as wandb_records

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::lgm.evaluation.metrics.RankDeficientCovarianceWarning")
# A tiny DCGAN (two Adams, batch norm, its own noise generator: everything a checkpoint must
# carry) at the smoke budget: 40 steps; log_every 15 puts the budget's last step off the log
# grid, where the shorter run logs an early mean that a from-scratch run does not have.
TINY_GAN = ["--model=gan", "--width=8", "--latent_dim=8", "--budget=smoke", "--eval_samples=100",
            "--curve_samples=100", "--eval_points=4", "--log_every=15", "--seed=3"]


def _run(out: Path, *extra) -> dict:
    assert run_main([*TINY_GAN, "--out", str(out), "--sweep", "ext", *extra]) == 0
    (folder,) = [p.parent for p in (out / "ext").glob("*/record.json")
                 if read_record(p.parent)["config"]["budget_factor"] == (2 if extra else 1)]
    return {"dir": folder, "record": read_record(folder), "history": read_history(folder / "history.jsonl"),
            "weights": torch.load(folder / "model.pt", weights_only=True)}


def _tags(run_dir: Path) -> list[str]:
    (log,) = (run_dir / "wandb").glob("offline-run-*/*.wandb")
    return [tag for r in wandb_records(log) if r.WhichOneof("record_type") == "run" for tag in r.run.tags]


def _curve(history) -> dict:
    return {e["step"]: {k: v for k, v in e.items() if k.startswith("curve/")}
            for e in history if any(k.startswith("curve/") for k in e)}


def _train(history) -> list:
    return [e for e in history if any(k.startswith("train/") for k in e)]


def test_an_extended_run_equals_the_same_run_trained_from_scratch(tmp_path, monkeypatch):
    """40 steps, then budget_factor 2 continuing them (40 more), against 80 from scratch."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    shorter = _run(tmp_path / "a")
    extended = _run(tmp_path / "a", "--budget_factor=2")
    scratch = _run(tmp_path / "b", "--budget_factor=2")
    # equal weights, bit for bit, and equal metrics
    assert extended["weights"].keys() == scratch["weights"].keys()
    for name, tensor in scratch["weights"].items():
        assert torch.equal(extended["weights"][name], tensor), name
    metrics = {k: v for k, v in scratch["record"]["summary"].items() if not k.startswith("time/")}
    assert {k: extended["record"]["summary"][k] for k in metrics} == metrics
    assert extended["record"]["step"] == scratch["record"]["step"] == 80
    # the same train/... means at the same steps; the curve keeps the shorter run's points
    # (10, 20, 30, 40: i/4 of 40) and adds its own beyond them (60, 80: i/4 of 80)
    assert _train(extended["history"]) == _train(scratch["history"])
    assert [e["step"] for e in _train(shorter["history"])] == [15, 30, 40]  # 40: off the grid
    ext_curve, scratch_curve = _curve(extended["history"]), _curve(scratch["history"])
    assert sorted(ext_curve) == [10, 20, 30, 40, 60, 80] and sorted(scratch_curve) == [20, 40, 60, 80]
    for step, values in scratch_curve.items():
        assert ext_curve[step] == values, step
    assert _curve(shorter["history"]) == {s: ext_curve[s] for s in (10, 20, 30, 40)}
    # only the extra steps were trained: one attempt, resumed from the shorter run's step 40
    assert extended["record"]["extends"] == os.path.relpath(shorter["dir"], extended["dir"])
    assert extended["record"]["attempts"][-1]["resumed_from_step"] == 40
    assert scratch["record"]["extends"] is None and scratch["record"]["attempts"][-1]["resumed_from_step"] is None
    assert "extended" in _tags(extended["dir"]) and "extended" not in _tags(scratch["dir"])
    # the shorter run's own files are untouched
    assert read_record(shorter["dir"]) == shorter["record"]
