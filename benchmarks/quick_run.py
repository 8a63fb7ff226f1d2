"""Shared pieces of the benchmarks that time training: a quick run's model, data and
training settings as the study builds them, and seconds per training step of a mode."""

from __future__ import annotations

import dataclasses
import time

from lgm.data import BatchStream, load_dataset
from lgm.diffusion import Diffusion, DiffusionConfig
from lgm.gan import GAN, GANConfig
from lgm.train import TrainConfig, TrainMode, seed_everything, train
from lgm.vae import VAE, VAEConfig
from study.build import build_model, build_stream, train_config
from study.config import RunConfig, resolve

BATCH = 128
FAMILIES = {"vae": (VAE, VAEConfig, "zero_one"), "gan": (GAN, GANConfig, "minus_one_one"),
            "diffusion": (Diffusion, DiffusionConfig, "minus_one_one")}


def seconds_per_step(data, family: str, mode: TrainMode, steps: int) -> float:
    """One fresh default model of ``family`` trained ``steps`` steps in ``mode`` (after 3
    warm-up steps: allocator, kernels), batch 128, through ``lgm.train``."""
    cls, config_cls, scaling = FAMILIES[family]
    seed_everything(0)
    model = cls(config_cls())
    stream = BatchStream(data, BATCH, scaling=scaling, seed=0)
    config = TrainConfig(steps=steps, progress=False, precision=mode.precision,
                         memory_format=mode.memory_format, log_every=steps)
    train(model, stream, dataclasses.replace(config, steps=3, log_every=3))
    start = time.perf_counter()
    train(model, stream, config)
    return (time.perf_counter() - start) / steps


def quick_run(family: str, train_steps: int):
    """(resolved quick config, model, stream, a TrainConfig of ``train_steps`` steps) of a
    quick run of ``family``, warmed up by 3 steps."""
    config = dataclasses.replace(resolve(RunConfig(model=family, budget="quick")), device="cpu")
    seed_everything(0)
    model = build_model(config)
    stream = build_stream(config, load_dataset(config.dataset, "train"), "cpu")
    timed = dataclasses.replace(train_config(config, "cpu", progress=False), steps=train_steps,
                                log_every=train_steps)
    train(model, stream, dataclasses.replace(timed, steps=3, log_every=3))
    return config, model, stream, timed
