"""Figures for the report and notebooks (matplotlib, no pyplot: no global state, Agg output).

Every function draws what it is given — the run table (usually the usable runs of one sweep)
and the tables ``analysis.sweep_analysis.SweepAnalysis`` computed (``table``,
``headline_table``, ``over_training.bands``); it computes no statistic of its own — and
returns a :class:`matplotlib.figure.Figure`, or ``None`` when the data for it is absent; save
with :func:`save_figure` (PNG for embedding, SVG for print).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from contracts.record import FAILED, STEP_KEY, TRAIN_SECONDS_KEY
from contracts.samples import read_samples_array
from lgm.evaluation.registry import HEADLINE_KEY as RANK_METRIC
from lgm.evaluation.registry import MINIMIZE, known_goal

from analysis.load import history_frame
from analysis.numbers import fmt
from analysis.comparisons import config_label

__all__ = ["save_figure", "metric_vs_parameter", "metric_scatter", "sample_choices",
           "sample_grid", "grid_pair", "training_curves", "axis_label"]

_MAX_LEGEND = 12


def save_figure(fig: Figure, directory, stem: str) -> dict:
    """Write ``<stem>.png`` and ``<stem>.svg``; returns ``{"png": Path, "svg": Path}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{stem}.png", "svg": directory / f"{stem}.svg"}
    # No dates in the files: the same runs give byte-identical figures.
    fig.savefig(paths["png"], format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths["svg"], format="svg", bbox_inches="tight", metadata={"Date": None})
    return paths


def axis_label(metric: str) -> str:
    """``eval/fid`` → ``eval/fid (lower is better)``; unknown metrics stay as they are."""
    goal = known_goal(metric)
    if goal is None:
        return metric
    return f"{metric} ({'lower' if goal == MINIMIZE else 'higher'} is better)"


def _labels(runs: pd.DataFrame, by: list[str]) -> pd.Series:
    if not by:
        return pd.Series("all runs", index=runs.index)
    return runs[by].apply(lambda row: config_label(row.to_dict()), axis=1)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _x_positions(values: list, order) -> tuple[dict, bool]:
    """Value → x coordinate; numeric parameters keep their scale, others are categories."""
    if order:
        known = list(order) + sorted((v for v in values if v not in list(order)), key=str)
        return {v: float(i) for i, v in enumerate(known)}, False
    if values and all(_is_number(v) for v in values):
        return {v: float(v) for v in values}, True
    return {v: float(i) for i, v in enumerate(sorted(values, key=str))}, False


def metric_vs_parameter(runs: pd.DataFrame, table: pd.DataFrame, *, metric: str, parameter: str,
                        series: list[str], order=None) -> Figure | None:
    """Mean of ``metric`` per ``parameter`` value with its 95 % interval, seeds as dots.

    ``table``: the analysis' summary per configuration (``SweepAnalysis.table``:
    ``analysis.stats.summarize`` by ``series`` + ``parameter``), drawn as it is — nothing is
    computed here; ``runs``: the seeds' dots. One line per combination of the ``series``
    columns (e.g. one per ``model``).
    """
    if metric not in runs or parameter not in runs or runs.empty or parameter not in table:
        return None
    positions, numeric = _x_positions(list(pd.unique(runs[parameter])), order)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    groups = table.groupby(series, dropna=False, sort=True) if series else [((), table)]
    for index, (key, lines) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        name = config_label(dict(zip(series, key))) or metric
        lines = lines[lines["n"] > 0]
        # the table comes in the prediction's order: draw along the x axis
        lines = lines.iloc[np.argsort([positions[v] for v in lines[parameter]], kind="stable")]
        xs = np.array([positions[v] for v in lines[parameter]])
        step = (0.04 * index) if not numeric else 0.0  # nudge overlapping categories apart
        low = np.nan_to_num(lines["mean"] - lines["ci_low"])
        high = np.nan_to_num(lines["ci_high"] - lines["mean"])
        # Categories are not ordered quantities: no connecting line between them.
        line = ax.errorbar(xs + step, lines["mean"], yerr=[low, high], marker="o", capsize=4,
                           label=name, linestyle="-" if numeric else "none")
        mine = runs[_in_series(runs, series, key)]
        dots = mine[[parameter, metric]].dropna()
        ax.scatter([positions[v] + step for v in dots[parameter]],
                   pd.to_numeric(dots[metric], errors="coerce"), s=12, alpha=0.45,
                   color=line.lines[0].get_color())
    if numeric:
        finite = [p for p in positions.values() if p > 0]
        if len(finite) == len(positions) and max(finite) / min(finite) >= 100:
            ax.set_xscale("log")
    else:
        ax.set_xticks(list(positions.values()), [str(v) for v in positions])
        ax.margins(x=0.2)
    ax.set_xlabel(parameter)
    ax.set_ylabel(axis_label(metric))
    ax.set_title(f"{metric} vs {parameter}: mean and 95 % t interval over seeds")
    if series:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _in_series(runs: pd.DataFrame, series: list[str], key: tuple) -> pd.Series:
    """The runs of one line: equal ``series`` values (NaN matching NaN, as groupby's)."""
    keep = pd.Series(True, index=runs.index)
    for column, value in zip(series, key):
        keep &= runs[column].isna() if pd.isna(value) else runs[column] == value
    return keep


def metric_scatter(runs: pd.DataFrame, *, x: str, y: str, by: list[str]) -> Figure | None:
    """``y`` against ``x`` over all runs, one colour per configuration."""
    if x not in runs or y not in runs:
        return None
    data = runs.assign(_label=_labels(runs, by))
    data = data[np.isfinite(pd.to_numeric(data[x], errors="coerce"))
                & np.isfinite(pd.to_numeric(data[y], errors="coerce"))]
    if data.empty:
        return None
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    for label, group in data.groupby("_label", sort=True):
        ax.scatter(pd.to_numeric(group[x]), pd.to_numeric(group[y]), label=label, s=28, alpha=0.8)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.set_title(f"{y} vs {x}, one point per run")
    if data["_label"].nunique() <= _MAX_LEGEND:
        ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3)
    return fig


def sample_choices(runs: pd.DataFrame, scores: pd.DataFrame, *, by: list[str],
                   image_column: str = "samples_path", rank_metric: str = RANK_METRIC) -> pd.DataFrame:
    """One image per configuration, from the same seed where possible, best ``rank_metric`` first.

    ``scores``: the analysis' summary of ``rank_metric`` per configuration
    (``SweepAnalysis.headline_table``: its ``mean`` and ``n``, by the ``by`` columns), used
    as it is. The seed is the lowest one that every configuration has an image for; a
    configuration lacking it falls back to its own lowest seed. Columns: label, seed, path,
    score, n.
    """
    have = runs[runs[image_column].notna()] if image_column in runs else runs.iloc[0:0]
    if have.empty:
        return pd.DataFrame(columns=["label", "seed", "path", "array", "score", "n"])
    labels = _labels(have, by)
    # matched on normalised values, not label text: the summary may hold a column as float
    # (64.0, nan) that the runs hold as objects (64, None)
    means = ({_value_key(row, by): (row["mean"], row["n"]) for _, row in scores.iterrows()}
             if not scores.empty else {})
    seed_sets = [set(group["seed"]) for _, group in have.groupby(labels)]
    common = set.intersection(*seed_sets) if "seed" in have else set()
    rows = []
    for label, group in have.groupby(labels, sort=True):
        seed = min(common) if common else min(group["seed"]) if "seed" in group else None
        chosen = group[group["seed"] == seed].iloc[0] if seed is not None else group.iloc[0]
        mean, n = means.get(_value_key(group.iloc[0], by), (math.nan, 0))
        array = chosen.get("samples_array_path") if image_column == "samples_path" else None
        rows.append({"label": label, "seed": seed, "path": chosen[image_column],
                     "array": array if isinstance(array, str) else None,
                     "score": float(mean) if int(n) > 0 else math.nan, "n": int(n)})
    table = pd.DataFrame(rows)
    ascending = known_goal(rank_metric) in (MINIMIZE, None)
    return table.sort_values("score", ascending=ascending, na_position="last").reset_index(drop=True)


def _value_key(row, by: list[str]) -> tuple:
    """A configuration's ``by`` values, comparable across dtypes: NaN/None → None, whole
    floats → int."""
    key = []
    for column in by:
        value = row[column]
        if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
            value = None
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        elif isinstance(value, np.integer):
            value = int(value)
        key.append(value)
    return tuple(key)


def _sample_image(row) -> np.ndarray:
    """The samples as drawn (``samples.npz``, no text on them) where the run saved them,
    else its PNG (which carries the run's own title)."""
    if getattr(row, "array", None):
        samples = read_samples_array(row.array)
        from lgm.images import uint8_grid  # here: lgm.images imports torch, analysis stays light

        return uint8_grid(samples.images, 10 if samples.conditional else 8)
    return mpimg.imread(row.path)


def sample_grid(choices: pd.DataFrame, *, rank_metric: str = RANK_METRIC,
                columns: int = 3) -> Figure | None:
    """The chosen images side by side, in the order of ``choices`` (best first).

    Legible with many configurations: at most ``columns`` per row, each panel about 4 inches
    wide, its title (rank, configuration, score, seed) above it in a readable size, and the
    layout engine keeping titles clear of the row above."""
    if choices.empty:
        return None
    n = len(choices)
    ncols = min(columns, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.3 * ncols, 5.0 * nrows), layout="constrained")
    for i, row in enumerate(choices.itertuples(index=False)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        image = _sample_image(row)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.set_axis_off()
        score = fmt(row.score, 3)
        title = "\n".join(textwrap.wrap(f"#{i + 1} {row.label}", 40))
        ax.set_title(f"{title}\n{rank_metric} {score} (seed {row.seed})", fontsize="medium")
    return fig


def grid_pair(arrays: tuple, titles: tuple) -> Figure:
    """Two image grids (H×W×3 uint8 arrays) side by side, each with its title."""
    fig = Figure(figsize=(9.6, 5.2))
    for i, (array, title) in enumerate(zip(arrays, titles)):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.imshow(array, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title("\n".join(textwrap.wrap(title, 48)), fontsize="small")
    fig.tight_layout()
    return fig


def training_curves(runs: pd.DataFrame, *, by: list[str], keys: list[str] | None = None,
                    max_keys: int = 4) -> Figure | None:
    """Logged training curves from history.jsonl, one line per run coloured by configuration;
    failed runs dashed (a curve that stops early is often the divergence itself)."""
    if "history_path" not in runs:
        return None
    with_history = runs[runs["history_path"].notna()]
    histories = {index: history_frame(path) for index, path in with_history["history_path"].items()}
    histories = {i: h for i, h in histories.items() if not h.empty and "step" in h}
    if not histories:
        return None
    if keys is None:
        found = sorted({k for h in histories.values() for k in h.columns if k.startswith("train/")})
        keys = found[:max_keys]
    if not keys:
        return None
    labels = _labels(with_history, by)
    colours = {label: f"C{i % 10}" for i, label in enumerate(sorted(set(labels)))}
    fig = Figure(figsize=(4.2 * len(keys), 3.4))
    for k, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), k + 1)
        for index, history in histories.items():
            if key not in history:
                continue
            failed = with_history.loc[index, "status"] == FAILED
            ax.plot(history["step"], history[key], color=colours[labels[index]], alpha=0.8,
                    linestyle="--" if failed else "-", linewidth=1.0)
        ax.set_title(key, fontsize="small")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, label=l) for l, c in colours.items()][:_MAX_LEGEND]
    fig.legend(handles=handles, loc="lower center", ncol=min(3, len(handles)), fontsize="x-small",
               bbox_to_anchor=(0.5, -0.02 - 0.05 * math.ceil(len(handles) / 3)))
    fig.tight_layout()
    return fig


def curve_figure(bands: pd.DataFrame, *, key: str) -> Figure | None:
    """``key`` (a ``curve/...`` metric) against training time and against step: one line
    per configuration (mean over seeds at each point), the band the seeds' range — as
    ``analysis.curves.curve_bands`` computed them (``OverTraining.bands``)."""
    if bands.empty:
        return None
    fig = Figure(figsize=(11.0, 4.0))
    axes = (fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2))
    for index, (label, group) in enumerate(bands.groupby("label", sort=True)):
        colour = f"C{index % 10}"
        group = group.sort_values("point")
        seconds, steps, mean, low, high = (group[c].to_numpy(dtype=float)
                                           for c in ("seconds", "step", "mean", "low", "high"))
        for ax, x in zip(axes, (seconds, steps)):
            ax.plot(x, mean, marker="o", color=colour, label=label)
            ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
    axes[0].set_xlabel(f"training time (s, {TRAIN_SECONDS_KEY})")
    axes[1].set_xlabel(f"training step ({STEP_KEY})")
    for ax in axes:
        ax.set_ylabel(axis_label(key))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    fig.suptitle(f"{key} over training: mean over seeds, band = the seeds' range", fontsize="medium")
    fig.tight_layout()
    return fig
