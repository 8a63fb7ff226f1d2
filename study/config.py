"""``RunConfig``: one flat, typed dataclass whose fields are exactly the sweep parameters.

The same field names are the sweep YAML's ``parameters``, the ``--key=value`` arguments a
W&B agent passes, the W&B config keys, the keys of ``record.json``'s ``config`` and the
analysis table's columns (one name per concept).

Family defaults. Some settings differ between the VAE and the GAN (``lr`` 1e-3 vs 2e-4,
``beta1`` 0.9 vs 0.5 as in Radford et al. 2016, ``latent_dim``, ``width``) and some apply to
one family only (``beta``, ``likelihood``, ``sigma``, ``scale_sharing`` to VAEs, ``loss`` to
GANs). Such fields are ``None`` by default, meaning "the family's default", and ONE
function, :func:`resolve`, fills them in from :data:`FAMILY_DEFAULTS` and sets the fields
that do not apply to the run to ``None`` ("not applicable"), so a GAN's record never claims a
``beta``. A value given for a field that does not apply is refused unless it equals the
default of where it applies (so a sweep may fix ``likelihood: bernoulli`` while varying
``model``). ``budget`` fills ``train_steps`` and ``eval_samples`` when they are ``None``.

Every check runs at construction (``__post_init__``), so a ``RunConfig`` that exists is
valid; errors are :class:`ConfigError` naming the key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from lgm.data import DATASETS
from lgm.gan import LOSSES as GAN_LOSSES
from lgm.gan import GANConfig
from lgm.likelihoods import LIKELIHOODS
from lgm.vae import VAEConfig
from study.budgets import BUDGETS, budget_steps

__all__ = ["ConfigError", "RunConfig", "FAMILY_DEFAULTS", "FIELD_NAMES", "resolve",
           "parse_value", "resolve_device"]

MODELS = ("vae", "gan")
ARCHS = {"vae": ("conv", "mlp"), "gan": ("conv",)}
SCALINGS_BY_MODEL = {"vae": ("zero_one",), "gan": ("minus_one_one", "zero_one")}
SCALE_SHARINGS = ("per_pixel", "shared")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MIN_EVAL_SAMPLES = 100  # below this KID subsets, k-NN radii and per-class FID are meaningless

# Family defaults: what `None` means per model family. A key absent from a family does not
# apply to it and resolves to None. Model sizes come from the lgm configs' own defaults, so
# the library and the study cannot disagree on what "the default VAE" is.
FAMILY_DEFAULTS: dict[str, dict] = {
    "vae": {"latent_dim": VAEConfig.latent_dim, "width": VAEConfig.width, "beta": VAEConfig.beta,
            "likelihood": VAEConfig.likelihood, "scaling": "zero_one",
            "lr": 1e-3, "beta1": 0.9, "beta2": 0.999},
    "gan": {"latent_dim": GANConfig.latent_dim, "width": GANConfig.width,
            "scaling": GANConfig.scaling, "loss": GANConfig.loss,
            "lr": 2e-4, "beta1": 0.5, "beta2": 0.999},
}
# Likelihood-specific keys: key -> (the likelihood it applies to, its default).
LIKELIHOOD_KEYS = {"sigma": ("gaussian_fixed", 0.1), "scale_sharing": ("gaussian_learned", "per_pixel")}


class ConfigError(ValueError):
    """A configuration value, type, key or combination is not allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class RunConfig:
    """One run of the study. ``None`` = the family's / budget's default (see :func:`resolve`)."""

    dataset: str = field(default="fashion_mnist", metadata={"help": "dataset name"})
    model: str = field(default="vae", metadata={"help": "model family: vae | gan"})
    arch: str = field(default="conv", metadata={"help": "conv | mlp (mlp: VAE only)"})
    latent_dim: int | None = field(default=None, metadata={"help": "latent size (vae 16, gan 64)"})
    width: int | None = field(default=None, metadata={"help": "base channels (vae 16, gan 32)"})
    beta: float | None = field(default=None, metadata={"help": "VAE KL weight (default 1)"})
    likelihood: str | None = field(default=None, metadata={"help": "VAE p(x|z) (default bernoulli)"})
    sigma: float | None = field(default=None, metadata={"help": "gaussian_fixed scale (0.1)"})
    scale_sharing: str | None = field(default=None, metadata={"help": "gaussian_learned: per_pixel | shared"})
    conditional: bool = field(default=False, metadata={"help": "class-conditional model"})
    scaling: str | None = field(default=None, metadata={"help": "data range (vae zero_one; gan minus_one_one | zero_one)"})
    loss: str | None = field(default=None, metadata={"help": "GAN loss (default non_saturating)"})
    lr: float | None = field(default=None, metadata={"help": "Adam learning rate (vae 1e-3, gan 2e-4)"})
    beta1: float | None = field(default=None, metadata={"help": "Adam beta1 (vae 0.9, gan 0.5)"})
    beta2: float | None = field(default=None, metadata={"help": "Adam beta2 (0.999)"})
    batch_size: int = field(default=128, metadata={"help": "train batch size"})
    budget: str = field(default="quick", metadata={"help": "smoke | quick | full"})
    train_steps: int | None = field(default=None, metadata={"help": "train steps (default: from budget)"})
    eval_samples: int | None = field(default=None, metadata={"help": "generated samples for metrics (default: from budget)"})
    seed: int = field(default=0, metadata={"help": "seed of init, batches, noise and evaluation"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda[:N] (auto: cuda if available)"})

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
    _choice("arch", c.arch, ("conv", "mlp"))
    _choice("likelihood", c.likelihood, tuple(LIKELIHOODS))
    _choice("scale_sharing", c.scale_sharing, SCALE_SHARINGS)
    _choice("scaling", c.scaling, ("zero_one", "minus_one_one"))
    _choice("loss", c.loss, tuple(GAN_LOSSES))
    _choice("budget", c.budget, tuple(BUDGETS))
    if not _DEVICE.match(c.device):
        raise ConfigError("device", f"{c.device!r} is not allowed; allowed: auto, cpu, cuda, cuda:N")
    for key in ("latent_dim", "width", "batch_size", "train_steps"):
        _at_least(key, getattr(c, key), 1)
    _at_least("eval_samples", c.eval_samples, MIN_EVAL_SAMPLES)
    _at_least("seed", c.seed, 0)
    for key in ("beta", "sigma", "lr", "beta1", "beta2"):
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
    for key in ("beta", "likelihood", "loss"):
        family, default = _default_where_applies(key)
        value = getattr(c, key)
        if family != c.model and value is not None and value != default:
            raise ConfigError(key, f"applies to model {family} only; for model {c.model} leave it "
                                   f"unset (or {default!r}), got {value!r}")
    _check_dataset_sizes(c)
    likelihood = c.likelihood or FAMILY_DEFAULTS["vae"]["likelihood"]
    for key, (owner, default) in LIKELIHOOD_KEYS.items():
        value = getattr(c, key)
        applies = c.model == "vae" and likelihood == owner
        if not applies and value is not None and value != default:
            raise ConfigError(key, f"applies to model vae with likelihood {owner} only (here model "
                                   f"{c.model}, likelihood {likelihood}); leave it unset, got {value!r}")


def _check_dataset_sizes(c: RunConfig) -> None:
    info = DATASETS[c.dataset]
    size = info.sizes["train"]
    if c.batch_size > size:
        raise ConfigError("batch_size", f"must be <= {size} (the {c.dataset} train split), got {c.batch_size}")
    if c.eval_samples is None:
        return
    if c.eval_samples > size:
        raise ConfigError("eval_samples", f"must be <= {size} (the real reference is a subset of the "
                                          f"{c.dataset} train split), got {c.eval_samples}")
    if c.conditional and c.eval_samples % info.num_classes:
        raise ConfigError("eval_samples", f"a conditional model is scored on equally many samples of "
                                          f"each of the {info.num_classes} classes: use a multiple of "
                                          f"{info.num_classes}, got {c.eval_samples}")


# --------------------------------------------------------------------------- resolution

def resolve(config: RunConfig) -> RunConfig:
    """The run's concrete settings: every ``None`` replaced by its family's or budget's default.

    - Family keys (``FAMILY_DEFAULTS[model]``): ``None`` → the family default; keys that do
      not apply to the family (e.g. ``beta`` for a GAN, ``loss`` for a VAE) → ``None``.
    - ``sigma`` / ``scale_sharing``: their default for ``gaussian_fixed`` / ``gaussian_learned``
      VAEs, ``None`` otherwise.
    - ``train_steps``: ``None`` → ``budget_steps(budget, model, dataset, batch_size)``;
      ``eval_samples``: ``None`` → the budget's ``eval_samples``.
    - ``device`` is left as given (``auto`` is resolved where the run executes, see
      :func:`resolve_device`, so that a run's identity does not depend on the machine).

    Idempotent: ``resolve(resolve(c)) == resolve(c)``.
    """
    changes = {}
    defaults = FAMILY_DEFAULTS[config.model]
    for key in ("latent_dim", "width", "beta", "likelihood", "scaling", "loss", "lr", "beta1", "beta2"):
        value = getattr(config, key)
        changes[key] = None if key not in defaults else (defaults[key] if value is None else value)
    for key, (owner, default) in LIKELIHOOD_KEYS.items():
        value = getattr(config, key)
        applies = config.model == "vae" and changes["likelihood"] == owner
        changes[key] = (default if value is None else value) if applies else None
    if config.train_steps is None:
        changes["train_steps"] = budget_steps(config.budget, model=config.model,
                                              dataset=config.dataset, batch_size=config.batch_size)
    if config.eval_samples is None:
        changes["eval_samples"] = BUDGETS[config.budget].eval_samples
    return dataclasses.replace(config, **changes)


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else unchanged."""
    if device != "auto":
        return device
    import torch  # local: config parsing stays import-light

    return "cuda" if torch.cuda.is_available() else "cpu"
