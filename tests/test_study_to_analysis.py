"""End to end through both sides of the record contract: real `python -m study sweep` output
(smoke budget, a tiny MLP VAE, 2 configurations x 3 seeds) read back by the analysis, and the
W&B Report built from it selecting the W&B runs those offline runs really are.

The sweep runs once per test session worker (module fixture); the tests share one xdist
group so that they run on the same worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts.record import WANDB_DIR, read_record
from study.config import FIELD_NAMES

pytestmark = pytest.mark.xdist_group("smoke_study")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/wandb_log.py
PARAMETERS = {"dataset": {"value": "fashion_mnist"}, "model": {"value": "vae"},
              "arch": {"value": "mlp"}, "width": {"value": 8}, "latent_dim": {"value": 4},
              "budget": {"value": "smoke"}, "eval_samples": {"value": 200},
              "beta": {"values": [1.0, 4.0]}, "seed": {"values": [0, 1, 2]}}
DESCRIPTION = {"question": "Does beta 4 blur a tiny VAE's reconstructions?", "expected": "yes",
               "prediction": {"metric": "eval/fid_recon", "kind": "pairwise", "parameter": "beta",
                              "better": 1.0, "worse": 4.0}}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("smoke_study")
    sweep = {"name": "smoke_beta", "method": "grid", "metric": {"name": "eval/fid_recon", "goal": "minimize"},
             "description": yaml.safe_dump(DESCRIPTION, sort_keys=False),
             "command": ["${env}", "${interpreter}", "-m", "study", "run", "${args}"],
             "parameters": PARAMETERS}
    path = folder / "smoke_beta.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    out = folder / "runs"
    done = subprocess.run([sys.executable, "-m", "study", "sweep", str(path), "--workers", "2",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_analysis_reads_what_the_study_wrote(runs_dir):
    from analysis import load_runs
    from analysis.sweep_analysis import analyse_source

    runs = load_runs(runs_dir)
    assert len(runs) == 6 and (runs["status"] == "finished").all() and runs["set_aside"].isna().all()
    # config columns are exactly RunConfig's fields, one name per concept
    from analysis.load import config_columns

    assert set(config_columns(runs)) == set(FIELD_NAMES)
    for key in ("eval/fid", "eval/fid_recon", "eval/elbo", "time/train_s", "train/loss"):
        assert runs[key].notna().all(), key
    assert runs["samples_path"].notna().all() and runs["history_path"].notna().all()
    import numpy as np

    for path in runs["samples_array_path"]:  # the grid's images, with no text drawn on them
        arrays = np.load(path)
        assert arrays["images"].shape == (64, 1, 28, 28) and arrays["images"].dtype == np.uint8
        assert arrays["labels"].shape == (0,)
    _, (analysis,) = analyse_source(runs_dir, resamples=200)
    assert analysis.spec.prediction.metric == "eval/fid_recon"
    assert analysis.result.verdict in ("supported", "contradicted", "inconclusive")
    assert len(analysis.result.comparisons) == 1 and analysis.result.comparisons[0].n_min == 3


def test_the_report_is_written_from_real_runs(runs_dir, tmp_path):
    from analysis.report import SECTION_TITLES, build_report

    paths = build_report(runs_dir, tmp_path, resamples=200)
    md = paths["md"].read_text()
    assert "## Sweep `smoke_beta`" in md and all(f"### {t}" in md for t in SECTION_TITLES)
    assert "finished: 6, failed: 0" in md


def _offline_ids(runs_dir: Path) -> set:
    """The W&B ids of the offline runs on disk: folder names offline-run-<date>_<time>-<id>."""
    ids = set()
    for folder in runs_dir.glob(f"*/*/{WANDB_DIR}/offline-run-*"):
        ids.add(folder.name.split("-", 3)[3])
    return ids


def test_published_panels_select_the_wandb_runs_the_offline_runs_are(runs_dir, monkeypatch):
    import wandb_workspaces.reports.v2 as wr

    from analysis.report.wandb_report import build_wandb_report

    records = [read_record(p.parent) for p in runs_dir.glob("*/*/record.json")]
    on_disk = _offline_ids(runs_dir)
    assert {r["wandb_id"] for r in records} == on_disk  # one attempt each
    assert all(r["wandb_id"] != r["run_id"] and r["wandb_id"].startswith(r["run_id"] + "-")
               for r in records)
    monkeypatch.setenv("WANDB_MODE", "offline")
    report = build_wandb_report(runs_dir, project="p", entity="e", resamples=200)
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert grids
    bars = [panel for grid in grids for panel in grid.panels if isinstance(panel, wr.BarPlot)]
    assert bars and all("standard error" in bar.title and "t interval" not in bar.title.split(";")[0]
                        for bar in bars)  # says what W&B draws, not the report's interval
    for grid in grids:
        selected = grid.runsets[0].filters
        assert selected.startswith("ID in [")
        assert {part.strip(" '") for part in selected[len("ID in ["):-1].split(",")} == on_disk


def test_curve_keys_reach_wandb_history_summary_and_the_table(runs_dir):
    """What `wandb sync` would upload: the offline run's transaction log holds the curve
    points in its history (against train/step, with time/train_s) and its summary."""
    from wandb_log import history_and_summary_keys

    from analysis import load_runs

    (log,) = list(runs_dir.glob("*/*/wandb/offline-run-*/*.wandb"))[:1]
    history, summary = history_and_summary_keys(log)
    for key in ("curve/fid", "curve/kid", "curve/is", "curve/fid_recon", "time/train_s", "train/step"):
        assert key in history and key in summary, key
    runs = load_runs(runs_dir)
    assert runs["curve/fid"].notna().all() and (runs["curve/num_samples"] == 200).all()


def test_the_robustness_table_of_a_real_smoke_study(runs_dir):
    from analysis.robustness import DOES_NOT_HOLD, HOLDS, NOT_MEASURED, robustness
    from analysis.sweep_analysis import analyse_source

    _, (analysis,) = analyse_source(runs_dir, resamples=200)
    cells = {c.over: c for c in robustness(analysis)}
    assert list(cells) == ["seeds", "sample size", "metric", "extractor", "training time", "people"]
    assert all(c.status in (HOLDS, DOES_NOT_HOLD, NOT_MEASURED) and c.detail for c in cells.values())
    # fid_recon has no FID∞ nor a sample-quality alternative; smoke runs have a 2-point curve
    assert cells["sample size"].status == NOT_MEASURED and cells["metric"].status == NOT_MEASURED
    assert cells["training time"].status != NOT_MEASURED
    assert cells["people"].status == NOT_MEASURED and "analysis rate" in cells["people"].detail
