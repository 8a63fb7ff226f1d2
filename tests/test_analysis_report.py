"""The report (every section, md and self-contained html), observations, CLI exit codes,
the W&B Report object built offline, and the exploration notebook executing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis_fixtures, any import mode

from analysis_fixtures import make_study  # noqa: E402

from analysis import load_runs  # noqa: E402
from analysis.__main__ import main  # noqa: E402
from analysis.observations import observations  # noqa: E402
from analysis.report import SECTION_TITLES, build_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SWEEPS = ("gan_scaling", "gan_width", "vae_beta")
RESAMPLES = "500"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def report(study, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(study), "--out", str(out), "--resamples", RESAMPLES]) == 0
    return {"out": out, "md": (out / "report.md").read_text(), "html": (out / "report.html").read_text()}


def _section(md: str, sweep: str) -> str:
    start = md.index(f"## Sweep `{sweep}`")
    end = md.find("\n## Sweep `", start + 1)
    return md[start:] if end < 0 else md[start:end]


def test_header_says_what_was_run(report):
    md = report["md"]
    for text in ("code versions", "28d0b45 (27)", "fashion_mnist", "classifier hashes", "budgets",
                 "quick (27)", "| budget factors (budget_factor) | 1 (27) |", "seeds", "finished: 24, failed: 1, running: 1, set aside: 1",
                 "eval/num_samples", "10000 (25)", "**Verdict rule.**"):
        assert text in md


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_section_in_markdown_and_html(report, sweep):
    section = _section(report["md"], sweep)
    positions = [section.index(f"### {title}") for title in SECTION_TITLES]
    assert positions == sorted(positions)
    assert "**Question.**" in section and "**Expected.**" in section
    assert "mean ± std" in section and "95 % interval" in section and "p (predicted)" in section
    assert re.search(r"!\[[^]]*\]\(figures/\w+_metric\.png\)", section)
    assert "**Verdict: " in section and "**Other observations.**" in section
    assert re.search(r"figures/\w+_samples\.png", section)
    html = report["html"]
    assert f"Sweep <code>{sweep}</code>" in html
    for title in SECTION_TITLES:
        assert f"<h3>{title}</h3>" in html


@pytest.mark.parametrize("sweep, verdict", [("gan_scaling", "supported"), ("vae_beta", "supported"),
                                            ("gan_width", "inconclusive")])
def test_verdicts_in_the_report(report, sweep, verdict):
    assert f"**Verdict: {verdict}.**" in _section(report["md"], sweep)


def test_samples_are_ordered_by_fid(report):
    section = _section(report["md"], "gan_scaling")
    assert "| 1 | scaling=minus_one_one | 20.23 | 0 |" in section
    assert "| 2 | scaling=zero_one | 30.5 | 0 |" in section
    vae = _section(report["md"], "vae_beta")
    assert vae.index("| 1 | beta=0.5 |") < vae.index("| 3 | beta=4.0 |")
    assert "figures/vae_beta_reconstructions.png" in vae


def test_html_is_self_contained(report):
    html = report["html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html)
    assert "<script" not in html and "<link" not in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 15 and all(src.startswith("data:image/png;base64,") for src in images)


def test_figures_are_written_as_png_and_svg(report):
    figures = report["out"] / "figures"
    pngs = sorted(p.stem for p in figures.glob("*.png"))
    assert pngs == sorted(p.stem for p in figures.glob("*.svg"))
    assert {"gan_scaling_metric", "gan_scaling_fid_is", "gan_scaling_precision_recall",
            "gan_scaling_curves", "gan_scaling_samples", "vae_beta_reconstructions"} <= set(pngs)
    assert (figures / "gan_scaling_metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_observations_found_in_the_fixture(study):
    runs = load_runs(study)
    gan = " ".join(observations(runs[runs["sweep"] == "gan_scaling"]))
    assert "FID and IS rank the configurations differently" in gan
    assert "mode dropping in scaling=zero_one: eval/recall 0.10" in gan
    assert "diverged: NonFiniteLossError" in gan
    assert "set aside (not compared): eval/classifier_sha256" in gan
    assert "still running" in gan
    vae = " ".join(observations(runs[runs["sweep"] == "vae_beta"]))
    assert "Posterior collapse in beta=4.0: train/kl < 0.1 nats in 3 of 3 seeds" in vae
    assert observations(runs[runs["sweep"] == "gan_width"]) == []


def test_missing_sweep_file_still_reports(study, tmp_path):
    import shutil

    shutil.copytree(study / "gan_width", tmp_path / "gan_width")
    (tmp_path / "gan_width" / "sweep.yaml").unlink()
    paths = build_report(tmp_path, tmp_path / "out", resamples=200)
    md = paths["md"].read_text()
    assert "No question could be read: no sweep.yaml" in md and "**Verdict: not tested**" in md


# --------------------------------------------------------------------------- CLI

def test_cli_no_runs_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no runs found") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_as_a_module_exits_1_without_traceback(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "analysis", "report", str(tmp_path), "--out",
                           str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "no runs found" in done.stderr and "Traceback" not in done.stderr


def test_cli_publish_offline_exits_2(study, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main(["publish", str(study), "--project", "p"]) == 2
    err = capsys.readouterr().err
    assert "WANDB_MODE=offline" in err and "wandb login" in err and "Traceback" not in err


def test_cli_publish_without_api_key_exits_2(study, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert main(["publish", str(study), "--project", "p", "--entity", "e"]) == 2
    assert "not logged in to W&B" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path)])  # --out missing
    assert exit_info.value.code == 2
    assert main(["report", str(tmp_path), "--out", str(tmp_path), "--resamples", "0"]) == 2


# --------------------------------------------------------------------------- W&B Report

def test_wandb_report_object_is_built_offline(study, monkeypatch):
    import wandb_workspaces.reports.v2 as wr

    from analysis.report.wandb_report import build_wandb_report

    monkeypatch.setenv("WANDB_MODE", "offline")
    report = build_wandb_report(study, project="p", entity="e", resamples=200)
    assert isinstance(report, wr.Report) and (report.project, report.entity) == ("p", "e")
    h2 = [b.text for b in report.blocks if isinstance(b, wr.H2)]
    assert [t for t in h2 if t.startswith("Sweep")] == [f"Sweep `{s}`" for s in SWEEPS]
    text = "\n".join(b.text for b in report.blocks if isinstance(b, wr.MarkdownBlock))
    assert "**Question.**" in text and "**Verdict: supported.**" in text and "| scaling | n |" in text
    panels = [p for b in report.blocks if isinstance(b, wr.PanelGrid) for p in b.panels]
    kinds = {type(p).__name__ for p in panels}
    assert {"BarPlot", "ScatterPlot", "LinePlot", "MediaBrowser"} <= kinds
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert all(g.runsets[0].filters.startswith("ID in [") for g in grids)
    media = [p for p in panels if isinstance(p, wr.MediaBrowser)]
    assert {tuple(p.media_keys) for p in media} == {("images/samples",), ("images/reconstructions",)}
    assert sum(isinstance(b, wr.H3) for b in report.blocks) == len(SECTION_TITLES) * len(SWEEPS)


# --------------------------------------------------------------------------- notebook

def test_notebook_executes_against_the_fixture(study, monkeypatch):
    notebook = REPO / "analysis" / "notebooks" / "explore.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    monkeypatch.setenv("LGM_RUNS_DIR", str(study))
    monkeypatch.setenv("LGM_SWEEP", "gan_scaling")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "27 runs" in text and "Verdict: supported" in text and "Welch t" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_the_report_opens_with_the_answers(report):
    md, html = report["md"], report["html"]
    answers, reading, run = md.index("## Answers"), md.index("## How to read this"), md.index("## What was run")
    assert answers < reading < run < md.index("## Sweep `")
    first = md[answers:reading]
    assert "`gan_scaling` —" in first and "**supported**" in first and "Weight: holds over seeds" in first
    # the rule in full is folded away: <details> in HTML (and in GitHub-flavoured Markdown)
    assert "<details><summary>The verdict rule in full</summary>" in html
    assert html.index("<h2>Answers</h2>") < html.index("<details>")


def test_the_star_marks_what_the_prediction_says_should_win(report):
    section = _section(report["md"], "gan_scaling")
    rows = [line for line in section.splitlines() if line.startswith("| 1") or line.startswith("| 2")]
    starred = [line for line in rows if "★" in line.split("|")[1]]
    # pairwise: minus_one_one predicted better; zero_one carries no mark
    assert len(starred) == 1 and "minus_one_one" in starred[0]
