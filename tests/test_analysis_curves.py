"""Verdicts over training time on hand-made curves with known answers: a verdict that flips
between points, one that is stable, a configuration still improving vs one levelled off."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.curves import STILL_IMPROVING, curve_table, describe_verdicts, levelling, over_training
from contracts.sweep import Prediction

PAIRWISE = Prediction(metric="eval/fid", kind="pairwise", parameter="scaling",
                      better="minus_one_one", worse="zero_one")


def _runs(tmp_path, curves: dict) -> pd.DataFrame:
    """Runs whose history holds the given curve: {value: [per-point means]}; 3 seeds each,
    seed offsets -1, 0, +1 (so the seed spread is 1 at every point)."""
    rows = []
    for value, means in curves.items():
        for seed, offset in enumerate((-1.0, 0.0, 1.0)):
            path = tmp_path / f"{value}-{seed}.jsonl"
            lines = [{"step": 100 * (k + 1), "train/loss": 1.0} for k in range(len(means))]
            lines += [{"step": 100 * (k + 1), "curve/fid": m + offset, "curve/num_samples": 2000,
                       "time/train_s": 10.0 * (k + 1)} for k, m in enumerate(means)]
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            rows.append({"run_id": f"{value}-{seed}", "scaling": value, "seed": seed,
                         "history_path": str(path), "eval/fid": means[-1] + offset})
    return pd.DataFrame(rows)


def test_the_curve_table_has_one_row_per_run_and_point(tmp_path):
    runs = _runs(tmp_path, {"minus_one_one": [50, 40, 35, 34], "zero_one": [52, 45, 41, 40]})
    table = curve_table(runs, by=["scaling"])
    assert len(table) == 6 * 4 and sorted(table["point"].unique()) == [1, 2, 3, 4]
    assert table["fraction"].max() == 1.0 and set(table["time/train_s"]) == {10.0, 20.0, 30.0, 40.0}


def test_a_stable_verdict_and_levelled_off_configurations(tmp_path):
    # [-1, 1] lower by 10 at every point, both change by < 5 % over the last quarter
    runs = _runs(tmp_path, {"minus_one_one": [40, 32, 31, 30.5], "zero_one": [50, 42, 41, 40.5]})
    over = over_training(runs, PAIRWISE, by=["scaling"], final_verdict="supported")
    assert [p.verdict for p in over.points] == ["supported"] * 4
    assert describe_verdicts(over.points) == "supported at 25 %–100 %"
    assert not over.provisional and over.still_improving == [] and not over.changed_at_end


def test_a_verdict_that_flips_between_points_is_provisional(tmp_path):
    # zero_one starts better and is overtaken at 75 %: contradicted, then supported
    runs = _runs(tmp_path, {"minus_one_one": [60, 50, 40, 30], "zero_one": [50, 45, 44, 43.5]})
    over = over_training(runs, PAIRWISE, by=["scaling"], final_verdict="supported")
    verdicts = [p.verdict for p in over.points]
    assert verdicts[0] == "contradicted" and verdicts[-1] == "supported"
    assert describe_verdicts(over.points).startswith("contradicted at 25 %")
    assert "supported from" in describe_verdicts(over.points)
    # minus_one_one still improves by 25 % over the last quarter: provisional
    assert over.provisional and over.still_improving == ["scaling=minus_one_one"]


def test_levelling_is_relative_to_the_metric_direction(tmp_path):
    runs = _runs(tmp_path, {"minus_one_one": [40, 30, 20, 15], "zero_one": [40, 41, 42, 41.5]})
    levels = levelling(curve_table(runs, by=["scaling"]), metric="eval/fid", by=["scaling"]).set_index("label")
    # FID: lower is better. 20 → 15 is an improvement of (20 - 15) / 20 = 25 %
    assert levels.loc["scaling=minus_one_one", "relative_improvement"] == pytest.approx(0.25)
    assert levels.loc["scaling=minus_one_one", "still_improving"]
    # 42 → 41.5: improving by 1.2 %, below the 5 % threshold
    assert levels.loc["scaling=zero_one", "relative_improvement"] == pytest.approx(0.5 / 42)
    assert not levels.loc["scaling=zero_one", "still_improving"] and STILL_IMPROVING == 0.05


def test_a_verdict_changed_at_the_final_evaluation_is_flagged(tmp_path):
    runs = _runs(tmp_path, {"minus_one_one": [40, 31, 30.5, 30.2], "zero_one": [50, 41, 40.5, 40.2]})
    over = over_training(runs, PAIRWISE, by=["scaling"], final_verdict="inconclusive")
    assert over.changed_at_end and over.provisional and "changed from supported" in over.reason


def test_runs_without_curves_give_none(tmp_path):
    runs = _runs(tmp_path, {"minus_one_one": [40], "zero_one": [50]})
    for path in runs["history_path"]:
        with open(path, "w") as f:
            f.write(json.dumps({"step": 100, "train/loss": 1.0}) + "\n")
    assert over_training(runs, PAIRWISE, by=["scaling"]) is None
