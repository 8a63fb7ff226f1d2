"""GAN: losses by hand, scalings and output activations, projection, conditioning, training."""

import pytest
import torch

from lgm.data import BatchStream, load_dataset
from lgm.gan import GAN, LOSSES, GANConfig

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def _gan(num_classes=None, scaling="minus_one_one", loss="non_saturating",
         image_shape=(1, 28, 28), device="cpu", seed=0):
    torch.manual_seed(seed)
    config = GANConfig(image_shape=image_shape, latent_dim=8, width=8,
                       num_classes=num_classes, scaling=scaling, loss=loss)
    return GAN(config).to(device)


def _real(n=4, image_shape=(1, 28, 28), scaling="minus_one_one", num_classes=None, device="cpu"):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *image_shape, generator=g)
    x = x * 2 - 1 if scaling == "minus_one_one" else x
    labels = None if num_classes is None else torch.randint(0, num_classes, (n,), generator=g)
    return x.to(device), (None if labels is None else labels.to(device))


@pytest.fixture(scope="module")
def fashion_subset():
    return load_dataset("fashion_mnist", "train").subset(64, seed=0)


def test_non_saturating_loss_by_hand():
    """r = (2, -1), f = (0.5, -3); softplus(t) = log(1 + e^t).

    D: mean(softplus(-r)) = (log(1+e^-2) + log(1+e^1))/2 = (0.1269280110 + 1.3132616875)/2
       = 0.7200948493;  mean(softplus(f)) = (log(1+e^0.5) + log(1+e^-3))/2
       = (0.9740769842 + 0.0485873516)/2 = 0.5113321679;  total 1.2314270172.
    G: mean(softplus(-f)) = (log(1+e^-0.5) + log(1+e^3))/2 = (0.4740769842 + 3.0485873516)/2
       = 1.7613321679.
    """
    loss = LOSSES["non_saturating"]
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(1.2314270171575221, rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(1.7613321678769243, rel=1e-6)


def test_hinge_loss_by_hand():
    """D: mean(relu(1 - r)) = (relu(-1) + relu(2))/2 = 1; mean(relu(1 + f)) =
    (relu(1.5) + relu(-2))/2 = 0.75; total 1.75.  G: -mean(f) = -(0.5 - 3)/2 = 1.25."""
    loss = LOSSES["hinge"]
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(1.75)
    assert loss.generator(FAKE).item() == pytest.approx(1.25)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("loss_name", ["non_saturating", "hinge"])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_losses_use_discriminator_logits_and_detach_fakes(loss_name, num_classes, device):
    gan = _gan(num_classes, loss=loss_name, device=device)
    real, labels = _real(num_classes=num_classes, device=device)
    z = gan.noise(4, generator=torch.Generator(device).manual_seed(1))
    out = gan.discriminator_loss(real, labels, z=z)
    d_real = gan.discriminator(real, labels)
    d_fake = gan.discriminator(gan.generate(z, labels), labels)
    torch.testing.assert_close(out["loss"], LOSSES[loss_name].discriminator(d_real, d_fake))
    torch.testing.assert_close(out["d_real"], d_real.mean())
    torch.testing.assert_close(out["d_fake"], d_fake.mean())
    out["loss"].backward()
    assert all(p.grad is None for p in gan.generator.parameters())  # fake was detached
    assert all(p.grad is not None for p in gan.discriminator.parameters())
    g_out = gan.generator_loss(labels, z=z)
    torch.testing.assert_close(g_out["loss"], LOSSES[loss_name].generator(d_fake))
    g_out["loss"].backward()
    assert all(p.grad is not None for p in gan.generator.parameters())


@pytest.mark.parametrize("scaling, activation, low", [("minus_one_one", torch.tanh, -1.0),
                                                      ("zero_one", torch.sigmoid, 0.0)])
def test_scaling_sets_output_activation_and_range(scaling, activation, low):
    gan = _gan(scaling=scaling)
    with torch.no_grad():  # large weights so the output spans the activation's range
        gan.generator.up2.weight.mul_(200.0)
    captured = {}
    gan.generator.up2.register_forward_hook(lambda m, i, o: captured.update(pre=o))
    z = gan.noise(16, generator=torch.Generator().manual_seed(0))
    images = gan.generate(z)
    torch.testing.assert_close(images, activation(captured["pre"]))
    assert images.min() >= low and images.max() <= 1.0
    assert images.min() < low + 0.05 and images.max() > 0.95  # both ends are reached
    # sample: the same z through to_unit, always in [0, 1]
    samples = gan.sample(16, generator=torch.Generator().manual_seed(0))
    expected = (images + 1) / 2 if scaling == "minus_one_one" else images
    torch.testing.assert_close(samples, expected.clamp(0, 1))
    assert samples.min() >= 0 and samples.max() <= 1


def test_projection_term_depends_on_labels():
    """D(x, y) - D(x, y') = <e(y) - e(y'), φ(x)> exactly (Miyato & Koyama 2018)."""
    gan = _gan(num_classes=10)
    x, _ = _real()
    disc = gan.discriminator
    y, y_other = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 1, 9, 4])
    phi = disc.features(x)
    expected = ((disc.embed.weight[y] - disc.embed.weight[y_other]) * phi).sum(1)
    difference = disc(x, y) - disc(x, y_other)
    torch.testing.assert_close(difference, expected, atol=1e-6, rtol=1e-5)
    assert difference[1] == 0 and (difference[[0, 2, 3]].abs() > 0).all()
    by_formula = disc.psi(phi).squeeze(1) + (disc.embed.weight[y] * phi).sum(1)
    torch.testing.assert_close(disc(x, y), by_formula)


def test_conditional_generator_depends_on_labels():
    gan = _gan(num_classes=10)
    z = gan.noise(4, generator=torch.Generator().manual_seed(0))
    ones, sevens = torch.full((4,), 1), torch.full((4,), 7)
    assert torch.equal(gan.generate(z, ones), gan.generate(z, sevens))  # zero-init maps
    with torch.no_grad():
        for name, p in gan.generator.named_parameters():
            if ".to_gamma." in name or ".to_beta." in name:
                p.normal_(0.0, 0.5)
    assert (gan.generate(z, ones) - gan.generate(z, sevens)).abs().max() > 1e-3


def test_eval_mode_generator_is_batch_independent():
    gan = _gan(num_classes=10)
    for step in range(3):  # move the running statistics off their defaults
        gan.generator_loss(torch.arange(8) % 10)
    gan.eval()
    z, labels = gan.noise(6), torch.arange(6)
    torch.testing.assert_close(gan.generate(z, labels)[:2], gan.generate(z[:2], labels[:2]))


@pytest.mark.parametrize("loss_name", ["non_saturating", "hinge"])
@pytest.mark.parametrize("scaling", ["minus_one_one", "zero_one"])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_a_few_adam_steps_on_fashion_mnist_are_finite(loss_name, scaling, num_classes,
                                                      fashion_subset):
    stream = BatchStream(fashion_subset, batch_size=16, scaling=scaling, seed=0)
    gan = _gan(num_classes, scaling=scaling, loss=loss_name)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in gan.parameters()]
    for step in range(4):
        x, y = stream.batch(step)
        y = y if num_classes else None
        d_out = gan.discriminator_loss(x, y)
        opt_d.zero_grad()
        d_out["loss"].backward()
        opt_d.step()
        g_out = gan.generator_loss(y, n=16)
        opt_g.zero_grad()
        g_out["loss"].backward()
        opt_g.step()
        assert all(torch.isfinite(v) for v in (*d_out.values(), g_out["loss"]))
    unchanged = [name for (name, p), b in zip(gan.named_parameters(), before) if torch.equal(p, b)]
    # hinge: while every logit is inside (-1, 1) both hinge terms are active and the
    # gradient to ψ's bias is -1 + 1 = 0 exactly, so that one parameter may rightly stay put
    # (D's batch norm lets logits leave (-1, 1) within a few steps, so it may also move)
    allowed = {"discriminator.psi.bias"} if loss_name == "hinge" else set()
    assert set(unchanged) <= allowed
    samples = gan.sample(4, y[:4] if num_classes else None)
    assert samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_classes", [None, 10])
def test_rgb_32x32_shapes(num_classes, device):
    gan = _gan(num_classes, image_shape=(3, 32, 32), device=device)
    real, labels = _real(n=3, image_shape=(3, 32, 32), num_classes=num_classes, device=device)
    z = gan.noise(3)
    assert z.shape == (3, 8) and z.device.type == device
    assert gan.generate(z, labels).shape == (3, 3, 32, 32)
    assert gan.discriminator(real, labels).shape == (3,)
    assert gan.sample(3, labels).shape == (3, 3, 32, 32)
    assert torch.isfinite(gan.discriminator_loss(real, labels)["loss"])


@pytest.mark.parametrize("kwargs, match", [
    ({"scaling": "zero_to_one"}, "unknown scaling 'zero_to_one'; allowed: zero_one, minus_one_one"),
    ({"loss": "wasserstein"}, "unknown loss 'wasserstein'; allowed: non_saturating, hinge"),
    ({"image_shape": (1, 30, 30)}, "divisible by 4"),
    ({"width": 0}, "width must be a positive int, got 0"),
    ({"num_classes": 2.0}, "num_classes must be a positive int, got 2.0"),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANConfig(**kwargs)


def test_bad_calls_raise():
    unconditional, conditional = _gan(), _gan(num_classes=10)
    real, labels = _real(num_classes=10)
    with pytest.raises(ValueError, match="labels given to an unconditional GAN"):
        unconditional.discriminator_loss(real, labels)
    with pytest.raises(ValueError, match="labels given to an unconditional discriminator"):
        unconditional.discriminator(real, labels)
    with pytest.raises(ValueError, match=r"conditional \(num_classes=10\); labels are required"):
        conditional.sample(4)
    with pytest.raises(ValueError, match="label -1 out of range"):
        conditional.generator_loss(torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="pass z, labels or n"):
        unconditional.generator_loss()
    with pytest.raises(ValueError, match="z must have shape N×8"):
        unconditional.generate(torch.zeros(2, 9))
    with pytest.raises(ValueError, match="z has 3 rows for a batch of 4"):
        unconditional.discriminator_loss(real, z=torch.zeros(3, 8))
    with pytest.raises(ValueError, match=r"images must have shape N×1×28×28"):
        unconditional.discriminator_loss(real[:, :, :20])
    with pytest.raises(TypeError, match="config must be a GANConfig"):
        GAN(None)
