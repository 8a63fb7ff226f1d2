"""``python -m analysis report SOURCE --out DIR``: report.md and a self-contained report.html.

The report opens with the answers: per question one line, its verdict and the checks it
holds over (its weight); then how to read them (the full verdict rule folded away) and what
was run (code versions, datasets, classifier hashes, budgets, seeds, run counts); then one
section per sweep:

1. the question and the expected result (from the sweep file);
2. what was measured: mean ± std and 95 % interval per configuration, the figure, the tests;
3. the verdict and other observations;
4. sample grids ordered by FID, to judge by eye whether FID's ranking matches the samples;
5. whether it does, measured: blind ratings from ``python -m analysis rate`` (ratings.jsonl
   in the runs folder) against every metric (:mod:`analysis.rating.report`), or, with none
   yet, the command that collects them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from contracts.record import RUNNING, STEP_KEY
from lgm.evaluation.registry import HEADLINE_KEY as RANK_METRIC

from analysis.curves import STILL_IMPROVING, describe_verdicts
from analysis.load import budget_factors, has_status, history_frame
from analysis.numbers import fmt
from analysis.rating.report import ratings_blocks
from analysis.report.blocks import (Bullets, Details, FigureBlock, Heading, Paragraph, Table,
                                    render_html, render_markdown)
from analysis.report.figures import (curve_figure, metric_scatter, metric_vs_parameter,
                                     sample_choices, sample_grid, save_figure, training_curves)
from analysis.report.tables import comparisons_table, measured_table, robustness_table
from analysis.robustness import DOES_NOT_HOLD, HOLDS, NOT_MEASURED
from analysis.stats import RESAMPLES
from analysis.sweep_analysis import SweepAnalysis, analyse_source, run_counts
from analysis.verdict import ALPHA, MIN_SEEDS, NO_DIFFERENCE

__all__ = ["build_report", "report_blocks", "sweep_blocks", "header_blocks", "RULE_TEXT",
           "READING_TEXT", "SECTION_TITLES"]

SECTION_TITLES = ("1. Question and expected result", "2. What was measured",
                  "3. Verdict and other observations", "4. Samples, ordered by FID",
                  "5. Does FID match the eye?")
RULE_TEXT = (
    f"**Verdict rule.** Each prediction is reduced to comparisons of two configurations "
    f"(pairwise: better vs worse within each context of the other varying config keys; "
    f"ordering and equivalence: adjacent pairs; trend: largest vs smallest parameter value "
    f"with Spearman's ρ over all runs). Each configuration's variance is the seeds' variance, "
    f"floored at the evaluation's own resampling variance where the metric logs it (FID: "
    f"eval/fid_se); intervals are t intervals (Welch–Satterthwaite), valid at {MIN_SEEDS} seeds. "
    f"One-sided Welch p-values are Holm-corrected within the question. A comparison is "
    f"**inconclusive** with fewer than {MIN_SEEDS} finished seeds; **supported** when the corrected "
    f"test in the predicted direction is significant at α = {ALPHA}, **contradicted** when the "
    f"opposite one is; with a margin, **{NO_DIFFERENCE}** when neither is and the difference's "
    f"90 % interval lies inside ±margin (two one-sided tests); else inconclusive. Intervals "
    f"never decide. A question is contradicted if any comparison is, supported if all are, "
    f"{NO_DIFFERENCE} if all are, else inconclusive. Measured by simulation "
    f"(tests/test_analysis_calibration.py): with no effect, at most 10 % of questions come "
    f"out supported or contradicted; a 2-seed-SD effect is found with about 57 % power at 3 vs "
    f"3 seeds.")


READING_TEXT = (
    f"Each answer is one of four verdicts: **supported** or **contradicted** (the prediction "
    f"held, or the opposite was found), **{NO_DIFFERENCE}** (the difference lies inside the "
    f"question's margin) or **inconclusive** (the seeds run cannot tell). **Provisional** means "
    f"longer training may change it. The weight says which checks the verdict survives: other "
    f"seeds, sample size (FID∞), other metrics, another feature extractor (a second classifier, "
    f"a distance with no network, the class histogram matched), training time, people's "
    f"ratings — each "
    f"question's section shows the numbers behind every check.")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sweep"


def _unique(runs: pd.DataFrame, column: str) -> str:
    """Distinct values of ``column`` with their run counts, e.g. ``28d0b45 (27)``."""
    if column not in runs:
        return "–"
    values = runs[column].dropna()
    if values.empty:
        return "–"
    counts = values.map(fmt).value_counts().sort_index()
    return ", ".join(f"{v} ({n})" for v, n in counts.items())


PROVISIONAL = "provisional — longer training may change it"


def _verdict_cell(a: SweepAnalysis) -> str:
    """The answer: a settled sweep's sequential verdict (what `study settle` decided), else the
    fixed-design verdict, with *provisional* where longer training may change it."""
    if a.result is None:
        return "not tested"
    settled = a.settled
    if settled is not None:
        state = "settled" if settled.get("settled") else "not settled within the caps"
        return f"**{settled['verdict']}** ({state}: `python -m study settle`)"
    return f"**{a.result.verdict}**" + (f" ({PROVISIONAL})" if a.provisional else "")


def _weight(a: SweepAnalysis) -> str:
    """Which robustness axes the verdict holds over, which not, which were not measured."""
    groups = {}
    for cell in a.robustness:
        groups.setdefault(cell.status, []).append(cell.over)
    parts = [f"{status} over {', '.join(overs)}" if status != NOT_MEASURED else
             f"{status}: {', '.join(overs)}" for status, overs in
             ((s, groups[s]) for s in (HOLDS, DOES_NOT_HOLD, NOT_MEASURED) if s in groups)]
    return "; ".join(parts) or "–"


def _answer(a: SweepAnalysis) -> str:
    """One line per question: the verdict and how much weight it bears."""
    question = a.spec.question if a.spec else "(no readable sweep file)"
    return f"`{a.name}` — {question} {_verdict_cell(a)}. Weight: {_weight(a)}."


def header_blocks(runs: pd.DataFrame, source, analyses: list) -> list:
    """Title; the answers first (per question its verdict and which checks it holds over);
    how to read them (the rule folded away); then what was run (provenance and counts)."""
    counts = run_counts(runs)
    seeds = sorted(runs["seed"].dropna().unique().tolist()) if "seed" in runs else []
    provenance = Table(("what", "values (runs)"), (
        ("code versions", _unique(runs, "code_version")),
        ("datasets", _unique(runs, "dataset")),
        ("classifier hashes (eval/classifier_sha256)", _unique(runs, "eval/classifier_sha256")),
        ("samples per evaluation (eval/num_samples)", _unique(runs, "eval/num_samples")),
        ("budgets", _unique(runs, "budget")),
        # a settled study holds each configuration at every budget factor it passed through;
        # each question's section analyses the settled factor only
        ("budget factors (budget_factor)", _unique(budget_factors(runs).to_frame("f"), "f")),
        ("seeds", ", ".join(fmt(s) for s in seeds) or "–"),
        ("runs", ", ".join(f"{k}: {v}" for k, v in counts.items())),
    ))
    return [Heading(1, "lgm study report"), Paragraph(f"Source: `{source}`."),
            Heading(2, "Answers"), Bullets(tuple(_answer(a) for a in analyses)),
            Heading(2, "How to read this"), Paragraph(READING_TEXT),
            Details("The verdict rule in full", (Paragraph(RULE_TEXT),)),
            Heading(2, "What was run"), provenance]


def _question_blocks(a: SweepAnalysis) -> list:
    blocks = [Heading(3, SECTION_TITLES[0])]
    if a.spec is None:
        return blocks + [Paragraph(f"No question could be read: {a.spec_error}")]
    blocks += [Paragraph(f"**Question.** {a.spec.question}"),
               Paragraph(f"**Expected.** {a.spec.expected}"),
               Paragraph(f"**Prediction tested.** `{a.spec.prediction.describe()}` "
                         f"(kind: {a.spec.prediction.kind})")]
    if a.spec.note:
        blocks.append(Paragraph(f"**Note.** {a.spec.note}"))
    return blocks


def _wandb_ids(runs: pd.DataFrame) -> tuple:
    """The W&B runs holding these runs' results (what a live panel selects)."""
    if "wandb_id" not in runs:
        return ()
    return tuple(str(v) for v in runs["wandb_id"].dropna())


def _figure(fig, directory: Path | None, stem: str, caption: str, panel: dict) -> list:
    """Save ``fig`` (if any) and describe it; ``panel`` is its live W&B equivalent.

    With ``directory`` None nothing is drawn (drawing is most of a report's time): the
    block only records that the figure exists, for the W&B Report's live panels.
    """
    if fig is None:
        return []
    if directory is None:
        return [FigureBlock(png=None, caption=caption, panel=panel)]
    paths = save_figure(fig, directory, stem)
    return [FigureBlock(png=paths["png"], svg=paths["svg"], caption=caption, panel=panel)]


def _history_keys(runs: pd.DataFrame, max_keys: int = 4) -> list:
    keys = set()
    for path in runs.get("history_path", pd.Series(dtype=object)).dropna():
        keys |= {k for k in history_frame(path).columns if k.startswith("train/")}
    return sorted(keys)[:max_keys]


def _measured_blocks(a: SweepAnalysis, figures: Path | None) -> list:
    counts = a.counts
    blocks = [Heading(3, SECTION_TITLES[1]),
              Paragraph(f"{counts['finished']} usable runs (finished, comparable) over "
                        f"{len(a.table)} configuration(s); {counts['failed']} failed, "
                        f"{counts['running']} running, {counts['set aside']} set aside."),
              measured_table(a)]
    stem = _slug(a.name)
    run_ids = _wandb_ids(a.usable)
    prediction = a.result.prediction if a.result else None
    if prediction is not None:
        order = list(prediction.order) or ([prediction.better, prediction.worse]
                                           if prediction.kind == "pairwise" else None)
        series = [c for c in a.by if c != prediction.parameter]
        fig = metric_vs_parameter(a.usable, a.table, metric=a.metric, parameter=prediction.parameter,
                                  series=series, order=order)
        blocks += _figure(fig, figures, f"{stem}_metric", f"{a.metric} vs {prediction.parameter} "
                          f"(mean, 95 % t interval; dots are seeds)",
                          {"kind": "bar", "metric": a.metric, "groupby": prediction.parameter,
                           "runs": run_ids})
    tests = comparisons_table(a)
    blocks += [tests] if tests else [Paragraph("No test was run (no readable prediction or no comparison).")]
    pairs = (("eval/is", "eval/fid", "fid_is"), ("eval/recall", "eval/precision", "precision_recall"))
    for x, y, name in pairs:
        blocks += _figure(metric_scatter(a.usable, x=x, y=y, by=a.by), figures, f"{stem}_{name}",
                          f"{y} vs {x}, all usable runs",
                          {"kind": "scatter", "x": x, "y": y, "runs": run_ids})
    curves = a.runs[~has_status(a.runs, RUNNING)]
    keys = _history_keys(curves)
    blocks += _figure(training_curves(curves, by=a.by, keys=keys or None), figures, f"{stem}_curves",
                      "Training curves from history.jsonl (failed runs dashed)",
                      {"kind": "line", "y": tuple(keys), "runs": _wandb_ids(curves)})
    if a.over_training is not None:
        key = a.over_training.metric
        blocks += _figure(curve_figure(a.over_training.bands, key=key), figures,
                          f"{stem}_over_training",
                          f"{key} over training time and steps (mean over seeds, band: the seeds' range)",
                          {"kind": "line", "x": STEP_KEY, "y": (key,), "runs": run_ids})
    return blocks


def _robustness_blocks(a: SweepAnalysis) -> list:
    table = robustness_table(a.robustness)
    return [Paragraph("**How much weight the verdict bears.**"), table] if table else []


def _verdict_blocks(a: SweepAnalysis) -> list:
    blocks = [Heading(3, SECTION_TITLES[2])]
    if a.result is None:
        blocks.append(Paragraph("**Verdict: not tested** (no readable prediction)."))
    else:
        flag = f" **{PROVISIONAL.capitalize()}:** {a.over_training.reason}." if a.provisional else ""
        blocks.append(Paragraph(f"**Verdict: {a.result.verdict}.**{flag} {a.result.reason}."))
        if a.result.judgements:
            blocks.append(Bullets(tuple(f"{j.verdict}: {j.reason}" for j in a.result.judgements)))
        blocks += _settle_blocks(a) + _over_training_blocks(a) + _robustness_blocks(a)
    blocks += [Paragraph("**Other observations.**"), Bullets(tuple(a.notes))]
    return blocks


def _seeds_text(seeds) -> str:
    seeds = sorted(int(s) for s in seeds or ())
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds)) or "–"


def settle_trajectory(settle: dict) -> str:
    """The settle rounds in one sentence, e.g. ``contradicted at ×1; ×2 (the gap may close):
    supported; ×4: supported, settled``."""
    parts = []
    for entry in (r for r in settle.get("rounds", []) if r.get("status") == "done"):
        where = f"×{entry['budget_factor']}, {len(entry.get('seeds') or ())} seeds"
        why = "" if not entry["round"] else f" ({entry.get('why') or entry.get('added')})"
        verdict = entry.get("verdict") or "no verdict"
        parts.append(f"{where}{why}: {verdict}" + (", **settled**" if entry.get("settled") else ""))
    return "; then ".join(parts)


def _settle_blocks(a: SweepAnalysis) -> list:
    """What ``python -m study settle`` did: the trajectory, and which budget is analysed."""
    if a.settle is None and a.budget is None:
        return []
    if a.settle is None:
        return [Paragraph(f"**Budget analysed:** ×{a.budget['budget_factor']} (the largest among "
                          f"the runs; runs at other budgets are not compared).")]
    rounds = [r for r in a.settle.get("rounds", []) if r.get("status") == "done"]
    rows = tuple((str(r["round"]), f"×{r['budget_factor']}", _seeds_text(r.get("seeds")),
                  str(r.get("added") or "–"), str(r.get("why") or "–"), str(r.get("verdict") or "–"),
                  "yes" if r.get("settled") else "no",
                  fmt(round((r.get("seconds") or 0) / 60, 1))) for r in rounds)
    procedure = next((r["decision"].get("procedure") for r in reversed(rounds)
                      if isinstance(r.get("decision"), dict) and r["decision"].get("procedure")), None)
    text = f"**Settled by `python -m study settle`:** {settle_trajectory(a.settle)}."
    if a.budget is not None and a.budget.get("round") is not None:
        text += (f" The verdict above is about the runs of the last round (×{a.budget['budget_factor']}, "
                 f"seeds {_seeds_text(a.budget['seeds'])}); earlier rounds' runs stay on disk.")
    if procedure:
        text += f" Decided by: {procedure}."
    settled = a.settled
    if settled is not None and a.result is not None and settled["verdict"] != a.result.verdict:
        text += (f" (The fixed-design rule at α = {ALPHA}, one look, would say {a.result.verdict}; "
                 f"the settled verdict spends α over every look the loop took.)")
    return [Paragraph(text), Table(("round", "budget", "seeds", "added", "why", "verdict after it",
                                    "settled", "minutes"), rows)]


def _over_training_blocks(a: SweepAnalysis) -> list:
    """The verdict at every curve point and whether each configuration levelled off."""
    over = a.over_training
    if over is None:
        return [Paragraph("**Over training time:** not measured (the runs logged no training "
                          "curve; `eval_points` > 1 adds one).")]
    samples = _unique(a.usable, "curve/num_samples")
    text = (f"**Over training time** ({over.metric}, {samples} samples at every point): "
            f"{describe_verdicts(over.points)}.")
    blocks = [Paragraph(text)]
    if not over.levels.empty:
        rows = tuple((r.label, f"{r.from_fraction:.0%}", fmt(r.mean_before), fmt(r.mean_last),
                      f"{100 * r.relative_improvement:+.1f} %", "still improving" if r.still_improving
                      else "levelled off") for r in over.levels.itertuples())
        blocks.append(Table(("configuration", "from", f"mean {over.metric} then", "at the end",
                             "improvement", f"(threshold {STILL_IMPROVING:.0%})"), rows))
    return blocks


def _samples_blocks(a: SweepAnalysis, figures: Path | None) -> list:
    blocks = [Heading(3, SECTION_TITLES[3])]
    stem = _slug(a.name)
    for column, what in (("samples_path", "Samples"), ("reconstructions_path", "Reconstructions")):
        choices = sample_choices(a.usable, a.headline_table, by=a.by, image_column=column)
        if choices.empty:
            if column == "samples_path":
                blocks.append(Paragraph("No sample images were found for the usable runs."))
            continue
        blocks.append(Paragraph(f"{what}: one per configuration, best mean FID first (#1). "
                                f"Does the order match what you see?"))
        media = column.split("_")[0]
        blocks += _figure(sample_grid(choices), figures, f"{stem}_{media}",
                          f"{what} ordered by mean FID (rank, configuration, seed)",
                          {"kind": "media", "key": f"images/{media}", "runs": _wandb_ids(a.usable)})
        blocks.append(Table(("rank", "configuration", f"mean {RANK_METRIC}", "seed shown"), tuple(
            (str(i + 1), r.label, fmt(r.score), fmt(r.seed)) for i, r in enumerate(choices.itertuples()))))
    return blocks


def _eye_blocks(a: SweepAnalysis, source, figures: Path | None) -> list:
    return [Heading(3, SECTION_TITLES[4])] + ratings_blocks(a, source=source, figures=figures,
                                                            stem=_slug(a.name))


def sweep_blocks(a: SweepAnalysis, *, figures: Path | None, source="<runs>") -> list:
    """The five sections of one sweep; figures are written into ``figures`` (None: not drawn).
    ``source``: the runs folder named in the command that collects more ratings."""
    return ([Heading(2, f"Sweep `{a.name}`")] + _question_blocks(a) + _measured_blocks(a, figures)
            + _verdict_blocks(a) + _samples_blocks(a, figures) + _eye_blocks(a, source, figures))


def report_blocks(runs: pd.DataFrame, analyses: list, *, source, figures: Path | None) -> list:
    """Header and every sweep's sections; ``figures`` None builds the blocks without drawing."""
    blocks = header_blocks(runs, source, analyses)
    for a in tqdm(analyses, desc="report sweeps", disable=None):
        blocks += sweep_blocks(a, figures=figures, source=source)
    return blocks


def build_report(source, out_dir, *, api=None, cache_dir=None, resamples: int = RESAMPLES,
                 seed: int = 0) -> dict:
    """Analyse ``source`` and write ``report.md``, ``report.html`` and ``figures/`` in ``out_dir``.

    Returns ``{"md": Path, "html": Path, "analyses": [...]}``. Raises
    :class:`analysis.errors.NoRunsError` when the source has no runs.
    """
    out = Path(out_dir)
    runs, analyses = analyse_source(source, api=api, cache_dir=cache_dir, resamples=resamples,
                                    seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(runs, analyses, source=source, figures=out / "figures")
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(blocks, base=out))
    page.write_text(render_html(blocks, title=f"lgm study report: {source}"))
    return {"md": md, "html": page, "analyses": analyses}
