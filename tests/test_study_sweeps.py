"""Sweep files: every sweeps/*.yaml validates; broken copies fail clearly; enumeration; run ids."""

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from study.cli import main as cli_main
from study.config import FIELD_NAMES, ConfigError, RunConfig, resolve
from study.identity import config_hash, run_id
from study.sweepfile import SweepFileError, enumerate_runs, load_sweep

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
REQUIRED = {"vae_beta", "vae_likelihood", "gan_vs_vae", "gan_scaling", "conditional"}


def test_the_required_sweeps_exist():
    assert REQUIRED <= {p.stem for p in SWEEPS}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_sweep_file_validates(path):
    sweep = load_sweep(path)
    assert sweep.name == path.stem
    values = sweep.parameters["seed"]["values"]
    assert len(values) >= 3
    budget = sweep.parameters["budget"]
    assert budget.get("value", budget.get("values", [None])[0]) == "quick"
    assert "${args}" in sweep.raw["command"] and sweep.raw["command"][2:5] == ["-m", "study", "run"]
    # a grid's runs are the product of its value lists (no duplicates after resolution)
    sizes = [len(spec.get("values", [spec.get("value")])) for spec in sweep.parameters.values()]
    assert len(enumerate_runs(sweep)) == math.prod(sizes)


def _broken(tmp_path, edit) -> Path:
    raw = yaml.safe_load((ROOT / "sweeps" / "gan_scaling.yaml").read_text())
    edit(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _set_prediction(raw, **changes):
    description = yaml.safe_load(raw["description"])
    description["prediction"].update(changes)
    raw["description"] = yaml.safe_dump(description)


@pytest.mark.parametrize("edit, expected", [
    (lambda r: r["parameters"].update(betta={"value": 1.0}), "parameters.betta: unknown key; allowed: dataset"),
    (lambda r: r["parameters"].update(scaling={"values": ["minus_one_one", "centered"]}),
     "parameters.scaling: 'centered' is not allowed"),
    (lambda r: r["parameters"].update(likelihood={"value": "laplace"}), "parameters.likelihood: applies to model vae"),
    (lambda r: r["parameters"].update(lr={"value": "fast"}), "parameters.lr: expected a number"),
    (lambda r: r["parameters"].update(arch={"parameters": {"x": {"value": 1}}}), "nested parameters"),
    (lambda r: r["parameters"].pop("seed"), "parameters.seed: missing"),
    (lambda r: r.update(method="bayes"), "method: 'bayes' cannot run locally"),
    (lambda r: r.update(method="sideways"), "not a valid W&B sweep config"),
    (lambda r: r.update(colour="red"), "'colour' was unexpected"),
    (lambda r: r.update(command=["python", "-m", "study", "run"]), "command: must be a list of strings that passes ${args}"),
    (lambda r: r.update(description="just text"), "description: expected a mapping"),
    (lambda r: _set_prediction(r, kind="vibes"), "description.prediction.kind: 'vibes' unknown; allowed: pairwise"),
    (lambda r: _set_prediction(r, better="sideways"), "description.prediction.better: 'sideways' is not one of"),
    (lambda r: _set_prediction(r, parameter="model"), "description.prediction.parameter: 'model' must be a swept"),
    (lambda r: _set_prediction(r, group_by="beta"), "description.prediction.group_by: 'beta' is not a parameter"),
    (lambda r: r.update(name="has space"), "name: expected a folder-safe name"),
])
def test_broken_copies_fail_with_a_message_naming_the_key(tmp_path, edit, expected):
    with pytest.raises(SweepFileError) as info:
        load_sweep(_broken(tmp_path, edit))
    assert str(info.value).startswith(str(tmp_path / "broken.yaml")) and expected in str(info.value)


def test_unparseable_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SweepFileError, match="not valid YAML"):
        load_sweep(path)


def test_validate_command_prints_errors_without_traceback(tmp_path, capsys):
    bad = _broken(tmp_path, lambda r: r["parameters"].update(betta={"value": 1.0}))
    assert cli_main(["validate", str(SWEEPS[0]), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"ok {SWEEPS[0]}") and err.startswith("error: ") and "betta" in err
    assert "Traceback" not in err


def test_validate_all_sweeps_as_a_program():
    done = subprocess.run([sys.executable, "-m", "study", "validate", *map(str, SWEEPS)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok ") == len(SWEEPS)


def test_enumeration_limit_and_overrides():
    sweep = load_sweep(ROOT / "sweeps" / "vae_beta.yaml")  # 6 betas x 3 seeds
    runs = enumerate_runs(sweep)
    assert len(runs) == 18 and all(isinstance(r, RunConfig) for r in runs)
    # W&B grid order: names sorted, the last (seed) varies fastest
    assert [(r.beta, r.seed) for r in runs[:4]] == [(0.25, 0), (0.25, 1), (0.25, 2), (0.5, 0)]
    assert len(enumerate_runs(sweep, limit=5)) == 5
    assert len(enumerate_runs(sweep, overrides={"seed": 0})) == 6  # duplicates collapse
    full = enumerate_runs(sweep, overrides={"budget": "full"})
    assert {r.budget for r in full} == {"full"} and full[0].train_steps == 60 * 468
    with pytest.raises(SweepFileError, match="parameters.lr: must be > 0"):
        enumerate_runs(sweep, overrides={"lr": -1.0})
    with pytest.raises(ConfigError, match="^nope: unknown key"):
        enumerate_runs(sweep, overrides={"nope": 1})


def test_random_sweeps_are_seeded_and_plain_python(tmp_path):
    path = tmp_path / "random.yaml"
    raw = yaml.safe_load((ROOT / "sweeps" / "vae_beta.yaml").read_text())
    raw.update(method="random", run_cap=4)
    raw["parameters"]["beta"] = {"distribution": "log_uniform_values", "min": 0.25, "max": 8.0}
    raw["description"] = raw["description"].replace("kind: trend", "kind: trend").replace(
        "parameter: beta", "parameter: seed")
    path.write_text(yaml.safe_dump(raw))
    sweep = load_sweep(path)
    first, second = enumerate_runs(sweep), enumerate_runs(sweep)
    assert len(first) == 4 and first == second
    assert all(type(r.beta) is float and 0.25 <= r.beta <= 8.0 for r in first)


def test_run_ids_are_stable_and_ignore_device():
    # the training mode given: then the device changes nothing a run computes (an `auto`
    # mode is resolved per device on purpose: bf16 where native, and bf16 results differ)
    a = RunConfig(model="gan", seed=1, precision="fp32", memory_format="channels_last")
    assert run_id("s", a) == run_id("s", RunConfig.from_dict(dict(reversed(list(a.to_dict().items())))))
    assert run_id("s", a) == run_id("s", dataclasses.replace(a, device="cuda"))
    assert run_id("s", a) == run_id("s", resolve(a))  # explicit defaults = implicit defaults
    assert run_id("s", a) != run_id("s", dataclasses.replace(a, seed=2))
    assert run_id("s", a) != run_id("t", a)
    assert run_id("s", a).startswith("s-") and len(config_hash(a)) == 10
    ids = {run_id("x", c) for c in enumerate_runs(load_sweep(ROOT / "sweeps" / "vae_likelihood.yaml"))}
    assert len(ids) == 18
    assert set(FIELD_NAMES) == set(a.to_dict())
