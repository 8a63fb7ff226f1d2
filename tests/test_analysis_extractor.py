"""Would another extractor give the same verdict? The robustness table's extractor row and the
ranks in other feature spaces, on hand-made runs: a conditional model whose FID advantage is
mostly its balanced class histogram (FID gap 6, histogram-matched gap 1)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from analysis_fixtures import eval_summary, sweep_yaml, write_run, write_sweep_file  # noqa: E402

from analysis.robustness import DOES_NOT_HOLD, HOLDS  # noqa: E402
from analysis.sweep_analysis import analyse_source  # noqa: E402

FID = {True: (20.0, 20.5, 21.0), False: (26.0, 26.5, 27.0)}


def _study(root: Path, *, fwd_sign: float) -> Path:
    write_sweep_file(root, sweep_yaml(
        "cond", question="Does conditioning help?", expected="yes",
        prediction={"metric": "eval/fid", "kind": "pairwise", "parameter": "conditional",
                    "better": True, "worse": False},
        parameters={"dataset": {"value": "fashion_mnist"}, "model": {"value": "gan"},
                    "conditional": {"values": [True, False]}, "budget": {"values": ["quick"]},
                    "seed": {"values": [0, 1, 2]}}))
    for conditional, fids in FID.items():
        for seed, fid in enumerate(fids):
            # mlp agrees (gap 6); fid_hm: gap 1; fwd: gap 6 * fwd_sign
            extra = {"eval/mlp/fid": fid + 3.0, "eval/fid_hm": (21.0 if conditional else 22.0) + 1.5 * seed,
                     "eval/fwd": 10.0 + fwd_sign * (0.0 if conditional else 6.0) + 0.5 * seed}
            write_run(root, "cond", config={"conditional": conditional, "seed": seed},
                      summary=eval_summary(fid=fid, **extra))
    return root


def test_the_extractor_row_holds_and_says_how_much_the_histogram_explains(tmp_path):
    _, (a,) = analyse_source(_study(tmp_path, fwd_sign=1.0))
    assert a.result.verdict == "supported"
    cell = {c.over: c for c in a.robustness}["extractor"]
    # mlp FID and FWD are decisive the same way; the matched FID gap (1, seed SD 1.5: Welch t = 0.82,
    # one-sided p ≈ 0.23) is not
    assert "mlp FID: supported" in cell.detail and "FWD (no network): supported" in cell.detail
    assert "histogram-matched FID: inconclusive" in cell.detail and cell.status == DOES_NOT_HOLD
    # the gap before and after matching the class histogram: -6 and -1
    assert "FID gap -6, matched -1" in cell.detail
    ranks = a.extractor_ranks.set_index("conditional")
    assert ranks.loc[True, "rank mlp FID"] == 1 and ranks.loc[False, "rank FWD (no network)"] == 2


def test_an_extractor_that_disagrees_breaks_the_row(tmp_path):
    _, (a,) = analyse_source(_study(tmp_path, fwd_sign=-1.0))
    cell = {c.over: c for c in a.robustness}["extractor"]
    assert "FWD (no network): contradicted" in cell.detail and cell.status == DOES_NOT_HOLD
    assert {c.over: c for c in a.robustness}["seeds"].status == HOLDS
