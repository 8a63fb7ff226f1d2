"""Section 5 of the report from ratings with known answers: hand-made raters judge the images
the server really serves (the fixtures' samples are darker for a lower FID)."""

import io
import json
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis_fixtures, any import mode

from analysis_fixtures import make_study  # noqa: E402

from analysis.rating.analysis import RATING_METRICS, rate_sweep  # noqa: E402
from analysis.rating.session import RatingSession  # noqa: E402
from analysis.rating.store import RATINGS_FILE, append_rating  # noqa: E402
from analysis.report import SECTION_TITLES, build_report  # noqa: E402
from analysis.sweep_analysis import analyse_source  # noqa: E402

DARK_TEST_IMAGES = np.full((40, 1, 28, 28), 40, dtype=np.uint8)  # "real" images, darker than all samples


def _brightness(session, url: str) -> float:
    """Mean grey level in [0, 1] inside the white 2-pixel border (16 pixels once upscaled)."""
    return float(mpimg.imread(io.BytesIO(session.image(url[5:-4])))[16:-16, 16:-16, :3].mean())


def rate_pairs(session, n: int, *, prefer_dark: bool, rater: str = "hand") -> None:
    """A rater who always picks the darker grid (or the brighter one)."""
    for _ in range(n):
        trial = session.next_trial()
        left, right = (_brightness(session, url) for url in trial["images"])
        darker = "left" if left < right else "right"
        choice = darker if prefer_dark else ("right" if darker == "left" else "left")
        session.answer({"trial": trial["trial"], "choice": choice, "response_ms": 1000, "rater": rater})


def rate_real_or_fake(session, n: int, *, threshold: float) -> None:
    """A rater who calls every image darker than ``threshold`` real."""
    for _ in range(n):
        trial = session.next_trial()
        choice = "real" if _brightness(session, trial["images"][0]) < threshold else "generated"
        session.answer({"trial": trial["trial"], "choice": choice, "response_ms": 700, "rater": "eye"})


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    root = make_study(tmp_path_factory.mktemp("runs"))
    # gan_scaling: FID 20 vs 30 (brightness 51 vs 77 of 255); IS disagrees with FID there.
    rate_pairs(RatingSession(root, sweep="gan_scaling", seed=0), 12, prefer_dark=False)
    rate_real_or_fake(RatingSession(root, mode="real-or-fake", sweep="gan_scaling", seed=0,
                                    real_images=lambda dataset: DARK_TEST_IMAGES), 20, threshold=0.25)
    # vae_beta: FID 40 < 45 < 60 by beta; a rater who prefers the darker grid agrees with FID.
    rate_pairs(RatingSession(root, sweep="vae_beta", seed=1), 9, prefer_dark=True)
    append_rating(root / RATINGS_FILE, {"mode": "pairs", "sweep": "vae_beta", "left": "gone-1",
                                        "right": "gone-2", "choice": "left", "time": "2026-01-01T00:00:00Z",
                                        "response_ms": 5, "rater": "old", "session": "x"})
    out = tmp_path_factory.mktemp("report")
    build_report(root, out, resamples=300)
    return {"root": root, "out": out, "md": (out / "report.md").read_text()}


def _section(md: str, sweep: str) -> str:
    start = md.index(f"## Sweep `{sweep}`")
    end = md.find("\n## Sweep `", start + 1)
    section = md[start:] if end < 0 else md[start:end]
    return section[section.index(f"### {SECTION_TITLES[4]}"):]


def test_without_ratings_the_section_gives_the_command(rated):
    section = _section(rated["md"], "gan_width")
    assert f"`python -m analysis rate {rated['root']} --sweep gan_width`" in section
    assert "No blind ratings of this question yet" in section


def test_raters_who_agree_with_fid(rated):
    section = _section(rated["md"], "vae_beta")
    assert "**9 pair judgments** (0 \"can't tell\") over 3 configuration pairs of 3 configurations" in section
    assert "Left out: 1 rating of this question naming runs that are not usable here" in section
    order = [section.index(f"| beta={b} |") for b in ("0.5", "1.0", "4.0")]
    assert order == sorted(order)                     # the raters' order is FID's order
    assert "| eval/fid | lower | 1 [" in section      # τ = 1
    # FID, KID (= FID/1000 here) and FID of reconstructions (= FID/3) order the configurations alike.
    assert ("**eval/fid, eval/kid and eval/fid_recon agree best with the raters**, equally: on 9 of 9 "
            "decided judgments") in section
    assert "Nowhere yet" in section


def test_raters_who_contradict_fid(rated):
    section = _section(rated["md"], "gan_scaling")
    assert section.index("| scaling=zero_one |") < section.index("| scaling=minus_one_one |")
    assert "| eval/fid | lower | -1 [" in section and "| eval/is | higher | 1 [" in section
    assert "**eval/is agrees best with the raters**: on 12 of 12 decided judgments (100 %" in section
    assert "eval/fid: 0 %." in section
    assert "the raters chose the second in 12 of 12 decided judgments" in section
    assert (rated["out"] / "figures" / "gan_scaling_disagreement_1.png").is_file()
    assert "figures/gan_scaling_disagreement_1.png" in section


def test_fooling_rates(rated):
    section = _section(rated["md"], "gan_scaling")
    lines = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    # Darker than 25 % grey passes for real: the dark real images and minus_one_one's samples.
    assert "| 100 % |" in lines["scaling=minus_one_one"] and "| 0 % |" in lines["scaling=zero_one"]
    assert "| 100 % |" in lines["real test images (reference)"]
    assert "**20 real-or-fake answers** (10 generated, 10 real images), by 2 raters." in section


def test_rate_sweep_numbers(rated):
    _, analyses = analyse_source(rated["root"], resamples=200)
    vae = next(a for a in analyses if a.name == "vae_beta")
    entries = [json.loads(line) for line in (rated["root"] / RATINGS_FILE).read_text().splitlines()]
    r = rate_sweep(vae, entries, resamples=200)
    assert list(r.scores["label"]) == ["beta=0.5", "beta=1.0", "beta=4.0"]
    assert r.scores["theta"].sum() == pytest.approx(0.0, abs=1e-9)
    assert (r.scores["low"] <= r.scores["theta"]).all() and (r.scores["theta"] <= r.scores["high"]).all()
    fid = r.agreement.set_index("metric").loc["eval/fid"]
    assert fid["tau"] == pytest.approx(1.0) and (fid["agree"], fid["decided"]) == (9, 9)
    metrics = set(r.agreement["metric"])
    assert metrics <= set(RATING_METRICS) and "eval/fid_recon" in metrics
    assert r.left_out == 1 and list(r.needed["have"]) == [3, 3]
    assert (r.needed["preference"] > 0.5).all() and (r.needed["needed"] >= 1).all()


def test_ratings_are_computed_once_in_the_sweep_analysis(rated):
    """The report renders ``SweepAnalysis.ratings``: the same numbers rate_sweep gives with
    the analysis' resamples, and the robustness 'people' cell is read from that object."""
    _, analyses = analyse_source(rated["root"], resamples=200, seed=3)
    vae = next(a for a in analyses if a.name == "vae_beta")
    entries = [json.loads(line) for line in (rated["root"] / RATINGS_FILE).read_text().splitlines()]
    again = rate_sweep(vae, entries, resamples=200, seed=3)
    pd.testing.assert_frame_equal(vae.ratings.scores, again.scores)
    pd.testing.assert_frame_equal(vae.ratings.agreement, again.agreement)
    assert [c.over for c in vae.robustness][-1] == "people"
