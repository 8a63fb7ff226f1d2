"""From a resolved ``RunConfig`` to lgm objects: model, batch stream, train config, the
callables ``lgm.evaluation.evaluate`` scores, and sample grids. Wiring only: every default
and property used here belongs to the lgm component it describes.

Data ranges. A VAE always sees ``zero_one`` data (its likelihoods live on [0, 1]); a GAN
sees its ``scaling``, a diffusion model ``minus_one_one`` (its only scaling). A likelihood that is a density (``Likelihood.is_density``:
``continuous_bernoulli``, ``gaussian_*``, ``laplace``) is trained and scored on
*dequantized* data ``(x + u) / 256`` (Theis et al. 2016): a continuous density evaluated at
the 256 discrete grey levels can grow without bound, while on dequantized data
``E_u[log p((x+u)/256)] - D·log 256`` is a lower bound on the log-probability of the 8-bit
image, so their ``eval/elbo`` and ``eval/bpd`` are comparable with the
``discretized_logistic`` pmf. ``bernoulli`` treats grey levels as probabilities: its numbers
are a training criterion, not a likelihood of the data (see ``lgm.likelihoods``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from contracts.record import IMAGE_FILES, SAMPLES_ARRAY_FILE
from contracts.samples import write_samples_array
from lgm.data import BatchStream, ImageDataset, dataset_info, scale
from lgm.diffusion import Diffusion, DiffusionConfig
from lgm.evaluation.copies import COPIES_SAMPLES, copies_figure
from lgm.gan import GAN, GANConfig
from lgm.images import class_rows, save_grid
from lgm.likelihoods import LIKELIHOODS
from lgm.train import TrainConfig
from lgm.vae import VAE, VAEConfig
from study.config import RunConfig

__all__ = ["configure_device", "dequantized", "build_model", "build_stream", "train_config", "sampler",
           "reconstructor", "elbo_function", "save_images"]


def configure_device(device: str) -> None:
    """Process-wide settings for the device a run trains on: on CUDA, cuDNN's autotuner
    (``cudnn.benchmark``: the fastest convolution algorithm for the run's fixed shapes, found
    once; its choice may vary between processes, so CUDA runs are reproducible to round-off,
    not bit for bit). Nothing to set on the CPU."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True


def dequantized(config: RunConfig) -> bool:
    """Whether the run trains (and is scored) on dequantized data: VAEs with a density."""
    return config.model == "vae" and LIKELIHOODS[config.likelihood].is_density


def _given(**values) -> dict:
    """The keyword arguments that are set (``None``: the lgm config's own default applies)."""
    return {k: v for k, v in values.items() if v is not None}


def build_model(config: RunConfig) -> VAE | GAN | Diffusion:
    """The model of a resolved config (seed the global RNG first: it draws the init)."""
    info = dataset_info(config.dataset)
    num_classes = info.num_classes if config.conditional else None
    if config.model == "vae":
        return VAE(VAEConfig(image_shape=info.shape, arch=config.arch, num_classes=num_classes,
                             **_given(latent_dim=config.latent_dim, width=config.width,
                                      likelihood=config.likelihood, sigma=config.sigma,
                                      scale_sharing=config.scale_sharing, beta=config.beta)))
    if config.model == "diffusion":
        return Diffusion(DiffusionConfig(image_shape=info.shape, num_classes=num_classes,
                                         **_given(width=config.width, scaling=config.scaling,
                                                  sample_steps=config.sample_steps,
                                                  guidance_scale=config.guidance_scale)))
    return GAN(GANConfig(image_shape=info.shape, num_classes=num_classes,
                         **_given(latent_dim=config.latent_dim, width=config.width,
                                  scaling=config.scaling, loss=config.loss)))


def build_stream(config: RunConfig, dataset: ImageDataset, device: str) -> BatchStream:
    return BatchStream(dataset, config.batch_size, scaling=config.scaling, device=device,
                       seed=config.seed, dequantize=dequantized(config), with_labels=True)


def train_config(config: RunConfig, device: str, progress: bool | None = None) -> TrainConfig:
    """The resolved config's optimization and cadence settings (nothing else is read)."""
    return TrainConfig(steps=config.train_steps, batch_size=config.batch_size, lr=config.lr,
                       beta1=config.beta1, beta2=config.beta2, seed=config.seed, device=device,
                       log_every=config.log_every, checkpoint_every=config.checkpoint_every,
                       precision=config.precision, memory_format=config.memory_format,
                       progress=progress)


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


def elbo_function(model: VAE | GAN):
    """``elbo_fn(x, labels, generator)`` for ``evaluate`` (VAEs: the model's own loss terms,
    labels only to conditional models), else None."""
    if not isinstance(model, VAE):
        return None

    def elbo_fn(x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        return model.loss(x, labels if model.conditional else None, generator=generator)
    return elbo_fn


@torch.no_grad()
def save_images(model: VAE | GAN, config: RunConfig, test: ImageDataset, run_dir: Path,
                device: str) -> dict:
    """``samples.png`` (one labelled row per class if conditional), the same samples as an
    array without any text (``samples.npz``, see ``contracts.record.SAMPLES_ARRAY_FILE``),
    ``copies.png`` (of ``min(eval_samples, 1000)`` fresh samples, the closest to the
    evaluation's training reference beside their nearest training images) and, for VAEs,
    ``reconstructions.png`` (rows alternate test images and their reconstructions)."""
    info = dataset_info(config.dataset)
    generator = torch.Generator(device=device).manual_seed(config.seed + 3)
    title = f"{config.model} {config.dataset} seed {config.seed}"
    if config.conditional:
        per_class = 10
        labels = class_rows(info.num_classes, per_class, device=device)
        x = model.sample(len(labels), labels=labels, generator=generator)
        save_grid(run_dir / IMAGE_FILES["samples"], x, ncol=per_class,
                  row_labels=list(info.class_names), title=title)
    else:
        labels = torch.zeros(0, dtype=torch.long)
        x = model.sample(64, generator=generator)
        save_grid(run_dir / IMAGE_FILES["samples"], x, ncol=8, title=title)
    write_samples_array(run_dir / SAMPLES_ARRAY_FILE, labels=labels.cpu().numpy(),
                        images=(x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    images = {"samples": IMAGE_FILES["samples"]}
    copies_generator = torch.Generator(device=device).manual_seed(config.seed + 4)
    copies_figure(run_dir / IMAGE_FILES["copies"], dataset=config.dataset,
                  sample_fn=lambda n, y: model.sample(n, labels=y, generator=copies_generator),
                  num_samples=min(config.eval_samples, COPIES_SAMPLES),
                  reference_samples=config.eval_samples, conditional=config.conditional,
                  device=device)
    images["copies"] = IMAGE_FILES["copies"]
    if isinstance(model, VAE):
        subset = test.subset(32, seed=config.seed)
        real = scale(subset.images.to(device), "zero_one")
        recon = model.reconstruct(real, subset.labels.to(device) if model.conditional else None)
        rows = torch.stack([real.view(4, 8, *real.shape[1:]), recon.view(4, 8, *real.shape[1:])], 1)
        save_grid(run_dir / IMAGE_FILES["reconstructions"], rows.reshape(-1, *real.shape[1:]), ncol=8,
                  row_labels=["data", "recon"] * 4, title=f"reconstructions ({title})")
        images["reconstructions"] = IMAGE_FILES["reconstructions"]
    return images
