"""Loading runs from run folders and from a faked W&B API; the comparability filter."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # analysis_fixtures, any import mode

from analysis_fixtures import (CLASSIFIER, OTHER_CLASSIFIER, FakeApi, eval_summary, make_study,  # noqa: E402
                               write_run)

from analysis import load_runs, load_sweep_spec, mark_comparable, history_frame  # noqa: E402
from analysis.errors import NoRunsError, RunRecordError, RunSourceError, SweepSpecError  # noqa: E402
from analysis.load import META_COLUMNS, config_columns  # noqa: E402


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def runs(study) -> pd.DataFrame:
    return load_runs(study)


def test_one_row_per_run_with_contract_columns(runs, study):
    assert len(runs) == len(list(study.glob("*/*/record.json"))) == 27
    assert set(META_COLUMNS) <= set(runs.columns)
    assert {"dataset", "model", "scaling", "beta", "seed", "device", "eval/fid", "eval/classifier_sha256",
            "train/kl", "time/train_s"} <= set(runs.columns)
    assert "seed" in config_columns(runs) and "eval/fid" not in config_columns(runs)
    assert runs["run_id"].is_unique and set(runs["sweep"]) == {"gan_scaling", "vae_beta", "gan_width"}
    assert set(runs["status"]) == {"finished", "failed", "running"}
    assert (runs["code_version"] == "28d0b45").all()


def test_image_and_history_paths_are_absolute_and_exist(runs):
    finished = runs[runs["status"] == "finished"]
    for column in ("samples_path", "history_path"):
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in finished[column])
    vae = runs[runs["sweep"] == "vae_beta"]
    assert vae["reconstructions_path"].notna().all()
    assert runs[runs["sweep"] == "gan_width"]["reconstructions_path"].isna().all()
    assert runs[runs["status"] == "running"]["samples_path"].isna().all()  # absent file → None


def test_failed_run_keeps_its_reason(runs):
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["reason"].startswith("NonFiniteLossError")


def test_a_sweep_folder_is_a_source_too(study, runs):
    one = load_runs(study / "vae_beta")
    assert sorted(one["run_id"]) == sorted(runs[runs["sweep"] == "vae_beta"]["run_id"])
    assert load_sweep_spec(study / "vae_beta", "vae_beta").prediction.kind == "trend"


def test_sweep_spec_from_the_sweep_file(study):
    spec = load_sweep_spec(study, "gan_scaling")
    assert spec.question.startswith("Does scaling data")
    assert (spec.prediction.better, spec.prediction.worse) == ("minus_one_one", "zero_one")
    assert spec.parameters["seed"] == [0, 1, 2]
    with pytest.raises(SweepSpecError, match="no sweep.yaml for sweep 'nope'"):
        load_sweep_spec(study, "nope")


def test_history_reader_skips_a_partial_last_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"step": 1, "train/loss": 2.0}\n{"step": 2, "train/loss": NaN}\n{"step": 3, "tr')
    history = history_frame(path)
    assert history["step"].tolist() == [1, 2] and pd.isna(history["train/loss"][1])
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(RunRecordError, match=":2: not a JSON object"):
        history_frame(path)


# --------------------------------------------------------------------------- bad input

def test_empty_folder_has_no_runs(tmp_path):
    with pytest.raises(NoRunsError, match="no runs found"):
        load_runs(tmp_path)


@pytest.mark.parametrize("source", ["./missing-folder", "/does/not/exist", "a/b/c/d", "just-a-name"])
def test_unknown_sources_name_the_allowed_forms(source):
    with pytest.raises(RunSourceError, match="entity/project"):
        load_runs(source)


def test_a_file_is_not_a_source(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(RunSourceError, match="is a file"):
        load_runs(tmp_path / "x.txt")


def _record(tmp_path, **changes) -> Path:
    folder = write_run(tmp_path, "s", config={}, summary=eval_summary(fid=1.0))
    path = folder / "record.json"
    record = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"status": "done"}, "status 'done' unknown; allowed: running, finished, failed"),
    ({"config": None}, "missing key\\(s\\) config"),
    ({"config": [1, 2]}, "'config' must be an object"),
    ({"config": {"status": "x"}}, "config key 'status' clashes"),
])
def test_records_breaking_the_contract_are_named(tmp_path, changes, message):
    path = _record(tmp_path, **changes)
    with pytest.raises(RunRecordError, match=message) as err:
        load_runs(tmp_path)
    assert str(path) in str(err.value)


def test_uncommitted_code_is_marked_in_the_code_version(tmp_path):
    _record(tmp_path, code_dirty=True)
    assert load_runs(tmp_path)["code_version"].tolist() == ["28d0b45+dirty"]


def test_unreadable_record_is_named(tmp_path):
    path = _record(tmp_path)
    path.write_text("{truncated")
    with pytest.raises(RunRecordError, match="cannot read the run record"):
        load_runs(tmp_path)


# --------------------------------------------------------------------------- comparability

def test_fixture_run_with_another_classifier_is_set_aside(runs):
    aside = runs[runs["set_aside"].notna()]
    assert len(aside) == 1 and aside.iloc[0]["eval/classifier_sha256"] == OTHER_CLASSIFIER
    assert CLASSIFIER in aside.iloc[0]["set_aside"] and "majority" in aside.iloc[0]["set_aside"]
    assert runs[runs["status"] != "finished"]["set_aside"].isna().all()  # excluded anyway


def _table(hashes, samples, statuses=None) -> pd.DataFrame:
    n = len(hashes)
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "sweep": ["s"] * n,
                         "status": statuses or ["finished"] * n, "set_aside": [None] * n,
                         "eval/classifier_sha256": hashes, "eval/num_samples": samples})


def test_majority_rule_for_each_comparability_key():
    marked = mark_comparable(_table(["a", "a", "a", "b"], [10000, 10000, 5000, 10000]))
    assert marked["set_aside"].notna().tolist() == [False, False, True, True]
    assert "eval/num_samples = 5000" in marked["set_aside"][2]
    assert "eval/classifier_sha256 = 'b'" in marked["set_aside"][3]


def test_missing_key_differs_and_ties_set_aside_every_tied_run():
    missing = mark_comparable(_table(["a", "a", None], [1, 1, 1]))
    assert missing["set_aside"].notna().tolist() == [False, False, True]
    tie = mark_comparable(_table(["a", "a", "b", "b"], [1, 1, 1, 1]))
    assert tie["set_aside"].notna().all() and "no majority" in tie["set_aside"][0]


def test_failed_runs_do_not_vote_and_sweeps_are_separate():
    table = _table(["a", "b", "b", "a"], [1, 1, 1, 1], ["finished", "failed", "failed", "finished"])
    table.loc[3, "sweep"] = "other"
    assert mark_comparable(table)["set_aside"].isna().all()


# --------------------------------------------------------------------------- W&B source

def test_wandb_project_gives_the_same_table(study, runs, tmp_path):
    api = FakeApi(study)
    remote = load_runs("lab/lgm", api=api, cache_dir=tmp_path)
    assert ("runs", "lab/lgm") in api.calls
    left, right = runs.set_index("run_id").sort_index(), remote.set_index("run_id").sort_index()
    same = [c for c in left.columns if c not in ("run_dir", "samples_path", "reconstructions_path",
                                                 "samples_array_path", "history_path", "started_at",
                                                 "finished_at")]
    assert set(same) <= set(right.columns)
    pd.testing.assert_frame_equal(left[same], right[same], check_dtype=False)
    assert right["samples_path"].notna().sum() == left["samples_path"].notna().sum()
    for path in right["samples_path"].dropna():
        assert Path(path).is_file() and Path(path).is_relative_to(tmp_path)
    # The study logs samples.png to W&B but keeps samples.npz in the run folder only: blind
    # ratings (python -m analysis rate) need a runs folder.
    assert left["samples_array_path"].notna().any() and right["samples_array_path"].isna().all()
    for run_id, path in right["history_path"].dropna().items():
        pd.testing.assert_frame_equal(history_frame(path), history_frame(left.loc[run_id, "history_path"]),
                                      check_dtype=False)


def test_wandb_sweep_path_and_sweep_spec(study, tmp_path):
    api = FakeApi(study)
    sweep_id = next(s.id for s in api._sweeps.values() if s.config["name"] == "vae_beta")
    remote = load_runs(f"lab/lgm/sweeps/{sweep_id}", api=api, cache_dir=tmp_path)
    assert set(remote["sweep"]) == {"vae_beta"} and len(remote) == 9
    assert load_sweep_spec(f"lab/lgm/sweeps/{sweep_id}", "vae_beta", api=api) == load_sweep_spec(study, "vae_beta")
    assert load_sweep_spec("lab/lgm", "gan_width", api=api) == load_sweep_spec(study, "gan_width")
    with pytest.raises(SweepSpecError, match="no sweep named 'nope'.*gan_width"):
        load_sweep_spec("lab/lgm", "nope", api=api)


def test_wandb_without_login_is_a_clear_source_error(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    with pytest.raises(RunSourceError, match="cannot open the W&B API"):
        load_runs("nobody/nothing")


def test_importing_the_analysis_loads_neither_torch_nor_wandb_nor_study():
    """The analysis package, its report and rating subpackages import light (the torch grid
    helper is imported where a figure is drawn), as docs/architecture.md says."""
    import subprocess

    code = ("import sys, analysis, analysis.report, analysis.rating.images, analysis.rating.report, "
            "analysis.sweep_analysis, analysis.settle_rule; "
            "bad = [m for m in ('wandb', 'study', 'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path(__file__).parents[1])
