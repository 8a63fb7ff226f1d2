"""Settled answers, the study side: exact budget extension from a finished run's final
training state (real training, a tiny DCGAN at the smoke budget), and the settle loop
(``study.settle``) round by round with hand-written decisions, a fake clock and a fast fake
run program — what it extends, what seeds it adds, the cap, bad input, and a resume after
kill -9 of the whole settle."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from contracts.record import read_history, read_record
from study.run import main as run_main
from tests.wandb_log import records as wandb_records

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::lgm.evaluation.metrics.RankDeficientCovarianceWarning")
# A tiny DCGAN (two Adams, batch norm, its own noise generator: everything a checkpoint must
# carry) at the smoke budget: 40 steps; log_every 15 puts the budget's last step off the log
# grid, where the shorter run logs an early mean that a from-scratch run does not have.
TINY_GAN = ["--model=gan", "--width=8", "--latent_dim=8", "--budget=smoke", "--eval_samples=100",
            "--curve_samples=100", "--eval_points=4", "--log_every=15", "--seed=3"]


def _run(out: Path, *extra) -> dict:
    assert run_main([*TINY_GAN, "--out", str(out), "--sweep", "ext", *extra]) == 0
    (folder,) = [p.parent for p in (out / "ext").glob("*/record.json")
                 if read_record(p.parent)["config"]["budget_factor"] == (2 if extra else 1)]
    return {"dir": folder, "record": read_record(folder), "history": read_history(folder / "history.jsonl"),
            "weights": torch.load(folder / "model.pt", weights_only=True)}


def _tags(run_dir: Path) -> list[str]:
    (log,) = (run_dir / "wandb").glob("offline-run-*/*.wandb")
    return [tag for r in wandb_records(log) if r.WhichOneof("record_type") == "run" for tag in r.run.tags]


def _curve(history) -> dict:
    return {e["step"]: {k: v for k, v in e.items() if k.startswith("curve/")}
            for e in history if any(k.startswith("curve/") for k in e)}


def _train(history) -> list:
    return [e for e in history if any(k.startswith("train/") for k in e)]


def test_an_extended_run_equals_the_same_run_trained_from_scratch(tmp_path, monkeypatch):
    """40 steps, then budget_factor 2 continuing them (40 more), against 80 from scratch."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    shorter = _run(tmp_path / "a")
    extended = _run(tmp_path / "a", "--budget_factor=2")
    scratch = _run(tmp_path / "b", "--budget_factor=2")
    # equal weights, bit for bit, and equal metrics
    assert extended["weights"].keys() == scratch["weights"].keys()
    for name, tensor in scratch["weights"].items():
        assert torch.equal(extended["weights"][name], tensor), name
    metrics = {k: v for k, v in scratch["record"]["summary"].items() if not k.startswith("time/")}
    assert {k: extended["record"]["summary"][k] for k in metrics} == metrics
    assert extended["record"]["step"] == scratch["record"]["step"] == 80
    # the same train/... means at the same steps; the curve keeps the shorter run's points
    # (10, 20, 30, 40: i/4 of 40) and adds its own beyond them (60, 80: i/4 of 80)
    assert _train(extended["history"]) == _train(scratch["history"])
    assert [e["step"] for e in _train(shorter["history"])] == [15, 30, 40]  # 40: off the grid
    ext_curve, scratch_curve = _curve(extended["history"]), _curve(scratch["history"])
    assert sorted(ext_curve) == [10, 20, 30, 40, 60, 80] and sorted(scratch_curve) == [20, 40, 60, 80]
    for step, values in scratch_curve.items():
        assert ext_curve[step] == values, step
    assert _curve(shorter["history"]) == {s: ext_curve[s] for s in (10, 20, 30, 40)}
    # only the extra steps were trained: one attempt, resumed from the shorter run's step 40
    assert extended["record"]["extends"] == os.path.relpath(shorter["dir"], extended["dir"])
    assert extended["record"]["attempts"][-1]["resumed_from_step"] == 40
    assert scratch["record"]["extends"] is None and scratch["record"]["attempts"][-1]["resumed_from_step"] is None
    assert "extended" in _tags(extended["dir"]) and "extended" not in _tags(scratch["dir"])
    # the shorter run's own files are untouched
    assert read_record(shorter["dir"]) == shorter["record"]


# --------------------------------------------------------------------------- the settle loop

import yaml  # noqa: E402

from contracts.record import read_settle  # noqa: E402
from study.cli import main as cli_main  # noqa: E402
from study.settle import Caps, max_looks, settle  # noqa: E402
from tests.settle_fakes import FakeClock, fake_runner, scripted  # noqa: E402

GAN = {"dataset": {"value": "fashion_mnist"}, "model": {"value": "gan"}, "width": {"value": 8},
       "budget": {"value": "smoke"}, "seed": {"values": [0, 1, 2]}}


def _sweep_file(folder: Path, name: str, parameter: str, better, worse, **extra) -> str:
    description = {"question": f"{parameter}?", "expected": "yes",
                   "prediction": {"metric": "eval/fid", "kind": "pairwise", "parameter": parameter,
                                  "better": better, "worse": worse}}
    raw = {"name": name, "method": "grid", "description": yaml.safe_dump(description),
           "command": ["${env}", "${interpreter}", "-m", "study", "run", "${args}"],
           "parameters": {**GAN, parameter: {"values": [better, worse]}, **extra}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture
def two(tmp_path):
    """Two questions sharing a configuration (the default DCGAN): scaling and loss."""
    return (_sweep_file(tmp_path, "alpha", "scaling", "minus_one_one", "zero_one"),
            _sweep_file(tmp_path, "beta", "loss", "non_saturating", "hinge"))


def _factors_and_seeds(out: Path, name: str) -> set:
    return {(r["config"]["budget_factor"], r["config"]["seed"])
            for r in map(read_record, (out / name).glob("*-*")) if r and r["status"] == "finished"}


def _settle(out, sweeps, rule, *, minutes=60.0, seeds=8, factor=8, lines=None):
    clock = FakeClock()
    out.mkdir(parents=True, exist_ok=True)
    code = settle(sweeps, out, Caps(minutes, seeds, factor), workers=2, decide=rule,
                  runner=fake_runner(out, clock), clock=clock,
                  echo=(lines.append if lines is not None else lambda line: None))
    return code, clock


def test_only_the_open_question_is_extended_and_given_seeds(tmp_path, two):
    """alpha settles at once; beta is extended (x2, every compared configuration, every seed),
    then given 2 more seeds at x2, then settles: each round recorded with why and verdict."""
    out, log, lines = tmp_path / "out", [], []
    rule = scripted({"alpha": {1: (True, False, 0)},
                     "beta": {1: (False, True, 0), 2: (False, False, 2), 3: (True, False, 0)}}, log)
    code, clock = _settle(out, list(two), rule, lines=lines)
    assert code == 0
    assert _factors_and_seeds(out, "alpha") == {(1, s) for s in (0, 1, 2)}
    assert _factors_and_seeds(out, "beta") == ({(1, s) for s in (0, 1, 2)} | {(2, s) for s in range(5)})
    # the rule saw each state once, the runs of that state only, with the bound on looks
    bound = max_looks(Caps(60.0, 8, 8), 3)
    assert bound == 1 + 3 + 1  # round 0, three doublings up to x8, one round of seeds
    assert sorted(log) == sorted([("alpha", 1, bound, [1], [0, 1, 2]), ("beta", 1, bound, [1], [0, 1, 2]),
                                  ("beta", 2, bound, [2], [0, 1, 2]), ("beta", 3, bound, [2], [0, 1, 2, 3, 4])])
    alpha, beta = read_settle(out / "alpha"), read_settle(out / "beta")
    assert [r["status"] for r in alpha["rounds"]] == ["done"] and alpha["rounds"][0]["settled"]
    assert [(r["budget_factor"], len(r["seeds"]), r["status"]) for r in beta["rounds"]] == \
        [(1, 3, "done"), (2, 3, "done"), (2, 5, "done")]
    assert beta["rounds"][1]["added"] == "budget x1 -> x2" and beta["rounds"][2]["added"] == "seeds 3 -> 5"
    assert beta["rounds"][1]["why"].startswith("look 1:") and beta["rounds"][2]["why"].startswith("look 2:")
    assert [r["verdict"] for r in beta["rounds"]] == ["inconclusive", "inconclusive", "supported"]
    assert beta["rounds"][1]["steps"] == {"loss=non_saturating": 80, "loss=hinge": 80}
    # costs: round 1 extends 6 runs by 40 steps (1 s each, 2 workers): estimated 120 s, and so
    # it took on the fake clock; round 2 trains 4 new runs from scratch at 80 steps: 160 s
    assert beta["rounds"][1]["estimate_s"] == pytest.approx(120.0)
    assert beta["rounds"][1]["seconds"] == pytest.approx(120.0)
    assert beta["rounds"][2]["estimate_s"] == pytest.approx(160.0)
    assert beta["rounds"][1]["trained"] == 6 and beta["rounds"][2]["trained"] == 4
    extended = [read_record(p) for p in (out / "beta").glob("beta-*") if read_record(p)["config"]["budget_factor"] == 2]
    assert sum(bool(r["extends"]) for r in extended) == 6  # seeds 0-2 continued; 3, 4 from scratch
    assert any("settle round 1" in line and "ETA" in line for line in lines)
    assert "2 of 2 settled" in " ".join(lines)


def test_the_cap_stops_before_a_round_that_would_pass_it(tmp_path, two):
    """On the fake clock (40 s per smoke run, 2 workers): round 0 takes 3 min (alpha's 6 runs,
    beta's 3 not shared); alpha x2 fits the 2 min left exactly, beta x2 beside it (1 min
    more) does not, and alpha x4 (4 min) does not fit afterwards."""
    out, lines = tmp_path / "out", []
    rule = scripted({"alpha": {1: (False, True, 0)}, "beta": {1: (False, True, 0)}})
    code, clock = _settle(out, list(two), rule, minutes=5.0, lines=lines)
    assert code == 0 and clock.t == pytest.approx(5 * 60)
    assert {f for f, _ in _factors_and_seeds(out, "alpha")} == {1, 2}
    assert {f for f, _ in _factors_and_seeds(out, "beta")} == {1}
    alpha, beta = read_settle(out / "alpha"), read_settle(out / "beta")
    assert [r["estimate_s"] for r in alpha["rounds"]] == [None, pytest.approx(120.0)]
    assert "does not fit in --max-minutes 5" in alpha["open"]
    assert "budget x2 -> x4: 6 run(s), about 4.0 min" in alpha["open"]
    # beta's x2 would now reuse alpha's three shared runs: 3 runs to train, 1 minute
    assert "budget x1 -> x2: 3 run(s), about 1.0 min" in beta["open"]
    assert "0 of 2 settled" in " ".join(lines)


def test_caps_on_budget_factor_and_seeds(tmp_path, two):
    out = tmp_path / "out"
    rule = scripted({"alpha": {1: (False, True, 0)}, "beta": {1: (False, False, 9)}})
    assert _settle(out, list(two), rule, seeds=4, factor=3)[0] == 0
    assert {f for f, _ in _factors_and_seeds(out, "alpha")} == {1, 2}  # x4 > 3
    assert {s for _, s in _factors_and_seeds(out, "beta")} == {0, 1, 2, 3}  # 9 asked, 4 allowed
    assert "more than the caps allow" in read_settle(out / "alpha")["open"]


def test_seeds_are_added_in_one_round_only(tmp_path, two):
    """A rule that asks for one more seed at every look gets one round of seeds: the looks
    stay within max_looks (1 + 0 doublings + 1 seed round with --max-budget-factor 1)."""
    out, log = tmp_path / "out", []
    rule = scripted({"alpha": {1: (False, False, 1)}}, log)
    assert _settle(out, [two[0]], rule, factor=1)[0] == 0
    assert {s for _, s in _factors_and_seeds(out, "alpha")} == {0, 1, 2, 3}
    assert [(entry[1], entry[2]) for entry in log] == [(1, 2), (2, 2)]
    assert "last look (2 of 2)" in read_settle(out / "alpha")["open"]


def test_the_bound_on_looks_is_fixed_when_the_settle_began(tmp_path, two):
    """Caps raised in a later call give more rounds room, not more looks: the rule spent its
    error rate over the first call's bound (1 + 1 doubling + 1 seed round = 3)."""
    out = tmp_path / "out"
    rule = scripted({"alpha": {1: (False, True, 0)}})
    assert _settle(out, [two[0]], rule, factor=2)[0] == 0
    assert "more than the caps allow" in read_settle(out / "alpha")["open"]
    assert _settle(out, [two[0]], rule, factor=8)[0] == 0
    assert {f for f, _ in _factors_and_seeds(out, "alpha")} == {1, 2, 4}
    settled = read_settle(out / "alpha")
    assert settled["max_looks"] == 3 and "last look (3 of 3)" in settled["open"]
    assert [r["round"] for r in settled["rounds"]] == [0, 1, 2]


def test_a_round_with_failed_runs_stays_closed_until_they_are_retried(tmp_path, two):
    """Seed 2 fails in round 0: the rule is not asked (no look is spent on a round with runs
    missing, so it cannot settle on them either) and alpha stops there, exit status 1; a later
    call without --retry-failed stops there again (1) rather than moving on without them;
    with retry_failed only the failed runs run again, the complete round gets its one look
    (look 1), and the settle goes on to x2 (look 2)."""
    out, log = tmp_path / "out", []
    out.mkdir()
    (out / "FAIL-2").touch()
    rule = scripted({"alpha": {1: (True, False, 0)}}, log)  # would settle at once: must not
    assert _settle(out, [two[0]], rule)[0] == 1
    first = read_settle(out / "alpha")
    (entry,) = first["rounds"]
    assert entry["status"] == "done" and len(entry["incomplete"]) == 2  # seed 2, both values
    assert entry["verdict"] is None and not entry["settled"] and "decision" not in entry
    assert "2 run(s) failed in round 0" in first["open"] and "--retry-failed" in first["open"]
    assert _settle(out, [two[0]], rule)[0] == 1  # a later call: still stopped, nothing trained
    assert len(read_settle(out / "alpha")["rounds"]) == 1 and log == []
    (out / "FAIL-2").unlink()
    rule = scripted({"alpha": {1: (False, True, 0), 2: (True, False, 0)}}, log)
    clock, lines = FakeClock(), []
    code = settle([two[0]], out, Caps(60.0, 8, 8), workers=2, decide=rule, clock=clock,
                  runner=fake_runner(out, clock), echo=lines.append, retry_failed=True)
    assert code == 0
    assert [(name, look) for name, look, *_ in log] == [("alpha", 1), ("alpha", 2)]
    rounds = read_settle(out / "alpha")["rounds"]
    assert [(r["budget_factor"], r["status"]) for r in rounds] == [(1, "done"), (2, "done")]
    assert rounds[0]["retried"] == 1 and rounds[0]["trained"] == 2 and rounds[0]["failed"] == []
    assert rounds[0]["earlier"][0]["trained"] == 4 and len(rounds[0]["earlier"][0]["failed"]) == 2
    assert "incomplete" not in rounds[0] and "resumed" not in rounds[0]
    assert _factors_and_seeds(out, "alpha") == {(f, s) for f in (1, 2) for s in (0, 1, 2)}
    assert rounds[1]["settled"] and "retrying alpha's round 0: 2 failed run(s)" in lines


@pytest.mark.parametrize("checkpoint_step, record_step, action, new_steps", [
    (None, None, "extend", 40),  # no folder yet: continues the finished x1 run (40 steps)
    (60, 70, "resume", 20),      # interrupted at step 70: resumes its checkpoint at step 60
    (40, 0, "resume", 40),       # killed after the extension copied the x1 state, before any
])                               # log of its own (the record's step is 0): resumes at 40
def test_a_planned_runs_cost_counts_only_the_steps_it_still_trains(tmp_path, two, checkpoint_step,
                                                                   record_step, action, new_steps):
    """Hand-worked, from the fake records (1 s per step, no time besides training): a x2 run
    (80 smoke steps) costs the steps it still trains, from where the run program will start
    it (``study.reuse.how_to_start``: the same decision)."""
    from contracts.record import CHECKPOINT_FILE, write_json_atomic
    from study.config import RunConfig, base_config
    from study.identity import run_id
    from study.reuse import how_to_start
    from study.settle_costs import CostModel, plan_costs

    out = tmp_path / "out"
    assert _settle(out, [two[0]], scripted({"alpha": {1: (True, False, 0)}}))[0] == 0
    shorter = read_record(next((out / "alpha").glob("alpha-*")))
    config = base_config(RunConfig.from_dict(shorter["config"]), 2)
    assert config.train_steps == 80
    folder = out / "alpha" / run_id("alpha", config)
    if checkpoint_step is not None:
        folder.mkdir()
        torch.save({"step": checkpoint_step}, folder / CHECKPOINT_FILE)
        write_json_atomic(folder / "record.json", {
            "run_id": folder.name, "sweep": "alpha", "config": config.to_dict(), "status": "failed",
            "summary": {}, "step": record_step, "extends": "../x"})
    assert how_to_start(out, config, folder).action == action
    (planned,) = plan_costs([("alpha", [config])], out, CostModel.measure(out))
    assert (planned.new_steps, planned.extends) == (new_steps, action == "extend")
    assert planned.seconds == pytest.approx(new_steps, abs=1.0)


@pytest.mark.parametrize("argv, message", [
    (["--max-minutes", "0"], "--max-minutes must be a positive number"),
    (["--max-minutes", "5", "--max-seeds", "0"], "--max-seeds must be a positive integer"),
    (["--max-minutes", "5", "--max-budget-factor", "-2"], "--max-budget-factor must be a positive integer"),
    (["--max-minutes", "5", "--set", "train_steps=100"], "--set train_steps"),
    (["--max-minutes", "5", "--set", "scaling=zero_one"], "nothing to compare"),
])
def test_bad_input_is_refused_before_any_training(tmp_path, two, capsys, argv, message):
    out = tmp_path / "out"
    assert cli_main(["settle", two[0], "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_sweep_with_a_fixed_budget_cannot_be_settled(tmp_path, capsys):
    fixed = _sweep_file(tmp_path, "fixed", "scaling", "minus_one_one", "zero_one",
                        train_steps={"value": 30})
    assert cli_main(["settle", fixed, "--out", str(tmp_path / "out"), "--max-minutes", "5"]) == 2
    assert "parameters.train_steps: the budget is fixed" in capsys.readouterr().err


def _env() -> dict:
    return {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _launches(out: Path, name: str) -> dict:
    """run id -> how many times the fake program started in its folder (0 where the runner
    made the folder but the kill came before the program wrote its first launch)."""
    return {p.name: len((p / "launches").read_text()) if (p / "launches").exists() else 0
            for p in (out / name).glob(f"{name}-*")}


def test_a_settle_killed_mid_round_resumes_that_round_only(tmp_path):
    """kill -9 (the whole process group) while round 1's runs train; the next call resumes
    round 1: round 0's runs are not launched again, its record not redone."""
    sweep, out = _sweep_file(tmp_path, "gamma", "scaling", "minus_one_one", "zero_one"), tmp_path / "out"
    driver = [sys.executable, "-m", "tests.settle_fakes", str(out), sweep]
    first = subprocess.Popen([*driver, "--sleep"], cwd=ROOT, env=_env(), start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        rounds = (read_settle(out / "gamma") or {"rounds": []})["rounds"]
        started = [p for p in (out / "gamma").glob("gamma-*/record.json")
                   if read_record(p.parent)["config"]["budget_factor"] == 2]
        if len(rounds) == 2 and started:
            break
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    before = _launches(out, "gamma")
    assert [r["status"] for r in read_settle(out / "gamma")["rounds"]] == ["done", "planned"]
    second = subprocess.run(driver, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming gamma's round 1" in second.stdout
    rounds = read_settle(out / "gamma")["rounds"]
    assert [(r["round"], r["status"], r["budget_factor"]) for r in rounds] == [(0, "done", 1), (1, "done", 2)]
    assert rounds[1]["settled"]
    after = _launches(out, "gamma")
    base = {rid for rid in after if read_record(out / "gamma" / rid)["config"]["budget_factor"] == 1}
    assert len(base) == 6 and all(after[rid] == 1 == before[rid] for rid in base)  # round 0: once
    assert all(read_record(out / "gamma" / rid)["status"] == "finished" for rid in after)
    # the second call's rule saw only the resumed round's state (look 2), never round 0 again
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    assert [d[1] for d in decisions] == [2]
