"""From a resolved ``RunConfig`` to lgm objects: model, batch stream, sampling, test ELBO, grids.

Data ranges. A VAE always sees ``zero_one`` data (its likelihoods live on [0, 1]); a GAN
sees its ``scaling``. Densities (``continuous_bernoulli``, ``gaussian_*``, ``laplace``) are
trained and scored on *dequantized* data ``(x + u) / 256`` (Theis et al. 2016): a continuous
density evaluated at the 256 discrete grey levels can grow without bound, while on
dequantized data ``E_u[log p((x+u)/256)] - D·log 256`` is a lower bound on the log-probability
of the 8-bit image, so their ``eval/elbo`` and ``eval/bpd`` are comparable with the
``discretized_logistic`` pmf. ``bernoulli`` treats grey levels as probabilities: its numbers
are a training criterion, not a likelihood of the data (see ``lgm.likelihoods``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lgm.data import BatchStream, ImageDataset, dataset_info, scale
from lgm.gan import GAN, GANConfig
from lgm.images import class_rows, save_grid
from lgm.likelihoods import LIKELIHOODS
from lgm.train import TrainConfig
from lgm.vae import VAE, VAEConfig
from study.budgets import BUDGETS
from study.config import RunConfig

__all__ = ["DENSITY_LIKELIHOODS", "PMF_LIKELIHOODS", "dequantized", "build_model", "build_stream",
           "train_config", "sampler", "reconstructor", "vae_test_metrics", "save_images"]

DENSITY_LIKELIHOODS = frozenset({"continuous_bernoulli", "gaussian_fixed", "gaussian_learned", "laplace"})
PMF_LIKELIHOODS = frozenset({"bernoulli", "discretized_logistic"})
_LOG_256 = math.log(256.0)
EVAL_BATCH = 500


def dequantized(config: RunConfig) -> bool:
    """Whether the run trains (and is scored) on dequantized data: VAEs with a density."""
    if config.model != "vae":
        return False
    if config.likelihood not in DENSITY_LIKELIHOODS | PMF_LIKELIHOODS:
        # A likelihood added to lgm.likelihoods must be classified here, not guessed.
        raise ValueError(f"likelihood {config.likelihood!r} is neither a density nor a pmf in "
                         f"study.build; known: {', '.join(sorted(LIKELIHOODS))}")
    return config.likelihood in DENSITY_LIKELIHOODS


def build_model(config: RunConfig) -> VAE | GAN:
    """The model of a resolved config (seed the global RNG first: it draws the init)."""
    info = dataset_info(config.dataset)
    num_classes = info.num_classes if config.conditional else None
    if config.model == "vae":
        return VAE(VAEConfig(image_shape=info.shape, arch=config.arch, latent_dim=config.latent_dim,
                             width=config.width, likelihood=config.likelihood,
                             sigma=config.sigma if config.sigma is not None else 0.1,
                             scale_sharing=config.scale_sharing or "per_pixel",
                             beta=config.beta, num_classes=num_classes))
    return GAN(GANConfig(image_shape=info.shape, latent_dim=config.latent_dim, width=config.width,
                         num_classes=num_classes, scaling=config.scaling, loss=config.loss))


def build_stream(config: RunConfig, dataset: ImageDataset, device: str) -> BatchStream:
    return BatchStream(dataset, config.batch_size, scaling=config.scaling, device=device,
                       seed=config.seed, dequantize=dequantized(config), with_labels=True)


def train_config(config: RunConfig, device: str, progress: bool | None = None) -> TrainConfig:
    budget = BUDGETS[config.budget]
    return TrainConfig(steps=config.train_steps, batch_size=config.batch_size, lr=config.lr,
                       beta1=config.beta1, beta2=config.beta2, seed=config.seed, device=device,
                       log_every=min(budget.log_every, config.train_steps),
                       checkpoint_every=budget.checkpoint_every, progress=progress)


def sampler(model: VAE | GAN, *, seed: int, device: str):
    """``sample_fn(n, labels)`` for ``lgm.evaluation.evaluate``: images in [0, 1], seeded.

    One generator serves all calls, so the samples depend only on ``seed`` and the call
    sequence (which ``evaluate`` fixes). VAEs return the likelihood's mean (lgm's default).
    """
    generator = torch.Generator(device=device).manual_seed(seed + 1)  # != the training stream's

    def sample_fn(n: int, labels: torch.Tensor | None) -> torch.Tensor:
        return model.sample(n, labels=labels, generator=generator)
    return sample_fn


def reconstructor(model: VAE | GAN):
    """``reconstruct_fn(x, labels)`` for VAEs (labels only to conditional ones), else None."""
    if not isinstance(model, VAE):
        return None

    def reconstruct_fn(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return model.reconstruct(x, labels if model.conditional else None)
    return reconstruct_fn


@torch.no_grad()
def vae_test_metrics(model: VAE, config: RunConfig, test: ImageDataset, device: str) -> dict:
    """Test-set ``eval/elbo`` (nats per image), ``eval/bpd``, ``eval/kl``, ``eval/recon``.

    On up to ``eval_samples`` test images (a seeded subset), one posterior sample each.
    For densities the data are dequantized and the ELBO is shifted by ``-D·log 256`` to
    bound the 8-bit image's log-probability: bpd = -elbo / (D·ln 2).
    """
    test = test.subset(min(config.eval_samples, len(test)), seed=config.seed)
    dims = math.prod(test.info.shape)
    generator = torch.Generator(device=device).manual_seed(config.seed + 2)
    dequant = dequantized(config)
    totals = {"elbo": 0.0, "kl": 0.0, "recon": 0.0}
    for start in range(0, len(test), EVAL_BATCH):
        raw = test.images[start:start + EVAL_BATCH].to(device)
        noise = torch.rand(raw.shape, generator=generator, device=device) if dequant else None
        labels = test.labels[start:start + EVAL_BATCH].to(device) if model.conditional else None
        out = model.loss(scale(raw, "zero_one", noise), labels, generator=generator)
        for key in totals:
            totals[key] += out[key].item() * raw.shape[0]
    means = {k: v / len(test) for k, v in totals.items()}
    shift = dims * _LOG_256 if dequant else 0.0
    elbo = means["elbo"] - shift
    return {"eval/elbo": elbo, "eval/bpd": -elbo / (dims * math.log(2.0)),
            "eval/kl": means["kl"], "eval/recon": means["recon"] - shift}


@torch.no_grad()
def save_images(model: VAE | GAN, config: RunConfig, test: ImageDataset, run_dir: Path,
                device: str) -> dict:
    """``samples.png`` (one labelled row per class if conditional) and, for VAEs,
    ``reconstructions.png`` (rows alternate test images and their reconstructions)."""
    info = dataset_info(config.dataset)
    generator = torch.Generator(device=device).manual_seed(config.seed + 3)
    title = f"{config.model} {config.dataset} seed {config.seed}"
    if config.conditional:
        per_class = 10
        labels = class_rows(info.num_classes, per_class, device=device)
        x = model.sample(len(labels), labels=labels, generator=generator)
        save_grid(run_dir / "samples.png", x, ncol=per_class, row_labels=list(info.class_names), title=title)
    else:
        x = model.sample(64, generator=generator)
        save_grid(run_dir / "samples.png", x, ncol=8, title=title)
    images = {"samples": "samples.png"}
    if isinstance(model, VAE):
        subset = test.subset(32, seed=config.seed)
        real = scale(subset.images.to(device), "zero_one")
        recon = model.reconstruct(real, subset.labels.to(device) if model.conditional else None)
        rows = torch.stack([real.view(4, 8, *real.shape[1:]), recon.view(4, 8, *real.shape[1:])], 1)
        save_grid(run_dir / "reconstructions.png", rows.reshape(-1, *real.shape[1:]), ncol=8,
                  row_labels=["data", "recon"] * 4, title=f"reconstructions ({title})")
        images["reconstructions"] = "reconstructions.png"
    return images
