"""The contracts between sweep files, runs and the analysis, each with one owner.

- the sweep description: ``study validate`` refuses everything the analysis would refuse
  (one parser, ``contracts.sweep``), checked over a cross of broken files;
- bad input is refused before any work (a grid with a distribution, a CUDA device the
  machine lacks, a tampered classifier);
- defaults live in the lgm component they configure.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from contracts.sweep import SweepSpecError, parse_sweep_config
from lgm.gan import GAN, GANConfig
from lgm.likelihoods import LIKELIHOODS
from lgm.train import TrainConfig, optimizer_defaults, resolve_optimizer
from lgm.vae import VAE, VAEConfig
from study.config import FAMILY_DEFAULTS, RunConfig, resolve
from study.sweepfile import SweepFileError, load_sweep

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))
GAN_SCALING = yaml.safe_load((ROOT / "sweeps" / "gan_scaling.yaml").read_text())
ORDERING = yaml.safe_load((ROOT / "sweeps" / "vae_likelihood.yaml").read_text())
TREND = yaml.safe_load((ROOT / "sweeps" / "vae_beta.yaml").read_text())


def _with_prediction(base: dict, **changes) -> dict:
    raw = copy.deepcopy(base)
    description = yaml.safe_load(raw["description"])
    description["prediction"].update(changes)
    for key, value in list(description["prediction"].items()):
        if value is None:
            del description["prediction"][key]
    raw["description"] = yaml.safe_dump(description)
    return raw


def _ordering(order) -> dict:
    return _with_prediction(ORDERING, kind="ordering", better=None, worse=None, order=order)


# Files the analysis once refused only after the runs were done (the first four), and more.
BROKEN = {
    "metric without a direction": _with_prediction(GAN_SCALING, metric="eval/is_std"),
    "metric unknown": _with_prediction(GAN_SCALING, metric="eval/sharpness"),
    "better equals worse": _with_prediction(GAN_SCALING, better="zero_one", worse="zero_one"),
    "order repeats a value": _ordering(["bernoulli", "laplace", "bernoulli"]),
    "order of one": _ordering(["bernoulli"]),
    "trend on text values": _with_prediction(GAN_SCALING, kind="trend", better=None, worse=None,
                                             direction="increasing"),
    "trend metric unknown": _with_prediction(TREND, metric="eval/fid_recno"),
    "trend direction unknown": _with_prediction(TREND, direction="up"),
    "group_by not swept": _with_prediction(GAN_SCALING, group_by="beta"),
    "W&B goal contradicts the registry": {**GAN_SCALING, "metric": {"name": "eval/fid", "goal": "maximize"}},
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_study_validate_refuses_what_the_analysis_refuses(tmp_path, name):
    raw = BROKEN[name]
    with pytest.raises(SweepSpecError) as analysis_error:
        parse_sweep_config(raw, origin="x.yaml")
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SweepFileError) as study_error:
        load_sweep(path)
    # the same parser says the same thing, prefixed with the file
    assert str(study_error.value) == str(analysis_error.value).replace("x.yaml", str(path), 1)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_shipped_sweep_is_accepted_by_both_sides(path):
    sweep = load_sweep(path)
    assert sweep.spec == parse_sweep_config(yaml.safe_load(path.read_text()), origin=str(path))


def test_a_grid_with_a_distribution_is_refused_with_a_message_not_a_traceback(tmp_path):
    raw = copy.deepcopy(yaml.safe_load((ROOT / "sweeps" / "vae_beta.yaml").read_text()))
    raw["parameters"]["beta"] = {"min": 0.1, "max": 10}
    path = tmp_path / "continuous.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "study", "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "parameters.beta: a grid sweep enumerates value/values only" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_device_the_machine_lacks_is_refused_before_any_work(tmp_path, capsys):
    from study.run import main as run_main

    assert run_main(["--device=cuda", "--budget=smoke", f"--out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device: 'cuda' is not available: this machine has no CUDA device")
    assert not any(tmp_path.iterdir())


def test_a_tampered_classifier_is_refused_before_training(tmp_path, monkeypatch):
    import lgm.evaluation.classifiers as classifiers
    from lgm.evaluation import ClassifierWeightsError
    from study import pipeline

    folder = tmp_path / "weights"
    shutil.copytree(classifiers.WEIGHTS_DIR, folder)
    with open(folder / "fashion_mnist.pt", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setattr(classifiers, "WEIGHTS_DIR", folder)
    classifiers.clear_cache()

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the classifier was checked")
    monkeypatch.setattr(pipeline, "train", no_training)
    config = dataclasses.replace(resolve(RunConfig(budget="smoke")), device="cpu")
    with pytest.raises(ClassifierWeightsError, match="SHA-256"):
        pipeline.execute(config, tmp_path, device="cpu")


# --------------------------------------------------------------------------- defaults

def test_the_default_gan_is_defined_in_lgm():
    # Radford et al. 2016 (lr 2e-4, beta1 0.5) for the DCGAN, Kingma & Ba's for the VAE.
    assert (optimizer_defaults(GAN).lr, optimizer_defaults(GAN).beta1) == (2e-4, 0.5)
    assert (optimizer_defaults(VAE).lr, optimizer_defaults(VAE).beta1) == (1e-3, 0.9)
    gan = GAN(GANConfig())
    resolved = resolve_optimizer(TrainConfig(steps=1), gan)
    assert (resolved.lr, resolved.beta1, resolved.beta2) == (2e-4, 0.5, 0.999)
    assert resolve_optimizer(TrainConfig(steps=1, lr=0.01), gan).lr == 0.01  # given wins
    # the study's family defaults are read from there, not written again
    for family, cls, config in (("gan", GAN, GANConfig), ("vae", VAE, VAEConfig)):
        adam = optimizer_defaults(cls)
        assert (FAMILY_DEFAULTS[family]["lr"], FAMILY_DEFAULTS[family]["beta1"]) == (adam.lr, adam.beta1)
        assert FAMILY_DEFAULTS[family]["latent_dim"] == config.latent_dim


def test_densities_are_the_likelihoods_with_continuous_support():
    # Theis et al. 2016: a density must be dequantized; a pmf (Bernoulli, the discretized
    # logistic over 256 bins) must not. Written out here from the distributions' supports.
    continuous = {"continuous_bernoulli", "gaussian_fixed", "gaussian_learned", "laplace"}
    assert {name for name, cls in LIKELIHOODS.items() if cls.is_density} == continuous


def test_a_resolved_config_holds_its_cadence():
    # the budget's cadence is copied in, so nothing after resolve reads the budget table
    smoke = resolve(RunConfig(budget="smoke"))
    assert (smoke.log_every, smoke.checkpoint_every) == (10, 20)
    short = resolve(RunConfig(budget="quick", train_steps=7))
    assert short.log_every == 7  # capped at the steps: the one log is the last step
    # checkpoint_every does not change what is computed: same run id
    from study.identity import config_hash

    assert config_hash(RunConfig(budget="smoke", checkpoint_every=5)) == config_hash(RunConfig(budget="smoke"))
    assert config_hash(RunConfig(budget="smoke", log_every=5)) != config_hash(RunConfig(budget="smoke"))


def test_cudnn_autotuning_is_switched_on_for_cuda_runs_only(monkeypatch):
    import torch.backends.cudnn as cudnn

    from study.build import configure_device

    monkeypatch.setattr(cudnn, "benchmark", False)
    configure_device("cpu")
    assert cudnn.benchmark is False
    configure_device("cuda:0")  # a setting only: no CUDA call is made
    assert cudnn.benchmark is True


# --------------------------------------------------------------------------- samples.npz


def test_samples_array_round_trip_and_refusals(tmp_path):
    import numpy as np

    from contracts.samples import SamplesArrayError, read_samples_array, write_samples_array

    images = np.arange(2 * 1 * 3 * 3, dtype=np.uint8).reshape(2, 1, 3, 3)
    write_samples_array(tmp_path / "a.npz", images=images, labels=np.array([3, 7]))
    back = read_samples_array(tmp_path / "a.npz")
    assert np.array_equal(back.images, images) and back.labels.tolist() == [3, 7] and back.conditional
    write_samples_array(tmp_path / "b.npz", images=images, labels=np.zeros(0))
    assert not read_samples_array(tmp_path / "b.npz").conditional
    with pytest.raises(SamplesArrayError, match="uint8 N×C×H×W"):
        write_samples_array(tmp_path / "c.npz", images=images.astype(np.float32), labels=[])
    with pytest.raises(SamplesArrayError, match="one per image"):
        write_samples_array(tmp_path / "d.npz", images=images, labels=[1, 2, 3])
    (tmp_path / "e.npz").write_bytes(b"not a zip")
    with pytest.raises(SamplesArrayError, match="cannot read samples"):
        read_samples_array(tmp_path / "e.npz")
