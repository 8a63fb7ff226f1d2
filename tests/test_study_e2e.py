"""Real runs through `python -m study` (smoke budget, tiny MLP VAE, 200 eval samples):
an end-to-end sweep with one run forced to NaN, resume after kill -9 of the sweep, and the
program started exactly as a W&B agent starts it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from contracts.record import read_record
from study.run import main as run_main

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset": {"value": "fashion_mnist"}, "model": {"value": "vae"}, "arch": {"value": "mlp"},
        "width": {"value": 8}, "latent_dim": {"value": 4}, "budget": {"value": "smoke"},
        "eval_samples": {"value": 200}}


def _sweep_file(tmp_path, name, parameters, better=("seed", 0, 1)) -> Path:
    parameter, good, bad = better
    description = {"question": "test?", "expected": "yes",
                   "prediction": {"metric": "eval/fid", "kind": "pairwise", "parameter": parameter,
                                  "better": good, "worse": bad}}
    raw = {"name": name, "method": "grid", "description": yaml.safe_dump(description),
           "command": ["${env}", "${interpreter}", "-m", "study", "run", "${args}"],
           "parameters": {**TINY, "seed": {"values": [0, 1]}, **parameters}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _env() -> dict:
    return {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _sweep(path, out, *extra):
    return [sys.executable, "-m", "study", "sweep", str(path), "--out", str(out), *extra]


def _runs(out, name) -> list[dict]:
    return [read_record(p) for p in sorted((out / name).iterdir()) if (p / "record.json").exists()]


def test_sweep_end_to_end_with_one_run_failing(tmp_path):
    # Two runs: a sane one, and one whose lr=1e9 sends the loss to NaN at the first step.
    path = _sweep_file(tmp_path, "e2e", {"lr": {"values": [1e-3, 1e9]}, "seed": {"values": [0]}},
                       better=("lr", 1e-3, 1e9))
    out = tmp_path / "out"
    done = subprocess.run(_sweep(path, out, "--workers", "2"), cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # a failed run makes the sweep unsuccessful
    assert "done 1, failed 1, skipped 0" in done.stdout
    records = {r["config"]["lr"]: r for r in _runs(out, "e2e")}
    bad, good = records[1e9], records[1e-3]
    assert bad["status"] == "failed" and bad["reason"].startswith("NonFiniteLossError: train/loss became nan")
    assert good["status"] == "finished" and good["reason"] is None
    run_dir = out / "e2e" / good["run_id"]
    summary = good["summary"]
    for key in ("eval/fid", "eval/is", "eval/kid", "eval/precision", "eval/coverage", "eval/fid_recon",
                "eval/elbo", "eval/bpd", "eval/kl", "train/loss", "train/kl", "time/train_s", "time/eval_s"):
        assert isinstance(summary[key], float), key
    assert summary["eval/num_samples"] == 200 and len(summary["eval/classifier_sha256"]) == 64
    assert good["config"]["train_steps"] == 40 and good["config"]["device"] in ("cpu", "cuda")
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history if "train/loss" in h] == [10, 20, 30, 40]
    # the smoke budget's training curve: 2 points (50 %, 100 %) at curve_samples, with the
    # training clock, in the history and the summary
    curve = [h for h in history if "curve/fid" in h]
    assert [h["step"] for h in curve] == [20, 40] and all(h["curve/num_samples"] == 200 for h in curve)
    assert 0 < curve[0]["time/train_s"] < curve[1]["time/train_s"] <= summary["time/train_s"]
    for key in ("curve/fid", "curve/kid", "curve/is", "curve/precision", "curve/fid_recon", "curve/elbo"):
        assert summary[key] == curve[1][key], key
    for image in ("samples.png", "reconstructions.png", "copies.png"):
        assert (run_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert good["images"] == {"samples": "samples.png", "reconstructions": "reconstructions.png",
                              "copies": "copies.png"}
    for key in ("eval/ct", "eval/copy_fraction", "eval/vendi"):
        assert isinstance(summary[key], float), key
    wandb_dir = run_dir / good["wandb_dir"]
    assert wandb_dir.name.startswith("offline-run-") and list(wandb_dir.glob("*.wandb"))
    assert (run_dir / "model.pt").exists() and (run_dir / "checkpoint.pt").exists()  # final state kept
    assert (out / "e2e" / "sweep.yaml").read_text() == path.read_text()


def test_resume_after_kill_of_the_sweep(tmp_path):
    path = _sweep_file(tmp_path, "resume", {"train_steps": {"value": 300}})
    out = tmp_path / "out"
    first = subprocess.Popen(_sweep(path, out, "--limit", "1"), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not list(out.glob("resume/*/checkpoint.pt")):
            assert first.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the sweep and its run, mid-training
        first.wait()
    (killed,) = _runs(out, "resume")
    run_dir = out / "resume" / killed["run_id"]
    assert killed["status"] == "running"
    import torch

    checkpoint = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["step"]
    # usually the first checkpoint (step 20); on a starved machine possibly a later one, even
    # the last (killed while evaluating): any of them must be resumed from, never step 0
    assert 0 < checkpoint <= 300

    again = subprocess.run(_sweep(path, out, "--limit", "1"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    (record,) = _runs(out, "resume")
    assert record["status"] == "finished" and record["step"] == 300
    assert record["attempts"][-1]["resumed_from_step"] == checkpoint  # not 0
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    steps = [h["step"] for h in history if "train/loss" in h]
    assert steps == list(range(10, 301, 10))  # one uninterrupted curve, no duplicates
    assert [h["step"] for h in history if "curve/fid" in h] == [150, 300]  # points kept, none redone
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 2  # one W&B run per attempt


def test_run_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    assert run_main(["--beta=abc", f"--out={tmp_path}"]) == 2
    assert capsys.readouterr().err.strip() == "error: beta: expected a number, got 'abc'"
    assert run_main(["--model=gan", "--likelihood=laplace", f"--out={tmp_path}"]) == 2
    assert "likelihood: applies to model vae only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_finished_runs_are_not_run_again(tmp_path, capsys):
    run_dir = tmp_path / "adhoc"
    from study.config import RunConfig, resolve
    from contracts.record import write_json_atomic
    from study.identity import run_id

    rid = run_id("adhoc", resolve(RunConfig(budget="smoke")))
    (run_dir / rid).mkdir(parents=True)
    write_json_atomic(run_dir / rid / "record.json", {"status": "finished"})
    assert run_main(["--budget=smoke", f"--out={tmp_path}"]) == 0
    assert "already finished" in capsys.readouterr().out


def test_unchanged_under_a_wandb_agent(tmp_path):
    """Start the program exactly as `wandb agent` would from a sweep file's `command:` block:
    the agent's own argument formatting (`--conditional=True`), its env (sweep id, run id,
    the parameter file wandb.init loads into run.config)."""
    from wandb.sdk.launch.sweeps import utils as sweep_utils
    from wandb.sdk.lib import config_util

    command = yaml.safe_load((ROOT / "sweeps" / "conditional.yaml").read_text())["command"]
    params = {**TINY, "conditional": {"value": True}, "beta": {"value": 2.0}, "seed": {"value": 1}}
    param_file = tmp_path / "params.yaml"
    config_util.save_config_file_from_dict(str(param_file), params)
    args = sweep_utils.create_sweep_command_args({"args": params})["args"]
    assert "--conditional=True" in args and "--beta=2.0" in args
    fill = {"${env}": ["/usr/bin/env"], "${interpreter}": [sys.executable], "${args}": args}
    argv = [part for token in sweep_utils.create_sweep_command(command) for part in fill.get(token, [token])]
    env = {**_env(), "WANDB_SWEEP_ID": "sweep42", "WANDB_RUN_ID": "agentrun1",
           "WANDB_SWEEP_PARAM_PATH": str(param_file)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (record,) = _runs(tmp_path / "runs", "sweep42")  # default --out runs, --sweep = the agent's sweep id
    assert record["status"] == "finished"
    assert record["config"]["conditional"] is True and record["config"]["beta"] == 2.0
    assert record["wandb_dir"].endswith("-agentrun1")  # the agent's W&B run id is kept
    summary = record["summary"]
    assert 0.0 <= summary["eval/conditional_accuracy"] <= 1.0
    assert sorted(k for k in summary if k.startswith("eval/fid_class/")) == [f"eval/fid_class/{k}" for k in range(10)]


def test_a_configuration_finished_in_one_sweep_is_reused_by_another(tmp_path):
    """Two sweeps sharing a configuration: the second copies the first's result (no
    training), logs its own W&B run tagged reused, and the analysis sees an ordinary run."""
    first = _sweep_file(tmp_path, "first", {"seed": {"values": [0, 1]}})
    second = _sweep_file(tmp_path, "second", {"seed": {"values": [1, 2]}}, better=("seed", 1, 2))  # seed 1 shared
    out = tmp_path / "out"
    done = subprocess.run(_sweep(first, out, "--workers", "2"), cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    again = subprocess.run(_sweep(second, out, "--workers", "2"), cwd=ROOT, env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "done 2, failed 0, skipped 0 (1 of the done reused from other sweeps)" in again.stdout
    records = {r["config"]["seed"]: r for r in _runs(out, "second")}
    reused, trained = records[1], records[2]
    (source,) = [r for r in _runs(out, "first") if r["config"]["seed"] == 1]
    assert trained["reused_from"] is None and reused["reused_from"] == f"../../first/{source['run_id']}"
    assert reused["summary"] == source["summary"] and reused["code_version"] == source["code_version"]
    assert reused["run_id"].startswith("second-") and reused["run_id"][-10:] == source["run_id"][-10:]
    run_dir = out / "second" / reused["run_id"]
    for name in ("history.jsonl", "samples.png", "samples.npz", "model.pt", "checkpoint.pt"):
        assert (run_dir / name).read_bytes() == (out / "first" / source["run_id"] / name).read_bytes()
    assert "reused" in (run_dir / "run.log").read_text()
    # its own W&B run, tagged reused, with the whole history replayed
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert reused["wandb_id"] in offline.name and reused["wandb_id"] != source["wandb_id"]
    from analysis import load_runs

    table = load_runs(out / "second")
    assert len(table) == 2 and (table["status"] == "finished").all()
    assert table.set_index("seed").loc[1, "eval/fid"] == source["summary"]["eval/fid"]


def test_a_warm_run_killed_mid_training_costs_only_itself(tmp_path):
    """Warm children (forked from the preloaded server): kill -9 one run's process while it
    trains; the other run finishes, the killed one is recorded failed and resumes from its
    checkpoint with --retry-failed, and the next run is a fresh fork."""
    path = _sweep_file(tmp_path, "warm", {"train_steps": {"value": 400}})
    out = tmp_path / "out"
    sweep = subprocess.Popen(_sweep(path, out, "--workers", "2"), cwd=ROOT, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, victim = time.monotonic() + 180, None
    while victim is None:
        assert sweep.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        for checkpoint in out.glob("warm/*/checkpoint.pt"):
            record = read_record(checkpoint.parent)
            if record and record["status"] == "running":
                victim = record
                break
        time.sleep(0.05)
    os.kill(victim["attempts"][-1]["pid"], signal.SIGKILL)
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 1 and "done 1, failed 1" in output, output
    records = {r["run_id"]: r for r in _runs(out, "warm")}
    killed = records[victim["run_id"]]
    assert killed["status"] == "failed" and "killed by signal 9" in killed["reason"]
    (other,) = [r for r in records.values() if r["run_id"] != victim["run_id"]]
    assert other["status"] == "finished"
    assert len({r["attempts"][-1]["pid"] for r in records.values()} | {os.getpid()}) == 3  # own processes
    again = subprocess.run(_sweep(path, out, "--workers", "2", "--retry-failed"), cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = read_record(out / "warm" / victim["run_id"])
    assert resumed["status"] == "finished" and resumed["attempts"][-1]["resumed_from_step"] > 0


class _FakeWandbRun:
    """The few attributes of a wandb Run that study.run's Recorder and Logger use."""

    def __init__(self, run_dir):
        self.id, self.resumed, self.logged = "fake-run", False, []
        self.settings = type("S", (), {"sync_dir": str(run_dir / "wandb" / "offline-run-x-fake-run")})()

    def define_metric(self, *args, **kwargs):
        pass

    def log(self, values, step=None):
        self.logged.append(values)


def test_a_resumed_run_keeps_its_curve_points_and_does_not_redo_them(tmp_path):
    from contracts.record import History
    from lgm.train import TrainClock
    from study.config import RunConfig, resolve
    from study.run import Logger, Recorder

    config = resolve(RunConfig(budget="smoke"))
    history = History(tmp_path / "history.jsonl")
    history.append(10, {"train/loss": 1.0})
    history.append(20, {"train/loss": 0.9})
    history.append(20, {"curve/fid": 50.0, "time/train_s": 1.5})   # point 1, before the kill
    history.append(30, {"train/loss": 0.8})                         # after the checkpoint: lost
    recorder = Recorder(tmp_path, "adhoc-x", "adhoc", config, None)
    wandb_run = _FakeWandbRun(tmp_path)
    kept = recorder.attach(wandb_run, config, resumed_from=20)
    assert [e["step"] for e in kept] == [10, 20, 20] and recorder.curve_done == {20}
    logger = Logger(recorder, wandb_run, TrainClock())
    logger.start(kept)  # the fresh W&B run gets the kept history, curve point included
    assert {"curve/fid": 50.0, "time/train_s": 1.5, "train/step": 20} in wandb_run.logged
    evaluated = []

    def point(step):
        def evaluate_point():
            evaluated.append(step)
            return {"curve/fid": 40.0}
        return evaluate_point

    logger.on_curve(20, 1.5, point(20))  # lgm.train calls it again at the resumed point
    logger.on_curve(40, 3.0, point(40))
    assert evaluated == [40]
    curve = [(e["step"], e["curve/fid"]) for e in history.entries() if "curve/fid" in e]
    assert curve == [(20, 50.0), (40, 40.0)]
