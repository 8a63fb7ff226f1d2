"""Runs → one :class:`SweepAnalysis` per sweep: everything a reader is shown, computed once.

Question, measured table, comparisons and verdict, the verdict along training, how much
weight it bears (robustness), the blind ratings' statistics and the other observations are
all computed here, by :func:`analyse_sweep`. The Markdown/HTML report, the W&B Report and
notebooks render a ``SweepAnalysis`` and compute nothing of their own, so they cannot
disagree.

The one resampling in the analysis is the ratings' bootstrap (``resamples`` bootstrap
samples, seeded by ``seed``); every interval of a verdict is a t interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from contracts.record import FAILED, RUNNING
from contracts.sweep import SweepSpec
from lgm.evaluation.registry import HEADLINE_KEY

from analysis.curves import OverTraining, over_training
from analysis.errors import SweepSpecError
from analysis.load import (at_budget, budget_state, has_status, is_set_aside, is_usable, load_runs,
                           load_settle, load_sweep_spec, usable_runs)
from analysis.observations import observations
from analysis.rating.analysis import SweepRatings, rate_sweep
from analysis.rating.store import source_ratings
from analysis.robustness import Cell, extractor_ranks, robustness
from analysis.stats import RESAMPLES, summarize
from analysis.verdict import QuestionResult, evaluate_prediction, table_columns

__all__ = ["SweepAnalysis", "analyse_sweep", "analyse_source", "run_counts", "DEFAULT_METRIC"]

DEFAULT_METRIC = HEADLINE_KEY  # what the table shows when a sweep has no readable prediction


@dataclass
class SweepAnalysis:
    """One sweep: its runs, question, measured table, tests, verdict, verdicts over training,
    robustness, ratings and observations."""

    name: str
    runs: pd.DataFrame                  # every run of the sweep, any status
    usable: pd.DataFrame                # finished and comparable
    spec: SweepSpec | None
    spec_error: str | None
    result: QuestionResult | None       # None without a readable prediction
    table: pd.DataFrame                 # per configuration: n, mean, std, interval of `metric`
    metric: str
    by: list = field(default_factory=list)   # the columns naming a configuration
    # `table` of the headline metric (eval/fid; `table` itself when that is the question's):
    # the order the samples are shown in
    headline_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    over_training: OverTraining | None = None  # verdicts along the training curves
    robustness: list[Cell] = field(default_factory=list)  # how much weight the verdict bears
    extractor_ranks: pd.DataFrame = field(default_factory=pd.DataFrame)  # ranks in other feature spaces
    ratings: SweepRatings | None = None  # blind ratings of this question (None: none yet)
    settle: dict | None = None           # the rounds of `python -m study settle` (settle.json)
    budget: dict | None = None           # the budget state analysed when runs hold several

    @property
    def provisional(self) -> bool:
        """The verdict may be a property of the budget: see ``analysis.curves``."""
        return bool(self.over_training and self.over_training.provisional)

    @property
    def counts(self) -> dict:
        return run_counts(self.runs)

    @property
    def settled(self) -> dict | None:
        """The settle loop's last decision on these runs (``settle.json``'s last done round:
        ``verdict``, ``settled``, ``procedure``), None when the sweep was not settled. Its
        verdict is the sequential procedure's (each look at its share of α), which may differ
        from the fixed-design verdict in ``result``."""
        done = [r for r in (self.settle or {}).get("rounds", []) if r.get("status") == "done"]
        decision = done[-1].get("decision") if done else None
        return decision if isinstance(decision, dict) and decision.get("verdict") else None


def run_counts(runs: pd.DataFrame) -> dict:
    """finished (comparable), failed, running and set-aside run counts."""
    return {"finished": int(is_usable(runs).sum()),
            "failed": int(has_status(runs, FAILED).sum()),
            "running": int(has_status(runs, RUNNING).sum()),
            "set aside": int(is_set_aside(runs).sum()),
            "total": int(len(runs))}


def analyse_sweep(runs: pd.DataFrame, spec: SweepSpec | None, *, spec_error: str | None = None,
                  ratings: list = (), settle: dict | None = None, resamples: int = RESAMPLES,
                  seed: int = 0) -> SweepAnalysis:
    """Analyse the runs of one sweep against its spec (``None``: table and notes only).

    ``ratings``: rating lines of the runs folder (``analysis.rating.store.source_ratings``;
    other sweeps' lines are ignored); ``resamples``/``seed``: their bootstrap. ``settle``:
    its settle.json; when the runs hold several budgets (a settled or extended sweep) only
    the runs of the settled state — else of the largest budget — are analysed
    (``analysis.load.budget_state``); the rounds themselves are the trajectory.
    """
    names = runs["sweep"].unique()
    if len(names) != 1:
        raise ValueError(f"analyse_sweep needs the runs of one sweep, got sweeps {sorted(names)}")
    name = str(names[0])
    budget = budget_state(runs, settle)
    if budget is not None:
        runs = at_budget(runs, budget_factor=budget["budget_factor"], seeds=budget["seeds"])
    usable = usable_runs(runs)
    prediction = spec.prediction if spec else None
    by = table_columns(usable, prediction)
    result, over = None, None
    if prediction is not None:
        grid = spec.parameters.get(prediction.parameter)
        result = evaluate_prediction(usable, prediction, grid=grid)
        metric, table = prediction.metric, result.table
        over = over_training(usable, prediction, by=by, grid=grid, final_verdict=result.verdict,
                             judgements=result.judgements)
    else:
        metric = DEFAULT_METRIC
        table = summarize(usable, metric, by=by)
    headline = table if metric == HEADLINE_KEY else summarize(usable, HEADLINE_KEY, by=by)
    analysis = SweepAnalysis(name=name, runs=runs, usable=usable, spec=spec, spec_error=spec_error,
                             result=result, table=table, headline_table=headline, metric=metric, by=by,
                             notes=observations(runs, by=by), over_training=over,
                             settle=settle, budget=budget)
    mine = [entry for entry in ratings if entry.get("sweep") == name]
    if mine:
        analysis.ratings = rate_sweep(analysis, mine, resamples=resamples, seed=seed)
    analysis.robustness = robustness(analysis, ratings=analysis.ratings)
    analysis.extractor_ranks = extractor_ranks(analysis)
    return analysis


def analyse_source(source, *, api=None, cache_dir=None, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[pd.DataFrame, list[SweepAnalysis]]:
    """Load ``source`` (and its ratings) and analyse each of its sweeps (sorted by name)."""
    runs = load_runs(source, api=api, cache_dir=cache_dir)
    ratings = source_ratings(source)
    analyses = []
    for name, group in runs.groupby("sweep", sort=True):
        try:
            spec, error = load_sweep_spec(source, str(name), api=api), None
        except SweepSpecError as err:
            spec, error = None, str(err)
        analyses.append(analyse_sweep(group, spec, spec_error=error, ratings=ratings,
                                      settle=load_settle(source, str(name)),
                                      resamples=resamples, seed=seed))
    return runs, analyses
