"""``RunConfig``: one flat, typed dataclass whose fields are exactly the sweep parameters.

The same field names are the sweep YAML's ``parameters``, the ``--key=value`` arguments a
W&B agent passes, the W&B config keys, the keys of ``record.json``'s ``config`` and the
analysis table's columns (one name per concept).

Family defaults. Some settings differ between the VAE and the GAN (``lr`` 1e-3 vs 2e-4,
``beta1`` 0.9 vs 0.5 as in Radford et al. 2016, ``latent_dim``, ``width``) and some apply to
one family only (``beta``, ``likelihood``, ``sigma``, ``scale_sharing`` to VAEs, ``loss`` to
GANs, ``sample_steps`` to diffusion models and ``guidance_scale`` to conditional ones;
``latent_dim`` to VAEs and GANs). Such fields are ``None`` by default, meaning "the family's default", and ONE
function, :func:`resolve`, fills them in from :data:`FAMILY_DEFAULTS` and sets the fields
that do not apply to the run to ``None`` ("not applicable"), so a GAN's record never claims a
``beta``. A value given for a field that does not apply is refused unless it equals the
default of where it applies (so a sweep may fix ``likelihood: bernoulli`` while varying
``model``). ``budget`` fills ``train_steps`` and ``eval_samples`` (the amount of work) and
``log_every`` / ``checkpoint_every`` (the cadence) when they are ``None``; ``budget_factor``
(an integer, default 1) multiplies the budget's steps, so a longer run of the same
experiment can continue a finished shorter one exactly (``study.reuse.find_extendable``). A
resolved config holds every setting the run uses, so nothing downstream reads the budget
table again.

Every default is owned by the lgm component it configures and only read here: model sizes,
likelihood settings and loss by ``VAEConfig`` / ``GANConfig`` / ``lgm.likelihoods``, the
optimizer settings by the family's training strategy (``lgm.train.optimizer_defaults``),
the allowed architectures and data ranges by ``lgm.vae`` / ``lgm.gan``.

Identity. Fields whose metadata says ``identity: False`` (``device``, ``checkpoint_every``)
change how a run executes but not what it computes; they are left out of the run's id
(``study.identity.config_hash``), so the same experiment has one id on every machine.
Fields whose metadata says ``training: False`` (``sample_steps``, ``guidance_scale``: the
diffusion sampler's settings) are in the id but are read by the evaluation only; the
*training* identity (``study.identity.training_hash``, :data:`TRAINING_FIELDS`) leaves them
out, so a run that differs from a finished one only there evaluates that run's trained
weights instead of training again (``study.reuse``).

Every check runs at construction (``__post_init__``), so a ``RunConfig`` that exists is
valid; errors are :class:`ConfigError` naming the key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from lgm import diffusion as lgm_diffusion
from lgm import gan as lgm_gan
from lgm import vae as lgm_vae
from lgm.data import DATASETS, SCALINGS
from lgm.diffusion import Diffusion, DiffusionConfig
from lgm.gan import GAN, GANConfig
from lgm.likelihoods import (DEFAULT_SCALE_SHARING, DEFAULT_SIGMA, LIKELIHOODS, SCALE_SHARINGS,
                             GaussianFixed, GaussianLearned)
from lgm.train import MEMORY_FORMATS, PRECISIONS, fast_mode, optimizer_defaults
from lgm.vae import VAE, VAEConfig
from study.budgets import BUDGETS, CADENCES, budget_steps

__all__ = ["ConfigError", "RunConfig", "FAMILY_DEFAULTS", "FIELD_NAMES", "IDENTITY_FIELDS",
           "HASHED_UNLESS", "TRAINING_FIELDS", "EVALUATION_FIELDS", "resolve", "base_config",
           "parse_value", "resolve_device", "check_device"]

MODELS = ("vae", "gan", "diffusion")
MODEL_CLASSES = {"vae": VAE, "gan": GAN, "diffusion": Diffusion}
AUTO = "auto"
ARCHS = {"vae": lgm_vae.ARCHS, "gan": lgm_gan.ARCHS, "diffusion": lgm_diffusion.ARCHS}
SCALINGS_BY_MODEL = {"vae": lgm_vae.SCALINGS, "gan": lgm_gan.SCALINGS,
                     "diffusion": lgm_diffusion.SCALINGS}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MIN_EVAL_SAMPLES = 100  # below this KID subsets, k-NN radii and per-class FID are meaningless


def _family(model_class, config, *, keys: tuple, extra: dict) -> dict:
    adam = optimizer_defaults(model_class)
    return {**{k: getattr(config, k) for k in keys}, **extra,
            "lr": adam.lr, "beta1": adam.beta1, "beta2": adam.beta2}


# Family defaults: what `None` means per model family, read from the lgm components that own
# them. A key absent from a family does not apply to it and resolves to None.
FAMILY_DEFAULTS: dict[str, dict] = {
    "vae": _family(VAE, VAEConfig, keys=("latent_dim", "width", "beta", "likelihood"),
                   extra={"scaling": lgm_vae.SCALINGS[0]}),
    "gan": _family(GAN, GANConfig, keys=("latent_dim", "width", "scaling", "loss"), extra={}),
    "diffusion": _family(Diffusion, DiffusionConfig,
                         keys=("width", "scaling", "sample_steps", "guidance_scale"), extra={}),
}
# Diffusion keys that apply to conditional diffusion models only (guidance needs a label).
CONDITIONAL_ONLY = ("guidance_scale",)
# Likelihood-specific keys: key -> (the likelihood it applies to, its default).
LIKELIHOOD_KEYS = {"sigma": (GaussianFixed.name, DEFAULT_SIGMA),
                   "scale_sharing": (GaussianLearned.name, DEFAULT_SCALE_SHARING)}


class ConfigError(ValueError):
    """A configuration value, type, key or combination is not allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class RunConfig:
    """One run of the study. ``None`` = the family's / budget's default (see :func:`resolve`)."""

    dataset: str = field(default="fashion_mnist", metadata={"help": "dataset name"})
    model: str = field(default="vae", metadata={"help": "model family: vae | gan | diffusion"})
    arch: str = field(default="conv", metadata={"help": "conv | mlp (mlp: VAE only)"})
    latent_dim: int | None = field(default=None, metadata={"help": "latent size (vae 16, gan 64; not diffusion)"})
    width: int | None = field(default=None, metadata={"help": "base channels (vae 16, gan 32, diffusion 12)"})
    beta: float | None = field(default=None, metadata={"help": "VAE KL weight (default 1)"})
    likelihood: str | None = field(default=None, metadata={"help": "VAE p(x|z) (default bernoulli)"})
    sigma: float | None = field(default=None, metadata={"help": "gaussian_fixed scale (0.1)"})
    scale_sharing: str | None = field(default=None, metadata={"help": "gaussian_learned: per_pixel | shared"})
    conditional: bool = field(default=False, metadata={"help": "class-conditional model"})
    scaling: str | None = field(default=None, metadata={"help": "data range (vae zero_one; gan minus_one_one | zero_one)"})
    loss: str | None = field(default=None, metadata={"help": "GAN loss (default non_saturating)"})
    sample_steps: int | None = field(default=None, metadata={
        "help": "diffusion sampler (Euler) steps (default 5)", "training": False})
    guidance_scale: float | None = field(default=None, metadata={
        "help": "classifier-free guidance, conditional diffusion only (default 1: none)",
        "training": False})
    lr: float | None = field(default=None, metadata={"help": "Adam learning rate (vae 1e-3, gan 2e-4)"})
    beta1: float | None = field(default=None, metadata={"help": "Adam beta1 (vae 0.9, gan 0.5)"})
    beta2: float | None = field(default=None, metadata={"help": "Adam beta2 (0.999)"})
    batch_size: int = field(default=128, metadata={"help": "train batch size"})
    budget: str = field(default="quick", metadata={"help": "smoke | quick | full"})
    budget_factor: int = field(default=1, metadata={
        "help": "train the budget's steps times this integer (an exact extension of a finished "
                "shorter run; needs train_steps unset)"})
    train_steps: int | None = field(default=None, metadata={"help": "train steps (default: from budget)"})
    eval_samples: int | None = field(default=None, metadata={"help": "generated samples for metrics (default: from budget)"})
    eval_points: int | None = field(default=None, metadata={
        "help": "evaluations along training, at i/P of the steps (1: final only; default: budget)"})
    curve_samples: int | None = field(default=None, metadata={
        "help": "samples at every curve point (default: from budget)"})
    log_every: int | None = field(default=None, metadata={"help": "steps per logged train/... mean (default: from budget)"})
    checkpoint_every: int | None = field(default=None, metadata={
        "help": "steps between checkpoints (default: from budget)", "identity": False})
    precision: str = field(default="auto", metadata={
        "help": "training precision: auto | fp32 | bf16 (auto: the family's measured fast mode)"})
    memory_format: str = field(default="auto", metadata={
        "help": "conv tensor layout in training: auto | contiguous | channels_last"})
    seed: int = field(default=0, metadata={"help": "seed of init, batches, noise and evaluation"})
    device: str = field(default="auto", metadata={
        "help": "auto | cpu | cuda[:N] (auto: cuda if available)", "identity": False})

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_type(f, getattr(self, f.name)))
        _check_values(self)
        _check_combinations(self)

    def to_dict(self) -> dict:
        """The flat dict of every field (what W&B, checkpoints and record.json store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Build from a flat dict; unknown keys are refused (with the allowed ones listed)."""
        if not isinstance(values, dict):
            raise ConfigError("config", f"expected a flat mapping of keys to values, got {type(values).__name__}")
        unknown = sorted(set(values) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; allowed: {', '.join(FIELD_NAMES)}")
        return cls(**values)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(RunConfig))
# The fields that define what a run computes (hashed into its id); see the module docstring.
IDENTITY_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("identity", True))
# Identity fields added after runs existed: hashed only when they differ from this value, so
# the ids of runs made before the key existed (which ran at that value) stay valid.
HASHED_UNLESS = {"budget_factor": 1}
# Identity fields that only the evaluation reads (``training: False``): two runs that differ
# only in these train the same weights, so one's final training state serves the other
# (``study.reuse``, ``study.identity.training_hash``).
EVALUATION_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig)
                          if f.name in IDENTITY_FIELDS and not f.metadata.get("training", True))
TRAINING_FIELDS = tuple(name for name in IDENTITY_FIELDS if name not in EVALUATION_FIELDS)
_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


# --------------------------------------------------------------------------- types

def _base_type(f) -> tuple[type, bool]:
    """(int | float | str | bool, whether None is allowed) from the field's annotation."""
    annotation = f.type if isinstance(f.type, str) else f.type.__name__
    optional = annotation.endswith("| None")
    return {"int": int, "float": float, "str": str, "bool": bool}[annotation.split("|")[0].strip()], optional


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "a boolean (true/false)"}


def _check_type(f, value):
    typ, optional = _base_type(f)
    if value is None:
        if optional:
            return None
        raise ConfigError(f.name, f"must not be null; expected {_TYPE_NAMES[typ]}")
    # bool is a subclass of int: refuse it where a number is expected, and numbers where a bool is.
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f.name, f"expected {_TYPE_NAMES[typ]}{' or null' if optional else ''}, "
                                  f"got {value!r} ({type(value).__name__})")
    return value


_TRUE, _FALSE, _NULL = ("true", "1", "yes"), ("false", "0", "no"), ("none", "null")


def parse_value(key: str, text: str):
    """Parse one command-line string (``--key=text``) into the field's type.

    Accepts what a W&B agent writes: Python's ``True``/``False``/``None`` as well as YAML's
    ``true``/``false``/``null``; numbers in any float syntax (``1e-3``) for float fields.
    """
    if key not in _FIELDS:
        raise ConfigError(key, f"unknown key; allowed: {', '.join(FIELD_NAMES)}")
    typ, optional = _base_type(_FIELDS[key])
    lowered = text.strip().lower()
    if optional and lowered in _NULL:
        return None
    try:
        if typ is bool:
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        if typ is int:
            return int(text)
        if typ is float:
            return float(text)
    except ValueError:
        raise ConfigError(key, f"expected {_TYPE_NAMES[typ]}, got {text!r}") from None
    return text


# --------------------------------------------------------------------------- values

def _choice(key, value, allowed):
    if value is not None and value not in allowed:
        raise ConfigError(key, f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")


def _at_least(key, value, low):
    if value is not None and value < low:
        raise ConfigError(key, f"must be >= {low}, got {value!r}")


def _check_values(c: RunConfig) -> None:
    _choice("dataset", c.dataset, tuple(DATASETS))
    _choice("model", c.model, MODELS)
    _choice("arch", c.arch, tuple(dict.fromkeys(a for archs in ARCHS.values() for a in archs)))
    _choice("likelihood", c.likelihood, tuple(LIKELIHOODS))
    _choice("scale_sharing", c.scale_sharing, SCALE_SHARINGS)
    _choice("scaling", c.scaling, tuple(SCALINGS))
    _choice("loss", c.loss, tuple(lgm_gan.LOSSES))
    _choice("budget", c.budget, tuple(BUDGETS))
    _choice("precision", c.precision, (AUTO, *PRECISIONS))
    _choice("memory_format", c.memory_format, (AUTO, *MEMORY_FORMATS))
    if not _DEVICE.match(c.device):
        raise ConfigError("device", f"{c.device!r} is not allowed; allowed: auto, cpu, cuda, cuda:N")
    for key in ("latent_dim", "width", "batch_size", "train_steps", "log_every", "checkpoint_every",
                "eval_points", "budget_factor", "sample_steps"):
        _at_least(key, getattr(c, key), 1)
    _at_least("eval_samples", c.eval_samples, MIN_EVAL_SAMPLES)
    _at_least("curve_samples", c.curve_samples, MIN_EVAL_SAMPLES)
    _at_least("seed", c.seed, 0)
    for key in ("beta", "sigma", "lr", "beta1", "beta2", "guidance_scale"):
        value = getattr(c, key)
        if value is not None and not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value!r}")
    _at_least("beta", c.beta, 0.0)
    for key in ("sigma", "lr"):
        if getattr(c, key) is not None and getattr(c, key) <= 0:
            raise ConfigError(key, f"must be > 0, got {getattr(c, key)!r}")
    for key in ("beta1", "beta2"):
        value = getattr(c, key)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(key, f"must be in [0, 1), got {value!r}")


def _default_where_applies(key: str):
    for family in MODELS:
        if key in FAMILY_DEFAULTS[family]:
            return family, FAMILY_DEFAULTS[family][key]
    raise KeyError(key)


def _check_combinations(c: RunConfig) -> None:
    """Refuse settings that do not apply to the model (unless they equal their default)."""
    if c.arch not in ARCHS[c.model]:
        raise ConfigError("arch", f"{c.arch!r} is not allowed for model {c.model}; allowed: "
                                  f"{', '.join(ARCHS[c.model])}")
    if c.scaling is not None and c.scaling not in SCALINGS_BY_MODEL[c.model]:
        raise ConfigError("scaling", f"{c.scaling!r} is not allowed for model {c.model}; allowed: "
                                     f"{', '.join(SCALINGS_BY_MODEL[c.model])}"
                                     + (" (VAE likelihoods live on [0, 1])" if c.model == "vae" else ""))
    for key in ("beta", "likelihood", "loss", "sample_steps", "guidance_scale"):
        family, default = _default_where_applies(key)
        value = getattr(c, key)
        if family != c.model and value is not None and value != default:
            raise ConfigError(key, f"applies to model {family} only; for model {c.model} leave it "
                                   f"unset (or {default!r}), got {value!r}")
    for key in CONDITIONAL_ONLY:
        default = FAMILY_DEFAULTS["diffusion"][key]
        value = getattr(c, key)
        if c.model == "diffusion" and not c.conditional and value is not None and value != default:
            raise ConfigError(key, f"applies to conditional models only (conditional=true); for "
                                   f"an unconditional one leave it unset (or {default!r}), got {value!r}")
    if c.model == "diffusion" and c.latent_dim is not None:
        raise ConfigError("latent_dim", f"does not apply to model diffusion (its latent is the "
                                        f"image itself); leave it unset, got {c.latent_dim!r}")
    _check_dataset_sizes(c)
    _check_budget_factor(c)
    likelihood = c.likelihood or FAMILY_DEFAULTS["vae"]["likelihood"]
    for key, (owner, default) in LIKELIHOOD_KEYS.items():
        value = getattr(c, key)
        applies = c.model == "vae" and likelihood == owner
        if not applies and value is not None and value != default:
            raise ConfigError(key, f"applies to model vae with likelihood {owner} only (here model "
                                   f"{c.model}, likelihood {likelihood}); leave it unset, got {value!r}")


def _check_budget_factor(c: RunConfig) -> None:
    """A budget factor scales the named budget's steps; a fixed ``train_steps`` is accepted
    only as that product (what ``resolve`` writes), since no budget is left to scale."""
    if c.budget_factor == 1 or c.train_steps is None:
        return
    steps = c.budget_factor * budget_steps(c.budget, model=c.model, dataset=c.dataset,
                                           batch_size=c.batch_size)
    if c.train_steps != steps:
        raise ConfigError("budget_factor", f"scales the budget's steps, but train_steps is fixed at "
                                           f"{c.train_steps} (budget {c.budget} x {c.budget_factor} "
                                           f"= {steps}); leave train_steps unset or budget_factor 1")


def _check_sample_count(c: RunConfig, key: str, value: int, size: int, num_classes: int) -> None:
    if value > size:
        raise ConfigError(key, f"must be <= {size} (the real reference is a subset of the "
                               f"{c.dataset} train split), got {value}")
    if c.conditional and value % num_classes:
        raise ConfigError(key, f"a conditional model is scored on equally many samples of each "
                               f"of the {num_classes} classes: use a multiple of {num_classes}, got {value}")


def _check_dataset_sizes(c: RunConfig) -> None:
    info = DATASETS[c.dataset]
    size = info.sizes["train"]
    if c.batch_size > size:
        raise ConfigError("batch_size", f"must be <= {size} (the {c.dataset} train split), got {c.batch_size}")
    for key in ("eval_samples", "curve_samples"):
        if getattr(c, key) is not None:
            _check_sample_count(c, key, getattr(c, key), size, info.num_classes)


# --------------------------------------------------------------------------- resolution

def resolve(config: RunConfig) -> RunConfig:
    """The run's concrete settings: every ``None`` replaced by its family's or budget's default.

    - Family keys (``FAMILY_DEFAULTS[model]``): ``None`` → the family default; keys that do
      not apply to the family (e.g. ``beta`` for a GAN, ``loss`` for a VAE, ``sample_steps``
      for both) → ``None``; ``guidance_scale`` → ``None`` for an unconditional model.
    - ``sigma`` / ``scale_sharing``: their default for ``gaussian_fixed`` / ``gaussian_learned``
      VAEs, ``None`` otherwise.
    - ``train_steps``: ``None`` → ``budget_factor × budget_steps(budget, model, dataset,
      batch_size)`` (``budget_factor`` 2 trains twice the budget: an exact extension of the
      run at factor 1, see ``study.reuse.find_extendable``);
      ``eval_samples``: ``None`` → the budget's ``eval_samples``;
    - ``log_every`` / ``checkpoint_every``: ``None`` → the budget's cadence
      (``study.budgets.CADENCES``), ``log_every`` capped at ``train_steps``;
    - ``precision`` / ``memory_format``: ``auto`` → the family's measured fast mode on the
      device the run will use (``lgm.train.fast_mode``). This is the one resolution that
      depends on the machine, on purpose: bf16 results are not fp32 results, so the run id
      differs too.
    - ``device`` is left as given (``auto`` is resolved where the run executes, see
      :func:`resolve_device`, so that a run's identity does not depend on the machine).

    Idempotent: ``resolve(resolve(c)) == resolve(c)``.
    """
    changes = {}
    defaults = FAMILY_DEFAULTS[config.model]
    for key in ("latent_dim", "width", "beta", "likelihood", "scaling", "loss", "lr", "beta1", "beta2",
                "sample_steps", "guidance_scale"):
        value = getattr(config, key)
        applies = key in defaults and (config.conditional or key not in CONDITIONAL_ONLY)
        changes[key] = None if not applies else (defaults[key] if value is None else value)
    for key, (owner, default) in LIKELIHOOD_KEYS.items():
        value = getattr(config, key)
        applies = config.model == "vae" and changes["likelihood"] == owner
        changes[key] = (default if value is None else value) if applies else None
    if config.train_steps is None:
        changes["train_steps"] = config.budget_factor * budget_steps(
            config.budget, model=config.model, dataset=config.dataset, batch_size=config.batch_size)
    budget = BUDGETS[config.budget]
    for key in ("eval_samples", "eval_points", "curve_samples"):
        if getattr(config, key) is None:
            changes[key] = getattr(budget, key)
    changes.update(_training_mode(config))
    steps = changes.get("train_steps", config.train_steps)
    cadence = CADENCES[config.budget]
    if config.log_every is None:
        changes["log_every"] = min(cadence.log_every, steps)
    if config.checkpoint_every is None:
        changes["checkpoint_every"] = cadence.checkpoint_every
    return dataclasses.replace(config, **changes)


def base_config(config: RunConfig, budget_factor: int) -> RunConfig:
    """The resolved config of the same run at another ``budget_factor`` (its train steps
    re-derived from the budget; every other setting, ``log_every`` included, kept)."""
    return resolve(dataclasses.replace(config, budget_factor=budget_factor, train_steps=None))


def _training_mode(config: RunConfig) -> dict:
    """``auto`` precision / memory format → the family's fast mode on the device the run
    will use (``lgm.train.fast_mode``: bf16 only with native support); given values stay."""
    if AUTO not in (config.precision, config.memory_format):
        return {}
    fast = fast_mode(MODEL_CLASSES[config.model], _target_device(config.device))
    return {"precision": fast.precision if config.precision == AUTO else config.precision,
            "memory_format": fast.memory_format if config.memory_format == AUTO else config.memory_format}


def _target_device(device: str) -> str:
    """The device whose capabilities decide ``auto``: ``auto`` as :func:`resolve_device`; a
    CUDA device this machine lacks counts as unknown, so ``auto`` stays float32 for it (a
    sweep planned here passes the resolved mode to the machine that runs it)."""
    import torch  # local: config parsing stays import-light

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "meta"  # no capabilities known: fast_mode gives float32
    return device


def check_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have, before any work (``auto`` and
    ``cpu`` always pass)."""
    if not device.startswith("cuda"):
        return
    import torch  # local: config parsing stays import-light

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        have = f"{count} CUDA device(s) (cuda:0..cuda:{count - 1})" if count else "no CUDA device"
        raise ConfigError("device", f"{device!r} is not available: this machine has {have}; "
                                    f"use --device=auto or --device=cpu")


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else is checked
    (:func:`check_device`) and returned unchanged."""
    if device != "auto":
        check_device(device)
        return device
    import torch  # local: config parsing stays import-light

    return "cuda" if torch.cuda.is_available() else "cpu"
