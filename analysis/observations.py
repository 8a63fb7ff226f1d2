"""Other things the data shows, as short sentences for the report's third section.

- FID and IS disagree: per configuration means are ranked by quality (low FID, high IS);
  flagged when the best configuration differs, or when Spearman's ρ between the two
  quality rankings is negative (needs ≥ 3 configurations).
- Posterior collapse: a VAE run whose KL term (``eval/kl`` if logged, else ``train/kl``)
  is below :data:`COLLAPSE_KL` nats: the decoder ignores the latent code (Bowman et al.
  2016). Reported per configuration as "k of n seeds".
- Mode dropping: mean recall (or coverage) below :data:`MODE_DROP_RATIO` × what held-out
  *real* images score against the same reference (``eval/real_recall`` /
  ``eval/real_coverage``, logged by every run): samples that cover less than half of what
  real data covers miss parts of the data (Sajjadi et al. 2018). Calibrated this way because
  with a 93 %-accurate classifier's features even real images do not reach recall 1, and
  the old rule (recall below half the precision) fired for every configuration of every
  quick study. Without the real baseline (runs from older code) nothing is flagged.
- Failed runs (diverged when the reason names a non-finite loss), running runs and runs
  set aside as incomparable.
"""

from __future__ import annotations

import math
import re

import pandas as pd
from scipy import stats

from contracts.record import FAILED, RUNNING

from analysis.load import has_status, is_set_aside, usable_runs
from analysis.numbers import fmt
from analysis.stats import naming_columns
from analysis.comparisons import config_label

__all__ = ["COLLAPSE_KL", "MODE_DROP_RATIO", "observations", "fid_is_disagreement",
           "posterior_collapse", "mode_dropping", "run_status_notes", "config_means"]

COLLAPSE_KL = 0.1
MODE_DROP_RATIO = 0.5
_DIVERGED = re.compile(r"nonfinite|\bnan\b|\binf\b|diverg", re.IGNORECASE)


def config_means(runs: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean of each metric per configuration, with a ``label`` column; rows lacking any metric drop."""
    present = [m for m in metrics if m in runs]
    if len(present) < len(metrics) or runs.empty:
        return pd.DataFrame(columns=["label", *metrics])
    values = runs[present].apply(pd.to_numeric, errors="coerce")
    if by:
        labels = runs[by].apply(lambda row: config_label(row.to_dict()), axis=1)
    else:
        labels = pd.Series("all runs", index=runs.index)
    means = values.groupby(labels).mean().dropna()
    return means.rename_axis("label").reset_index()


def fid_is_disagreement(runs: pd.DataFrame, by: list[str]) -> list[str]:
    means = config_means(runs, by, ["eval/fid", "eval/is"])
    if len(means) < 2:
        return []
    best_fid = means.loc[means["eval/fid"].idxmin()]
    best_is = means.loc[means["eval/is"].idxmax()]
    rho = math.nan
    if len(means) >= 3 and means["eval/fid"].nunique() > 1 and means["eval/is"].nunique() > 1:
        rho = float(stats.spearmanr(-means["eval/fid"], means["eval/is"]).statistic)
    if best_fid["label"] == best_is["label"] and not rho < 0:
        return []
    text = (f"FID and IS rank the configurations differently: best by FID is {best_fid['label']} "
            f"(FID {fmt(best_fid['eval/fid'], 3)}), best by IS is {best_is['label']} "
            f"(IS {fmt(best_is['eval/is'], 3)})")
    if math.isfinite(rho):
        text += f"; Spearman ρ of the two quality rankings = {fmt(rho, 2)} over {len(means)} configurations"
    return [text + "."]


def _kl_column(runs: pd.DataFrame) -> str | None:
    for key in ("eval/kl", "train/kl"):
        if key in runs and pd.to_numeric(runs[key], errors="coerce").notna().any():
            return key
    return None


def posterior_collapse(runs: pd.DataFrame, by: list[str]) -> list[str]:
    vaes = runs[runs["model"] == "vae"] if "model" in runs else runs
    key = _kl_column(vaes)
    if key is None:
        return []
    kl = pd.to_numeric(vaes[key], errors="coerce")
    out = []
    groups = vaes.groupby(by, dropna=False, sort=False) if by else [((), vaes)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        group_kl = kl.loc[group.index].dropna()
        collapsed = int((group_kl < COLLAPSE_KL).sum())
        if collapsed:
            label = config_label(dict(zip(by, values))) or "all runs"
            out.append(f"Posterior collapse in {label}: {key} < {COLLAPSE_KL} nats in {collapsed} "
                       f"of {len(group_kl)} seeds (mean {fmt(float(group_kl.mean()), 3)} nats).")
    return sorted(out)


def mode_dropping(runs: pd.DataFrame, by: list[str]) -> list[str]:
    """Configurations whose mean recall or coverage is below MODE_DROP_RATIO × the real
    baseline's (see the module docstring)."""
    low = {}
    for cover in ("eval/recall", "eval/coverage"):
        real = cover.replace("eval/", "eval/real_")
        means = config_means(runs, by, [cover, real])
        for _, row in means[means[cover] < MODE_DROP_RATIO * means[real]].iterrows():
            low.setdefault(row["label"], []).append(f"{cover} {row[cover]:.2f} (real images: {row[real]:.2f})")
    return [f"Possible mode dropping in {label}: {' and '.join(parts)}, below {MODE_DROP_RATIO:g} × "
            f"what held-out real images score." for label, parts in sorted(low.items())]


def run_status_notes(runs: pd.DataFrame) -> list[str]:
    """Failed (and diverged), running and set-aside runs, one sentence each."""
    out = []
    for _, run in runs[has_status(runs, FAILED)].iterrows():
        # Reasons may span lines (a hint on how to fix it); one sentence per run reads better.
        reason = " ".join(str(run.get("reason") or "no reason recorded").split()).rstrip(".")
        kind = "diverged" if _DIVERGED.search(reason) else "failed"
        out.append(f"Run {run['run_id']} {kind}: {reason}.")
    running = runs[has_status(runs, RUNNING)]["run_id"].tolist()
    if running:
        out.append(f"{len(running)} run(s) still running, not analysed: {', '.join(running)}.")
    aside = runs[is_set_aside(runs)]
    for _, run in aside.iterrows():
        out.append(f"Run {run['run_id']} set aside (not compared): {run['set_aside']}.")
    return out


def observations(runs: pd.DataFrame, *, by: list[str] | None = None) -> list[str]:
    """Every observation for the runs of one sweep (all statuses; usable ones for statistics)."""
    usable = usable_runs(runs)
    if by is None:
        by = naming_columns(usable, [])
    notes = []
    if not usable.empty:
        notes += fid_is_disagreement(usable, by)
        notes += posterior_collapse(usable, by)
        notes += mode_dropping(usable, by)
    return notes + run_status_notes(runs)

