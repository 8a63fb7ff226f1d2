"""analysis: runs (run folders or W&B) → one table → statistics and verdicts → figures → report.

Data flows one way (sweep → study → W&B → analysis): this package reads what the study
wrote and never imports it. Importing it has no side effects and does not import wandb
(only the W&B source and publishing do, when used).

Typical use, in a notebook::

    from analysis import load_runs, load_sweep_spec, analyse_sweep
    runs = load_runs("runs")                       # or "entity/project[/sweeps/<id>]"
    spec = load_sweep_spec("runs", "gan_scaling")
    result = analyse_sweep(runs[runs.sweep == "gan_scaling"], spec)
"""

from contracts.sweep import Prediction, SweepSpec, parse_prediction, parse_sweep_config

from analysis.errors import (AnalysisError, NoRunsError, NotLoggedInError, RunRecordError,
                             RunSourceError, SweepSpecError)
from analysis.load import (COMPARABILITY_KEYS, config_columns, load_runs, load_sweep_spec,
                           mark_comparable, history_frame, usable_runs)
from analysis.stats import (bootstrap_interval, cohen_d, hedges_g, holm, pairwise_test,
                            summarize, trend_test)
from analysis.sweep_analysis import SweepAnalysis, analyse_source, analyse_sweep
from analysis.verdict import Comparison, evaluate_prediction, judge, overall_verdict

__all__ = [
    "AnalysisError", "NoRunsError", "NotLoggedInError", "RunRecordError", "RunSourceError",
    "SweepSpecError", "COMPARABILITY_KEYS", "config_columns", "load_runs", "load_sweep_spec",
    "mark_comparable", "history_frame", "usable_runs", "Prediction", "SweepSpec",
    "parse_prediction", "parse_sweep_config", "bootstrap_interval", "cohen_d", "hedges_g", "holm",
    "pairwise_test", "summarize", "trend_test", "SweepAnalysis", "analyse_source", "analyse_sweep",
    "Comparison", "evaluate_prediction", "judge", "overall_verdict",
]
