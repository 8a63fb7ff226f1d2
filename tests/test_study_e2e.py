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
    assert [h["step"] for h in history] == [10, 20, 30, 40]
    for image in ("samples.png", "reconstructions.png", "copies.png"):
        assert (run_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert good["images"] == {"samples": "samples.png", "reconstructions": "reconstructions.png",
                              "copies": "copies.png"}
    for key in ("eval/ct", "eval/copy_fraction", "eval/vendi"):
        assert isinstance(summary[key], float), key
    wandb_dir = run_dir / good["wandb_dir"]
    assert wandb_dir.name.startswith("offline-run-") and list(wandb_dir.glob("*.wandb"))
    assert (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists()
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
    steps = [json.loads(line)["step"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 301, 10))  # one uninterrupted curve, no duplicates
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
    from study.records import run_id

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
