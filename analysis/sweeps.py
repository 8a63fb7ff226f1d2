"""Runs → per-sweep analyses (question, table, tests, verdict, observations), no rendering.

The report (Markdown/HTML), the W&B Report and notebooks all start from
:func:`analyse_source` / :func:`analyse_sweep`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from contracts.sweep import SweepSpec
from lgm.evaluation.registry import HEADLINE_KEY

from analysis.curves import OverTraining, over_training
from analysis.errors import SweepSpecError
from analysis.load import load_runs, load_sweep_spec, usable_runs
from analysis.observations import observations
from analysis.stats import RESAMPLES, summarize
from analysis.verdict import QuestionResult, evaluate_prediction, table_columns

__all__ = ["SweepAnalysis", "analyse_sweep", "analyse_source", "run_counts", "DEFAULT_METRIC"]

DEFAULT_METRIC = HEADLINE_KEY  # what the table shows when a sweep has no readable prediction


@dataclass
class SweepAnalysis:
    """One sweep: its runs, question, measured table, tests, verdict and observations."""

    name: str
    runs: pd.DataFrame                  # every run of the sweep, any status
    usable: pd.DataFrame                # finished and comparable
    spec: SweepSpec | None
    spec_error: str | None
    result: QuestionResult | None       # None without a readable prediction
    table: pd.DataFrame                 # per configuration: n, mean, std, interval of `metric`
    metric: str
    by: list = field(default_factory=list)   # the columns naming a configuration
    notes: list = field(default_factory=list)
    over_training: OverTraining | None = None  # verdicts along the training curves

    @property
    def provisional(self) -> bool:
        """The verdict may be a property of the budget: see ``analysis.curves``."""
        return bool(self.over_training and self.over_training.provisional)

    @property
    def counts(self) -> dict:
        return run_counts(self.runs)


def run_counts(runs: pd.DataFrame) -> dict:
    """finished (comparable), failed, running and set-aside run counts."""
    finished = runs["status"] == "finished"
    return {"finished": int((finished & runs["set_aside"].isna()).sum()),
            "failed": int((runs["status"] == "failed").sum()),
            "running": int((runs["status"] == "running").sum()),
            "set aside": int((finished & runs["set_aside"].notna()).sum()),
            "total": int(len(runs))}


def analyse_sweep(runs: pd.DataFrame, spec: SweepSpec | None, *, spec_error: str | None = None,
                  resamples: int = RESAMPLES, seed: int = 0) -> SweepAnalysis:
    """Analyse the runs of one sweep against its spec (``None``: table and notes only)."""
    names = runs["sweep"].unique()
    if len(names) != 1:
        raise ValueError(f"analyse_sweep needs the runs of one sweep, got sweeps {sorted(names)}")
    usable = usable_runs(runs)
    prediction = spec.prediction if spec else None
    by = table_columns(usable, prediction)
    result = None
    if prediction is not None:
        grid = spec.parameters.get(prediction.parameter)
        result = evaluate_prediction(usable, prediction, grid=grid, resamples=resamples, seed=seed)
        metric, table = prediction.metric, result.table
        over = over_training(usable, prediction, by=by, grid=grid, final_verdict=result.verdict,
                             judgements=result.judgements, resamples=resamples, seed=seed)
    else:
        metric, over = DEFAULT_METRIC, None
        table = summarize(usable, metric, by=by, resamples=resamples, seed=seed)
    return SweepAnalysis(name=str(names[0]), runs=runs, usable=usable, spec=spec,
                         spec_error=spec_error, result=result, table=table, metric=metric, by=by,
                         notes=observations(runs, by=by), over_training=over)


def analyse_source(source, *, api=None, cache_dir=None, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[pd.DataFrame, list[SweepAnalysis]]:
    """Load ``source`` and analyse each of its sweeps (sorted by name)."""
    runs = load_runs(source, api=api, cache_dir=cache_dir)
    analyses = []
    for name, group in runs.groupby("sweep", sort=True):
        try:
            spec, error = load_sweep_spec(source, str(name), api=api), None
        except SweepSpecError as err:
            spec, error = None, str(err)
        analyses.append(analyse_sweep(group, spec, spec_error=error, resamples=resamples, seed=seed))
    return runs, analyses
