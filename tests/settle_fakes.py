"""Fakes for the settle loop's tests (``tests/test_settle.py``): a run program that writes
the record a real run would in milliseconds, a clock that advances by the training those
runs claim, and hand-written decision rules. Also a driver, so that a real subprocess can
run a settle and be killed: ``python -m tests.settle_fakes OUT SWEEP_FILE [--sleep]``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.record import read_record
from study.identity import run_id
from study.reuse import find_extendable
from study.runner import run_sweep

STEP_S = 1.0  # fake training seconds per step (the records say so; the fake clock agrees)

# A stand-in for `python -m study run`: records "running", sleeps when told (to be killed),
# then writes a finished record with the numbers a real run has: eval/fid, time/train_s
# (cumulative over the run it extends, as lgm.train's clock), time/eval_s, steps, attempts.
PROGRAM = r'''
import datetime, json, os, sys, time
run_dir, config, extends, sleep_s = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
os.makedirs(run_dir, exist_ok=True)
now = lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
with open(os.path.join(run_dir, "launches"), "a") as f:
    f.write("x")
def write(record):
    tmp = os.path.join(run_dir, ".record.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(run_dir, "record.json"))
started = now()
record = {"run_id": os.path.basename(run_dir), "sweep": os.path.basename(os.path.dirname(run_dir)),
          "config": config, "status": "running", "summary": {}, "step": 0,
          "attempts": [{"started_at": started}], "started_at": started, "extends": extends or None}
write(record)
time.sleep(sleep_s)
# a marker file FAIL-<seed> beside the sweep folders makes that seed's runs fail, every
# time, until it is removed
marker = os.path.join(os.path.dirname(os.path.dirname(run_dir)), "FAIL-%d" % config["seed"])
if os.path.exists(marker):
    record.update(status="failed", reason="fake failure", finished_at=now())
    write(record)
    sys.exit(1)
better = config.get("scaling") == "minus_one_one" and config.get("loss") == "non_saturating"
fid = (30.0 if better else 34.0) / config["budget_factor"] ** 0.3 + ((config["seed"] * 7919) % 11 - 5) / 10
record.update(status="finished", step=config["train_steps"], finished_at=now(),
              summary={"eval/fid": fid, "time/train_s": config["train_steps"] * STEP_S,
                       "time/eval_s": 0.0})
open(os.path.join(run_dir, "checkpoint.pt"), "w").close()
write(record)
'''


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def fake_runner(folder: Path, clock: FakeClock, *, sleep_factor: int | None = None):
    """``runner(sweep, out, workers=)`` for ``study.settle.settle``: the real local runner
    with the fake program; the clock advances by the training the trained runs did (their
    own steps x STEP_S, over the workers), as a real round's wall-clock would."""
    program = Path(folder) / "fake_run.py"
    program.write_text(PROGRAM.replace("STEP_S", repr(STEP_S)))

    def command(config, *, out, sweep):
        run_dir = out / sweep / run_id(sweep, config)
        shorter = find_extendable(out, config, exclude=run_dir)
        sleep = 120 if config.budget_factor == sleep_factor else 0
        return [sys.executable, str(program), str(run_dir), json.dumps(config.to_dict()),
                os.path.relpath(shorter, run_dir) if shorter else "", str(sleep)]

    def runner(sweep, out, *, workers, retry_failed=False):
        report = run_sweep(sweep, out, workers=workers, command=command, threads=workers,
                           progress=False, retry_failed=retry_failed)
        own = 0.0
        for rid in set(report.done) - set(report.reused):
            record = read_record(out / sweep.name / rid)
            source = read_record((out / sweep.name / rid / record["extends"]).resolve()) \
                if record.get("extends") else {"step": 0}
            own += (record["step"] - source["step"]) * STEP_S
        clock.t += own / workers
        return report
    return runner


@dataclass(frozen=True)
class Decision:
    """The fields of analysis.settle_rule.SettleDecision that settle reads."""

    sweep: str
    settled: bool
    verdict: str
    extend: bool = False
    add_seeds: int = 0
    reason: str = "hand-written"
    procedure: str = "test"


def scripted(script: dict, log: list | None = None):
    """A rule from a table: ``script[sweep][look]`` = (settled, extend, add_seeds); the last
    entry holds for later looks. Calls are appended to ``log`` as (sweep, look, max_looks,
    budget factors, seeds seen)."""
    def decide(analysis, *, look, max_looks):
        name = analysis.name
        table = script[name]
        settled, extend, add = table[min(look, max(table))]
        if log is not None:
            runs = analysis.usable
            log.append((name, look, max_looks, sorted(set(runs["budget_factor"])),
                        sorted(set(runs["seed"]))))
        return Decision(name, settled, "supported" if settled else "inconclusive", extend, add,
                        reason=f"look {look}: settled={settled} extend={extend} add={add}")
    return decide


def main(argv: list[str]) -> int:
    """The driver a test kills: settle SWEEP into OUT with a rule that extends once, then
    settles; ``--sleep``: the runs at budget factor 2 sleep (to be killed mid-round)."""
    from study.settle import Caps, settle

    out, sweep = Path(argv[0]), argv[1]
    clock, log = FakeClock(), []
    out.mkdir(parents=True, exist_ok=True)
    runner = fake_runner(out, clock, sleep_factor=2 if "--sleep" in argv else None)
    decide = scripted({Path(sweep).stem: {1: (False, True, 0), 2: (True, False, 0)}}, log)
    code = settle([sweep], out, Caps(max_minutes=60), overrides={}, workers=2, decide=decide,
                  runner=runner, clock=clock)
    with open(out / "decisions.jsonl", "a") as f:
        for entry in log:
            f.write(json.dumps(entry) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
