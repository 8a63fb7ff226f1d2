"""What the settle loop does next with one question: stop, train longer, or add seeds.

The loop (``python -m study settle``) looks at a question again after every round. Looking
again and stopping when the answer is decisive is optional stopping: with no real effect it
finds one more often than a fixed design. So the verdict at look ``k`` of at most ``K`` is the
verdict rule (``analysis.verdict``) with each one-sided test at

    α_k = α / K        (α = 0.05, :data:`analysis.inference.ALPHA`)

**Procedure: Bonferroni alpha spending over a bounded number of looks** (a Pocock-like
constant per-look level; Pocock 1977 for constant levels, Lan & DeMets 1983 for spending).
By the union bound, the chance that *any* look of the loop finds a difference in a given
direction when none exists is at most Σ_k α/K = α, whatever the looks' dependence — and the
looks here are far from the independent increments classical group-sequential boundaries
assume (an extended run re-measures the same seeds at a larger budget; added seeds join the
old ones). It holds for every stopping rule, so the forecast and the seed estimates below may
steer the loop freely. Measured by simulating the whole loop (``benchmarks/settle_null.py``,
``tests/test_settle_rule.py``): with equal configurations whose curves improve with budget but
never separate, at most 10 % of questions end supported or contradicted (both directions).
The price is power at the first look; the same benchmark reports it for this study's effects.
The equivalence tests (TOST) use the same α_k, so a false "no measurable difference" is
bounded the same way.

**Decision** (:func:`settle_decision`), from the verdict at α_k and the curves' forecast
(``analysis.forecast``):

- *settled*: decisive (supported, contradicted, no measurable difference) and not provisional
  (the forecast excludes a change of the verdict within 4× the trained time);
- *extend*: the forecast says the verdict may still change within that horizon (decisive), or
  expects a decision (inconclusive): train the compared configurations longer;
- *add_seeds*: for an inconclusive verdict, the seeds per compared configuration that would
  likely settle it at α_k (80 % power at the observed difference; for an equivalence, the seeds
  that would fit the 90 % interval inside the margin), less those it has.

Without a forecast (fewer than 4 curve points) the levelling rule of ``analysis.curves`` says
whether the verdict is provisional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.inference import ALPHA, MIN_SEEDS, seeds_to_settle
from analysis.verdict import NO_DIFFERENCE, evaluate_prediction

__all__ = ["SettleDecision", "settle_decision", "look_alpha", "procedure_text", "DECISIVE"]

DECISIVE = ("supported", "contradicted", NO_DIFFERENCE)


@dataclass(frozen=True)
class SettleDecision:
    sweep: str
    settled: bool            # decisive (supported/contradicted/no measurable difference) and not provisional
    verdict: str             # the current verdict
    extend: bool             # the forecast says the verdict may still change within the horizon: train longer
    add_seeds: int           # seeds to add per compared configuration (0: none); from seeds-to-settle when inconclusive
    reason: str              # one line for the plan: why this action
    procedure: str           # which sequential procedure decided (for the report)


def look_alpha(look: int, max_looks: int) -> float:
    """The level of each one-sided test at look ``look`` of ``max_looks``: α / max_looks."""
    _check_looks(look, max_looks)
    return ALPHA / max_looks


def procedure_text(look: int, max_looks: int) -> str:
    """What decided, for the report: the procedure and this look's level."""
    return (f"Bonferroni alpha spending over at most {max_looks} looks (look {look}): each "
            f"one-sided test at α = {ALPHA:g}/{max_looks} = {look_alpha(look, max_looks):.4g}, "
            f"so all looks together keep each direction's error at most {ALPHA:g}")


def _check_looks(look, max_looks) -> None:
    if not (isinstance(max_looks, int) and max_looks >= 1):
        raise ValueError(f"max_looks must be a positive integer, got {max_looks!r}")
    if not (isinstance(look, int) and 1 <= look <= max_looks):
        raise ValueError(f"look must be an integer from 1 to max_looks = {max_looks}, got {look!r}")


def _variance(c, side: str) -> float:
    std, se = c.details.get(f"std_{side}", math.nan), c.details.get(f"se_sample_{side}", math.nan)
    values = [v for v in (std, se) if isinstance(v, float) and math.isfinite(v)]
    if not values:
        return math.nan
    return max(v ** 2 for v in values)  # = effective_variance: max(s², mean se²)


def _seeds_needed(c, alpha: float) -> int | None:
    """Seeds per configuration that would likely settle comparison ``c`` at ``alpha``."""
    if c.n_min < MIN_SEEDS:
        return MIN_SEEDS
    diff = c.details.get("diff", math.nan)
    va, vb = _variance(c, "first"), _variance(c, "second")
    if c.expected_sign == 0 and c.margin is not None and math.isfinite(diff):
        room = c.margin - abs(diff)  # what the interval's half-width must fit into
        return seeds_to_settle(room, va, vb, alpha=alpha) if room > 0 else None
    return seeds_to_settle(diff, va, vb, alpha=alpha)


def _add_seeds(result, alpha: float) -> tuple[int, str]:
    """(seeds to add per compared configuration, why) for an inconclusive verdict."""
    open_ = [(c, j) for c, j in zip(result.comparisons, result.judgements) if j.verdict == "inconclusive"]
    if not open_:
        return 0, "no comparison is open"
    needs = [(_seeds_needed(c, alpha), c) for c, _ in open_]
    if any(c.test.startswith("Spearman") and c.n_min >= MIN_SEEDS for _, c in needs):
        return 0, "a trend has no seeds-to-settle estimate"
    if any(n is None for n, _ in needs):
        return 0, "the observed difference is too close to zero (or to the margin) for more seeds to settle it"
    add = max(max(0, n - c.n_min) for n, c in needs)
    return add, f"about {max(n for n, _ in needs)} seeds per configuration would likely settle it at α = {alpha:.4g}"


def _may_change(over, verdict: str, judgements: list) -> tuple[bool, str]:
    """(whether training may still change the verdict, why) from the curves' forecast, or
    without one from the levelling rule of ``analysis.curves``."""
    forecast = over.forecast if over is not None else None
    if forecast is None:
        may_change = bool(over is not None and over.provisional and verdict in DECISIVE)
        return may_change, ("no forecast (fewer than 4 curve points): "
                            + ("still improving" if may_change else "no sign that training changes it"))
    may_change = any(forecast.changes([j.verdict for j in judgements]))
    if verdict not in DECISIVE:
        return may_change, ("the forecast expects a decision with training" if may_change
                            else "the forecast does not expect training to decide it")
    return may_change, (f"the forecast {'cannot exclude' if may_change else 'excludes'} a change "
                        f"within {forecast.horizon:g}× the trained time")


def settle_decision(analysis, *, look: int, max_looks: int) -> SettleDecision:
    """The settle loop's next step for one analysed sweep (``analysis.sweep_analysis.SweepAnalysis``)
    at look ``look`` (1-based) of at most ``max_looks`` (module docstring)."""
    _check_looks(look, max_looks)
    alpha, procedure = look_alpha(look, max_looks), procedure_text(look, max_looks)
    prediction = analysis.spec.prediction if analysis.spec is not None else None
    if prediction is None:
        why = analysis.spec_error or "no sweep spec"
        return SettleDecision(analysis.name, False, "inconclusive", False, 0,
                              f"no readable prediction ({why}): nothing to settle", procedure)
    grid = analysis.spec.parameters.get(prediction.parameter)
    result = evaluate_prediction(analysis.usable, prediction, grid=grid, alpha=alpha)
    verdict = result.verdict
    may_change, why = _may_change(analysis.over_training, verdict, result.judgements)
    if verdict in DECISIVE:
        reason = f"{verdict} at α = {alpha:.4g}; {why}" + (": train longer" if may_change else "")
        return SettleDecision(analysis.name, not may_change, verdict, may_change, 0, reason, procedure)
    add, seeds_why = _add_seeds(result, alpha)
    extend = bool(analysis.over_training is not None and analysis.over_training.forecast is not None
                  and may_change)
    action = [a for a, on in (("train longer", extend), (f"add {add} seed(s) per configuration", add > 0)) if on]
    reason = (f"inconclusive at α = {alpha:.4g}; {seeds_why}; {why}"
              + (": " + " and ".join(action) if action else ": nothing the loop can add settles it"))
    return SettleDecision(analysis.name, False, verdict, extend, add, reason, procedure)
