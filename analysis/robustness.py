"""How much weight a verdict bears: does it hold over seeds, sample size, metric, extractor,
training time and people? One cell each: "holds", "does not hold" or "not measured".

- **seeds** — the verdict is decisive and every decisive comparison's observed difference
  is at least the smallest difference the design detects with 80 % power
  (``analysis.inference.minimal_detectable_difference``); an inconclusive verdict does not
  hold and says how many seeds per configuration would likely settle it.
- **sample size** — for an FID question, the verdict recomputed on FID∞ (``eval/fid_inf``,
  FID extrapolated to infinitely many samples, Chong & Forsyth 2020) is the same.
- **metric** — for a sample-quality question (FID, KID, precision/recall, density/coverage
  and FID∞): no other of those metrics gives a different decisive verdict, and at least half
  give the same one (directions from the metric registry; recall and coverage measure
  diversity, so a disagreement there is a finding, not a mistake).
- **extractor** — the verdict recomputed on the second, independent classifier's FID
  (``eval/mlp/fid``), on the extractor-free Fréchet Wavelet Distance (``eval/fwd``) and on
  the class-histogram-matched FID (``eval/fid_hm``, Kynkäänniemi et al. 2023): holds when
  every one gives the same verdict; with it, per pair, the FID gap before and after matching
  the class histogram (the part of the gap the histogram explains).
- **training time** — the training curves exist, the question is not provisional (no
  compared configuration still improving by more than 5 % over the last interval, the
  verdict unchanged at the end; ``analysis.curves``).
- **people** — blind pairwise ratings exist for the compared configurations and the raters'
  Bradley–Terry scores order them as the verdict does (``analysis.rating.analysis``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from lgm.evaluation.registry import MAXIMIZE, known_goal, robustness_keys

from analysis.comparisons import comparisons
from analysis.numbers import fmt
from analysis.verdict import NO_DIFFERENCE, evaluate_prediction

__all__ = ["Cell", "HOLDS", "DOES_NOT_HOLD", "NOT_MEASURED", "SAMPLE_QUALITY", "robustness",
           "histogram_share", "extractor_ranks"]

HOLDS, DOES_NOT_HOLD, NOT_MEASURED = "holds", "does not hold", "not measured"
SAMPLE_QUALITY = ("eval/fid", "eval/fid_inf", "eval/kid", "eval/precision", "eval/recall",
                  "eval/density", "eval/coverage")
DECISIVE = ("supported", "contradicted", NO_DIFFERENCE)


@dataclass(frozen=True)
class Cell:
    over: str
    status: str
    detail: str


def _seeds(a) -> Cell:
    result = a.result
    pairs = [c for c in result.comparisons if "mdd" in c.details]
    if result.verdict not in DECISIVE:
        needed = [c.details.get("seeds_needed") for c in pairs]
        known = [n for n in needed if n]
        tail = (f"; about {max(known)} seeds per configuration would likely settle it (80 % power at "
                f"the observed difference)" if known else "")
        return Cell("seeds", DOES_NOT_HOLD, f"inconclusive with the seeds run{tail}")
    weak = [c for c in pairs if math.isfinite(c.details["mdd"]) and abs(c.details["diff"]) < c.details["mdd"]
            and result.verdict != NO_DIFFERENCE]
    if weak:
        return Cell("seeds", DOES_NOT_HOLD, "significant, but below the 80 %-power detectable difference in "
                    + ", ".join(f"{c.first} vs {c.second}" for c in weak) + " (a lucky draw is plausible)")
    return Cell("seeds", HOLDS, "decisive; every observed difference is at least the difference the design "
                                "detects with 80 % power" if pairs else "decisive")


def _other_metric(a, metric: str) -> str | None:
    if metric not in a.usable or not a.usable[metric].notna().any():
        return None
    prediction = replace(a.result.prediction, metric=metric)
    return evaluate_prediction(a.usable, prediction, grid=a.spec.parameters.get(prediction.parameter)).verdict


def _sample_size(a) -> Cell:
    if a.result.prediction.metric != "eval/fid":
        return Cell("sample size", NOT_MEASURED, "only FID questions have an extrapolated FID∞")
    verdict = _other_metric(a, "eval/fid_inf")
    if verdict is None:
        return Cell("sample size", NOT_MEASURED, "the runs logged no eval/fid_inf")
    same = verdict == a.result.verdict
    return Cell("sample size", HOLDS if same else DOES_NOT_HOLD, f"on FID∞ (Chong & Forsyth 2020): {verdict}")


def _metric(a) -> Cell:
    own = a.result.prediction.metric
    if own not in SAMPLE_QUALITY:
        return Cell("metric", NOT_MEASURED, f"{own} has no sample-quality alternative")
    verdicts = {m: _other_metric(a, m) for m in SAMPLE_QUALITY if m != own}
    verdicts = {m: v for m, v in verdicts.items() if v is not None}
    if not verdicts:
        return Cell("metric", NOT_MEASURED, "no other sample-quality metric was logged")
    agree = [m for m, v in verdicts.items() if v == a.result.verdict]
    contrary = [m for m, v in verdicts.items() if v in DECISIVE and v != a.result.verdict]
    detail = (f"{len(agree)}/{len(verdicts)} give the same verdict — "
              + "; ".join(f"{m.split('/')[-1]}: {v}" for m, v in verdicts.items()))
    # another metric's *different decisive* verdict breaks it; an inconclusive one only
    # says that metric cannot tell at this sample size
    holds = not contrary and 2 * len(agree) >= len(verdicts)
    return Cell("metric", HOLDS if holds else DOES_NOT_HOLD, detail)


def _training_time(a) -> Cell:
    over = a.over_training
    if over is None:
        return Cell("training time", NOT_MEASURED, "no training curves were logged")
    if over.provisional:
        return Cell("training time", DOES_NOT_HOLD, f"provisional: {over.reason}")
    return Cell("training time", HOLDS, "levelled off and the verdict is stable at the end of training")


def _people(a, ratings) -> Cell:
    if ratings is None or not len(ratings.scores):
        return Cell("people", NOT_MEASURED, f"no blind pairwise ratings yet (python -m analysis rate "
                                            f"<runs> --sweep {a.name})")
    theta = dict(zip(ratings.scores["label"], ratings.scores["theta"]))
    checks = []
    for c in a.result.comparisons:
        first, second = (", ".join(x for x in (c.first, c.context) if x),
                         ", ".join(x for x in (c.second, c.context) if x))
        match = [(lab, t) for lab, t in theta.items() if all(part in lab for part in first.split(", "))], \
                [(lab, t) for lab, t in theta.items() if all(part in lab for part in second.split(", "))]
        if len(match[0]) != 1 or len(match[1]) != 1 or c.expected_sign == 0:
            continue
        raters_first_better = match[0][0][1] > match[1][0][1]
        metric_first_better = (c.mean_first - c.mean_second) * c.expected_sign > 0
        checks.append(raters_first_better == metric_first_better)
    if not checks:
        return Cell("people", NOT_MEASURED, "the rated configurations do not cover the compared ones")
    agree = sum(checks)
    return Cell("people", HOLDS if agree == len(checks) else DOES_NOT_HOLD,
                f"the raters order {agree}/{len(checks)} compared pairs as the metric does")


_LABELS = {"fwd": "FWD (no network)", "fid_hm": "histogram-matched FID"}


def histogram_share(a) -> list[tuple[str, float, float]]:
    """Per pairwise comparison ``(pair, FID gap, histogram-matched FID gap)``: how much of a FID
    difference is left once each configuration's samples are resampled to the reference's
    predicted-class histogram (Kynkäänniemi et al. 2023); the rest the histogram explains.
    The same comparisons as the verdict's (``analysis.comparisons``), on ``eval/fid_hm``."""
    prediction = a.result.prediction
    if prediction.metric != "eval/fid" or "eval/fid_hm" not in a.usable:
        return []
    grid = a.spec.parameters.get(prediction.parameter) if a.spec else None
    matched = comparisons(a.usable, replace(prediction, metric="eval/fid_hm"), grid)
    out = []
    for c, m in zip(a.result.comparisons, matched):
        gap, gap_hm = c.details.get("diff", math.nan), m.details.get("diff", math.nan)
        if math.isfinite(gap) and math.isfinite(gap_hm):
            where = f" ({c.context})" if c.context else ""
            out.append((f"{c.first} vs {c.second}{where}", gap, gap_hm))
    return out


def _extractor(a) -> Cell:
    """The verdict recomputed in other feature spaces: the second classifier's FID, the
    extractor-free FWD and the class-histogram-matched FID (``registry.robustness_keys``)."""
    keys = robustness_keys(a.result.prediction.metric)
    if not keys:
        return Cell("extractor", NOT_MEASURED, f"{a.result.prediction.metric} has no other extractor")
    verdicts = {label: _other_metric(a, key) for label, key in keys.items()}
    verdicts = {label: v for label, v in verdicts.items() if v is not None}
    if not verdicts:
        return Cell("extractor", NOT_MEASURED, "the runs logged no other extractor's metric "
                                              "(runs made before the second classifier)")
    agree = [label for label, v in verdicts.items() if v == a.result.verdict]
    contrary = [label for label, v in verdicts.items() if v in DECISIVE and v != a.result.verdict]
    detail = "; ".join(f"{_LABELS.get(label, label + ' FID')}: {v}" for label, v in verdicts.items())
    shares = [f"{pair}: FID gap {fmt(gap, 3)}, matched {fmt(matched, 3)}"
              for pair, gap, matched in histogram_share(a)]
    if shares:
        detail += " — class histogram: " + "; ".join(shares)
    holds = not contrary and len(agree) == len(verdicts)
    return Cell("extractor", HOLDS if holds else DOES_NOT_HOLD, detail)


def extractor_ranks(a) -> pd.DataFrame:
    """Per configuration (``a.by``), its rank (1 = best, by each key's registry direction)
    under every other extractor's view of the question's metric (``registry.robustness_keys``:
    the second classifier, FWD, the histogram-matched FID); empty when none was logged."""
    keys = {label: key for label, key in robustness_keys(a.metric).items() if key in a.usable}
    if not keys or not a.by or a.usable.empty:
        return pd.DataFrame()
    means = a.usable.groupby(a.by, dropna=False)[list(keys.values())].mean().reset_index()
    for label, key in keys.items():
        ascending = known_goal(key) != MAXIMIZE
        means[f"rank {_LABELS.get(label, label + ' FID')}"] = means[key].rank(ascending=ascending, method="min")
    return means.drop(columns=list(keys.values()))


def robustness(a, *, ratings=None) -> list[Cell]:
    """The six cells for one analysed sweep (``a``: a ``SweepAnalysis`` with a result)."""
    if a.result is None:
        return []
    return [_seeds(a), _sample_size(a), _metric(a), _extractor(a), _training_time(a),
            _people(a, ratings)]
