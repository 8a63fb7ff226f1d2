"""DCGAN (Radford et al. 2016), optionally class-conditional.

Generator: z → linear → (2w, H/4, W/4) → BN → ReLU → convT4x4/2 → BN → ReLU → convT4x4/2 →
tanh (data scaled ``minus_one_one``) or sigmoid (``zero_one``). Discriminator: conv4x4/2 →
LeakyReLU(0.2) → conv4x4/2 → BN → LeakyReLU(0.2) → flatten = φ(x) → linear ψ → logit.
Weights start from N(0, 0.02) as in DCGAN. The batch norm in D (none on its first layer, as
in DCGAN) matters: without it, at this init, D barely learned during development runs (its
logits stayed near zero and its loss near log 4 for a whole epoch) and G's samples were
blobs; with it, D learns at once and G draws recognisable garments after about 3 epochs of
Fashion-MNIST. Width 32 (the default) keeps an epoch around a minute on one CPU thread
(``benchmarks/epoch_cost.py``); width 64 costs about 2.5 times that.

Conditioning: conditional batch norm in G (``AdaptiveBatchNorm2d`` fed by a label
embedding), and the projection discriminator of Miyato & Koyama (2018):
``D(x, y) = ψ(φ(x)) + <e(y), φ(x)>`` with a learned class embedding e.

Losses (``LOSSES``; r, f are the discriminator's logits on real and fake batches, means
over the batch):

* ``non_saturating`` (Goodfellow et al. 2014): D: softplus(-r) + softplus(f)
  (= -log σ(r) - log(1 - σ(f))); G: softplus(-f) (= -log σ(f)).
* ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): D: relu(1 - r) + relu(1 + f); G: -f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import to_unit
from .layers import (AdaptiveBatchNorm2d, LabelEmbedding, check_choice, check_image_batch, check_image_shape,
                     check_positive_int, GenerativeModel)

__all__ = ["GANConfig", "GAN", "Generator", "Discriminator", "GANLoss", "LOSSES", "ARCHS",
           "SCALINGS", "LABEL_EMBED_DIM"]

ARCHS = ("conv",)  # the DCGAN is convolutional only

LABEL_EMBED_DIM = 32  # ≥ num_classes, so per-class BN gamma/beta tables are representable
_INIT_STD = 0.02      # DCGAN initialisation


@dataclass(frozen=True)
class GANLoss:
    """A named pair of losses on discriminator logits, each returning a scalar."""

    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]


def _ns_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _ns_generator(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def _hinge_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _hinge_generator(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


LOSSES: dict[str, GANLoss] = {
    "non_saturating": GANLoss(_ns_discriminator, _ns_generator),
    "hinge": GANLoss(_hinge_discriminator, _hinge_generator),
}
OUTPUT_ACTIVATIONS = {"zero_one": nn.Sigmoid, "minus_one_one": nn.Tanh}
SCALINGS = tuple(OUTPUT_ACTIVATIONS)  # data ranges G can match (each has its output activation)



@dataclass
class GANConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)  # C, H, W; H and W divisible by 4
    latent_dim: int = 64
    width: int = 32             # base channels of G and D
    num_classes: int | None = None
    scaling: str = "minus_one_one"   # "minus_one_one" -> tanh output, "zero_one" -> sigmoid
    loss: str = "non_saturating"     # "non_saturating" | "hinge"

    def __post_init__(self):
        self.image_shape = check_image_shape(self.image_shape, halvings=2, who="the DCGAN")
        check_positive_int("latent_dim", self.latent_dim)
        check_positive_int("width", self.width)
        if self.num_classes is not None:
            check_positive_int("num_classes", self.num_classes)
        check_choice("scaling", self.scaling, SCALINGS)
        check_choice("loss", self.loss, LOSSES)


def _init_normal(*modules: nn.Module) -> None:
    for module in modules:
        nn.init.normal_(module.weight, 0.0, _INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _embed(embed: LabelEmbedding | None, labels, what: str):
    if labels is None:
        return None
    if embed is None:
        raise ValueError(f"labels given to an unconditional {what} (num_classes=None)")
    return embed(labels)


class Generator(nn.Module):
    def __init__(self, config: GANConfig):
        super().__init__()
        c, h, w = config.image_shape
        wd = config.width
        conditional = config.num_classes is not None
        cond_dim = LABEL_EMBED_DIM if conditional else None
        self.embed = LabelEmbedding(config.num_classes, LABEL_EMBED_DIM) if conditional else None
        self.start = (2 * wd, h // 4, w // 4)
        # No biases before batch norm: its mean subtraction removes them.
        self.fc = nn.Linear(config.latent_dim, math.prod(self.start), bias=False)
        self.norm0 = AdaptiveBatchNorm2d(2 * wd, cond_dim)
        self.up1 = nn.ConvTranspose2d(2 * wd, wd, 4, stride=2, padding=1, bias=False)
        self.norm1 = AdaptiveBatchNorm2d(wd, cond_dim)
        self.up2 = nn.ConvTranspose2d(wd, c, 4, stride=2, padding=1)
        self.output_activation = OUTPUT_ACTIVATIONS[config.scaling]()
        _init_normal(self.fc, self.up1, self.up2)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cond = _embed(self.embed, labels, "generator")
        h = F.relu(self.norm0(self.fc(z).view(-1, *self.start), cond))
        h = F.relu(self.norm1(self.up1(h), cond))
        return self.output_activation(self.up2(h))


class Discriminator(nn.Module):
    def __init__(self, config: GANConfig):
        super().__init__()
        c, h, w = config.image_shape
        wd = config.width
        self.conv1 = nn.Conv2d(c, wd, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(wd, 2 * wd, 4, stride=2, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(2 * wd)  # no conv bias: the norm's mean subtraction removes it
        self.feature_dim = 2 * wd * (h // 4) * (w // 4)
        self.psi = nn.Linear(self.feature_dim, 1)
        self.embed = None
        if config.num_classes is not None:
            self.embed = LabelEmbedding(config.num_classes, self.feature_dim)
            nn.init.normal_(self.embed.weight, 0.0, _INIT_STD)
        _init_normal(self.conv1, self.conv2, self.psi)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): N×feature_dim."""
        h = F.leaky_relu(self.conv1(x), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(h)), 0.2).flatten(1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits, shape (N,): ψ(φ(x)) [+ <e(y), φ(x)> when conditional]."""
        phi = self.features(x)
        logits = self.psi(phi).squeeze(1)
        embedded = _embed(self.embed, labels, "discriminator")
        if embedded is not None:
            logits = logits + (embedded * phi).sum(1)
        return logits


class GAN(GenerativeModel):
    """Holds ``.generator`` and ``.discriminator``; see the module docstring.

    Real images come in the training scaling's range (``BatchStream(..., scaling=...)``);
    ``generate`` returns that range and ``sample`` always returns [0, 1].
    Batch norm makes G's output depend on its mode: ``sample`` and the losses use whatever
    mode the module is in (train: batch statistics, and the running statistics update).
    """

    MODEL_NAME = "GAN"

    def __init__(self, config: GANConfig):
        super().__init__()
        if not isinstance(config, GANConfig):
            raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self._loss = LOSSES[config.loss]

    def num_parameters(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in net.parameters())
                for name, net in (("generator", self.generator),
                                  ("discriminator", self.discriminator))}

    # ------------------------------------------------------------------ checks
    def _check_z(self, z) -> None:
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must have shape N×{self.config.latent_dim}, got {got}")

    def _check_images(self, x) -> None:
        check_image_batch(x, self.config.image_shape, "images", self.config.scaling)

    def _batch_size(self, labels, z, n) -> int:
        for source in (z, labels):
            if source is not None:
                return int(source.shape[0])
        if n is None:
            raise ValueError("pass z, labels or n so the batch size is known")
        check_positive_int("n", n)
        return n

    # ------------------------------------------------------------------ model
    def noise(self, n: int, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
        """z ~ N(0, I), n×latent_dim, on ``device`` (default: the model's)."""
        check_positive_int("n", n)
        device = self.device if device is None else device
        return torch.randn(n, self.config.latent_dim, generator=generator, device=device)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z[, y]) in the training scaling's range."""
        self._check_z(z)
        return self.generator(z, self._check_labels(labels, z.shape[0]))

    def discriminator_loss(self, real: torch.Tensor, labels: torch.Tensor | None = None,
                           z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """D's loss on ``real`` and on G(z) (fake, no gradient to G; fakes use ``labels``).

        Returns ``loss`` and the mean logits ``d_real``, ``d_fake`` (detached diagnostics).
        """
        self._check_images(real)
        labels = self._check_labels(labels, real.shape[0])
        if z is None:
            z = self.noise(real.shape[0], device=real.device)
        self._check_z(z)
        if z.shape[0] != real.shape[0]:
            raise ValueError(f"z has {z.shape[0]} rows for a batch of {real.shape[0]} images")
        with torch.no_grad():  # the fake batch is a constant for D's update
            fake = self.generator(z, labels)
        # Logits in float32 whatever the forward pass's precision: the losses' softplus and
        # means lose the small differences that carry the gradient in bfloat16.
        d_real = self.discriminator(real, labels).float()
        d_fake = self.discriminator(fake, labels).float()
        return {"loss": self._loss.discriminator(d_real, d_fake),
                "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}

    def generator_loss(self, labels: torch.Tensor | None = None, z: torch.Tensor | None = None,
                       n: int | None = None) -> dict[str, torch.Tensor]:
        """G's loss on D(G(z)). The batch size comes from z, else labels, else ``n``.

        Gradients also reach D's parameters; zero them before D's next update.
        """
        size = self._batch_size(labels, z, n)
        labels = self._check_labels(labels, size)
        if z is None:
            z = self.noise(size)
        self._check_z(z)
        if z.shape[0] != size:
            raise ValueError(f"z has {z.shape[0]} rows but {size} labels were given")
        return {"loss": self._loss.generator(self.discriminator(self.generator(z, labels), labels).float())}

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n images, always in [0, 1] (``lgm.data.to_unit`` of G's output)."""
        z = self.noise(n, generator=generator)
        return to_unit(self.generate(z, labels), self.config.scaling)
