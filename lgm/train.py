"""Training loops with a step budget, exact checkpoint/resume, NaN detection and callbacks.

One ``train`` function drives every model family through a small *strategy* per family
(``VAEStrategy``: one Adam on the negative ELBO; ``GANStrategy``: alternating D and G Adam
steps; ``DiffusionStrategy``: one Adam on the flow-matching loss), chosen from an explicit dict by the model's class. Metrics reach the caller through
``callback(step, metrics)`` with namespaced keys (``train/loss``, ``train/kl``, ...), so the
study can log them anywhere; this module never imports wandb.

Exact resume: the batch of step ``s`` is a pure function of ``(seed, s)``
(``lgm.data.BatchStream``), and a checkpoint holds the model, the optimizers, the noise
generator, the global RNG states, the step and the running metric sums. So N steps straight
equal N/2 steps + resume + N/2 steps, bit for bit on CPU (tests/test_train.py).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from lgm.data import BatchStream
from lgm.diffusion import Diffusion
from lgm.gan import GAN
from lgm.vae import VAE

__all__ = ["TrainConfig", "TrainResult", "TrainClock", "AdamSettings", "TrainMode",
           "NonFiniteLossError", "CheckpointMismatchError", "train", "seed_everything",
           "optimizer_defaults", "resolve_optimizer", "native_bf16", "fast_mode", "STRATEGIES",
           "PRECISIONS", "MEMORY_FORMATS"]

PRECISIONS = ("fp32", "bf16")
MEMORY_FORMATS = ("contiguous", "channels_last")
_MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; raised before the optimizer step that would spread it."""

    def __init__(self, step: int, name: str, value: float):
        self.step, self.name, self.value = step, name, value
        super().__init__(f"{name} became {value} at step {step}; lower the learning rate, "
                         f"check the data scaling, or pick a more stable likelihood/loss")


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a run with a different optimization setup."""


@dataclass(frozen=True)
class AdamSettings:
    """Adam's learning rate and betas (Kingma & Ba 2015)."""

    lr: float
    beta1: float
    beta2: float = 0.999


@dataclass(frozen=True)
class TrainMode:
    """How the training step computes: ``precision`` ``fp32`` or ``bf16`` (autocast of the
    forward pass and the loss to bfloat16; weights, gradients and Adam stay float32) and the
    conv tensors' ``memory_format``. Evaluation is never affected: ``train`` hands the model
    back in float32 weights and contiguous format."""

    precision: str = "fp32"
    memory_format: str = "contiguous"


@dataclass
class TrainConfig:
    """Optimization settings; the model and data settings live in their own configs.

    ``lr``, ``beta1``, ``beta2`` left ``None`` take the model family's defaults
    (:func:`optimizer_defaults`: VAE 1e-3 / 0.9, DCGAN 2e-4 / 0.5 as in Radford et al. 2016,
    diffusion 1e-3 / 0.9);
    :func:`resolve_optimizer` fills them, and :func:`train` does so before anything else.
    """

    steps: int
    batch_size: int = 128
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50
    checkpoint_every: int = 500
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    precision: str = "fp32"  # see TrainMode; fast_mode() gives the family's measured choice
    memory_format: str = "contiguous"

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "steps" else 1):
                raise ValueError(f"TrainConfig.{name} must be an integer >= "
                                 f"{0 if name == 'steps' else 1}, got {value!r}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainConfig.lr must be a positive finite number, got {self.lr!r}")
        for name, allowed in (("precision", PRECISIONS), ("memory_format", MEMORY_FORMATS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"TrainConfig.{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("beta1", "beta2"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"TrainConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")


# Settings that must match between a checkpoint and the run resuming it; `steps` may grow
# (train longer), and logging/progress settings may change freely.
_RESUME_KEYS = ("batch_size", "lr", "beta1", "beta2", "seed", "precision", "memory_format")
_RESUME_DEFAULTS = {"precision": "fp32", "memory_format": "contiguous"}  # older checkpoints


@dataclass
class TrainResult:
    step: int
    metrics: dict = field(default_factory=dict)  # the last logged metrics
    seconds: float = 0.0  # wall-clock of this call (not of earlier, resumed-from calls)
    train_seconds: float = 0.0  # the run's training clock (TrainClock), all attempts


class TrainClock:
    """The training clock of a run: seconds spent inside the training loop, summed over
    attempts. ``train`` restores it from a checkpoint and saves it into every checkpoint, so
    a resumed run counts the time of its earlier attempts up to their last checkpoint (work
    after it was lost and is redone, and counted, once). Set-up before the loop (building the
    model, loading data, W&B) is not training time. Pass one to ``train`` to read
    ``seconds`` from a callback while training runs."""

    def __init__(self):
        self._prior, self._started = 0.0, None

    def start(self, prior: float = 0.0) -> None:
        self._prior, self._started = float(prior), time.perf_counter()

    def stop(self) -> None:
        self._prior, self._started = self.seconds, None

    @property
    def seconds(self) -> float:
        running = 0.0 if self._started is None else time.perf_counter() - self._started
        return self._prior + running


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators, e.g. before building a model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _adam(params, config: TrainConfig) -> torch.optim.Adam:
    """Adam with torch's fused kernel (one pass over all parameters on CPU and CUDA instead
    of a loop of small ops: measured 10-20 ms less per DCGAN step on one CPU thread, the same
    update up to float round-off). ``config`` is resolved: no None reaches Adam."""
    return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2), fused=True)


def _labels_for(model, labels):
    """Labels go to conditional models only (unconditional models refuse them)."""
    return labels if model.config.num_classes is not None else None


def _autocast(config: TrainConfig):
    """The forward pass's precision context (a no-op for fp32)."""
    device = torch.device(config.device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


class VAEStrategy:
    """One Adam step on ``loss = -(recon - beta * kl)`` per batch."""

    optimizer = AdamSettings(lr=1e-3, beta1=0.9)  # Kingma & Ba's defaults suit the ELBO
    # Measured (benchmarks/train_step.py, one AVX-512 BF16 CPU thread): neither bf16 nor
    # channels_last speeds the small conv VAE up (both slower), so it trains as it is.
    fast = TrainMode("fp32", "contiguous")

    def __init__(self, model: VAE, config: TrainConfig):
        self.model, self.autocast = model, lambda: _autocast(config)
        self.optimizers = {"model": _adam(model.parameters(), config)}

    def step(self, batch, generator, check) -> dict:
        x, y = batch
        with self.autocast():
            out = self.model.loss(x, _labels_for(self.model, y), generator=generator)
        check("train/loss", out["loss"])
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return {f"train/{k}": v.detach() for k, v in out.items()}


class GANStrategy:
    """Alternating updates (Goodfellow et al. 2014): one D step, then one G step, fresh noise each."""

    # Radford et al. 2016: lr 2e-4 and beta1 0.5 (0.9 made DCGAN training oscillate).
    optimizer = AdamSettings(lr=2e-4, beta1=0.5)
    # Measured (benchmarks/train_step.py): bf16 autocast + channels_last about halves the
    # DCGAN's step time on a CPU with native bf16; FIDs stay within seed noise (study/README).
    fast = TrainMode("bf16", "channels_last")

    def __init__(self, model: GAN, config: TrainConfig):
        self.model, self.autocast = model, lambda: _autocast(config)
        self.optimizers = {"discriminator": _adam(model.discriminator.parameters(), config),
                           "generator": _adam(model.generator.parameters(), config)}

    def step(self, batch, generator, check) -> dict:
        real, y = batch
        y = _labels_for(self.model, y)
        n, device = real.shape[0], real.device
        with self.autocast():
            d_out = self.model.discriminator_loss(real, y, z=self.model.noise(n, generator, device))
        check("train/d_loss", d_out["loss"])
        self._update("discriminator", d_out["loss"])
        with self.autocast():
            g_out = self.model.generator_loss(y, z=self.model.noise(n, generator, device))
        check("train/g_loss", g_out["loss"])
        self._update("generator", g_out["loss"])
        metrics = {f"train/{k}": v.detach() for k, v in d_out.items() if k != "loss"}
        metrics["train/d_loss"] = d_out["loss"].detach()
        metrics["train/g_loss"] = g_out["loss"].detach()
        return metrics

    def _update(self, name, loss):
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


class DiffusionStrategy(VAEStrategy):
    """One Adam step on the flow-matching loss per batch (``Diffusion.loss``: its noise, time
    and label dropout drawn from the training generator, so resume stays exact)."""

    # Adam at 1e-3 / 0.9: the budgets give this family about 1-2 epochs on a CPU, too few
    # for the 1e-4..2e-4 of long diffusion trainings (Ho et al. 2020); the loss is an MSE on
    # unit-scale targets, as well-conditioned as the ELBO for Kingma & Ba's defaults.
    optimizer = AdamSettings(lr=1e-3, beta1=0.9)
    # float32: not measured faster in bf16 on this CPU within the time this family had
    # (bf16 would need a parity check of FID too); float32 is always a valid choice.
    fast = TrainMode("fp32", "contiguous")


STRATEGIES = {VAE: VAEStrategy, GAN: GANStrategy, Diffusion: DiffusionStrategy}


def _strategy_class(model_or_class):
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    for family, strategy in STRATEGIES.items():
        if issubclass(cls, family):
            return strategy
    allowed = ", ".join(c.__name__ for c in STRATEGIES)
    raise TypeError(f"no training strategy for {cls.__name__}; allowed: {allowed}")


def optimizer_defaults(model_or_class) -> AdamSettings:
    """The Adam settings a model family trains with by default (a model or its class)."""
    return _strategy_class(model_or_class).optimizer


def resolve_optimizer(config: TrainConfig, model_or_class) -> TrainConfig:
    """``config`` with ``lr``/``beta1``/``beta2`` left ``None`` set to the family's defaults."""
    defaults = optimizer_defaults(model_or_class)
    return replace(config, **{name: getattr(defaults, name) if getattr(config, name) is None
                              else getattr(config, name) for name in ("lr", "beta1", "beta2")})


def _strategy_for(model, config):
    return _strategy_class(model)(model, config)


def native_bf16(device) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA device that supports it, or a
    CPU with AVX-512 BF16 or AMX (read from /proc/cpuinfo; elsewhere assumed not — without
    native support bf16 is emulated and slower than float32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_mode(model_or_class, device) -> TrainMode:
    """The family's fastest training mode measured safe (``strategy.fast``) on ``device``:
    bf16 only where the device has it natively, float32 otherwise; ``fp32`` is always a
    valid choice instead."""
    fast = _strategy_class(model_or_class).fast
    precision = fast.precision if fast.precision == "fp32" or native_bf16(device) else "fp32"
    return TrainMode(precision, fast.memory_format)


# --------------------------------------------------------------------------- checkpoints

def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _save_checkpoint(path, *, step, model, strategy, generator, sums, count, config, clock):
    state = {
        "train_seconds": clock.seconds,
        "step": step,
        "model": model.state_dict(),
        "optimizers": {k: opt.state_dict() for k, opt in strategy.optimizers.items()},
        "generator": generator.get_state(),
        "rng": _rng_state(torch.device(config.device)),
        "sums": {k: v.detach().cpu() for k, v in sums.items()},
        "count": count,
        "train_config": {k: getattr(config, k) for k in _RESUME_KEYS},
    }
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill mid-write leaves the previous checkpoint intact


def _load_checkpoint(path, *, model, strategy, generator, config):
    # Load on the CPU: RNG states must stay CPU byte tensors, and load_state_dict moves
    # parameters and optimizer moments onto the model's device anyway.
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = {**_RESUME_DEFAULTS, **state["train_config"]}
    differing = {k: (saved[k], getattr(config, k)) for k in _RESUME_KEYS if saved[k] != getattr(config, k)}
    if differing:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in differing.items())
        raise CheckpointMismatchError(f"{path} was written with other settings ({detail}); "
                                      f"delete it to start over or resume with the same settings")
    model.load_state_dict(state["model"])
    for name, opt in strategy.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    generator.set_state(state["generator"])
    _set_rng_state(state["rng"], torch.device(config.device))
    sums = {k: v.to(config.device) for k, v in state["sums"].items()}
    return state["step"], sums, state["count"], float(state.get("train_seconds", 0.0))


# --------------------------------------------------------------------------- the loop

def _check_finite(step):
    def check(name, value):
        # One host sync per loss per step: on CPU it is free, and stopping *before* the
        # optimizer step keeps the weights (and the last checkpoint) clean.
        v = value.item()
        if not math.isfinite(v):
            raise NonFiniteLossError(step, name, v)
    return check


def _batch(stream: BatchStream, step: int, memory_format):
    x, y = stream.batch(step)
    return (x if memory_format is torch.contiguous_format else x.contiguous(memory_format=memory_format)), y


def _paused(clock: TrainClock, model, memory_format, fn, step: int) -> None:
    """Run ``fn(step, seconds)`` with the training clock stopped and the model in eval mode
    (float32 weights, the usual layout); training continues exactly as if it had not run,
    provided ``fn`` draws from its own generators (the global RNG state is restored anyway)."""
    clock.stop()
    rng = torch.get_rng_state()
    model.to(memory_format=torch.contiguous_format).eval()
    try:
        fn(step, clock.seconds)
    finally:
        model.to(memory_format=memory_format).train()
        torch.set_rng_state(rng)
        clock.start(clock.seconds)


def train(model, stream: BatchStream, config: TrainConfig, *, callback=None,
          checkpoint_path: str | os.PathLike | None = None,
          clock: TrainClock | None = None, points=(), on_point=None) -> TrainResult:
    """Train ``model`` on ``stream`` for ``config.steps`` steps (resuming from a checkpoint).

    ``callback(step, metrics)`` is called every ``log_every`` steps and at the last step with
    the mean of each ``train/...`` metric since the previous call. If ``checkpoint_path``
    exists, training resumes from it exactly; a checkpoint is written every
    ``checkpoint_every`` steps, at the end and at every step of ``points``. ``clock`` (a
    :class:`TrainClock`) runs while the loop runs, so a callback can read the training time.

    ``points``: steps at which ``on_point(step, train_seconds)`` evaluates the model (a
    training curve). It runs after that step's checkpoint, with the clock stopped and the
    model in eval mode, so a resumed run never trains a step twice for a point and the
    curve's time axis is training time only; a run resumed exactly at a point calls it
    again first (the caller skips points it already has). Unset optimizer settings take the
    family's defaults (:func:`resolve_optimizer`). Raises ``NonFiniteLossError`` on NaN/inf.
    """
    config = resolve_optimizer(config, model)
    clock = TrainClock() if clock is None else clock
    if stream.batch_size != config.batch_size:
        raise ValueError(f"stream batch_size {stream.batch_size} != TrainConfig.batch_size "
                         f"{config.batch_size}; build both from the same value")
    points = sorted(set(int(p) for p in points))
    if points and (on_point is None or points[0] < 1 or points[-1] > config.steps):
        raise ValueError(f"points must be steps in 1..{config.steps} with an on_point callback, "
                         f"got {points}")
    device = torch.device(config.device)
    memory_format = _MEMORY_FORMATS[config.memory_format]
    model.to(device=device, memory_format=memory_format).train()
    strategy = _strategy_for(model, config)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    step, sums, count, prior_seconds = 0, {}, 0, 0.0
    if checkpoint_path is not None and os.path.exists(checkpoint_path):
        step, sums, count, prior_seconds = _load_checkpoint(
            checkpoint_path, model=model, strategy=strategy, generator=generator, config=config)
    start, last = time.perf_counter(), {}
    clock.start(prior_seconds)
    if step in points:  # resumed exactly at a point: its evaluation may not have finished
        _paused(clock, model, memory_format, on_point, step)
    bar = tqdm(total=config.steps, initial=step, desc=type(model).__name__.lower(),
               disable=None if config.progress is None else not config.progress,
               dynamic_ncols=True, leave=False)
    with bar:
        while step < config.steps:
            metrics = strategy.step(_batch(stream, step, memory_format), generator, _check_finite(step))
            for k, v in metrics.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count, step = count + 1, step + 1
            bar.update(1)
            on_grid = step % config.log_every == 0
            if on_grid or step == config.steps:
                last = {k: (v / count).item() for k, v in sums.items()}
                if on_grid:  # off the grid (a budget's last step) the window stays open, so
                    sums, count = {}, 0  # a run resumed with a longer budget logs as if never stopped
                bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in last.items()
                                 if k in ("train/loss", "train/d_loss", "train/g_loss")})
                if callback is not None:
                    callback(step, last)
            if checkpoint_path is not None and (step % config.checkpoint_every == 0
                                                or step == config.steps or step in points):
                _save_checkpoint(checkpoint_path, step=step, model=model, strategy=strategy,
                                 generator=generator, sums=sums, count=count, config=config,
                                 clock=clock)
            if step in points:
                _paused(clock, model, memory_format, on_point, step)
    clock.stop()
    model.to(memory_format=torch.contiguous_format).eval()  # evaluation sees the usual layout
    return TrainResult(step=step, metrics=last, seconds=time.perf_counter() - start,
                       train_seconds=clock.seconds)
