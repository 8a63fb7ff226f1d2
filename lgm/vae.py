"""Variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014), optionally conditional.

q(z|x[,y]) = N(μ, diag(exp(logvar))), p(z) = N(0, I), p(x|z[,y]) from ``lgm.likelihoods``.
The objective is the β-VAE loss (Higgins et al. 2017) per example,

    loss = -(E_q[log p(x|z)] - β·KL(q(z|x) || p(z))),

with the expectation estimated by one reparameterised sample z = μ + exp(½logvar)·ε. The
β = 1 value, ``elbo`` = recon - KL, is the evidence lower bound whatever β trains.

Conditioning (a CVAE, Sohn et al. 2015): labels enter encoder and decoder through a
``LabelEmbedding`` feeding the adaptive norm layers (group norm for conv, layer norm + FiLM
for the MLP), so one architecture serves both. Group norm rather than batch norm keeps eval
identical to training and each example independent of its batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .layers import (AdaptiveGroupNorm, AdaptiveLayerNorm, LabelEmbedding, check_image_batch,
                     check_choice, check_image_shape, check_positive_int, GenerativeModel)
from .likelihoods import (DEFAULT_SCALE_SHARING, DEFAULT_SIGMA, LIKELIHOODS, SCALE_SHARINGS,
                          make_likelihood)

__all__ = ["VAEConfig", "VAE", "ARCHS", "SCALINGS", "SAMPLE_MODES", "LABEL_EMBED_DIM"]

ARCHS = ("conv", "mlp")
SCALINGS = ("zero_one",)  # every likelihood lives on [0, 1]: the data range a VAE trains on
SAMPLE_MODES = ("mean", "draw")
LABEL_EMBED_DIM = 32  # ≥ num_classes, so per-class gamma/beta tables are representable
_MLP_HIDDEN = (32, 16)  # hidden units = width × these (512, 256 at the default width 16)



def _finite_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value))


@dataclass
class VAEConfig:
    image_shape: tuple[int, int, int] = (1, 28, 28)   # C, H, W; conv needs H, W divisible by 4
    arch: str = "conv"          # "conv" | "mlp"
    latent_dim: int = 16
    width: int = 16             # base channel count (conv) / hidden units scale (mlp)
    likelihood: str = "bernoulli"
    sigma: float = DEFAULT_SIGMA          # gaussian_fixed only
    scale_sharing: str = DEFAULT_SCALE_SHARING  # gaussian_learned only
    beta: float = 1.0
    num_classes: int | None = None  # None = unconditional; else conditional VAE (labels required)

    def __post_init__(self):
        check_choice("arch", self.arch, ARCHS)
        halvings = 2 if self.arch == "conv" else 0  # the MLP takes any H, W
        self.image_shape = check_image_shape(self.image_shape, halvings=halvings, who="arch 'conv'")
        check_positive_int("latent_dim", self.latent_dim)
        check_positive_int("width", self.width)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("scale_sharing", self.scale_sharing, SCALE_SHARINGS)
        if not _finite_number(self.sigma) or self.sigma <= 0:
            raise ValueError(f"sigma must be a finite number > 0, got {self.sigma!r}")
        if not _finite_number(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if self.num_classes is not None:
            check_positive_int("num_classes", self.num_classes)


def _groups(channels: int) -> int:
    return math.gcd(8, channels)


class _Net(nn.Module):
    """Holds the optional label embedding shared by one network's adaptive norms."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        conditional = config.num_classes is not None
        self.cond_dim = LABEL_EMBED_DIM if conditional else None
        self.embed = LabelEmbedding(config.num_classes, LABEL_EMBED_DIM) if conditional else None
        self.act = nn.SiLU()

    def _cond(self, labels):
        return None if labels is None else self.embed(labels)

    def _decoder_input_dim(self, latent_dim: int) -> int:
        return latent_dim + (self.cond_dim or 0)

    @staticmethod
    def _decoder_input(z, cond):
        # The label also enters the decoder's first layer, concatenated to z as in Sohn et
        # al.'s CVAE (2015): through the adaptive norms alone (zero-initialised maps) a
        # 1-epoch conditional VAE drew the requested class for only 14 % of its samples (68 %
        # with the concatenation; scripts/demo_cvae.py prints this share for its grid).
        return z if cond is None else torch.cat([z, cond], dim=1)


class _ConvEncoder(_Net):
    """x → conv4x4/2 → GN → SiLU → conv4x4/2 → GN → SiLU → linear → (μ, logvar)."""

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        c, h, w = config.image_shape
        wd = config.width
        self.conv1 = nn.Conv2d(c, wd, 4, stride=2, padding=1)
        self.norm1 = AdaptiveGroupNorm(_groups(wd), wd, self.cond_dim)
        self.conv2 = nn.Conv2d(wd, 2 * wd, 4, stride=2, padding=1)
        self.norm2 = AdaptiveGroupNorm(_groups(2 * wd), 2 * wd, self.cond_dim)
        self.head = nn.Linear(2 * wd * (h // 4) * (w // 4), 2 * config.latent_dim)

    def forward(self, x, labels=None):
        cond = self._cond(labels)
        h = self.act(self.norm1(self.conv1(x), cond))
        h = self.act(self.norm2(self.conv2(h), cond))
        mu, logvar = self.head(h.flatten(1)).chunk(2, dim=1)
        return mu, logvar


class _ConvDecoder(_Net):
    """[z, e(y)] → linear → (2w, H/4, W/4) → GN → SiLU → convT4x4/2 → GN → SiLU → convT4x4/2."""

    def __init__(self, config: VAEConfig, out_channels: int):
        super().__init__(config)
        c, h, w = config.image_shape
        wd = config.width
        self.start = (2 * wd, h // 4, w // 4)
        self.fc = nn.Linear(self._decoder_input_dim(config.latent_dim), 2 * wd * (h // 4) * (w // 4))
        self.norm0 = AdaptiveGroupNorm(_groups(2 * wd), 2 * wd, self.cond_dim)
        self.up1 = nn.ConvTranspose2d(2 * wd, wd, 4, stride=2, padding=1)
        self.norm1 = AdaptiveGroupNorm(_groups(wd), wd, self.cond_dim)
        self.up2 = nn.ConvTranspose2d(wd, out_channels, 4, stride=2, padding=1)

    def forward(self, z, labels=None):
        cond = self._cond(labels)
        h = self.act(self.norm0(self.fc(self._decoder_input(z, cond)).view(-1, *self.start), cond))
        h = self.act(self.norm1(self.up1(h), cond))
        return self.up2(h)


class _MLPEncoder(_Net):
    """flatten → (linear → LN+FiLM → SiLU) × 2 → linear → (μ, logvar)."""

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        dims = (math.prod(config.image_shape),) + tuple(config.width * m for m in _MLP_HIDDEN)
        self.fc1, self.fc2 = nn.Linear(dims[0], dims[1]), nn.Linear(dims[1], dims[2])
        self.norm1 = AdaptiveLayerNorm(dims[1], self.cond_dim)
        self.norm2 = AdaptiveLayerNorm(dims[2], self.cond_dim)
        self.head = nn.Linear(dims[2], 2 * config.latent_dim)

    def forward(self, x, labels=None):
        cond = self._cond(labels)
        h = self.act(self.norm1(self.fc1(x.flatten(1)), cond))
        h = self.act(self.norm2(self.fc2(h), cond))
        mu, logvar = self.head(h).chunk(2, dim=1)
        return mu, logvar


class _MLPDecoder(_Net):
    """z → (linear → LN+FiLM → SiLU) × 2 → linear → reshape to N×out_channels×H×W."""

    def __init__(self, config: VAEConfig, out_channels: int):
        super().__init__(config)
        _, h, w = config.image_shape
        dims = tuple(config.width * m for m in reversed(_MLP_HIDDEN))
        self.out_shape = (out_channels, h, w)
        self.fc1 = nn.Linear(self._decoder_input_dim(config.latent_dim), dims[0])
        self.fc2 = nn.Linear(dims[0], dims[1])
        self.norm1 = AdaptiveLayerNorm(dims[0], self.cond_dim)
        self.norm2 = AdaptiveLayerNorm(dims[1], self.cond_dim)
        self.head = nn.Linear(dims[1], math.prod(self.out_shape))

    def forward(self, z, labels=None):
        cond = self._cond(labels)
        h = self.act(self.norm1(self.fc1(self._decoder_input(z, cond)), cond))
        h = self.act(self.norm2(self.fc2(h), cond))
        return self.head(h).view(-1, *self.out_shape)


_NETS = {"conv": (_ConvEncoder, _ConvDecoder), "mlp": (_MLPEncoder, _MLPDecoder)}


class VAE(GenerativeModel):
    """β-VAE over images in [0, 1]; see the module docstring for the objective."""

    MODEL_NAME = "VAE"

    def __init__(self, config: VAEConfig):
        super().__init__()
        if not isinstance(config, VAEConfig):
            raise TypeError(f"config must be a VAEConfig, got {type(config).__name__}")
        self.config = config
        channels = config.image_shape[0]
        self.likelihood = make_likelihood(config.likelihood, sigma=config.sigma,
                                          scale_sharing=config.scale_sharing, channels=channels)
        encoder_cls, decoder_cls = _NETS[config.arch]
        self.encoder = encoder_cls(config)
        self.decoder = decoder_cls(config, channels * self.likelihood.params_per_channel)

    # ------------------------------------------------------------------ checks
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_images(self, x) -> None:
        check_image_batch(x, self.config.image_shape, "x", "to [0, 1]")

    # ------------------------------------------------------------------ model
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """q(z|x[,y]): returns (μ, logvar), each N×latent_dim."""
        self._check_images(x)
        return self.encoder(x, self._check_labels(labels, x.shape[0]))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z[,y]): the likelihood's parameters, N×(C·params_per_channel)×H×W."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape N×{self.config.latent_dim}, "
                             f"got {tuple(z.shape)}")
        return self.decoder(z, self._check_labels(labels, z.shape[0]))

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Scalar means over the batch, per example, in nats unless stated:

        ``loss`` = -(recon - β·kl) (minimise this); ``elbo`` = recon - kl (β = 1);
        ``recon`` = one-sample E_q[log p(x|z)]; ``kl`` = KL(q(z|x) || N(0, I)) in closed form
        ½Σ(μ² + σ² - 1 - log σ²); ``bpd`` = -elbo / (D·ln 2), D = C·H·W. With the
        ``bernoulli`` likelihood on grey-level data, elbo/bpd are not a likelihood bound of
        the data (see ``lgm.likelihoods``). ε comes from ``generator`` (on the model's
        device) or the global RNG when None.
        """
        mu, logvar = self.encode(x, labels)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        params = self.decoder(z, labels)  # labels were validated by encode
        recon = self.likelihood.log_prob(params, x).mean()
        # σ² - 1 - log σ² as expm1(logvar) - logvar: exact near logvar = 0, where the naive
        # form subtracts two numbers ≈ 1.
        kl = 0.5 * (mu.pow(2) + torch.expm1(logvar) - logvar).sum(1).mean()
        elbo = recon - kl
        dims = math.prod(self.config.image_shape)
        return {"loss": -(recon - self.config.beta * kl), "elbo": elbo, "recon": recon,
                "kl": kl, "bpd": -elbo / (dims * math.log(2.0))}

    def _output(self, params, mode: str, generator):
        if mode == "mean":
            return self.likelihood.mean(params)
        return self.likelihood.sample(params, generator=generator)

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in SAMPLE_MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(SAMPLE_MODES)}")

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None, mode: str = "mean") -> torch.Tensor:
        """n images in [0, 1]: z ~ N(0, I) from ``generator``, decoded, then the
        likelihood's mean (``mode="mean"``, the default used for sample grids and metrics)
        or a draw from it (``"draw"``, noisier: per-pixel independent noise)."""
        self._check_mode(mode)
        check_positive_int("n", n)
        labels = self._check_labels(labels, n)
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device,
                        dtype=next(self.parameters()).dtype)
        return self._output(self.decoder(z, labels), mode, generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                    mode: str = "mean", generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode the posterior mean z = μ(x); return the likelihood's mean or a draw."""
        self._check_mode(mode)
        mu, _ = self.encode(x, labels)
        return self._output(self.decoder(mu, labels), mode, generator)
