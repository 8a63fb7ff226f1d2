"""VAE: loss terms against closed forms, every likelihood × conditioning × arch, training."""

import math

import pytest
import torch
from torch import distributions as D

from lgm.data import BatchStream, load_dataset
from lgm.vae import VAE, VAEConfig

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LIKELIHOOD_CASES = [("bernoulli", "per_pixel"), ("continuous_bernoulli", "per_pixel"),
                    ("gaussian_fixed", "per_pixel"), ("gaussian_learned", "per_pixel"),
                    ("gaussian_learned", "shared"), ("laplace", "per_pixel"),
                    ("discretized_logistic", "per_pixel")]
MLP_SUBSET = [("bernoulli", "per_pixel"), ("gaussian_learned", "shared"),
              ("discretized_logistic", "per_pixel")]
CROSS = ([("conv",) + case for case in LIKELIHOOD_CASES]
         + [("mlp",) + case for case in MLP_SUBSET])


def _model(arch="conv", likelihood="bernoulli", scale_sharing="per_pixel", num_classes=None,
           image_shape=(1, 28, 28), beta=1.0, device="cpu", seed=0):
    torch.manual_seed(seed)
    config = VAEConfig(image_shape=image_shape, arch=arch, latent_dim=4, width=8,
                       likelihood=likelihood, scale_sharing=scale_sharing, beta=beta,
                       num_classes=num_classes)
    return VAE(config).to(device)


def _batch(n=6, image_shape=(1, 28, 28), num_classes=None, seed=0, device="cpu"):
    """Images on the 8-bit grid k/255 (as ``scale`` makes them), with 0s and 1s present."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *image_shape), generator=g).float() / 255
    x[:, :, :3] = 0.0
    x[:, :, -2:] = 1.0
    labels = None if num_classes is None else torch.randint(0, num_classes, (n,), generator=g)
    return x.to(device), (None if labels is None else labels.to(device))


def _randomize_conditioning(model, seed=1):
    """The condition maps start at zero (label-blind); give them values so labels matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".to_gamma." in name or ".to_beta." in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("arch, likelihood, sharing", CROSS)
def test_loss_terms_and_gradients(arch, likelihood, sharing, conditional):
    num_classes = 10 if conditional else None
    model = _model(arch, likelihood, sharing, num_classes, beta=0.5)
    x, labels = _batch(num_classes=num_classes)
    out = model.loss(x, labels, generator=torch.Generator().manual_seed(7))
    assert set(out) == {"loss", "elbo", "recon", "kl", "bpd"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in out.values())
    assert torch.equal(out["elbo"], out["recon"] - out["kl"])
    torch.testing.assert_close(out["loss"], -(out["recon"] - 0.5 * out["kl"]))
    torch.testing.assert_close(out["bpd"], -out["elbo"] / (784 * math.log(2)))

    # KL in closed form vs torch.distributions; recon by redoing the reparameterisation
    mu, logvar = model.encode(x, labels)
    kl = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(out["kl"], kl, atol=1e-5, rtol=1e-5)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
    params = model.decode(mu + torch.exp(0.5 * logvar) * eps, labels)
    torch.testing.assert_close(out["recon"], model.likelihood.log_prob(params, x).mean())

    # one Adam step moves the zero-initialised condition maps off zero; after it every
    # parameter (embeddings and the shared log-scale included) receives a gradient
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    out["loss"].backward()
    optimizer.step()
    optimizer.zero_grad()
    model.loss(x, labels, generator=torch.Generator().manual_seed(8))["loss"].backward()
    silent = [n for n, p in model.named_parameters()
              if p.grad is None or not p.grad.abs().sum() > 0]
    if conditional:  # embedding rows of classes absent from the batch rightly get nothing
        present = torch.zeros(10, dtype=torch.bool)
        present[labels] = True
        for net in (model.encoder, model.decoder):
            assert (net.embed.weight.grad.abs().sum(1) > 0).tolist() == present.tolist()
        silent = [n for n in silent if not n.endswith("embed.embedding.weight")]
    assert silent == []


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["conv", "mlp"])
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("conditional", [False, True])
def test_sample_and_reconstruct_shapes_and_range(image_shape, arch, conditional, device):
    num_classes = 10 if conditional else None
    model = _model(arch, "discretized_logistic", num_classes=num_classes,
                   image_shape=image_shape, device=device)
    x, labels = _batch(n=5, image_shape=image_shape, num_classes=num_classes, device=device)
    out = model.loss(x, labels)
    torch.testing.assert_close(out["bpd"], -out["elbo"] / (math.prod(image_shape) * math.log(2)))
    for mode in ("mean", "draw"):
        samples = model.sample(5, labels, mode=mode)
        recons = model.reconstruct(x, labels, mode=mode)
        for images in (samples, recons):
            assert images.shape == (5, *image_shape) and images.device.type == device
            assert images.min() >= 0 and images.max() <= 1 and not images.requires_grad


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian_learned"])
def test_seeded_generator_is_deterministic(likelihood):
    model = _model(likelihood=likelihood, num_classes=10)
    x, labels = _batch(num_classes=10)

    def run(seed):
        loss = model.loss(x, labels, generator=torch.Generator().manual_seed(seed))["loss"]
        samples = model.sample(4, labels[:4], generator=torch.Generator().manual_seed(seed),
                               mode="draw")
        return loss, samples
    (loss_a, samples_a), (loss_b, samples_b) = run(3), run(3)
    assert torch.equal(loss_a, loss_b) and torch.equal(samples_a, samples_b)
    loss_c, samples_c = run(4)
    assert not torch.equal(loss_a, loss_c) and not torch.equal(samples_a, samples_c)


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_conditional_output_depends_on_labels(arch):
    model = _model(arch, "gaussian_fixed", num_classes=10)

    def sample(label):
        return model.sample(4, torch.full((4,), label),
                            generator=torch.Generator().manual_seed(0))
    # The label is concatenated to z at the decoder's input, so samples depend on it from the
    # start (the adaptive norms' zero-initialised maps alone would be label-blind at init).
    assert (sample(2) - sample(7)).abs().max() > 1e-3
    _randomize_conditioning(model)
    assert torch.equal(sample(2), sample(2))
    assert (sample(2) - sample(7)).abs().max() > 1e-3
    x, _ = _batch(n=4)
    recon_a = model.reconstruct(x, torch.full((4,), 2))
    recon_b = model.reconstruct(x, torch.full((4,), 7))
    assert (recon_a - recon_b).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_outputs_independent_of_batch(arch):
    """Group / layer norm: an example's reconstruction does not depend on its batch mates."""
    model = _model(arch, num_classes=10)
    _randomize_conditioning(model)
    x, labels = _batch(n=6, num_classes=10)
    together, alone = model.reconstruct(x, labels)[:2], model.reconstruct(x[:2], labels[:2])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)


def test_training_on_fashion_mnist_lowers_the_loss():
    dataset = load_dataset("fashion_mnist", "train").subset(512, seed=0)
    stream = BatchStream(dataset, batch_size=64, scaling="zero_one", seed=0)
    model = _model(likelihood="bernoulli", num_classes=10)
    x_eval, y_eval = stream.batch(0)

    def evaluate():
        with torch.no_grad():
            out = model.loss(x_eval, y_eval, generator=torch.Generator().manual_seed(0))
        return out["loss"].item()
    before = evaluate()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(40):
        x, y = stream.batch(step)
        loss = model.loss(x, y, generator=torch.Generator().manual_seed(step))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = evaluate()
    # Bernoulli on Fashion-MNIST starts near 784·ln 2 ≈ 543 nats; 40 steps reach well below
    assert after < 0.75 * before, (before, after)


@pytest.mark.parametrize("kwargs, match", [
    ({"arch": "resnet"}, "unknown arch 'resnet'; allowed: conv, mlp"),
    ({"likelihood": "poisson"}, "unknown likelihood 'poisson'; allowed: bernoulli"),
    ({"scale_sharing": "global"}, "unknown scale_sharing 'global'; allowed: per_pixel, shared"),
    ({"image_shape": (1, 30, 30)}, "divisible by 4"),
    ({"image_shape": (28, 28)}, "three positive ints"),
    ({"beta": -1.0}, "beta must be a finite number >= 0, got -1.0"),
    ({"sigma": 0.0}, "sigma must be a finite number > 0, got 0.0"),
    ({"latent_dim": 0}, "latent_dim must be a positive int, got 0"),
    ({"num_classes": 0}, "num_classes must be a positive int, got 0"),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAEConfig(**kwargs)


def test_config_accepts_list_image_shape_and_mlp_any_size():
    assert VAEConfig(image_shape=[3, 32, 32]).image_shape == (3, 32, 32)
    model = VAE(VAEConfig(image_shape=(1, 10, 9), arch="mlp", width=2, latent_dim=2))
    assert model.sample(2).shape == (2, 1, 10, 9)


def test_bad_calls_raise():
    unconditional, conditional = _model(), _model(num_classes=10)
    x, labels = _batch(n=3, num_classes=10)
    with pytest.raises(ValueError, match="labels given to an unconditional VAE"):
        unconditional.loss(x, labels)
    with pytest.raises(ValueError, match=r"conditional \(num_classes=10\); labels are required"):
        conditional.loss(x)
    with pytest.raises(ValueError, match="label 10 out of range"):
        conditional.sample(2, torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="got 2 labels for a batch of 3"):
        conditional.loss(x, labels[:2])
    with pytest.raises(ValueError, match=r"x must have shape N×1×28×28"):
        unconditional.loss(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match="unknown mode 'median'; allowed: mean, draw"):
        unconditional.sample(2, mode="median")
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        unconditional.sample(0)
    with pytest.raises(ValueError, match="z must have shape N×4"):
        unconditional.decode(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="config must be a VAEConfig"):
        VAE({"arch": "conv"})
