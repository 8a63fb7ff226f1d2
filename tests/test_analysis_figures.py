"""The report's figures draw the analysis' numbers and compute none (``analysis.report.figures``):
hand-made summary tables whose means differ on purpose from the runs' own, so a figure that
summarised the runs again would show other numbers."""

import numpy as np
import pandas as pd
import pytest

from analysis.report.figures import metric_vs_parameter, sample_choices

RUNS = pd.DataFrame({"scaling": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
                     "eval/fid": [10.0, 12.0, 20.0, 22.0],  # the runs' own means: a 11, b 21
                     "samples_path": ["a0.png", "a1.png", "b0.png", None]})
# what the analysis says (not the runs' means): b ahead
TABLE = pd.DataFrame({"scaling": ["a", "b"], "n": [2, 2], "mean": [30.0, 5.0],
                      "ci_low": [28.0, 4.0], "ci_high": [33.0, 7.0]})


def test_samples_are_ordered_by_the_analysis_table():
    choices = sample_choices(RUNS, TABLE, by=["scaling"])
    assert list(choices["score"]) == [5.0, 30.0] and list(choices["n"]) == [2, 2]
    # one seed for both where possible: b has no image at seed 1, so seed 0 for both
    assert list(choices["path"]) == ["b0.png", "a0.png"] and list(choices["seed"]) == [0, 0]


def test_a_configuration_missing_from_the_table_is_ranked_last():
    choices = sample_choices(RUNS, TABLE.iloc[:1], by=["scaling"])
    assert choices["score"].iloc[0] == 30.0 and np.isnan(choices["score"].iloc[1])


def test_metric_vs_parameter_draws_the_table_means_and_intervals():
    pytest.importorskip("matplotlib")
    fig = metric_vs_parameter(RUNS, TABLE, metric="eval/fid", parameter="scaling", series=[],
                              order=["a", "b"])
    ax = fig.axes[0]
    container = ax.containers[0]  # the errorbar: its data line and its bars
    assert list(container.lines[0].get_ydata()) == [30.0, 5.0]
    (bars,) = container.lines[2]
    spans = [tuple(segment[:, 1]) for segment in bars.get_segments()]
    assert spans == [(28.0, 33.0), (4.0, 7.0)]  # mean − (mean − ci_low) … mean + (ci_high − mean)
    # the seeds are the dots, from the runs
    dots = ax.collections[-1].get_offsets()
    assert sorted(np.asarray(dots)[:, 1].tolist()) == [10.0, 12.0, 20.0, 22.0]


def test_curve_bands_by_hand_and_the_figure_draws_them():
    """Two seeds of one configuration at two points: mean, range, mean time and step."""
    from analysis.curves import curve_bands
    from analysis.report.figures import curve_figure

    curves = pd.DataFrame({"scaling": ["a"] * 4, "point": [1, 1, 2, 2], "step": [10, 10, 20, 20],
                           "time/train_s": [1.0, 3.0, 5.0, 7.0],
                           "curve/fid": [50.0, 40.0, 30.0, 34.0]})
    bands = curve_bands(curves, key="curve/fid", by=["scaling", "not_a_column"])
    assert bands[["point", "seconds", "step", "mean", "low", "high"]].values.tolist() == [
        [1, 2.0, 10.0, 45.0, 40.0, 50.0],   # (50 + 40) / 2, the range [40, 50]
        [2, 6.0, 20.0, 32.0, 30.0, 34.0]]   # (30 + 34) / 2, the range [30, 34]
    assert set(bands["label"]) == {"scaling=a"}
    fig = curve_figure(bands, key="curve/fid")
    time_axis, step_axis = fig.axes
    assert list(time_axis.lines[0].get_xdata()) == [2.0, 6.0]
    assert list(step_axis.lines[0].get_xdata()) == [10.0, 20.0]
    assert list(time_axis.lines[0].get_ydata()) == [45.0, 32.0]
    assert curve_figure(curve_bands(curves.iloc[0:0], key="curve/fid", by=["scaling"]), key="curve/fid") is None


def test_scores_match_a_summary_that_changed_the_columns_dtype():
    """The runs hold k as objects (64, None); summarize's table holds it as float (64.0, nan):
    the samples are still matched to their configuration's mean."""
    from analysis.stats import summarize

    runs = pd.DataFrame({"k": pd.Series([64, 64, None, None], dtype=object), "seed": [0, 1, 0, 1],
                         "eval/fid": [10.0, 12.0, 20.0, 24.0], "samples_path": ["a", "b", "c", "d"]})
    table = summarize(runs, "eval/fid", by=["k"])
    choices = sample_choices(runs, table, by=["k"])
    assert list(choices["score"]) == [11.0, 22.0] and list(choices["n"]) == [2, 2]


def test_a_numeric_parameter_is_drawn_along_its_axis_whatever_the_table_order():
    """The analysis' table comes in the prediction's order (32 before 2 before 8); the line
    joins the numeric values in x order."""
    runs = pd.DataFrame({"width": [2, 8, 32], "seed": [0, 0, 0], "eval/fid": [3.0, 2.0, 1.0]})
    table = pd.DataFrame({"width": [32, 2, 8], "n": [1, 1, 1], "mean": [1.0, 3.0, 2.0],
                          "ci_low": [1.0, 3.0, 2.0], "ci_high": [1.0, 3.0, 2.0]})
    fig = metric_vs_parameter(runs, table, metric="eval/fid", parameter="width", series=[])
    line = fig.axes[0].containers[0].lines[0]
    assert list(line.get_xdata()) == [2, 8, 32] and list(line.get_ydata()) == [3.0, 2.0, 1.0]


def test_one_line_per_series_with_its_own_seeds():
    runs = pd.DataFrame({"model": ["gan", "gan", "vae", "vae"], "scaling": ["a", "b", "a", "b"],
                         "seed": [0] * 4, "eval/fid": [1.0, 2.0, 3.0, 4.0]})
    table = pd.DataFrame({"model": ["gan", "gan", "vae", "vae"], "scaling": ["a", "b", "a", "b"],
                          "n": [1] * 4, "mean": [10.0, 20.0, 30.0, 40.0], "ci_low": [10.0, 20.0, 30.0, 40.0],
                          "ci_high": [10.0, 20.0, 30.0, 40.0]})
    fig = metric_vs_parameter(runs, table, metric="eval/fid", parameter="scaling", series=["model"],
                              order=["a", "b"])
    ax = fig.axes[0]
    assert [list(c.lines[0].get_ydata()) for c in ax.containers] == [[10.0, 20.0], [30.0, 40.0]]
    dots = [sorted(np.asarray(c.get_offsets())[:, 1].tolist()) for c in ax.collections
            if len(c.get_offsets()) == 2 and not hasattr(c, "get_segments")]
    assert dots == [[1.0, 2.0], [3.0, 4.0]]  # each line's dots are its own series' seeds
