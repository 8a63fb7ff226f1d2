"""study.config and study.budgets: strict validation, agent-style arguments, resolution."""

import dataclasses
import math

import pytest

from lgm.data import dataset_info
from lgm.gan import LOSSES
from lgm.likelihoods import LIKELIHOODS
from study.budgets import BUDGETS, budget_steps
from study.config import (FAMILY_DEFAULTS, FIELD_NAMES, ConfigError, RunConfig, parse_value,
                          resolve)
from study.run import parse_run_args


def _error(**values) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(values)
    return info.value


def test_fields_are_exactly_the_sweep_parameters():
    assert FIELD_NAMES == (
        "dataset", "model", "arch", "latent_dim", "width", "beta", "likelihood", "sigma",
        "scale_sharing", "conditional", "scaling", "loss", "sample_steps", "guidance_scale", "lr",
        "beta1", "beta2", "batch_size", "budget", "budget_factor", "train_steps", "eval_samples",
        "eval_points", "curve_samples", "log_every",
        "checkpoint_every", "precision", "memory_format", "seed", "device")


def test_round_trip_through_dict():
    config = RunConfig(model="gan", scaling="zero_one", loss="hinge", seed=3)
    assert RunConfig.from_dict(config.to_dict()) == config
    assert resolve(RunConfig.from_dict(resolve(config).to_dict())) == resolve(config)


@pytest.mark.parametrize("values, key, allowed", [
    ({"foo": 1}, "foo", "dataset, model"),                              # unknown key
    ({"model": "flow"}, "model", "vae, gan"),                           # invalid value
    ({"likelihood": "poisson"}, "likelihood", ", ".join(LIKELIHOODS)),
    ({"model": "gan", "loss": "wasserstein"}, "loss", ", ".join(LOSSES)),
    ({"budget": "huge"}, "budget", "smoke, quick, full"),
    ({"device": "tpu"}, "device", "auto, cpu, cuda"),
    ({"model": "gan", "arch": "mlp"}, "arch", "allowed: conv"),         # invalid combinations
    ({"scaling": "minus_one_one"}, "scaling", "allowed: zero_one"),
    ({"model": "gan", "likelihood": "laplace"}, "likelihood", "model vae only"),
    ({"model": "gan", "beta": 4.0}, "beta", "model vae only"),
    ({"model": "vae", "loss": "hinge"}, "loss", "model gan only"),
    ({"likelihood": "bernoulli", "sigma": 0.3}, "sigma", "gaussian_fixed only"),
    ({"likelihood": "laplace", "scale_sharing": "shared"}, "scale_sharing", "gaussian_learned only"),
])
def test_refusals_name_the_key_and_the_allowed_values(values, key, allowed):
    err = _error(**values)
    assert err.key == key and str(err).startswith(f"{key}: ") and allowed in str(err)


@pytest.mark.parametrize("values, key", [
    ({"beta": "abc"}, "beta"), ({"latent_dim": 2.5}, "latent_dim"), ({"conditional": 1}, "conditional"),
    ({"seed": True}, "seed"), ({"dataset": None}, "dataset"), ({"lr": -1e-3}, "lr"),
    ({"lr": math.inf}, "lr"), ({"beta1": 1.0}, "beta1"), ({"beta": -0.5}, "beta"),
    ({"eval_samples": 10}, "eval_samples"), ({"train_steps": 0}, "train_steps"), ({"seed": -1}, "seed"),
    ({"eval_samples": 60_001}, "eval_samples"), ({"batch_size": 70_000}, "batch_size"),
    ({"conditional": True, "eval_samples": 205}, "eval_samples"),  # not a multiple of 10 classes
])
def test_wrong_types_and_ranges_are_refused(values, key):
    assert _error(**values).key == key


def test_defaults_that_do_not_apply_are_accepted_and_resolve_to_none():
    # a sweep may fix likelihood: bernoulli while varying model (e.g. the conditional sweep)
    gan = resolve(RunConfig(model="gan", likelihood="bernoulli", beta=1.0))
    assert gan.likelihood is None and gan.beta is None and gan.loss == "non_saturating"
    vae = resolve(RunConfig(model="vae", loss="non_saturating"))
    assert vae.loss is None and vae.scaling == "zero_one"


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_resolution_fills_family_defaults(model):
    config = resolve(RunConfig(model=model))
    for key, value in FAMILY_DEFAULTS[model].items():
        assert getattr(config, key) == value, key
    assert config.lr == {"vae": 1e-3, "gan": 2e-4}[model] and config.beta1 == {"vae": 0.9, "gan": 0.5}[model]
    # an explicit value wins over the family default
    assert resolve(RunConfig(model=model, lr=5e-4)).lr == 5e-4


@pytest.mark.parametrize("likelihood, sigma, sharing", [
    ("gaussian_fixed", 0.1, None), ("gaussian_learned", None, "per_pixel"), ("bernoulli", None, None)])
def test_likelihood_specific_keys(likelihood, sigma, sharing):
    config = resolve(RunConfig(likelihood=likelihood))
    assert (config.sigma, config.scale_sharing) == (sigma, sharing)


@pytest.mark.parametrize("budget", ["quick", "full"])
@pytest.mark.parametrize("model", ["vae", "gan"])
@pytest.mark.parametrize("batch_size", [64, 128])
def test_budget_steps_are_epochs_times_full_batches(budget, model, batch_size):
    config = resolve(RunConfig(model=model, budget=budget, batch_size=batch_size))
    per_epoch = dataset_info("fashion_mnist").sizes["train"] // batch_size  # 60000 // 128 = 468
    assert config.train_steps == round(BUDGETS[budget].epochs[model] * per_epoch)
    assert config.eval_samples == 10_000


def test_smoke_budget_and_explicit_values_win():
    smoke = resolve(RunConfig(budget="smoke"))
    assert (smoke.train_steps, smoke.eval_samples) == (BUDGETS["smoke"].steps, BUDGETS["smoke"].eval_samples)
    explicit = resolve(RunConfig(budget="smoke", train_steps=7, eval_samples=300))
    assert (explicit.train_steps, explicit.eval_samples) == (7, 300)
    with pytest.raises(ValueError, match="allowed: smoke, quick, full"):
        budget_steps("nope", model="vae", dataset="mnist", batch_size=128)


def test_quick_budget_matches_wall_clock_between_families():
    # In the default training modes a DCGAN epoch (~39 s, bf16 + channels_last) costs ~2.9x a
    # VAE epoch (~13 s) (benchmarks/epoch_cost.py); gan_vs_vae relies on both non-smoke
    # budgets giving the VAE 3x the GAN's epochs (12 vs 4, 60 vs 20).
    for name in ("quick", "full"):
        epochs = BUDGETS[name].epochs
        assert epochs["vae"] == 3 * epochs["gan"], name


@pytest.mark.parametrize("key, text, value", [
    ("beta", "4", 4.0), ("beta", "0.25", 0.25), ("lr", "1e-3", 1e-3), ("latent_dim", "32", 32),
    ("conditional", "True", True), ("conditional", "false", False), ("likelihood", "laplace", "laplace"),
    ("train_steps", "None", None), ("lr", "null", None),
])
def test_parse_value_accepts_what_wandb_agents_write(key, text, value):
    assert parse_value(key, text) == value


@pytest.mark.parametrize("key, text", [("beta", "abc"), ("latent_dim", "3.5"), ("conditional", "maybe"),
                                       ("seed", "None")])
def test_parse_value_refuses_with_the_expected_type(key, text):
    with pytest.raises(ConfigError, match=f"^{key}: expected"):
        parse_value(key, text)


def test_agent_style_arguments():
    options, overrides = parse_run_args(["--beta=4", "--likelihood", "bernoulli", "--conditional=True",
                                         "--out=/tmp/x", "--seed=2"])
    assert overrides == {"beta": 4.0, "likelihood": "bernoulli", "conditional": True, "seed": 2}
    assert options["out"] == "/tmp/x" and options["sweep"] is None


@pytest.mark.parametrize("argv, key", [(["--beta=abc"], "beta"), (["--nope=1"], "nope"),
                                       (["--seed=1", "--seed=2"], "seed"), (["beta=1"], "beta=1"),
                                       (["--beta"], "beta")])
def test_bad_arguments(argv, key):
    with pytest.raises(ConfigError) as info:
        parse_run_args(argv)
    assert info.value.key == key


def test_config_is_frozen_and_flat():
    config = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.beta = 2.0
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in resolve(config).to_dict().values())


def test_auto_training_mode_is_the_familys_fast_mode_and_explicit_values_stay():
    from lgm.gan import GAN
    from lgm.train import fast_mode
    from lgm.vae import VAE
    from study.config import resolve_device

    device = resolve_device("auto")
    for model, cls in (("gan", GAN), ("vae", VAE)):
        resolved = resolve(RunConfig(model=model))
        fast = fast_mode(cls, device)
        assert (resolved.precision, resolved.memory_format) == (fast.precision, fast.memory_format)
    explicit = resolve(RunConfig(model="gan", precision="fp32", memory_format="contiguous"))
    assert (explicit.precision, explicit.memory_format) == ("fp32", "contiguous")
    with pytest.raises(ConfigError, match="precision: 'fp16' is not allowed; allowed: auto, fp32, bf16"):
        RunConfig(precision="fp16")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_config_resolves_here_without_a_gpu_to_float32():
    # planning a sweep for a GPU machine on a CPU one: its capabilities are unknown here
    config = resolve(RunConfig(model="gan", device="cuda"))
    assert (config.precision, config.memory_format) == ("fp32", "channels_last")
