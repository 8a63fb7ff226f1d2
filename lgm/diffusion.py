"""A small flow-matching (rectified-flow) model with a U-Net, optionally class-conditional.

Objective: conditional flow matching with the linear (optimal-transport) path of Lipman et
al. 2023 ("Flow Matching for Generative Modeling", σ_min = 0), which is Liu et al.'s 2023
rectified flow ("Flow Straight and Fast"). With data x₁, noise x₀ ~ N(0, I) and
t ~ U(0, 1),

    x_t = t·x₁ + (1 - t)·x₀,      so   x_t | x₁ ~ N(t·x₁, (1 - t)²·I),
    loss = E ‖v_θ(x_t, t[, y]) - (x₁ - x₀)‖²   (mean over pixels),

whose minimiser is the marginal velocity v*(x, t) = E[x₁ - x₀ | x_t = x]; integrating
dx/dt = v*(x, t) from t = 0 (noise) to t = 1 carries N(0, I) onto the data distribution.
Sampling is the deterministic Euler method on that ODE with ``sample_steps`` equal steps.

Why this and not DDPM (Ho et al. 2020) with DDIM (Song et al. 2021): on a CPU budget the
sampler's step count sets the evaluation's cost, and the linear path's trajectories are
nearly straight, so few Euler steps lose little (Liu et al. 2023; Lipman et al. 2023 report
lower FID per function evaluation than the diffusion paths); the target x₁ - x₀ has unit-
order scale at every t, so no noise schedule or loss weighting is needed (ε-prediction's
implied weighting explodes near t → data); and the closed forms the tests check (marginals,
optimal velocity of a Gaussian, its minimal loss) are one line each.

Network: a U-Net (Ronneberger et al. 2015, as used by Ho et al. 2020) at three resolutions
(28 → 14 → 7 for Fashion-MNIST) of residual blocks, each with two ``AdaptiveGroupNorm`` →
SiLU → 3×3 conv. The time enters every block through the adaptive norms: a sinusoidal
embedding of t (Vaswani et al. 2017) → MLP gives the condition vector, to which a
``LabelEmbedding`` of the class is added for a conditional model, so time and class
modulate every block the same way (AdaGN, Dhariwal & Nichol 2021). The output conv starts at
zero (the first velocity is 0).

Classifier-free guidance (Ho & Salimans 2021): a conditional model is trained with the label
replaced by a learned "no class" token with probability ``label_dropout``, so the same
network also gives the unconditional velocity; sampling uses
``v = v(x, t, ∅) + guidance_scale·(v(x, t, y) - v(x, t, ∅))``. ``guidance_scale = 1`` is the
plain conditional model (one network call per step); other values cost two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import to_unit
from .layers import (AdaptiveGroupNorm, LabelEmbedding, check_choice, check_image_batch, check_image_shape,
                     check_positive_int, GenerativeModel)

__all__ = ["DiffusionConfig", "Diffusion", "UNet", "ARCHS", "SCALINGS", "COND_DIM",
           "path_sample", "velocity_target", "flow_matching_loss", "euler_sample"]

ARCHS = ("conv",)  # the U-Net is convolutional only
SCALINGS = ("minus_one_one",)  # data on [-1, 1], noise N(0, I): the usual diffusion scale
COND_DIM = 128  # time (+ class) condition vector fed to every adaptive norm
_TIME_FREQUENCIES = 32  # sinusoidal features of t (cos and sin each)


@dataclass
class DiffusionConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # C, H, W; H and W divisible by 4
    width: int = 12             # channels at 28×28; 2w at 14×14, 4w at 7×7 (see UNet)
    num_classes: int | None = None
    scaling: str = "minus_one_one"
    sample_steps: int = 5       # Euler steps of the sampler (evaluation only; cost, see budgets)
    guidance_scale: float = 1.0  # classifier-free guidance (conditional models only)
    label_dropout: float = 0.1  # conditional training: P(label → "no class"), Ho & Salimans 2021

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape, halvings=2, who="the U-Net")
        check_positive_int("width", self.width)
        check_positive_int("sample_steps", self.sample_steps)
        if self.num_classes is not None:
            check_positive_int("num_classes", self.num_classes)
        check_choice("scaling", self.scaling, SCALINGS)
        if (isinstance(self.guidance_scale, bool) or not isinstance(self.guidance_scale, (int, float))
                or not math.isfinite(self.guidance_scale)):
            raise ValueError(f"guidance_scale must be a finite number, got {self.guidance_scale!r}")
        if self.num_classes is None and self.guidance_scale != 1.0:
            raise ValueError(f"guidance_scale applies to conditional models only (num_classes "
                             f"set); got {self.guidance_scale!r} for an unconditional one")
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"label_dropout must be in [0, 1), got {self.label_dropout!r}")


# --------------------------------------------------------------------------- the path

def path_sample(x1: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·x₁ + (1 - t)·x₀, with ``t`` of shape (N,) broadcast over the other axes."""
    t = t.view(-1, *([1] * (x1.ndim - 1)))
    return t * x1 + (1.0 - t) * x0


def velocity_target(x1: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """d x_t / dt = x₁ - x₀ (constant along each straight path)."""
    return x1 - x0


def flow_matching_loss(velocity: Callable, x1: torch.Tensor, x0: torch.Tensor,
                       t: torch.Tensor) -> torch.Tensor:
    """Per-example mean over pixels of ``(velocity(x_t, t) - (x₁ - x₀))²``, shape (N,)."""
    error = velocity(path_sample(x1, x0, t), t) - velocity_target(x1, x0)
    return error.float().pow(2).flatten(1).mean(1)


def euler_sample(velocity: Callable, x0: torch.Tensor, steps: int) -> torch.Tensor:
    """Euler's method for dx/dt = velocity(x, t) from t = 0 (``x0``) to t = 1, ``steps``
    equal steps: x ← x + (1/steps)·velocity(x, k/steps), k = 0..steps-1."""
    check_positive_int("steps", steps)
    x, dt = x0, 1.0 / steps
    for k in range(steps):
        t = torch.full((x.shape[0],), k * dt, device=x.device, dtype=x.dtype)
        x = x + dt * velocity(x, t)
    return x


# --------------------------------------------------------------------------- network

def _groups(channels: int) -> int:
    return math.gcd(8, channels)


def time_features(t: torch.Tensor, count: int = _TIME_FREQUENCIES) -> torch.Tensor:
    """[cos(2π·f_k·t), sin(2π·f_k·t)] with f_k log-spaced over 1..1000 (t in [0, 1])."""
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), count, device=t.device))
    angles = 2 * math.pi * t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class ResBlock(nn.Module):
    """x → AdaGN → SiLU → conv3×3 → AdaGN → SiLU → conv3×3, plus x (1×1 conv if channels change)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1 = AdaptiveGroupNorm(_groups(cin), cin, COND_DIM)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = AdaptiveGroupNorm(_groups(cout), cout, COND_DIM)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.skip(x) + h


class UNet(nn.Module):
    """v_θ(x, t[, y]) at three resolutions, skips concatenated (H×W at 28 for Fashion-MNIST):

    28×28 (w): stem conv ─────────────────────────────── concat → AdaGN → SiLU → conv → v
    14×14 (2w): stride-2 conv → ResBlock ──── concat → ResBlock ─┘ (nearest upsampling)
    7×7 (4w):   stride-2 conv → ResBlock ─────┘

    The full-resolution level has no residual block: there a 3×3 conv costs 4 times its
    14×14 counterpart, and the step and sampling costs decide what a CPU budget can train
    and evaluate (``benchmarks/epoch_cost.py``)."""

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        c, w = config.image_shape[0], config.width
        self.time = nn.Sequential(nn.Linear(2 * _TIME_FREQUENCIES, COND_DIM), nn.SiLU(),
                                  nn.Linear(COND_DIM, COND_DIM))
        # Class k < num_classes, plus index num_classes = "no class" (guidance's null label).
        self.embed = (LabelEmbedding(config.num_classes + 1, COND_DIM)
                      if config.num_classes is not None else None)
        self.stem = nn.Conv2d(c, w, 3, padding=1)
        self.pool1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.down1 = ResBlock(2 * w, 2 * w)
        self.pool2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.mid = ResBlock(4 * w, 4 * w)
        self.up1 = ResBlock(6 * w, 2 * w)
        self.out_norm = AdaptiveGroupNorm(_groups(3 * w), 3 * w, COND_DIM)
        self.out = nn.Conv2d(3 * w, c, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # v starts at 0: training begins from a calm network
        nn.init.zeros_(self.out.bias)

    def condition(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        cond = self.time(time_features(t).to(self.stem.weight.dtype))
        return cond if labels is None else cond + self.embed(labels)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        cond = self.condition(t, labels)
        h0 = self.stem(x)
        h1 = self.down1(self.pool1(h0), cond)
        h = self.mid(self.pool2(h1), cond)
        h = self.up1(torch.cat([F.interpolate(h, size=h1.shape[-2:]), h1], 1), cond)
        h = torch.cat([F.interpolate(h, size=h0.shape[-2:]), h0], 1)
        return self.out(F.silu(self.out_norm(h, cond)))


# --------------------------------------------------------------------------- model

class Diffusion(GenerativeModel):
    """Flow-matching model (module docstring). Images come in ``[-1, 1]``
    (``BatchStream(..., scaling="minus_one_one")``); ``sample`` returns ``[0, 1]``."""

    MODEL_NAME = "diffusion model"

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        if not isinstance(config, DiffusionConfig):
            raise TypeError(f"config must be a DiffusionConfig, got {type(config).__name__}")
        self.config = config
        self.net = UNet(config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def velocity(self, x: torch.Tensor, t: torch.Tensor,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
        """v_θ(x, t[, y]); ``labels`` may hold ``num_classes`` (the "no class" token)."""
        return self.net(x, t, labels)

    def _drop_labels(self, labels, generator):
        """Classifier-free guidance training: each label → "no class" with P = label_dropout."""
        if labels is None or self.config.label_dropout == 0.0:
            return labels
        drop = torch.rand(labels.shape[0], generator=generator, device=labels.device)
        return torch.where(drop < self.config.label_dropout,
                           torch.full_like(labels, self.config.num_classes), labels)

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Flow-matching loss on a batch: ``loss`` (mean), with t ~ U(0, 1) and x₀ ~ N(0, I)
        drawn from ``generator``."""
        check_image_batch(x, self.config.image_shape, "images", self.config.scaling)
        labels = self._drop_labels(self._check_labels(labels, x.shape[0]), generator)
        x0 = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        t = torch.rand(x.shape[0], generator=generator, device=x.device)
        per_example = flow_matching_loss(lambda xt, tt: self.velocity(xt, tt, labels), x, x0, t)
        return {"loss": per_example.mean()}

    def _guided(self, labels):
        """The velocity field the sampler integrates (guided when the scale is not 1)."""
        scale = self.config.guidance_scale
        if labels is None or scale == 1.0:
            return lambda x, t: self.velocity(x, t, labels)
        null = torch.full_like(labels, self.config.num_classes)

        def guided(x, t):
            both = self.velocity(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
            cond, uncond = both.chunk(2)
            return uncond + scale * (cond - uncond)
        return guided

    @torch.no_grad()
    def generate(self, x0: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The sampler's image for starting noise ``x0`` (in [-1, 1] after clamping)."""
        check_image_batch(x0, self.config.image_shape, "x0", "N(0, I)")
        labels = self._check_labels(labels, x0.shape[0])
        return euler_sample(self._guided(labels), x0, self.config.sample_steps).clamp(-1.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1]: x₀ ~ N(0, I) from ``generator``, ``sample_steps`` Euler steps."""
        check_positive_int("n", n)
        x0 = torch.randn(n, *self.config.image_shape, generator=generator, device=self.device,
                         dtype=next(self.parameters()).dtype)
        return to_unit(self.generate(x0, labels), self.config.scaling)
