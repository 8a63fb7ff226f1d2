"""One rule turns a sweep's prediction and its runs into a verdict:
supported / contradicted / no measurable difference / inconclusive.

The prediction is reduced to comparisons (``analysis.comparisons``). The one-sided p-values
of all comparisons of one question are Holm-corrected together (separately for the
predicted and for the opposite direction; Holm 1979). Then, with α = 0.05:

**Rule.** A comparison is *inconclusive* when either configuration has fewer than 3
finished seeds (for trend: any grid value). Otherwise it is *supported* when the corrected
test in the predicted direction is significant, *contradicted* when the corrected test in
the opposite direction is, and — when the prediction has a ``margin`` — *no measurable
difference* when neither is and the difference's 90 % interval lies inside ±margin (two
one-sided tests, Schuirmann 1987); else *inconclusive*. Intervals describe, they never
decide: with 3 seeds a percentile bootstrap of the mean is essentially the observed range,
and "two such ranges are disjoint" is a test with a false-positive rate of its own.

For an ``equivalence`` prediction the expectation is *no difference within ±margin*. Two tests
answer it, the corrected two-sided test of a difference and the two one-sided tests of
equivalence, so there are four outcomes (Lakens 2017, "Equivalence tests", Soc. Psychol.
Personal. Sci. 8(4), Fig. 1), each reported by name (:data:`EQUIVALENCE_OUTCOMES`):

- *equivalent and not different* → **supported** (no measurable difference within ±margin);
- *equivalent and different* → **supported**: a difference, smaller than the margin — real
  but of a size the question itself declared unimportant, which is what it predicts;
- *different and not equivalent* → **contradicted**;
- *neither* → **inconclusive** (too little data to tell).

A pairwise, ordering or trend prediction with a margin reports the same four outcomes; there
a significant difference in the predicted direction stays *supported* even when it is
smaller than the margin, and the reason says so.

A question is *contradicted* if any comparison is; *supported* if all are; *no measurable
difference* if all comparisons are (a difference was predicted, none beyond the margin
was found); else *inconclusive* (also when no comparison could be formed).

Calibration (``tests/test_analysis_calibration.py``, simulated null studies shaped like the
sweeps: 2 configurations × 3 seeds, a 6-value trend × 3 seeds, an ordering of 4): when no
effect exists, supported or contradicted come out in at most the nominal 10 % (5 % each
direction); an equivalence verdict is reached in at most 5 % of studies whose true
difference is the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from contracts.sweep import Prediction

from analysis.comparisons import (Comparison, comparisons, config_label, numeric, select_value,
                                  table_columns)
from analysis.inference import ALPHA, MIN_SEEDS
from analysis.numbers import fmt, fmt_interval, fmt_p
from analysis.stats import finite_values, holm, summarize

__all__ = ["ALPHA", "MIN_SEEDS", "VERDICTS", "NO_DIFFERENCE", "EQUIVALENCE_OUTCOMES", "SMALLER_THAN_MARGIN",
           "Comparison", "Judgement",
           "QuestionResult", "judge", "overall_verdict", "evaluate_prediction", "config_label",
           "select_value", "table_columns"]

NO_DIFFERENCE = "no measurable difference"
VERDICTS = ("supported", "contradicted", NO_DIFFERENCE, "inconclusive")
SMALLER_THAN_MARGIN = "a difference, smaller than the margin"
# Lakens (2017)'s four outcomes of a difference test and an equivalence test together
EQUIVALENCE_OUTCOMES = ("different and not equivalent", "equivalent and not different",
                        "equivalent and different", "neither different nor equivalent")


@dataclass(frozen=True)
class Judgement:
    verdict: str
    reason: str
    outcome: str = ""   # one of EQUIVALENCE_OUTCOMES when the comparison has a margin


def _equivalent_at(c: Comparison, alpha: float) -> bool:
    """Two one-sided tests at ``alpha`` (the TOST p-value when the comparison carries it;
    else the flag computed at the default α)."""
    p = c.details.get("p_tost")
    if isinstance(p, float) and math.isfinite(p):
        return p < alpha
    return bool(c.equivalent)


def _outcome(different: bool, is_equivalent: bool) -> str:
    return EQUIVALENCE_OUTCOMES[{(True, False): 0, (False, True): 1, (True, True): 2,
                                 (False, False): 3}[(different, is_equivalent)]]


@dataclass
class QuestionResult:
    """Everything the report needs to say about one prediction."""

    prediction: Prediction
    table: pd.DataFrame                   # per configuration: n, mean, std, interval
    comparisons: list = field(default_factory=list)
    judgements: list = field(default_factory=list)
    verdict: str = "inconclusive"
    reason: str = ""


def _numbers(c: Comparison) -> str:
    text = (f"{c.test} p = {fmt_p(c.p_expected)} ({'margin test' if c.expected_sign == 0 else 'predicted direction'}), "
            f"p = {fmt_p(c.p_opposite)} ({'a difference' if c.expected_sign == 0 else 'opposite'})")
    low, high = c.details.get("diff_ci90", (math.nan, math.nan))
    if c.margin is not None and math.isfinite(low):
        text += f"; 90 % interval of the difference {fmt_interval(low, high)} vs ±{fmt(c.margin, 3)}"
    return text


def judge(c: Comparison, *, alpha: float = ALPHA, min_seeds: int = MIN_SEEDS) -> Judgement:
    """Apply the module's rule to one comparison (``alpha``: each one-sided test's level; a
    sequential procedure passes the level of its look, ``analysis.settle_rule``)."""
    where = f"{c.first} vs {c.second}" + (f" ({c.context})" if c.context else "")
    if c.n_min < min_seeds:
        return Judgement("inconclusive", f"{where}: fewer than {min_seeds} finished seeds for a "
                                         f"compared configuration (n = {c.n_min})")
    numbers = _numbers(c)
    is_equivalent = c.margin is not None and _equivalent_at(c, alpha)
    if c.expected_sign == 0:  # equivalence predicted
        return _judge_equivalence(c, where, numbers, alpha, is_equivalent)
    outcome = _outcome(c.p_expected < alpha or c.p_opposite < alpha, is_equivalent) if c.margin is not None else ""
    if c.p_expected < alpha:
        small = f", {SMALLER_THAN_MARGIN} ±{fmt(c.margin, 3)}" if is_equivalent else ""
        return Judgement("supported", f"{where}: as predicted{small}; {numbers}", outcome)
    if c.p_opposite < alpha:
        small = f", {SMALLER_THAN_MARGIN} ±{fmt(c.margin, 3)}" if is_equivalent else ""
        return Judgement("contradicted", f"{where}: opposite to the prediction{small}; {numbers}", outcome)
    if is_equivalent:
        return Judgement(NO_DIFFERENCE, f"{where}: no difference beyond ±{fmt(c.margin, 3)}; {numbers}", outcome)
    return Judgement("inconclusive", f"{where}: no significant difference; {numbers}{_to_settle(c)}", outcome)


def _judge_equivalence(c: Comparison, where: str, numbers: str, alpha: float,
                       is_equivalent: bool) -> Judgement:
    """The four outcomes of an equivalence prediction (module docstring)."""
    different = c.p_opposite < alpha
    outcome = _outcome(different, is_equivalent)
    if is_equivalent and different:
        return Judgement("supported", f"{where}: {SMALLER_THAN_MARGIN} ±{fmt(c.margin, 3)} "
                                      f"(equivalent and different), as predicted; {numbers}", outcome)
    if is_equivalent:
        return Judgement("supported", f"{where}: {NO_DIFFERENCE} within ±{fmt(c.margin, 3)} "
                                      f"(equivalent and not different), as predicted; {numbers}", outcome)
    if different:
        return Judgement("contradicted", f"{where}: a measurable difference, not shown to be "
                                         f"within ±{fmt(c.margin, 3)} (different and not equivalent); {numbers}", outcome)
    return Judgement("inconclusive", f"{where}: neither a difference nor equivalence shown; {numbers}", outcome)


def _to_settle(c: Comparison) -> str:
    """How many seeds per configuration would likely settle an inconclusive comparison."""
    if "seeds_needed" not in c.details:
        return ""
    n = c.details["seeds_needed"]
    if n is None:
        return "; the observed difference is too close to zero for more seeds to settle it"
    return f"; about {n} seeds per configuration would likely settle it (80 % power at this difference)"


def overall_verdict(judgements: list) -> Judgement:
    """Contradicted if any comparison is, supported if all are, no measurable difference if
    all are, else inconclusive."""
    if not judgements:
        return Judgement("inconclusive", "no comparison could be formed from the finished runs")
    verdicts = [j.verdict for j in judgements]
    count = f"{verdicts.count('supported')}/{len(verdicts)} comparisons supported"
    if "contradicted" in verdicts:
        return Judgement("contradicted", f"{verdicts.count('contradicted')} comparison(s) "
                                         f"contradict the prediction; {count}")
    if all(v == "supported" for v in verdicts):
        return Judgement("supported", count)
    if all(v == NO_DIFFERENCE for v in verdicts):
        return Judgement(NO_DIFFERENCE, f"all {len(verdicts)} comparison(s) within the margin")
    return Judgement("inconclusive", count)


def _corrected(found: list) -> list:
    if len(found) < 2:
        return found
    p_for = holm([c.p_expected if c.expected_sign != 0 else math.nan for c in found])
    p_against = holm([c.p_opposite for c in found])
    test = lambda c: c.test if "Holm" in c.test else c.test.replace(")", ", Holm)")  # noqa: E731
    return [replace(c, p_expected=c.p_expected if c.expected_sign == 0 else float(f),
                    p_opposite=float(a), test=test(c))
            for c, f, a in zip(found, p_for, p_against)]


def _in_predicted_order(table: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """Rows in the prediction's order (better before worse, ``order`` best first); stable."""
    ranked = list(prediction.compared) if prediction.kind != "trend" else []
    if not ranked or table.empty or prediction.parameter not in table:
        return table
    position = {repr(v): i for i, v in enumerate(ranked)}
    others = [c for c in table.columns[:table.columns.get_loc("n")] if c != prediction.parameter]
    context = [repr(tuple(row)) for row in table[others].itertuples(index=False)]
    first_seen = {c: i for i, c in reversed(list(enumerate(context)))}  # keep contexts grouped
    keys = [(first_seen[c], position.get(repr(v), len(ranked)))
            for c, v in zip(context, table[prediction.parameter])]
    order = sorted(range(len(table)), key=lambda i: keys[i])
    return table.iloc[order].reset_index(drop=True)


def evaluate_prediction(runs: pd.DataFrame, prediction: Prediction, *, grid: list | None = None,
                        alpha: float = ALPHA) -> QuestionResult:
    """Test ``prediction`` on the usable runs of one sweep (finished, not set aside).

    ``grid``: the parameter's values in the sweep file, so a trend value with no finished
    run still counts as a configuration with fewer than 3 seeds. ``alpha``: each one-sided
    test's level (a sequential procedure's level at its look). Nothing here resamples:
    every interval is a t interval.
    """
    table = summarize(runs, prediction.metric, by=table_columns(runs, prediction))
    result = QuestionResult(prediction=prediction, table=_in_predicted_order(table, prediction))
    missing = [c for c in (prediction.parameter, prediction.group_by) if c and c not in runs]
    if missing:
        result.reason = f"config key(s) {', '.join(missing)} not found in the runs' configs"
        return result
    if prediction.metric not in runs or finite_values(runs[prediction.metric]).size == 0:
        result.reason = f"metric {prediction.metric!r} was not logged by any usable run"
        return result
    if prediction.kind == "trend" and numeric(runs[prediction.parameter]).isna().any():
        values = sorted(map(str, runs[prediction.parameter].unique()))
        result.reason = (f"a trend needs a numeric parameter; {prediction.parameter} has "
                         f"values {', '.join(values)}")
        return result
    result.comparisons = _corrected(comparisons(runs, prediction, grid))
    result.judgements = [judge(c, alpha=alpha) for c in result.comparisons]
    final = overall_verdict(result.judgements)
    result.verdict, result.reason = final.verdict, final.reason
    return result
