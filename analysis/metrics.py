"""Which way is better for each logged metric: the one map the analysis keeps.

Keys are the metric's base name, the part after the namespace: ``eval/fid`` → ``fid``,
``eval/fid_class/3`` → ``fid_class``. Lower is better for distances and code lengths
(FID: Heusel et al. 2017; KID: Bińkowski et al. 2018; bits per dimension), higher for
scores and probabilities (IS: Salimans et al. 2016; precision/recall: Kynkäänniemi et
al. 2019; density/coverage: Naeem et al. 2020; conditional accuracy; the ELBO).
"""

from __future__ import annotations

__all__ = ["METRIC_GOALS", "GOALS", "metric_base", "metric_goal"]

GOALS = ("minimize", "maximize")
METRIC_GOALS = {
    "fid": "minimize", "fid_recon": "minimize", "fid_class": "minimize", "kid": "minimize",
    "bpd": "minimize", "loss": "minimize",
    "is": "maximize", "precision": "maximize", "recall": "maximize", "density": "maximize",
    "coverage": "maximize", "conditional_accuracy": "maximize", "elbo": "maximize",
}


def metric_base(metric: str) -> str:
    """``eval/fid`` → ``fid``; ``eval/fid_class/3`` → ``fid_class``; ``fid`` → ``fid``."""
    parts = str(metric).split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def metric_goal(metric: str) -> str:
    """``"minimize"`` or ``"maximize"`` for a metric key; ``ValueError`` for an unknown one."""
    base = metric_base(metric)
    if base not in METRIC_GOALS:
        raise ValueError(f"no known direction for metric {metric!r}; known metrics: "
                         f"{', '.join(sorted(METRIC_GOALS))} (as eval/<name>)")
    return METRIC_GOALS[base]

