"""study.runner mechanics with a fast fake run program injected (no training here):
skip of finished runs, failure isolation, retries, crash accounting, threads, parallelism."""

import json
import sys
from pathlib import Path

import pytest

from study.cli import main as cli_main
from contracts.record import read_record
from study.identity import run_id
from study.runner import format_value, plan_runs, run_command, run_sweep
from study.sweepfile import load_sweep

ROOT = Path(__file__).resolve().parents[1]

# A stand-in for `python -m study run`: writes the record a real run would, then behaves as
# told: finish, fail (recorded reason), crash (exit 1 leaving status running), sleep+finish.
FAKE = r'''
import json, os, sys, time
run_dir, behaviour = sys.argv[1], sys.argv[2]
os.makedirs(run_dir, exist_ok=True)
def record(status, reason=None):
    data = {"run_id": os.path.basename(run_dir), "status": status, "reason": reason,
            "summary": {"threads": os.environ["OMP_NUM_THREADS"], "wait": os.environ["OMP_WAIT_POLICY"],
                        "start": start, "end": time.time()}}
    with open(os.path.join(run_dir, "record.json.tmp"), "w") as f:
        json.dump(data, f)
    os.replace(os.path.join(run_dir, "record.json.tmp"), os.path.join(run_dir, "record.json"))
start = time.time()
record("running")
with open(os.path.join(run_dir, "launches"), "a") as f:
    f.write("x")
if behaviour == "fail":
    record("failed", "NonFiniteLossError: train/loss became nan at step 1")
    sys.exit(1)
if behaviour == "crash":
    sys.exit(1)
if behaviour == "sleep":
    time.sleep(1.0)
record("finished")
'''


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE)
    behaviours = {}  # seed -> behaviour

    def command(config, *, out, sweep):
        return [sys.executable, str(script), str(out / sweep / run_id(sweep, config)),
                behaviours.get(config.seed, "finish")]
    command.behaviours = behaviours
    return command


@pytest.fixture
def sweep():
    return load_sweep(ROOT / "sweeps" / "gan_scaling.yaml")  # 2 scalings x 3 seeds


def _launches(out, sweep) -> int:
    return sum(len((p / "launches").read_text()) for p in (out / sweep.name).iterdir()
               if (p / "launches").exists())


def test_all_runs_finish_then_a_rerun_skips_them(tmp_path, fake, sweep):
    out = tmp_path / "out"
    report = run_sweep(sweep, out, workers=2, command=fake, threads=2)
    assert len(report.done) == 6 and report.ok
    assert (out / sweep.name / "sweep.yaml").read_text() == Path(sweep.path).read_text()
    again = run_sweep(sweep, out, workers=2, command=fake, threads=2)
    assert again.done == [] and len(again.skipped_finished) == 6 and again.ok
    assert _launches(out, sweep) == 6  # nothing was launched the second time


def test_failure_is_isolated_recorded_and_retried_only_on_request(tmp_path, fake, sweep):
    out = tmp_path / "out"
    fake.behaviours[1] = "fail"
    report = run_sweep(sweep, out, workers=2, command=fake, threads=2)
    assert len(report.done) == 4 and len(report.failed) == 2 and not report.ok
    assert all("NonFiniteLossError" in reason for _, reason in report.failed)
    again = run_sweep(sweep, out, workers=2, command=fake, threads=2)
    assert len(again.skipped_failed) == 2 and again.done == [] and not again.ok
    fake.behaviours[1] = "finish"
    retried = run_sweep(sweep, out, workers=2, command=fake, threads=2, retry_failed=True)
    assert len(retried.done) == 2 and retried.ok


def test_a_crash_without_an_outcome_is_recorded_failed(tmp_path, fake, sweep):
    out = tmp_path / "out"
    fake.behaviours[0] = "crash"
    report = run_sweep(sweep, out, workers=1, command=fake, threads=1, limit=1)
    assert report.failed and "exit code 1" in report.failed[0][1]
    record = read_record(out / sweep.name / report.failed[0][0])
    assert record["status"] == "failed" and "exit code 1" in record["reason"]


def test_running_records_are_resumed(tmp_path, fake, sweep):
    out = tmp_path / "out"
    config = plan_runs(sweep, out)[0]
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "record.json").write_text(json.dumps({"status": "running"}))
    plans = plan_runs(sweep, out)
    assert [p.action for p in plans] == ["resume"] + ["run"] * 5


@pytest.mark.parametrize("workers, threads, expected", [(1, 2, "2"), (2, 2, "1"), (2, 5, "2"), (4, 2, "1")])
def test_threads_are_divided_among_workers(tmp_path, fake, sweep, workers, threads, expected):
    out = tmp_path / "out"
    run_sweep(sweep, out, workers=workers, command=fake, threads=threads, limit=2)
    summaries = [read_record(p)["summary"] for p in (out / sweep.name).iterdir() if p.is_dir()]
    assert {s["threads"] for s in summaries} == {expected} and {s["wait"] for s in summaries} == {"PASSIVE"}


def test_two_workers_run_at_the_same_time(tmp_path, fake, sweep):
    out = tmp_path / "out"
    fake.behaviours.update({0: "sleep", 1: "sleep"})
    run_sweep(sweep, out, workers=2, command=fake, threads=2, limit=2)
    spans = sorted((s["start"], s["end"]) for s in
                   (read_record(p)["summary"] for p in (out / sweep.name).iterdir() if p.is_dir()))
    assert spans[1][0] < spans[0][1]  # the second started before the first ended


def test_run_command_is_an_argument_list_of_every_field(tmp_path, sweep):
    config = plan_runs(sweep, tmp_path)[0].config
    argv = run_command(config, out=tmp_path, sweep="s")
    assert argv[1:4] == ["-m", "study", "run"] and f"--out={tmp_path}" in argv
    assert f"--lr={format_value(config.lr)}" in argv and "--beta=None" in argv
    assert len([a for a in argv if a.startswith("--")]) == 2 + len(config.to_dict())


def test_sweep_command_line_errors(tmp_path, capsys):
    assert cli_main(["sweep", str(ROOT / "sweeps" / "gan_scaling.yaml"), "--out", str(tmp_path),
                     "--set", "beta=4"]) == 2
    assert "beta: applies to model vae only" in capsys.readouterr().err
    assert cli_main(["sweep", str(ROOT / "sweeps" / "gan_scaling.yaml"), "--workers", "0"]) == 2
    assert cli_main(["sweep", str(ROOT / "sweeps" / "gan_scaling.yaml"), "--set", "seed"]) == 2
    assert "--set expects key=value" in capsys.readouterr().err
