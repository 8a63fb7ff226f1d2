"""``--executor slurm`` against a real Slurm cluster (``scripts/slurm_local.sh up``; CI starts one):
equal numbers to the local runner, a failing run's own error, resume after ``scancel``, and
two calls or two sweeps sharing runs training each run once. Tiny MLP VAE, smoke budget.

Without ``SLURM_CONF`` (and outside CI) the module is skipped; in CI (``CI=true``) a cluster
that does not answer is a failure, never a skip.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from contracts.record import read_record
from study.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset": {"value": "fashion_mnist"}, "model": {"value": "vae"}, "arch": {"value": "mlp"},
        "width": {"value": 8}, "latent_dim": {"value": 4}, "budget": {"value": "smoke"},
        "eval_samples": {"value": 200}, "eval_points": {"value": 1}}
TIMEOUT_S = 240
pytestmark = pytest.mark.xdist_group("slurm")  # one cluster of a few CPUs: one test at a time


def _controller() -> str | None:
    """None when a Slurm controller answers, else what was tried and what it said."""
    conf = os.environ.get("SLURM_CONF")
    if conf is not None and not Path(conf).is_file():
        return f"SLURM_CONF={conf} is not a file"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"scontrol ping: {err}"
    return None if " is UP" in ping.stdout else f"scontrol ping said {(ping.stdout + ping.stderr).strip()!r}"


@pytest.fixture(scope="module", autouse=True)
def cluster():
    in_ci = os.environ.get("CI", "").lower() == "true"
    if "SLURM_CONF" not in os.environ and not in_ci:
        pytest.skip("no Slurm cluster: SLURM_CONF is unset (sudo scripts/slurm_local.sh up, then "
                    "export the SLURM_CONF line it prints)")
    problem = _controller()
    if problem:
        pytest.fail(f"no Slurm controller answers ({problem}; SLURM_CONF="
                    f"{os.environ.get('SLURM_CONF', 'unset')}): in CI, .ci/run starts one")


def _sweep_file(tmp_path, name, parameters, better=("seed", 0, 1)) -> Path:
    """Seeds 0 and 1 unless ``parameters`` say otherwise (single-run tests pass --limit 1)."""
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


def _sweep(path, out, *extra) -> list[str]:
    return [sys.executable, "-m", "study", "sweep", str(path), "--out", str(out), *extra]


def _slurm(path, out, *extra) -> list[str]:
    return _sweep(path, out, "--executor", "slurm", "--time-limit", "10", *extra)


def _one(path, out) -> list[str]:
    """The first run of the sweep only, as a Slurm job."""
    return _slurm(path, out, "--limit", "1")


def _start(command) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, output


def _records(out: Path, name: str) -> dict:
    return {p.name: read_record(p) for p in sorted((out / name).iterdir()) if (p / "record.json").exists()}


def _history(run_dir: Path) -> list[dict]:
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")} for line in lines]


def _numbers(record: dict) -> dict:
    return {k: v for k, v in record["summary"].items() if not k.startswith("time/")}


def test_slurm_sweep_equals_the_local_runner_and_reports_a_failing_runs_own_error(tmp_path):
    # One sane run and one whose lr=1e9 sends the loss to NaN at its first step.
    path = _sweep_file(tmp_path, "eq", {"lr": {"values": [1e-3, 1e9]}, "seed": {"value": 0}},
                       better=("lr", 1e-3, 1e9))
    slurm = _start(_slurm(path, tmp_path / "slurm"))
    local = subprocess.run(_sweep(path, tmp_path / "local", "--workers", "2"), cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=TIMEOUT_S)
    code, output = _finish(slurm)
    assert local.returncode == code == 1, output  # a failed run makes either sweep unsuccessful
    assert "done 1, failed 1, skipped 0" in output and "Slurm job(s)" in output
    on_slurm, on_local = _records(tmp_path / "slurm", "eq"), _records(tmp_path / "local", "eq")
    assert sorted(on_slurm) == sorted(on_local) and len(on_slurm) == 2
    for rid, record in on_slurm.items():
        assert record["status"] == on_local[rid]["status"]
        if record["status"] == "finished":  # same machine, same code: equal numbers
            assert record["summary"]["eval/fid"] > 0
            assert _numbers(record) == _numbers(on_local[rid])
            assert _history(tmp_path / "slurm" / "eq" / rid) == _history(tmp_path / "local" / "eq" / rid)
        else:  # the run's own error line in the summary, not a submitit traceback
            reason = record["reason"]
            assert reason == on_local[rid]["reason"]
            assert reason.startswith("NonFiniteLossError: train/loss became nan")
            assert f"  failed {rid}: {reason}" in output
    assert "Traceback" not in output and "submitit" not in output


def _claim(run_dir: Path, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while not (run_dir / "slurm_job.json").exists():
        assert time.monotonic() < deadline, "no job was submitted"
        time.sleep(0.2)
    return json.loads((run_dir / "slurm_job.json").read_text())["job_id"]


def _wait_for_step(run_dir: Path, step: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while ((read_record(run_dir) or {}) if (run_dir / "record.json").exists() else {}).get("step", 0) < step:
        assert process.poll() is None and time.monotonic() < deadline, "the run never got there"
        time.sleep(0.1)


def test_a_cancelled_job_resumes_from_its_checkpoint_on_the_next_call(tmp_path, capsys, monkeypatch):
    from study.pipeline import checkpoint_step

    path = _sweep_file(tmp_path, "cancel", {"train_steps": {"value": 200}})  # checkpoint every 20
    out = tmp_path / "out"
    first = _start(_one(path, out))
    run_dir = next(iter((out / "cancel").glob("cancel-*")), None)
    while run_dir is None:
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.2)
        run_dir = next(iter((out / "cancel").glob("cancel-*")), None)
    job = _claim(run_dir)
    _wait_for_step(run_dir, 60, first)  # two checkpoints written, mid-training
    subprocess.run(["scancel", job], check=True, timeout=30)
    code, output = _finish(first)
    assert code == 1 and "CANCELLED at step" in output, output
    stopped = read_record(run_dir)
    assert stopped["status"] == "running" and stopped["step"] < 200  # resumable, not failed
    kept = checkpoint_step(run_dir)
    assert kept % 20 == 0 and kept >= max(20, stopped["step"] - 20)  # at most one interval redone

    for name in ("WANDB_MODE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY"):  # the next call: in this process
        monkeypatch.setenv(name, _env()[name])
    capsys.readouterr()
    assert cli_main(_one(path, out)[3:]) == 0, capsys.readouterr()
    printed = capsys.readouterr().out
    assert "finished cancel-" in printed and "resume" in printed
    record = read_record(run_dir)
    assert record["status"] == "finished" and record["step"] == 200
    assert [a["resumed_from_step"] for a in record["attempts"]] == [None, kept]
    # every logged step once: the history was cut back to the checkpoint and continued
    assert [e["step"] for e in _history(run_dir) if "train/loss" in e] == list(range(10, 201, 10))


def test_two_calls_and_two_sweeps_sharing_runs_train_each_run_once(tmp_path):
    out = tmp_path / "out"
    # long enough (a tiny MLP VAE, 2,000 steps: seconds) that the job still runs when the
    # second and third calls plan, even on a loaded machine where they take seconds to start
    longer = {"train_steps": {"value": 2000}}
    path_a = _sweep_file(tmp_path, "sa", longer)
    path_b = _sweep_file(tmp_path, "sb", longer)  # the same configuration in another sweep
    first = _start(_one(path_a, out))
    while not list((out / "sa").glob("sa-*/slurm_job.json")):
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.2)
    second = _start(_one(path_a, out))  # the same sweep again while its job is queued/running
    other = _start(_one(path_b, out))  # another sweep with that run, at the same time
    results = [_finish(p) for p in (first, second, other)]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert "followed" in results[1][1]  # the second call followed the first call's job
    (rid_a, a), = _records(out, "sa").items()
    (rid_b, b), = _records(out, "sb").items()
    assert a["status"] == b["status"] == "finished" and len(a["attempts"]) == 1
    assert b["reused_from"] == f"../../sa/{rid_a}"  # sb waited for sa's job and reused its result
    assert _numbers(a) == _numbers(b)
    assert (out / "sa" / rid_a / "run.log").read_text().count("slurm job") == 1
    trained = [line for line in (out / "sb" / rid_b / "run.log").read_text().splitlines()
               if line.startswith("finished ")]
    assert trained == []  # sb's job copied, it did not train


def test_bad_executor_input_is_one_line_before_anything_is_submitted(tmp_path, monkeypatch, capsys):
    path = _sweep_file(tmp_path, "bad", {})
    out = tmp_path / "out"
    base = ["sweep", str(path), "--out", str(out), "--executor", "slurm", "--limit", "1"]

    def error(argv) -> str:
        assert cli_main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    assert "'nope' is not a partition of this cluster" in error([*base, "--partition", "nope"])
    # checkpoints every 2,000 steps: over a minute at the default VAE's one-thread cost
    message = error([*base, "--time-limit", "1", "--set", "train_steps=5000", "--set", "checkpoint_every=3000"])
    assert "--time-limit 1 min is shorter than one checkpoint interval" in message
    assert "no node of this cluster has GPUs" in error([*base, "--gpus-per-run", "1"])  # no GRES here
    assert "--workers does not apply to --executor slurm" in error([*base, "--workers", "2"])
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "submitit", None)
        assert "needs submitit" in error(base)
    dead = tmp_path / "dead.conf"  # this cluster's config with nothing listening on its port
    conf = Path(os.environ["SLURM_CONF"]).read_text().splitlines()
    dead.write_text("\n".join(line for line in conf if not line.startswith("SlurmctldPort"))
                    + "\nSlurmctldPort=1\n")
    monkeypatch.setenv("SLURM_CONF", str(dead))
    message = error(base)
    assert "no Slurm controller answers" in message and str(dead) in message
    assert not (out / "bad" / ".slurm").exists()  # nothing was submitted
