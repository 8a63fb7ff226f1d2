"""``python -m analysis publish SOURCE --project P [--entity E]``: the report as a W&B Report.

The report's blocks (:mod:`analysis.report`) map onto ``wandb_workspaces.reports.v2``:
headings → H1/H2/H3, paragraphs, lists and tables → Markdown blocks, and each figure →
a panel grid over the sweep's runs with the live equivalent (bar chart of the metric
grouped by the parameter, scatter plots, line plots of the training curves, a media
browser of the sample grids the study logs as ``images/samples`` / ``images/reconstructions``). Runs are
selected by their W&B id (the table's ``wandb_id``: ``record.json``'s ``wandb_id``, the
attempt that logged the result, ``<run_id>-<6 hex>`` offline), so the runs must live in the
W&B project (``wandb sync`` offline runs first).

Publishing needs a W&B login; offline (``WANDB_MODE=offline|disabled`` or no API key) it
stops before any work with :class:`NotLoggedInError` (exit code 2 from the CLI).
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from analysis.errors import AnalysisError, NotLoggedInError
from analysis.report.blocks import (Bullets, Details, FigureBlock, Heading, Paragraph, Table,
                                    render_markdown)
from analysis.report.document import report_blocks
from analysis.stats import RESAMPLES
from analysis.sweep_analysis import analyse_source

__all__ = ["wandb_login_problem", "require_login", "wandb_blocks", "build_wandb_report", "publish"]

_OFFLINE_MODES = ("offline", "disabled", "dryrun")


def wandb_login_problem() -> str | None:
    """Why publishing cannot work here, or ``None`` when an API key is configured.

    Checks only whether a key exists (``WANDB_API_KEY`` or a netrc entry for the W&B host);
    it never reads the key's value.
    """
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in _OFFLINE_MODES:
        return f"W&B is offline here (WANDB_MODE={mode})"
    if os.environ.get("WANDB_API_KEY"):
        return None
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        if netrc.netrc(path).authenticators(host) is not None:
            return None
    except (OSError, netrc.NetrcParseError):
        pass
    return f"not logged in to W&B (no WANDB_API_KEY and no netrc entry for {host})"


def require_login() -> None:
    problem = wandb_login_problem()
    if problem is not None:
        raise NotLoggedInError(f"cannot publish a W&B Report: {problem}. Run `wandb login` (and "
                               f"unset WANDB_MODE=offline), or use `python -m analysis report` "
                               f"for a local report.")


def _runset(wr, *, entity: str, project: str, runs: tuple, name: str):
    ids = ", ".join(repr(str(r)) for r in runs)
    return wr.Runset(entity=entity, project=project, name=name, filters=f"ID in [{ids}]")


def _panel(wr, panel: dict, caption: str):
    kind = panel["kind"]
    if kind == "bar":
        # W&B aggregates the selected runs itself (mean ± standard error per value); the
        # report's 95 % t interval per configuration is in the table beside it
        title = (f"{panel['metric']} by {panel['groupby']}: mean ± standard error over the runs "
                 f"(W&B's aggregate; the 95 % t intervals are in the table)")
        return wr.BarPlot(title=title, metrics=[panel["metric"]], groupby=wr.Config(panel["groupby"]),
                          groupby_aggfunc="mean", groupby_rangefunc="stderr")
    if kind == "scatter":
        return wr.ScatterPlot(title=caption, x=panel["x"], y=panel["y"])
    if kind == "line":
        return wr.LinePlot(title=caption, x=panel.get("x", "Step"), y=list(panel["y"]))
    if kind == "media":
        return wr.MediaBrowser(title=caption, media_keys=[panel["key"]])
    raise ValueError(f"unknown panel kind {kind!r}; allowed: bar, scatter, line, media")


def wandb_blocks(blocks: list, *, entity: str, project: str) -> list:
    """Report blocks → ``wandb_workspaces.reports.v2`` blocks (nothing is sent anywhere)."""
    import wandb_workspaces.reports.v2 as wr

    heading = {1: wr.H1, 2: wr.H2, 3: wr.H3}
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(heading[min(block.level, 3)](text=block.text))
        elif isinstance(block, (Paragraph, Bullets, Table)):
            out.append(wr.MarkdownBlock(text=render_markdown([block], base=Path(".")).strip()))
        elif isinstance(block, Details):  # a W&B Report folds nothing: the summary in bold, then the text
            inner = render_markdown(list(block.blocks), base=Path(".")).strip()
            out.append(wr.MarkdownBlock(text=f"**{block.summary}**\n\n{inner}"))
        elif isinstance(block, FigureBlock):
            if block.panel is None or (block.panel["kind"] == "line" and not block.panel["y"]):
                continue
            runset = _runset(wr, entity=entity, project=project, runs=block.panel["runs"],
                             name=block.caption[:60])
            out.append(wr.PanelGrid(runsets=[runset], panels=[_panel(wr, block.panel, block.caption)]))
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")
    return out


def build_wandb_report(source, *, project: str, entity: str, api=None, cache_dir=None,
                       resamples: int = RESAMPLES, seed: int = 0, title: str | None = None):
    """Analyse ``source`` and build (not save) the W&B Report object."""
    import wandb_workspaces.reports.v2 as wr

    runs, analyses = analyse_source(source, api=api, cache_dir=cache_dir, resamples=resamples,
                                    seed=seed)
    # figures=None: nothing is drawn; the W&B Report shows live panels instead.
    blocks = report_blocks(runs, analyses, source=source, figures=None)
    blocks = blocks[1:] if blocks and isinstance(blocks[0], Heading) else blocks  # title is the H1
    return wr.Report(project=project, entity=entity, title=title or "lgm study report",
                     description=f"Generated by `python -m analysis publish` from {source}.",
                     blocks=wandb_blocks(blocks, entity=entity, project=project))


def publish(source, *, project: str, entity: str | None = None, cache_dir=None,
            resamples: int = RESAMPLES, seed: int = 0) -> str:
    """Build and save the W&B Report; returns its URL. Requires a W&B login."""
    require_login()
    import wandb

    try:
        api = wandb.Api()
        entity = entity or api.default_entity
        report = build_wandb_report(source, project=project, entity=entity, api=api,
                                    cache_dir=cache_dir, resamples=resamples, seed=seed)
        report.save()
        return report.url
    except (wandb.errors.Error, OSError) as err:
        raise AnalysisError(f"publishing to W&B project {entity}/{project} failed: "
                            f"{type(err).__name__}: {err}") from None
