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


def test_an_extended_run_keeps_its_earlier_points_and_they_align_by_fraction(tmp_path):
    """At budget ×2 (train_steps 80) an extended run has the ×1 run's points 10..40 plus its
    own 60 and 80; a seed trained from scratch at ×2 has 20, 40, 60, 80. Points align by
    fraction of training (step / train_steps), and verdicts use only the fractions every run
    has: 1/4, 1/2, 3/4, 1 (20, 40, 60, 80)."""
    rows = []
    for value, base in (("minus_one_one", 30.0), ("zero_one", 40.0)):
        for seed, steps in enumerate(((10, 20, 30, 40, 60, 80), (10, 20, 30, 40, 60, 80), (20, 40, 60, 80))):
            path = tmp_path / f"{value}-{seed}.jsonl"
            path.write_text("".join(json.dumps({"step": s, "curve/fid": base + 100 / s + seed,
                                                "time/train_s": float(s)}) + "\n" for s in steps))
            rows.append({"run_id": f"{value}-{seed}", "scaling": value, "seed": seed, "train_steps": 80,
                         "history_path": str(path), "eval/fid": base + 100 / 80 + seed})
    table = curve_table(pd.DataFrame(rows), by=["scaling"])
    assert sorted(table["fraction"].unique()) == [0.125, 0.25, 0.375, 0.5, 0.75, 1.0]
    assert sorted(table.loc[table["shared"], "fraction"].unique()) == [0.25, 0.5, 0.75, 1.0]
    at_half = table[table["fraction"] == 0.5]
    assert set(at_half["step"]) == {40} and len(at_half) == 6  # step 40 of every run, never step 80
    over = over_training(pd.DataFrame(rows), PAIRWISE, by=["scaling"], final_verdict="supported")
    assert [p.fraction for p in over.points] == [0.25, 0.5, 0.75, 1.0]
