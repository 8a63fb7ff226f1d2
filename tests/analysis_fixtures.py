"""The study → analysis contract in executable form: run folders and a fake W&B API.

The numbers are hand-made (so verdicts have known answers), the records are not: every
config is a resolved ``study.config.RunConfig`` and every record is built with
``contracts.record.new_record``, the function the study itself writes records with, so a
fixture cannot drift from what a run writes. ``write_run`` writes what ``python -m study
sweep FILE --out DIR`` promises (``DIR/<sweep>/sweep.yaml``, ``DIR/<sweep>/<run_id>/record.json``,
``history.jsonl``, ``samples.png``, ``samples.npz``, ``reconstructions.png``); ``FakeApi``
serves the same runs the way ``wandb.Api()`` does (``runs``, ``sweep``, ``project().sweeps()``, ``run.file().download``,
``run.scan_history``), with the summary keys the study logs, so both sources can be checked to
give the same table.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import yaml

from contracts.record import (FIELDS, RECORD_FILE, SAMPLES_ARRAY_FILE, new_record, wandb_id,
                              write_json_atomic)
from lgm.images import class_rows
from study.config import RunConfig, resolve
from study.identity import run_id as study_run_id

CLASSIFIER = hashlib.sha256(b"fashion_mnist classifier v1").hexdigest()
OTHER_CLASSIFIER = hashlib.sha256(b"fashion_mnist classifier v2").hexdigest()
CODE_VERSION = "28d0b45"
BASE_CONFIG = {"dataset": "fashion_mnist", "model": "gan", "budget": "quick", "device": "cpu"}


def run_config(**values) -> dict:
    """A resolved RunConfig as its dict (what record.json's ``config`` holds)."""
    return resolve(RunConfig.from_dict({**BASE_CONFIG, **values})).to_dict()


def sweep_yaml(name: str, *, question: str, expected: str, prediction: dict,
               parameters: dict, note: str | None = None) -> dict:
    """A valid W&B sweep config with the question block in ``description``."""
    inner = {"question": question, "expected": expected, "prediction": prediction}
    if note:
        inner["note"] = note
    return {"name": name, "program": "study/__main__.py", "method": "grid",
            "metric": {"name": prediction["metric"], "goal": "minimize"},
            "description": yaml.safe_dump(inner, sort_keys=False), "parameters": parameters}


def write_sweep_file(root: Path, config: dict) -> Path:
    folder = Path(root) / config["name"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tiny_png(path: Path, *, seed: int, brightness: float) -> Path:
    """A 4×4 grid of 28×28 'samples' (greyscale noise around ``brightness``)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(brightness, 0.15, size=(112, 112)), 0.0, 1.0)
    mpimg.imsave(path, image, cmap="gray", vmin=0.0, vmax=1.0)
    return path


def sample_brightness(fid: float) -> float:
    """Mean grey level (0–255) of a fixture's samples: darker for a lower FID, so a hand-made
    rater who prefers the darker grid agrees with FID exactly."""
    return 255.0 * float(np.clip(fid / 100.0, 0.05, 0.95))


def write_samples_array(folder: Path, *, seed: int, fid: float, conditional: bool) -> Path:
    """``samples.npz`` as ``study.build.save_images`` writes it: 64 uint8 1×28×28 images and no
    labels, or, conditional, 10 per class in class rows; grey noise around
    :func:`sample_brightness`."""
    labels = class_rows(10, 10).numpy() if conditional else np.zeros(0, dtype=np.int64)
    n = len(labels) or 64
    rng = np.random.default_rng([seed, round(fid * 100)])
    images = np.clip(rng.normal(sample_brightness(fid), 20.0, size=(n, 1, 28, 28)), 0, 255)
    path = folder / SAMPLES_ARRAY_FILE
    np.savez_compressed(path, images=images.round().astype(np.uint8), labels=labels)
    return path


def eval_summary(*, fid: float, inception: float = 6.0, precision: float = 0.6,
                 recall: float = 0.5, classifier: str = CLASSIFIER, num_samples: int = 10000,
                 **extra) -> dict:
    summary = {"eval/fid": fid, "eval/is": inception, "eval/is_std": 0.1, "eval/kid": fid / 1000,
               "eval/kid_std": 0.001, "eval/precision": precision, "eval/recall": recall,
               "eval/density": 0.8, "eval/coverage": max(recall, 0.3) if recall > 0.2 else recall,
               # held-out real images against the reference (what recall is read against)
               "eval/real_precision": 0.75, "eval/real_recall": 0.6, "eval/real_density": 1.0,
               "eval/real_coverage": 0.9,
               "eval/classifier_sha256": classifier, "eval/num_samples": num_samples,
               "train/loss": 1.0, "time/train_s": 80.0, "time/eval_s": 15.0}
    summary.update(extra)
    return summary


def write_run(root: Path, sweep: str, *, config: dict, summary: dict, status: str = "finished",
              reason: str | None = None, run_id: str | None = None, steps: int = 5,
              images: tuple = ("samples",), code_version: str = CODE_VERSION) -> Path:
    """One run folder as the study writes it; returns the folder."""
    full = run_config(**config)
    run_id = run_id or study_run_id(sweep, RunConfig.from_dict(full))
    folder = Path(root) / sweep / run_id
    folder.mkdir(parents=True, exist_ok=True)
    loss0 = 2.0 + 0.1 * full["seed"]
    history = [{"step": 100 * (i + 1), "train/loss": loss0 / (i + 1), "train/lr": full["lr"]}
               for i in range(steps)]
    if status == "failed":
        history[-1]["train/loss"] = float("nan")
    (folder / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    for name in images:
        tiny_png(folder / f"{name}.png", seed=full["seed"], brightness=min(0.9, summary.get("eval/fid", 50) / 60))
    if "samples" in images:
        write_samples_array(folder, seed=full["seed"], fid=summary.get("eval/fid", 50),
                            conditional=bool(full["conditional"]))
    record = new_record(run=run_id, sweep=sweep, config=full, code_version=code_version,
                        code_dirty=False)
    attempt = wandb_id(run_id)
    record.update(status=status, reason=reason, summary=summary if status != "running" else {},
                  images={n: f"{n}.png" for n in images}, step=100 * steps, wandb_id=attempt,
                  wandb_dir=f"wandb/offline-run-20261129_021500-{attempt}",
                  started_at="2026-11-29T02:15:00Z", attempts=[],
                  finished_at=None if status == "running" else "2026-11-29T02:17:00Z")
    assert tuple(record) == FIELDS
    (folder / record["wandb_dir"]).mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RECORD_FILE, record)
    return folder


# --------------------------------------------------------------------------- the study

GAN_FID = {"minus_one_one": (20.1, 21.0, 19.6), "zero_one": (30.2, 31.5, 29.8)}
GAN_IS = {"minus_one_one": (5.0, 5.1, 4.9), "zero_one": (6.0, 6.2, 6.1)}  # IS disagrees with FID
VAE_FID = {0.5: (40.0, 41.0, 40.5), 1.0: (45.0, 46.2, 45.5), 4.0: (60.0, 61.5, 60.8)}
WIDTH_FID = {16: (25.0, 27.0, 26.0), 32: (26.0, 25.5, 26.8), 64: (26.5, 25.8, 27.1)}


def gan_scaling(root: Path) -> None:
    """Pairwise, supported; plus one diverged, one set-aside and one running run."""
    write_sweep_file(root, sweep_yaml(
        "gan_scaling", question="Does scaling data to [-1, 1] instead of [0, 1] help a DCGAN?",
        expected="Yes: [-1, 1] with tanh gives lower FID than [0, 1] with sigmoid.",
        prediction={"metric": "eval/fid", "kind": "pairwise", "parameter": "scaling",
                    "better": "minus_one_one", "worse": "zero_one"},
        parameters={"dataset": {"value": "fashion_mnist"}, "model": {"value": "gan"},
                    "scaling": {"values": ["minus_one_one", "zero_one"]},
                    "budget": {"values": ["quick"]}, "seed": {"values": [0, 1, 2]}},
        note="matched step budget"))
    for scaling, fids in GAN_FID.items():
        recall = 0.1 if scaling == "zero_one" else 0.55  # zero_one drops modes
        for seed, fid in enumerate(fids):
            write_run(root, "gan_scaling", config={"scaling": scaling, "seed": seed},
                      summary=eval_summary(fid=fid, inception=GAN_IS[scaling][seed],
                                           precision=0.7, recall=recall))
    write_run(root, "gan_scaling", config={"scaling": "zero_one", "seed": 3}, status="failed",
              reason="NonFiniteLossError: loss became nan at step 120", summary={"train/loss": float("nan")})
    write_run(root, "gan_scaling", config={"scaling": "minus_one_one", "seed": 4},
              summary=eval_summary(fid=99.0, classifier=OTHER_CLASSIFIER))
    write_run(root, "gan_scaling", config={"scaling": "zero_one", "seed": 5}, status="running",
              summary={}, images=())


def vae_beta(root: Path) -> None:
    """Trend (FID increasing with beta), supported; beta = 4 collapses (train/kl < 0.1)."""
    write_sweep_file(root, sweep_yaml(
        "vae_beta", question="Does a larger beta trade sample quality for a simpler posterior?",
        expected="FID rises with beta.",
        prediction={"metric": "eval/fid", "kind": "trend", "parameter": "beta", "direction": "increasing"},
        parameters={"model": {"value": "vae"}, "beta": {"values": [0.5, 1.0, 4.0]},
                    "seed": {"values": [0, 1, 2]}}))
    for beta, fids in VAE_FID.items():
        for seed, fid in enumerate(fids):
            kl = 0.05 if beta == 4.0 else 20.0 / beta
            write_run(root, "vae_beta", config={"model": "vae", "beta": beta, "seed": seed},
                      summary=eval_summary(fid=fid, **{"train/kl": kl, "eval/elbo": -100.0 - fid,
                                                       "eval/bpd": 1.0 + fid / 100, "eval/fid_recon": fid / 3}),
                      images=("samples", "reconstructions"))


def gan_width(root: Path) -> None:
    """Ordering with overlapping results: inconclusive."""
    write_sweep_file(root, sweep_yaml(
        "gan_width", question="Does a wider DCGAN give better samples?",
        expected="64 channels, then 32, then 16.",
        prediction={"metric": "eval/fid", "kind": "ordering", "parameter": "width",
                    "order": [64, 32, 16]},
        parameters={"model": {"value": "gan"}, "width": {"values": [16, 32, 64]},
                    "seed": {"values": [0, 1, 2]}}))
    for width, fids in WIDTH_FID.items():
        for seed, fid in enumerate(fids):
            write_run(root, "gan_width", config={"width": width, "seed": seed},
                      summary=eval_summary(fid=fid))


def make_study(root: Path) -> Path:
    """Three sweeps (pairwise, trend, ordering) under ``root``; returns ``root``."""
    root = Path(root)
    gan_scaling(root)
    vae_beta(root)
    gan_width(root)
    return root


# --------------------------------------------------------------------------- fake W&B

class FakeFile:
    def __init__(self, name: str, local: Path):
        self.name, self._local = name, local

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False):
        target = Path(root) / self.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or replace:
            shutil.copyfile(self._local, target)
        return open(target)


class FakeSweep:
    def __init__(self, sweep_id: str, config: dict):
        self.id, self.config, self.runs = sweep_id, config, []
        self.name = config.get("name") or sweep_id


class FakeRun:
    """Attributes as ``wandb.apis.public.Run`` exposes them."""

    def __init__(self, record: dict, folder: Path, sweep: FakeSweep | None):
        self.id, self.name = record["wandb_id"], record["run_id"]
        self.config = {**record["config"], "_wandb": {"cli_version": "0.31.0"}}
        self.state = {"finished": "finished", "running": "running", "failed": "crashed"}[record["status"]]
        self.sweep, self.group, self.created_at = sweep, None, record["started_at"]
        self._files = {}
        # As the study logs it (study.run.Logger.finish): its run id and sweep in the summary.
        summary = {**record["summary"], "_step": 500, "_runtime": 95.0, "code_version": record["code_version"],
                   "run_id": record["run_id"], "sweep": record["sweep"]}
        if record["status"] == "failed":
            summary.update(status="failed", reason=record["reason"])
        for name, rel in record["images"].items():
            remote = f"media/images/images/{name}_7_0123.png"
            self._files[remote] = folder / rel
            summary[f"images/{name}"] = {"_type": "image-file", "path": remote, "format": "png"}
        self.summary_metrics = summary
        self._history = [json.loads(line) for line in (folder / record["history"]).read_text().splitlines()]

    def file(self, name: str) -> FakeFile:
        return FakeFile(name, self._files[name])

    def scan_history(self):
        # As the study logs: its step under "train/step"; W&B's _step counts log calls.
        for index, row in enumerate(self._history):
            yield {"_step": index, "_runtime": 1.0, "train/step": row["step"],
                   **{k: v for k, v in row.items() if k != "step"}}


class FakeProject:
    def __init__(self, sweeps: list):
        self._sweeps = sweeps

    def sweeps(self):
        return list(self._sweeps)


class FakeApi:
    """``runs``, ``sweep`` and ``project`` over a fixture folder; records every call."""

    def __init__(self, root: Path, entity: str = "lab", project: str = "lgm"):
        self._path, self.calls = f"{entity}/{project}", []
        self._sweeps, self._runs = {}, []
        for index, sweep_file in enumerate(sorted(Path(root).glob("*/sweep.yaml"))):
            config = yaml.safe_load(sweep_file.read_text())
            self._sweeps[f"sw{index:04d}"] = FakeSweep(f"sw{index:04d}", config)
        by_name = {s.config["name"]: s for s in self._sweeps.values()}
        for path in sorted(Path(root).glob("*/*/record.json")):
            record = json.loads(path.read_text())
            sweep = by_name.get(record["sweep"])
            run = FakeRun(record, path.parent, sweep)
            self._runs.append(run)
            if sweep is not None:
                sweep.runs.append(run)

    def runs(self, path: str, filters=None):
        self.calls.append(("runs", path))
        assert path == self._path, path
        return list(self._runs)

    def sweep(self, path: str) -> FakeSweep:
        self.calls.append(("sweep", path))
        return self._sweeps[path.rsplit("/", 1)[-1]]

    def project(self, name: str, entity: str | None = None) -> FakeProject:
        self.calls.append(("project", f"{entity}/{name}"))
        return FakeProject(list(self._sweeps.values()))
