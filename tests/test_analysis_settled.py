"""A settled sweep holds runs at several budgets: the analysis compares the settled state's
runs only (settle.json's last done round, else the largest budget factor), and the report
shows the settle trajectory. Hand-made runs: at ×1 the VAE-like config wins, at ×2 the
other one does (a flip), as in gan_vs_vae."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from analysis_fixtures import eval_summary, sweep_yaml, write_run, write_sweep_file  # noqa: E402
from contracts.record import write_settle  # noqa: E402

from analysis.load import at_budget, budget_state, load_runs  # noqa: E402
from analysis.report import build_report  # noqa: E402
from analysis.sweep_analysis import analyse_source  # noqa: E402

# ×1: minus_one_one worse (contradicted); ×2: minus_one_one clearly better (supported)
FID = {1: {"minus_one_one": (40.0, 40.5, 41.0), "zero_one": (30.0, 30.4, 30.9)},
       2: {"minus_one_one": (15.0, 15.3, 15.6), "zero_one": (25.0, 25.6, 24.8)}}


def _study(root: Path, *, settled: bool) -> Path:
    write_sweep_file(root, sweep_yaml(
        "flip", question="Does [-1, 1] help?", expected="yes",
        prediction={"metric": "eval/fid", "kind": "pairwise", "parameter": "scaling",
                    "better": "minus_one_one", "worse": "zero_one"},
        parameters={"dataset": {"value": "fashion_mnist"}, "model": {"value": "gan"},
                    "scaling": {"values": ["minus_one_one", "zero_one"]},
                    "budget": {"values": ["quick"]}, "seed": {"values": [0, 1, 2]}}))
    for factor, table in FID.items():
        for scaling, fids in table.items():
            for seed, fid in enumerate(fids):
                write_run(root, "flip", config={"scaling": scaling, "seed": seed, "budget_factor": factor},
                          summary=eval_summary(fid=fid))
    if settled:
        rounds = [{"round": 0, "status": "done", "budget_factor": 1, "seeds": [0, 1, 2],
                   "added": "the sweep as written", "why": "", "verdict": "contradicted",
                   "settled": False, "seconds": 600.0},
                  {"round": 1, "status": "done", "budget_factor": 2, "seeds": [0, 1, 2],
                   "added": "x2 training", "why": "the gap was closing", "verdict": "supported",
                   "settled": True, "seconds": 900.0,
                   "decision": {"verdict": "supported", "settled": True,
                                "procedure": "Bonferroni over 4 looks"}}]
        write_settle(root / "flip", {"sweep": "flip", "rounds": rounds})
    return root


def test_budget_state_and_selection(tmp_path):
    runs = load_runs(_study(tmp_path, settled=False))
    state = budget_state(runs, None)
    assert state == {"budget_factor": 2, "seeds": None, "round": None}
    assert len(at_budget(runs, budget_factor=2)) == 6 and len(at_budget(runs, budget_factor=1, seeds=[0])) == 2
    one = runs[runs["budget_factor"] == 2]
    assert budget_state(one, None) is None  # one budget: nothing to choose


def test_the_settled_state_decides_and_the_report_shows_the_trajectory(tmp_path):
    root = _study(tmp_path, settled=True)
    _, (a,) = analyse_source(root)
    assert a.budget["budget_factor"] == 2 and len(a.usable) == 6
    assert a.result.verdict == "supported"  # at ×1 alone it would be contradicted
    md = build_report(root, tmp_path / "out")["md"].read_text()
    assert "**Settled by `python -m study settle`:** ×1, 3 seeds: contradicted; then ×2, 3 seeds " \
           "(the gap was closing): supported, **settled**." in md
    assert "Decided by: Bonferroni over 4 looks." in md
    assert "| budget factors (budget_factor) | 1 (6), 2 (6) |" in md  # what was run: both factors
    assert "`flip` — Does [-1, 1] help? **supported** (settled: `python -m study settle`)" in md


def test_without_settle_json_the_largest_budget_is_analysed(tmp_path):
    _, (a,) = analyse_source(_study(tmp_path, settled=False))
    assert a.settle is None and a.budget["budget_factor"] == 2 and a.result.verdict == "supported"
