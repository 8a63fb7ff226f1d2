"""The report's tables of numbers: measured (ranked), comparisons (effect sizes, power) and
robustness. Plain ``analysis.report.blocks.Table`` blocks; formatting only, the numbers come from
``analysis.verdict`` / ``analysis.comparisons`` / ``analysis.robustness``."""

from __future__ import annotations

import math

import pandas as pd

from lgm.evaluation.registry import MAXIMIZE, known_goal

from analysis.numbers import fmt, fmt_interval, fmt_p, fmt_pm
from analysis.report.blocks import Table

__all__ = ["measured_table", "comparisons_table", "robustness_table"]


def _dominant(row) -> str:
    """Which source of spread is larger: training seeds or the evaluation's own sampling."""
    std, se = row["std"], row["se_sample"]
    if not (math.isfinite(std) and math.isfinite(se)):
        return "–"
    return "seeds" if std > se else "sampling"


def _ranked(a) -> pd.DataFrame:
    """Configurations best first by the question's metric (its registry direction)."""
    table = a.table.copy()
    ascending = known_goal(a.metric) != MAXIMIZE
    return table.sort_values("mean", ascending=ascending, na_position="last", kind="stable")


def _predicted(a) -> set:
    """The configuration(s) the prediction says should win: a pairwise prediction's
    ``better``, an ordering's first (best) value; none for a trend or an equivalence (which
    predicts no winner)."""
    prediction = a.result.prediction if a.result else None
    if prediction is None or prediction.kind in ("trend", "equivalence"):
        return set()
    if prediction.kind == "pairwise":
        return {repr(prediction.better)}
    return {repr(prediction.compared[0])} if prediction.compared else set()


def measured_table(a) -> Table:
    """Per configuration, ranked by the metric (★: what the prediction says should win):
    mean ± the seeds' std, the evaluation's resampling SE, which spread dominates, the 95 %
    t interval on the effective variance, the seeds."""
    marked = _predicted(a)
    parameter = a.result.prediction.parameter if a.result else None
    ranked = _ranked(a)
    others = [c for c in a.extractor_ranks.columns if c.startswith("rank ")] if len(a.extractor_ranks) else []
    if others:  # the configurations' ranks in the other feature spaces, side by side
        ranked = ranked.merge(a.extractor_ranks, on=a.by, how="left", sort=False)
    rows = []
    for rank, (_, row) in enumerate(ranked.iterrows(), start=1):
        star = " ★" if parameter in row and repr(row[parameter]) in marked else ""
        rows.append((f"{rank}{star}", *(fmt(row[c]) for c in a.by), str(row["n"]),
                     fmt_pm(row["mean"], row["std"]), fmt(row["se_sample"], uncertainty=row["se_sample"]),
                     _dominant(row), fmt_interval(row["ci_low"], row["ci_high"]),
                     ", ".join(fmt(s) for s in row["seeds"]) or "–", *(fmt(row[c]) for c in others)))
    better = "higher" if known_goal(a.metric) == MAXIMIZE else "lower"
    return Table((f"rank ({better} is better; ★ predicted to win)", *a.by, "n", f"{a.metric} mean ± std (seeds)",
                  "resampling SE", "larger spread", "95 % interval (t)", "seeds", *others), tuple(rows))


def _pair_row(c, j) -> tuple:
    d = c.details
    ratio = (d["ratio"], *d["ratio_ci95"]) if "ratio" in d else (math.nan,) * 3
    settle = d.get("seeds_needed") if j.verdict == "inconclusive" else None
    return (f"{c.first} vs {c.second}", c.context or "–",
            fmt_interval(*d["diff_ci95"], estimate=d["diff"]),
            fmt_interval(*ratio[1:], estimate=ratio[0]), fmt(d["hedges_g"], 2),
            fmt_p(c.p_expected), fmt_p(c.p_opposite), fmt(d["mdd"], 2),
            (f"~{settle}" if settle else ("> 1000 (≈ no difference)" if j.verdict == "inconclusive" else "–")),
            j.verdict)


def comparisons_table(a) -> Table | None:
    """Every comparison with its difference and ratio (95 % intervals, valid at small n), the
    standardised effect (Hedges' g on the effective variance), the tests, the smallest
    difference detectable with 80 % power, and, when inconclusive, the seeds that would
    likely settle it."""
    if a.result is None or not a.result.comparisons:
        return None
    rows = []
    for c, j in zip(a.result.comparisons, a.result.judgements):
        if "diff_ci95" in c.details:
            rows.append(_pair_row(c, j))
        else:  # trend
            d = c.details
            rows.append((f"{c.first} vs {c.second} (trend)", c.context or "–", fmt(d.get("diff")), "–",
                         f"ρ = {fmt(d['rho'], 2)}, τ = {fmt(d['tau'], 2)}", fmt_p(c.p_expected),
                         fmt_p(c.p_opposite), "–", "–", j.verdict))
    return Table(("comparison (first predicted better/greater)", "context",
                  "difference first − second [95 %]", "ratio [95 %]", "Hedges' g",
                  "p (predicted)", "p (opposite)", "detectable at 80 % power", "seeds to settle",
                  "verdict"), tuple(rows))


def robustness_table(cells: list) -> Table | None:
    if not cells:
        return None
    return Table(("does the verdict hold over", "", "how it was checked"),
                 tuple((c.over, f"**{c.status}**" if c.status != "not measured" else c.status, c.detail)
                       for c in cells))
