"""Ratings of one question (sweep) → the numbers of the report's "does FID match the eye?".

Ratings name runs; a run's configuration is its label in the sweep's analysis (the config
without seed and device, :func:`analysis.verdict.config_label` over ``SweepAnalysis.by``).
Only usable runs count (finished, comparable); lines naming other runs are left out and
counted. The statistics are those of :mod:`analysis.rating.statistics`:

- per configuration, Bradley–Terry scores from the pairs with bootstrap intervals
  (judgments resampled, seeded), and the fooling rate from real-or-fake with its Wilson
  interval; the real test images' "real" rate as the reference;
- per metric of :data:`RATING_METRICS` (directions from the registry): Kendall's τ-b over
  configurations between the raters' scores and the metric's mean over seeds (oriented so
  that higher is better), with the bootstrap interval of the same resamples; and the share
  of decided judgments (not "can't tell") where the metric, compared on the two runs shown,
  picks the run the rater chose;
- the configuration pairs on which the raters' majority most contradicts FID;
- per pair of neighbours in the raters' ranking, the judgments a one-sided binomial test
  would need to confirm the preference the model estimates (:func:`judgments_needed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from lgm.evaluation.registry import HEADLINE_KEY, MAXIMIZE, SAMPLE_METRICS, goal, known_goal, outputs_of

from analysis.rating.store import CANT_TELL, PAIRS, REAL, REAL_OR_FAKE, REAL_RUN
from analysis.rating.statistics import (TIE_SCORE, bootstrap_bradley_terry, bootstrap_interval_of, bradley_terry,
                              judgments_needed, kendall_tau_b, metric_agreement, preference,
                              proportion_interval, win_matrix)
from analysis.stats import RESAMPLES, finite_values
from analysis.comparisons import config_label

__all__ = ["RATING_METRICS", "SweepRatings", "run_labels", "rate_sweep", "fooling_tau_samples"]

# Sample-quality metrics with a direction: those computed from samples, and FID of reconstructions.
RATING_METRICS = tuple(key for name in (*SAMPLE_METRICS, "fid_recon") for key in outputs_of(name)
                       if known_goal(key))
_SCORE = {"left": 1.0, "right": 0.0, CANT_TELL: TIE_SCORE}  # the left run's score


@dataclass
class SweepRatings:
    """Everything the report says about one question's ratings (empty frames: none yet)."""

    pairs: pd.DataFrame          # one decided or tied judgment per row, with configuration labels
    real_or_fake: pd.DataFrame   # one answer per row (generated: with its label)
    left_out: int                # lines of this sweep naming runs that are not usable here
    scores: pd.DataFrame         # per configuration: judgments, wins, theta, low, high
    fooling: pd.DataFrame        # per configuration: n, real, rate, low, high
    reference: dict              # real images: n, real, rate, low, high
    agreement: pd.DataFrame      # per metric: tau (BT) and interval, share agreeing, tau (fooling)
    disagreements: pd.DataFrame  # configuration pairs where the raters contradict FID, worst first
    needed: pd.DataFrame         # neighbours in the raters' ranking: have, preference, needed, more
    means: dict = field(default_factory=dict)   # metric → {configuration: mean over seeds}
    raters: list = field(default_factory=list)


def run_labels(usable: pd.DataFrame, by: list) -> dict:
    """run id → configuration label (``"all runs"`` when nothing varies)."""
    if not by:
        return {str(r): "all runs" for r in usable["run_id"]}
    return {str(row["run_id"]): config_label({c: row[c] for c in by}) for _, row in usable.iterrows()}


def _pair_table(entries: list, sweep: str, labels: dict) -> tuple[pd.DataFrame, int]:
    rows, left_out = [], 0
    for e in entries:
        if e["mode"] != PAIRS or e["sweep"] != sweep:
            continue
        if e["left"] not in labels or e["right"] not in labels or labels[e["left"]] == labels[e["right"]]:
            left_out += 1
            continue
        rows.append({"left": e["left"], "right": e["right"], "left_label": labels[e["left"]],
                     "right_label": labels[e["right"]], "score": _SCORE[e["choice"]], "rater": e["rater"]})
    columns = ["left", "right", "left_label", "right_label", "score", "rater"]
    return pd.DataFrame(rows, columns=columns), left_out


def _real_or_fake_table(entries: list, sweep: str, labels: dict) -> tuple[pd.DataFrame, int]:
    rows, left_out = [], 0
    for e in entries:
        if e["mode"] != REAL_OR_FAKE or e["sweep"] != sweep:
            continue
        if e["run"] != REAL_RUN and e["run"] not in labels:
            left_out += 1
            continue
        rows.append({"run": e["run"], "label": labels.get(e["run"]), "truth": e["truth"],
                     "said_real": e["choice"] == REAL, "rater": e["rater"]})
    return pd.DataFrame(rows, columns=["run", "label", "truth", "said_real", "rater"]), left_out


def _scores(pairs: pd.DataFrame, order: list, *, resamples: int, seed: int) -> tuple:
    """Per configuration: judgments, wins (ties ½), θ and its bootstrap interval; θ samples."""
    configs = [c for c in order if c in set(pairs["left_label"]) | set(pairs["right_label"])]
    if not configs:
        return pd.DataFrame(columns=["label", "judgments", "wins", "theta", "low", "high"]), configs, None
    index = {c: i for i, c in enumerate(configs)}
    first = pairs["left_label"].map(index).to_numpy()
    second = pairs["right_label"].map(index).to_numpy()
    score = pairs["score"].to_numpy(dtype=float)
    wins = win_matrix(first, second, score, len(configs))
    theta = bradley_terry(wins)
    samples = bootstrap_bradley_terry(first, second, score, len(configs), resamples=resamples, seed=seed)
    rows = []
    for i, label in enumerate(configs):
        low, high = bootstrap_interval_of(samples[:, i])
        rows.append({"label": label, "judgments": int((first == i).sum() + (second == i).sum()),
                     "wins": float(wins[i].sum()), "theta": float(theta[i]), "low": low, "high": high})
    table = pd.DataFrame(rows).sort_values("theta", ascending=False, kind="stable").reset_index(drop=True)
    return table, configs, samples


def _rate_row(n: int, real: int) -> dict:
    low, high = proportion_interval(real, n)
    return {"n": n, "real": real, "rate": real / n if n else math.nan, "low": low, "high": high}


def _fooling(answers: pd.DataFrame, order: list) -> tuple[pd.DataFrame, dict]:
    generated = answers[answers["truth"] != REAL]
    rows = []
    for label in order:
        said_real = generated.loc[generated["label"] == label, "said_real"]
        if len(said_real):
            rows.append({"label": label, **_rate_row(len(said_real), int(said_real.sum()))})
    real = answers[answers["truth"] == REAL]
    table = pd.DataFrame(rows, columns=["label", "n", "real", "rate", "low", "high"])
    return table.sort_values("rate", ascending=False, kind="stable").reset_index(drop=True), \
        _rate_row(len(real), int(real["said_real"].sum()))


def fooling_tau_samples(fooling: pd.DataFrame, metric_means: np.ndarray, *, resamples: int,
                        seed: int) -> np.ndarray:
    """τ-b of fooling rates with ``metric_means`` (oriented, same order as ``fooling``) over
    bootstrap resamples of the generated images' answers (multinomial over the
    configuration × answer cells, as many as observed)."""
    counts = np.stack([fooling["real"], fooling["n"] - fooling["real"]], axis=1).astype(float).ravel()
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=resamples)
    drawn = drawn.reshape(resamples, -1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = drawn[..., 0] / drawn.sum(axis=-1)
    return kendall_tau_b(rates, metric_means)


def _config_means(usable: pd.DataFrame, labels: dict, metric: str) -> dict:
    """configuration label → mean of ``metric`` over its runs' finite values (none: absent)."""
    if metric not in usable:
        return {}
    by_label = usable["run_id"].astype(str).map(labels)
    means = {}
    for label, group in usable[metric].groupby(by_label):
        values = finite_values(group)
        if values.size:
            means[label] = float(values.mean())
    return means


def _score_tau(theta: np.ndarray, samples, configs: list, means: dict, sign: float) -> dict:
    """τ-b of the Bradley–Terry scores with the oriented metric means, and its bootstrap
    interval from the scores' bootstrap ``samples``."""
    keep = [i for i, label in enumerate(configs) if label in means]
    if len(keep) < 2:
        return {"tau": math.nan, "tau_low": math.nan, "tau_high": math.nan}
    oriented = np.array([sign * means[configs[i]] for i in keep])
    low, high = bootstrap_interval_of(kendall_tau_b(samples[:, keep], oriented))
    return {"tau": float(kendall_tau_b(theta[keep], oriented)), "tau_low": low, "tau_high": high}


def _pick_share(pairs: pd.DataFrame, values: dict, *, maximize: bool) -> dict:
    """On how many decided judgments the metric of the two runs shown prefers the chosen run."""
    decided = pairs[pairs["score"] != TIE_SCORE]
    left_won = decided["score"] == 1.0
    chosen = np.where(left_won, decided["left"], decided["right"])
    other = np.where(left_won, decided["right"], decided["left"])
    agree, n = metric_agreement([values.get(r, math.nan) for r in chosen],
                                [values.get(r, math.nan) for r in other], maximize=maximize)
    low, high = proportion_interval(agree, n)
    return {"agree": agree, "decided": n, "share": agree / n if n else math.nan,
            "share_low": low, "share_high": high}


def _fooling_tau(fooling: pd.DataFrame, means: dict, sign: float, *, resamples: int,
                 seed: int) -> dict:
    """τ-b of the fooling rates with the oriented metric means, with its bootstrap interval."""
    fooling = fooling[fooling["label"].isin(means)]
    if len(fooling) < 2:
        return {"tau_fooling": math.nan, "tau_fooling_low": math.nan, "tau_fooling_high": math.nan}
    oriented = sign * fooling["label"].map(means).to_numpy(dtype=float)
    samples = fooling_tau_samples(fooling, oriented, resamples=resamples, seed=seed)
    low, high = bootstrap_interval_of(samples)
    return {"tau_fooling": float(kendall_tau_b(fooling["rate"].to_numpy(dtype=float), oriented)),
            "tau_fooling_low": low, "tau_fooling_high": high}


def _run_values(usable: pd.DataFrame, metric: str) -> dict:
    """run id → the run's value of ``metric`` (NaN where missing)."""
    return dict(zip(usable["run_id"].astype(str), pd.to_numeric(usable[metric], errors="coerce")))


def _disagreements(pairs: pd.DataFrame, fid: dict) -> pd.DataFrame:
    """Configuration pairs whose decided judgments mostly favour the one with the worse FID."""
    rows = []
    lower_better = goal(HEADLINE_KEY) != MAXIMIZE
    decided = pairs[pairs["score"] != TIE_SCORE]
    for a, b in combinations(sorted(set(decided["left_label"]) | set(decided["right_label"])), 2):
        if a not in fid or b not in fid or fid[a] == fid[b]:
            continue
        better, worse = (a, b) if (fid[a] < fid[b]) == lower_better else (b, a)
        mask = ((decided["left_label"] == better) & (decided["right_label"] == worse)) | \
               ((decided["left_label"] == worse) & (decided["right_label"] == better))
        these = decided[mask]
        if these.empty:
            continue
        for_better = int(((these["left_label"] == better) == (these["score"] == 1.0)).sum())
        rows.append({"fid_better": better, "fid_worse": worse, "fid_better_value": fid[better],
                     "fid_worse_value": fid[worse], "decided": len(these),
                     "for_worse": len(these) - for_better, "share_for_worse": 1 - for_better / len(these),
                     "run_better": _most_shown(these, better), "run_worse": _most_shown(these, worse)})
    table = pd.DataFrame(rows, columns=["fid_better", "fid_worse", "fid_better_value", "fid_worse_value",
                                        "decided", "for_worse", "share_for_worse", "run_better", "run_worse"])
    table = table[table["share_for_worse"] > 0.5]
    table = table.sort_values(["share_for_worse", "decided"], ascending=False, kind="stable")
    return table.reset_index(drop=True)


def _most_shown(judgments: pd.DataFrame, label: str) -> str:
    runs = pd.concat([judgments.loc[judgments["left_label"] == label, "left"],
                      judgments.loc[judgments["right_label"] == label, "right"]])
    return str(runs.value_counts().sort_index().idxmax())


def _needed(scores: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for upper, lower in zip(scores.itertuples(), scores.iloc[1:].itertuples()):
        have = int((((pairs["left_label"] == upper.label) & (pairs["right_label"] == lower.label))
                    | ((pairs["left_label"] == lower.label) & (pairs["right_label"] == upper.label))).sum())
        p = float(preference(upper.theta, lower.theta))
        need = judgments_needed(p)
        rows.append({"upper": upper.label, "lower": lower.label, "have": have, "preference": p,
                     "needed": need, "more": max(0.0, need - have)})
    return pd.DataFrame(rows, columns=["upper", "lower", "have", "preference", "needed", "more"])


def rate_sweep(a, entries: list, *, resamples: int = RESAMPLES, seed: int = 0) -> SweepRatings:
    """The ratings statistics of the sweep analysed in ``a`` (a :class:`SweepAnalysis`)."""
    labels = run_labels(a.usable, a.by)
    order = list(dict.fromkeys(labels[r] for r in a.usable["run_id"].astype(str)))
    pairs, out_pairs = _pair_table(entries, a.name, labels)
    answers, out_real = _real_or_fake_table(entries, a.name, labels)
    scores, configs, samples = _scores(pairs, order, resamples=resamples, seed=seed)
    fooling, reference = _fooling(answers, order)
    theta = scores.set_index("label").reindex(configs)["theta"].to_numpy() if configs else np.array([])
    metrics = dict.fromkeys((*RATING_METRICS, HEADLINE_KEY))
    means = {m: _config_means(a.usable, labels, m) for m in metrics}
    rows = []
    for metric in (m for m in RATING_METRICS if means[m]):
        sign = 1.0 if goal(metric) == MAXIMIZE else -1.0
        rows.append({"metric": metric, "goal": goal(metric), "configs": len(means[metric]),
                     **_score_tau(theta, samples, configs, means[metric], sign),
                     **_pick_share(pairs, _run_values(a.usable, metric), maximize=sign > 0),
                     **_fooling_tau(fooling, means[metric], sign, resamples=resamples, seed=seed)})
    agreement = pd.DataFrame(rows)
    return SweepRatings(pairs=pairs, real_or_fake=answers, left_out=out_pairs + out_real, scores=scores,
                        fooling=fooling, reference=reference, agreement=agreement,
                        disagreements=_disagreements(pairs, means[HEADLINE_KEY]),
                        needed=_needed(scores, pairs), means=means,
                        raters=sorted(set(pairs["rater"]) | set(answers["rater"])))
