"""The report's section 5 per question: does FID match what people see?

Rendered from the numbers the sweep analysis computed once
(``SweepAnalysis.ratings``, :func:`analysis.rating.analysis.rate_sweep`); with no ratings
yet it gives the command that collects them. Nothing here computes a statistic.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lgm.evaluation.registry import HEADLINE_KEY, MINIMIZE

from analysis.rating.analysis import SweepRatings
from analysis.rating.statistics import ALPHA_ONE_SIDED, POWER, PRIOR, TIE_SCORE, judgments_needed
from analysis.numbers import fmt
from analysis.report.blocks import FigureBlock, Paragraph, Table

__all__ = ["ratings_blocks", "METHOD_TEXT", "MAX_DISAGREEMENTS"]

MAX_DISAGREEMENTS = 3
METHOD_TEXT = (
    f"**How these are computed.** Pairs: Bradley–Terry scores (log-strengths, mean 0; the "
    f"difference of two is the log-odds that raters prefer the first), fitted by maximum "
    f"likelihood; \"can't tell\" counts as half a win for each side; each configuration also "
    f"plays {fmt(PRIOR)} virtual game half won and half lost against a fixed reference, so a "
    f"configuration never chosen gets a low but finite score. Intervals: 95 % percentile "
    f"bootstrap over resampled judgments (seeded). Real or generated: fooling rate = share of "
    f"a configuration's generated images rated real, with a 95 % Wilson interval. τ: Kendall's "
    f"τ-b over configurations between the raters' scores and each metric's mean over seeds "
    f"(oriented so that +1 means full agreement), interval from the same bootstrap (a pair "
    f"judged the same way every time has a zero-width interval: read it with the counts); "
    f"\"picks the raters' choice\": on decided judgments (not \"can't tell\"), the metric of "
    f"the two runs shown prefers the one the rater chose. Judgments needed: one-sided binomial "
    f"test of no preference at α = {ALPHA_ONE_SIDED} (a two-sided 5 % test) with "
    f"{100 * POWER:.0f} % power, normal approximation "
    f"n = ((z₁₋α·½ + z_power·√(pq)) / (p − ½))², p the preference the fitted scores imply.")


def _pct(x) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f} %"


def _count(n: int, word: str) -> str:
    """``1 pair``, ``3 pairs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _tau_text(tau, low, high) -> str:
    return "–" if not math.isfinite(tau) else f"{fmt(tau, 3)} {_interval(low, high)}"


def _interval(low, high, *, pct: bool = False) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{_pct(low)}, {_pct(high)}]" if pct else f"[{fmt(low, 3)}, {fmt(high, 3)}]"


def _command(source, name: str) -> str:
    runs = str(source) if Path(str(source)).is_dir() else "<runs folder>"
    return f"python -m analysis rate {runs} --sweep {name}"


def _counts_text(r: SweepRatings) -> str:
    ties = int((r.pairs["score"] == TIE_SCORE).sum())
    configs = len(set(r.pairs["left_label"]) | set(r.pairs["right_label"]))
    pairs_seen = len({frozenset(p) for p in zip(r.pairs["left_label"], r.pairs["right_label"])})
    generated = int((r.real_or_fake["truth"] != "real").sum())
    pairs = (f"**{_count(len(r.pairs), 'pair judgment')}** ({ties} \"can't tell\") over "
             f"{_count(pairs_seen, 'configuration pair')} of {_count(configs, 'configuration')}"
             if len(r.pairs) else "no pair judgments yet")
    answers = (f"**{_count(len(r.real_or_fake), 'real-or-fake answer')}** ({generated} generated, "
               f"{len(r.real_or_fake) - generated} real images)" if len(r.real_or_fake)
               else "no real-or-fake answers yet")
    text = f"{pairs[0].upper()}{pairs[1:]}, and {answers}, by {_count(len(r.raters), 'rater')}."
    if r.left_out:
        text += (f" Left out: {_count(r.left_out, 'rating')} of this question naming runs that "
                 f"are not usable here (set aside, unfinished or deleted).")
    return text


def _scores_table(r: SweepRatings, fid: dict) -> Table:
    rows = tuple((row.label, str(row.judgments), fmt(row.wins, 3), fmt(row.theta, 3),
                  _interval(row.low, row.high), fmt(fid.get(row.label), 4))
                 for row in r.scores.itertuples())
    return Table(("configuration (raters' order)", "judgments", "wins (ties ½)", "Bradley–Terry score",
                  "95 % interval", f"mean {HEADLINE_KEY}"), rows)


def _fooling_table(r: SweepRatings) -> Table:
    rows = [(row.label, str(row.n), str(row.real), _pct(row.rate), _interval(row.low, row.high, pct=True))
            for row in r.fooling.itertuples()]
    ref = r.reference
    rows.append(("real test images (reference)", str(ref["n"]), str(ref["real"]), _pct(ref["rate"]),
                 _interval(ref["low"], ref["high"], pct=True)))
    return Table(("configuration", "images rated", "rated real", "fooling rate", "95 % interval"),
                 tuple(rows))


def _agreement_table(r: SweepRatings) -> Table:
    rows = []
    for row in r.agreement.itertuples():
        share = f"{_pct(row.share)} of {row.decided}" if row.decided else "–"
        rows.append((row.metric, "lower" if row.goal == MINIMIZE else "higher",
                     _tau_text(row.tau, row.tau_low, row.tau_high), share,
                     _interval(row.share_low, row.share_high, pct=True),
                     _tau_text(row.tau_fooling, row.tau_fooling_low, row.tau_fooling_high)))
    return Table(("metric", "better", "τ with raters' scores [95 %]", "picks the raters' choice",
                  "95 % interval", "τ with fooling rates [95 %]"), tuple(rows))


def _names(metrics) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    metrics = list(metrics)
    return metrics[0] if len(metrics) == 1 else ", ".join(metrics[:-1]) + " and " + metrics[-1]


def _best_by_fooling(agreement: pd.DataFrame) -> str:
    """Without decided pair judgments: the metric whose τ with the fooling rates is highest."""
    taus = agreement.dropna(subset=["tau_fooling"])
    if not len(taus):
        return "No metric could be compared with the ratings yet (too few configurations rated)."
    best = taus.sort_values("tau_fooling", ascending=False, kind="stable").iloc[0]
    interval = _interval(best.tau_fooling_low, best.tau_fooling_high)
    return (f"**{best.metric} agrees best with the raters** here: τ = {fmt(best.tau_fooling, 3)} "
            f"with the fooling rates (95 % interval {interval}).")


def _best_by_pairs(decided: pd.DataFrame) -> str:
    """The metric(s) picking the raters' choice most often (then: highest τ), said plainly."""
    ranked = decided.sort_values(["share", "tau"], ascending=False, kind="stable")
    best = ranked.iloc[0]
    same = ((ranked["agree"] == best.agree) & (ranked["decided"] == best.decided)
            & np.isclose(ranked["tau"], best.tau, equal_nan=True))
    tied, rest = ranked[same], ranked[~same]
    several = len(tied) > 1
    text = (f"**{_names(tied['metric'])} {'agree' if several else 'agrees'} best with the raters**"
            f"{', equally' if several else ''}: on {best.agree} of {best.decided} decided judgments "
            f"({_pct(best.share)}, 95 % interval {_interval(best.share_low, best.share_high, pct=True)}) "
            f"{'each' if several else 'it'} prefers the grid the raters chose; τ with their scores "
            f"{fmt(best.tau, 3)}.")
    headline = decided[decided["metric"] == HEADLINE_KEY]
    if HEADLINE_KEY not in set(tied["metric"]) and len(headline):
        text += f" {HEADLINE_KEY}: {_pct(headline.iloc[0].share)}."
    if len(rest) and rest.iloc[0].share >= best.share_low:
        text += (f" The next best, {rest.iloc[0].metric} ({_pct(rest.iloc[0].share)}), lies inside "
                 f"that interval, so these ratings do not single out one metric.")
    if best.share_low <= 0.5:
        text += " That interval includes 50 % (chance), so even this agreement is not established."
    return text


def _best_text(r: SweepRatings) -> str:
    if not len(r.agreement):
        return "No metric could be compared with the ratings yet (too few configurations rated)."
    decided = r.agreement[r.agreement["decided"] > 0]
    return _best_by_pairs(decided) if len(decided) else _best_by_fooling(r.agreement)


def _disagreement_blocks(r: SweepRatings, a, figures: Path | None, stem: str) -> list:
    if not len(r.disagreements):
        return [Paragraph(f"**Where {HEADLINE_KEY} and the raters disagree.** Nowhere yet: on every "
                          f"rated configuration pair the raters' majority prefers the configuration "
                          f"with the better {HEADLINE_KEY} (or is split evenly).")]
    blocks = [Paragraph(f"**Where {HEADLINE_KEY} and the raters disagree most** (left: better "
                        f"{HEADLINE_KEY}; right: preferred by the raters' majority).")]
    paths = dict(zip(a.usable["run_id"].astype(str), a.usable["samples_array_path"]))
    for i, row in enumerate(r.disagreements.head(MAX_DISAGREEMENTS).itertuples()):
        caption = (f"{row.fid_better} ({HEADLINE_KEY} {fmt(row.fid_better_value)}) vs {row.fid_worse} "
                   f"({HEADLINE_KEY} {fmt(row.fid_worse_value)}): the raters chose the second in "
                   f"{row.for_worse} of {row.decided} decided judgments")
        blocks.append(Paragraph(f"{i + 1}. {caption}."))
        if figures is None or paths.get(row.run_better) is None or paths.get(row.run_worse) is None:
            blocks.append(FigureBlock(png=None, caption=caption))
            continue
        titles = (f"better {HEADLINE_KEY}: {row.fid_better} ({fmt(row.fid_better_value)})",
                  f"raters' choice: {row.fid_worse} ({HEADLINE_KEY} {fmt(row.fid_worse_value)})")
        blocks.append(_pair_figure(paths[row.run_better], paths[row.run_worse], caption, titles,
                                   figures, f"{stem}_disagreement_{i + 1}"))
    return blocks


def _pair_figure(left: str, right: str, caption: str, titles: tuple, figures: Path,
                 stem: str) -> FigureBlock:
    """Both runs' grids side by side, in the layout the rating page used."""
    from analysis.report.figures import grid_pair, save_figure
    from analysis.rating.images import load_samples, pair_arrays

    a, b, columns = pair_arrays(load_samples(left), load_samples(right), np.random.default_rng(0))
    from lgm.images import uint8_grid  # here: lgm.images imports torch

    paths = save_figure(grid_pair((uint8_grid(a, columns), uint8_grid(b, columns)), titles), figures, stem)
    return FigureBlock(png=paths["png"], svg=paths["svg"], caption=caption)


def _needed_blocks(r: SweepRatings) -> list:
    k = len(r.scores)
    per_pair = int(judgments_needed(0.6))
    text = (f"**How many more judgments.** A 60:40 preference needs about {per_pair} judgments of a "
            f"pair to be told from no preference; all {k * (k - 1) // 2} pair(s) of these {k} "
            f"configuration(s) would need about {per_pair * k * (k - 1) // 2}. For each neighbour in "
            f"the raters' ranking, at the preference the scores imply:")
    rows = tuple((f"{row.upper} over {row.lower}", str(row.have), _pct(row.preference),
                  fmt(row.needed) if math.isfinite(row.needed) else "no preference seen",
                  fmt(row.more) if math.isfinite(row.more) else "–") for row in r.needed.itertuples())
    table = Table(("neighbours (raters' order)", "judgments so far", "implied preference",
                   "judgments needed", "still needed"), rows)
    return [Paragraph(text), table] if rows else [Paragraph(text)]


def ratings_blocks(a, *, source, figures: Path | None, stem: str) -> list:
    """The section's blocks (without its heading) for the sweep analysed in ``a``."""
    command = _command(source, a.name)
    r = a.ratings
    if r is None:
        return [Paragraph(f"No blind ratings of this question yet. Collect them in a browser with "
                          f"`{command}` (which of two grids looks better, sides random, models "
                          f"hidden) or `{command} --mode real-or-fake` (is this image real?); the "
                          f"answers go to ratings.jsonl in the runs folder and the next report "
                          f"fills this section.")]
    blocks = [Paragraph(_counts_text(r))]
    if len(r.scores):
        blocks += [Paragraph("**Raters' scores (pairs).**"), _scores_table(r, r.means[HEADLINE_KEY])]
    if len(r.real_or_fake):
        blocks += [Paragraph("**How often samples pass for real (real or generated).**"), _fooling_table(r)]
    if len(r.agreement):
        blocks += [Paragraph("**Agreement with the metrics** (directions from the metric registry)."),
                   _agreement_table(r), Paragraph(_best_text(r))]
    if len(r.pairs):
        blocks += _disagreement_blocks(r, a, figures, stem) + _needed_blocks(r)
    return blocks + [Paragraph(METHOD_TEXT), Paragraph(f"More ratings: `{command}`.")]
