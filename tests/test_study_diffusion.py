"""The diffusion family in the study: its config keys (refused where they do not apply,
before any work), ids, and a smoke run end to end, then a run that differs only in
``sample_steps`` evaluating the first run's trained weights instead of training again."""

import json

import pytest
import torch

from contracts.record import read_record
from study.config import ConfigError, RunConfig, resolve
from study.export import draw_evaluation_samples
from study.identity import config_hash, run_id, training_hash
from study.run import main as run_main


@pytest.mark.parametrize("values,message", [
    (dict(model="gan", sample_steps=10), "sample_steps: applies to model diffusion only"),
    (dict(model="vae", guidance_scale=2.0), "guidance_scale: applies to model diffusion only"),
    (dict(model="diffusion", guidance_scale=2.0), "guidance_scale: applies to conditional models only"),
    (dict(model="diffusion", sample_steps=0), "sample_steps: must be >= 1"),
    (dict(model="diffusion", conditional=True, guidance_scale=float("inf")), "guidance_scale: must be a finite"),
    (dict(model="diffusion", latent_dim=8), "latent_dim: does not apply to model diffusion"),
    (dict(model="diffusion", loss="hinge"), "loss: applies to model gan only"),
    (dict(model="diffusion", scaling="zero_one"), "scaling: 'zero_one' is not allowed for model diffusion"),
])
def test_keys_that_do_not_apply_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**values)


def test_refused_on_the_command_line_before_any_work(tmp_path, capsys):
    assert run_main(["--model=gan", "--sample_steps=10", f"--out={tmp_path}"]) == 2
    assert "sample_steps: applies to model diffusion only" in capsys.readouterr().err
    assert run_main(["--model=diffusion", "--guidance_scale=3", f"--out={tmp_path}"]) == 2
    assert "conditional models only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_resolution_fills_diffusion_keys_and_nulls_them_elsewhere():
    diffusion = resolve(RunConfig(model="diffusion"))
    assert (diffusion.sample_steps, diffusion.guidance_scale, diffusion.latent_dim) == (5, None, None)
    assert (diffusion.lr, diffusion.beta1, diffusion.scaling) == (1e-3, 0.9, "minus_one_one")
    assert resolve(RunConfig(model="diffusion", conditional=True)).guidance_scale == 1.0
    gan = resolve(RunConfig(model="gan", sample_steps=5))  # the default where it applies: allowed
    assert (gan.sample_steps, gan.guidance_scale) == (None, None)
    # quick: 1.5 epochs of 60,000 // 128 = 468 steps
    assert diffusion.train_steps == round(1.5 * 468)


def test_ids_of_other_families_are_unchanged_and_evaluation_keys_leave_training_identity():
    # Hashes computed before the diffusion keys existed (commit 3512a14), so finished runs
    # keep their ids and folders.
    assert config_hash(RunConfig()) == "85b66dc253"
    assert config_hash(RunConfig(model="gan", conditional=True)) == "f42b7257d8"
    a, b = RunConfig(model="diffusion"), RunConfig(model="diffusion", sample_steps=20)
    assert config_hash(a) != config_hash(b) and training_hash(a) == training_hash(b)
    assert training_hash(a) != training_hash(RunConfig(model="diffusion", width=8))


SMOKE = ["--model=diffusion", "--budget=smoke", "--width=4", "--batch_size=32", "--seed=3",
         "--eval_samples=100", "--curve_samples=100"]


def _run(out, sweep, *extra) -> dict:
    argv = [*SMOKE, *extra, f"--out={out}", f"--sweep={sweep}"]
    assert run_main(argv) == 0
    (folder,) = [p for p in (out / sweep).iterdir() if p.is_dir()]
    return read_record(folder) | {"_dir": folder}


def _history(folder):
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def test_smoke_run_then_other_sample_steps_reuse_the_trained_weights(tmp_path, capsys):
    out = tmp_path / "out"
    first = _run(out, "steps2", "--sample_steps=2")
    assert first["status"] == "finished" and first["config"]["sample_steps"] == 2
    summary = first["summary"]
    assert summary["eval/fid"] > 0 and summary["model/parameters"] > 0
    assert "train/loss" in summary and summary["time/train_s"] > 0
    for name in ("samples.png", "samples.npz", "copies.png", "model.pt", "checkpoint.pt"):
        assert (first["_dir"] / name).is_file(), name

    second = _run(out, "steps3", "--sample_steps=3")
    assert "trained weights from" in capsys.readouterr().out
    assert second["attempts"][-1]["trained_from"] == f"../../steps2/{first['run_id']}"
    assert second["config"]["sample_steps"] == 3
    # nothing was trained: same weights, same training history, other evaluation
    a = torch.load(first["_dir"] / "model.pt", weights_only=True)
    b = torch.load(second["_dir"] / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    train_lines = lambda f: [e for e in _history(f) if "train/loss" in e]  # noqa: E731
    assert train_lines(second["_dir"]) == train_lines(first["_dir"])
    assert second["summary"]["eval/fid"] != summary["eval/fid"]
    # exactly what training from scratch with sample_steps=3 gives
    fresh = _run(tmp_path / "elsewhere", "steps3", "--sample_steps=3")
    assert "trained_from" not in fresh["attempts"][-1]
    assert fresh["summary"]["eval/fid"] == second["summary"]["eval/fid"]
    assert run_id("steps3", resolve(RunConfig(model="diffusion", budget="smoke", width=4,
                                              batch_size=32, seed=3, sample_steps=3, eval_samples=100,
                                              curve_samples=100))) == second["run_id"]
    # export draws the evaluation samples again with the run's own sample_steps
    images3, labels, seed = draw_evaluation_samples(second["_dir"])
    images2, _, _ = draw_evaluation_samples(first["_dir"])
    assert images3.shape == (100, 1, 28, 28) and labels is None and seed == 3
    assert torch.equal(images3, draw_evaluation_samples(fresh["_dir"])[0])
    assert not torch.equal(images3, images2)


def test_only_finished_trainings_with_their_final_state_are_reused(tmp_path):
    from contracts.record import FINISHED, new_record, write_json_atomic
    from study.reuse import find_trained

    config = resolve(RunConfig(model="diffusion", budget="smoke"))
    other_steps = resolve(RunConfig(model="diffusion", budget="smoke", sample_steps=9))

    def folder(name, *, status=FINISHED, checkpoint=True, reused_from=None, cfg=other_steps):
        path = tmp_path / "sweep" / name
        path.mkdir(parents=True)
        record = new_record(run=name, sweep="sweep", config=cfg.to_dict(), code_version="x",
                            code_dirty=False)
        record.update(status=status, reused_from=reused_from)
        write_json_atomic(path / "record.json", record)
        if checkpoint:
            (path / "checkpoint.pt").write_bytes(b"")
        return path

    def hash_of(values):
        return training_hash(RunConfig.from_dict(values))

    target = tmp_path / "sweep" / "target"
    folder("a_failed", status="failed")
    folder("b_no_state", checkpoint=False)
    folder("c_a_reuse", reused_from="../x")
    folder("d_other_training", cfg=resolve(RunConfig(model="diffusion", budget="smoke", width=8)))
    assert find_trained(tmp_path, training_hash(config), hash_of, exclude=target) is None
    good = folder("e_good")
    assert find_trained(tmp_path, training_hash(config), hash_of, exclude=target) == good
    assert find_trained(tmp_path, training_hash(config), hash_of, exclude=good) is None
