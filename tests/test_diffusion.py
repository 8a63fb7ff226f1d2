"""lgm.diffusion against closed forms, and its training through lgm.train.

Closed forms for the linear path x_t = t·x₁ + (1 - t)·x₀ (x₀ ~ N(0, 1) per pixel):

* x_t | x₁ ~ N(t·x₁, (1 - t)²).
* Data x₁ ~ N(μ, s²) per pixel: (x₁ - x₀, x_t) is jointly Gaussian with
  E[x₁ - x₀] = μ, Var(x₁ - x₀) = s² + 1, E[x_t] = tμ, V = Var(x_t) = t²s² + (1 - t)²,
  C = Cov(x₁ - x₀, x_t) = t·s² - (1 - t). So the optimal velocity is the regression
  v*(x, t) = μ + (C/V)(x - tμ) and the minimal loss at t is the residual variance
  L*(t) = s² + 1 - C²/V; any other field v* + δ costs L* + E δ² (the regression's
  orthogonality).
* A mixture Σ π_k N(μ_k, s_k²): v*(x, t) = Σ_k w_k(x) v*_k(x, t) with posterior weights
  w_k ∝ π_k N(x; tμ_k, V_k) (v* is E[x₁ - x₀ | x_t = x], split over the component).
* The flow of a Gaussian's v* is x_t = tμ + sqrt(V(t))·x₀, so at t = 1 it maps x₀ to μ + s·x₀.
"""

import math

import pytest
import torch
from scipy import integrate, stats

from lgm.data import BatchStream, load_dataset
from lgm.diffusion import (Diffusion, DiffusionConfig, euler_sample, flow_matching_loss,
                           path_sample)
from lgm.train import NonFiniteLossError, TrainConfig, optimizer_defaults, seed_everything, train

TINY = dict(image_shape=(1, 28, 28), width=4)


def _gaussian_velocity(mu, s):
    def v(x, t):
        t = t.view(-1, *([1] * (x.ndim - 1))).double()
        var = t ** 2 * s ** 2 + (1 - t) ** 2
        cov = t * s ** 2 - (1 - t)
        return (mu + cov / var * (x - t * mu)).to(x.dtype)
    return v


def _minimal_loss(t, mu, s):
    var = t ** 2 * s ** 2 + (1 - t) ** 2
    return s ** 2 + 1 - (t * s ** 2 - (1 - t)) ** 2 / var


def _mixture_velocity(weights, means, scales):
    def v(x, t):
        t = t.view(-1, *([1] * (x.ndim - 1))).double()
        x = x.double()
        logs, parts = [], []
        for pi, mu, s in zip(weights, means, scales):
            var = t ** 2 * s ** 2 + (1 - t) ** 2
            logs.append(math.log(pi) - 0.5 * torch.log(2 * math.pi * var) - (x - t * mu) ** 2 / (2 * var))
            parts.append(mu + (t * s ** 2 - (1 - t)) / var * (x - t * mu))
        w = torch.softmax(torch.stack(logs), dim=0)
        return (w * torch.stack(parts)).sum(0)
    return v


def test_path_marginals_match_the_closed_form():
    gen = torch.Generator().manual_seed(0)
    x1 = torch.tensor([[-0.7, 0.2, 0.9]])
    n = 200_000
    for t_value in (0.0, 0.3, 0.8):
        x0 = torch.randn(n, 3, generator=gen, dtype=torch.float64)
        xt = path_sample(x1.double().expand(n, 3), x0, torch.full((n,), t_value, dtype=torch.float64))
        sd = 1 - t_value
        # mean within 5 standard errors, variance within 5 standard errors of a normal's variance
        assert torch.allclose(xt.mean(0), t_value * x1.double()[0], atol=5 * sd / math.sqrt(n) + 1e-12)
        assert torch.allclose(xt.var(0), torch.full((3,), sd ** 2, dtype=torch.float64),
                              atol=5 * sd ** 2 * math.sqrt(2 / n) + 1e-12)


def test_loss_of_the_exact_optimal_velocity_on_gaussian_data():
    mu, s, n = 0.2, 0.3, 400_000
    gen = torch.Generator().manual_seed(1)
    x1 = mu + s * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    x0 = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    t = torch.rand(n, generator=gen, dtype=torch.float64)
    v = _gaussian_velocity(mu, s)
    per_example = flow_matching_loss(v, x1, x0, t).double()
    expected, _ = integrate.quad(lambda u: _minimal_loss(u, mu, s), 0, 1)
    se = per_example.std().item() / math.sqrt(n)
    assert abs(per_example.mean().item() - expected) < 5 * se
    # Optimality: shifting the field by δ adds δ² (same draws, so the difference is exact-ish).
    delta = 0.1
    shifted = flow_matching_loss(lambda x, tt: v(x, tt) + delta, x1, x0, t).double()
    assert abs((shifted.mean() - per_example.mean()).item() - delta ** 2) < 5 * 2 * delta * se / s + 1e-3


def test_model_loss_is_the_flow_matching_loss_of_its_velocity():
    """Diffusion.loss with its network replaced by the exact Gaussian velocity gives L*."""
    mu, s, n = -0.1, 0.4, 4096
    model = Diffusion(DiffusionConfig(image_shape=(1, 4, 4), width=4))
    model.velocity = lambda x, t, labels=None: _gaussian_velocity(mu, s)(x, t)
    gen = torch.Generator().manual_seed(2)
    x = mu + s * torch.randn(n, 1, 4, 4, generator=gen)
    loss = model.loss(x, generator=torch.Generator().manual_seed(3))["loss"].item()
    expected, _ = integrate.quad(lambda u: _minimal_loss(u, mu, s), 0, 1)
    # 16 pixels × 4096 draws, per-pixel loss sd below 1.5: SE < 1.5 / sqrt(4096) ≈ 0.023
    assert abs(loss - expected) < 0.05


def test_euler_flow_of_a_gaussian_is_the_affine_map():
    mu, s = 0.5, 0.25
    x0 = torch.linspace(-3, 3, 101, dtype=torch.float64)[:, None]
    x1 = euler_sample(_gaussian_velocity(mu, s), x0, steps=2000)
    assert torch.allclose(x1, mu + s * x0, atol=2e-3)


def test_sampler_recovers_a_gaussian_mixtures_moments():
    weights, means, scales = (0.3, 0.7), (-1.0, 1.5), (0.3, 0.5)
    n = 40_000
    x0 = torch.randn(n, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x1 = euler_sample(_mixture_velocity(weights, means, scales), x0, steps=400)[:, 0]
    mean = sum(p * m for p, m in zip(weights, means))
    var = sum(p * (sd ** 2 + m ** 2) for p, m, sd in zip(weights, means, scales)) - mean ** 2
    below0 = sum(p * stats.norm.cdf(0, m, sd) for p, m, sd in zip(weights, means, scales))
    sd_all = math.sqrt(var)
    assert abs(x1.mean().item() - mean) < 5 * sd_all / math.sqrt(n) + 0.01
    assert abs(x1.var().item() - var) < 0.03 * var
    assert abs((x1 < 0).double().mean().item() - below0) < 5 * math.sqrt(below0 * (1 - below0) / n) + 0.005


def _random_network(model, seed=0):
    """Perturb every parameter (the zero-initialised output and condition maps included), so
    time and label actually change the velocity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return model.eval()


def test_shapes_range_and_determinism():
    model = _random_network(Diffusion(DiffusionConfig(**TINY, sample_steps=3)))
    a = model.sample(5, generator=torch.Generator().manual_seed(7))
    b = model.sample(5, generator=torch.Generator().manual_seed(7))
    c = model.sample(5, generator=torch.Generator().manual_seed(8))
    assert a.shape == (5, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    la = model.loss(x, generator=torch.Generator().manual_seed(1))["loss"]
    lb = model.loss(x, generator=torch.Generator().manual_seed(1))["loss"]
    assert la.shape == () and torch.equal(la, lb)


def test_sample_is_the_euler_integral_of_the_network():
    model = _random_network(Diffusion(DiffusionConfig(**TINY, sample_steps=4)))
    x0 = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    expected = euler_sample(lambda x, t: model.velocity(x, t), x0, 4).clamp(-1, 1)
    assert torch.equal(model.generate(x0), expected)
    x, dt = x0, 0.25  # the Euler recursion written out
    for k in range(4):
        x = x + dt * model.velocity(x, torch.full((3,), k * dt))
    assert torch.allclose(model.generate(x0), x.clamp(-1, 1), atol=1e-6)


def test_conditioning_labels_change_the_samples_and_are_checked():
    model = _random_network(Diffusion(DiffusionConfig(**TINY, num_classes=10, sample_steps=2)))
    x0 = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    same = model.generate(x0, torch.tensor([3, 3]))
    assert not torch.equal(model.generate(x0, torch.tensor([3, 4]))[1], same[1])
    with pytest.raises(ValueError, match="labels are required"):
        model.sample(2)
    with pytest.raises(ValueError, match="out of range"):
        model.sample(2, labels=torch.tensor([0, 10]))  # 10 is the internal "no class" token
    uncond = Diffusion(DiffusionConfig(**TINY))
    with pytest.raises(ValueError, match="unconditional"):
        uncond.sample(2, labels=torch.tensor([0, 1]))


def test_guidance_combines_conditional_and_null_velocities():
    base = _random_network(Diffusion(DiffusionConfig(**TINY, num_classes=10, sample_steps=1)))
    guided = Diffusion(DiffusionConfig(**TINY, num_classes=10, sample_steps=1, guidance_scale=2.5))
    guided.load_state_dict(base.state_dict())
    guided.eval()
    x0 = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.1
    y, t0 = torch.tensor([1, 7]), torch.zeros(2)
    with torch.no_grad():
        v_cond, v_null = base.velocity(x0, t0, y), base.velocity(x0, t0, torch.full_like(y, 10))
        combined = guided._guided(y)(x0, t0)
    assert not torch.allclose(v_cond, v_null)
    # one batch of 2N vs two of N: equal up to float32 round-off of the convolutions
    assert torch.allclose(combined, v_null + 2.5 * (v_cond - v_null), atol=1e-4, rtol=1e-4)
    expected = (x0 + combined).clamp(-1, 1)  # one Euler step, dt = 1
    assert torch.equal(guided.generate(x0, y), expected)


def test_label_dropout_rate():
    model = Diffusion(DiffusionConfig(**TINY, num_classes=10, label_dropout=0.25))
    labels = torch.zeros(100_000, dtype=torch.long)
    dropped = (model._drop_labels(labels, torch.Generator().manual_seed(0)) == 10).double().mean().item()
    assert abs(dropped - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 100_000)


@pytest.mark.parametrize("values,message", [
    (dict(sample_steps=0), "sample_steps must be a positive int"),
    (dict(guidance_scale=2.0), "guidance_scale applies to conditional models only"),
    (dict(num_classes=10, guidance_scale=float("nan")), "guidance_scale must be a finite number"),
    (dict(image_shape=(1, 30, 30)), "divisible by 4"),
    (dict(label_dropout=1.0), "label_dropout must be in"),
    (dict(scaling="zero_one"), "unknown scaling"),
])
def test_bad_config_is_refused(values, message):
    with pytest.raises(ValueError, match=message):
        DiffusionConfig(**values)


# --------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def small_fashion():
    return load_dataset("fashion_mnist", "train").subset(256, seed=0)


def _train(data, steps, *, conditional, checkpoint=None, init_seed=0):
    seed_everything(init_seed)
    model = Diffusion(DiffusionConfig(**TINY, num_classes=10 if conditional else None))
    logged = []
    config = TrainConfig(steps=steps, batch_size=16, log_every=2, checkpoint_every=3, progress=False)
    train(model, BatchStream(data, 16, scaling="minus_one_one", seed=0), config,
          callback=lambda step, m: logged.append((step, m)), checkpoint_path=checkpoint)
    return model, logged


@pytest.mark.parametrize("conditional", [False, True])
def test_resume_is_bit_exact(small_fashion, tmp_path, conditional):
    straight, logs = _train(small_fashion, 6, conditional=conditional)
    ckpt = tmp_path / "ckpt.pt"
    _train(small_fashion, 3, conditional=conditional, checkpoint=ckpt)
    resumed, logs_resumed = _train(small_fashion, 6, conditional=conditional, checkpoint=ckpt,
                                   init_seed=123)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert logs_resumed == [e for e in logs if e[0] > 3]
    assert set(logs[0][1]) == {"train/loss"}


def test_family_optimizer_defaults_and_nan_detection(small_fashion):
    assert optimizer_defaults(Diffusion).lr == 1e-3
    model = Diffusion(DiffusionConfig(**TINY))

    class Poisoned(BatchStream):
        def batch(self, step):
            x, y = super().batch(step)
            return (x * float("nan"), y) if step == 2 else (x, y)

    with pytest.raises(NonFiniteLossError) as err:
        train(model, Poisoned(small_fashion, 16, scaling="minus_one_one", seed=0),
              TrainConfig(steps=5, batch_size=16, progress=False))
    assert err.value.step == 2 and err.value.name == "train/loss"
    assert all(torch.isfinite(p).all() for p in model.parameters())
