"""Likelihoods against torch.distributions, scipy and hand-worked values."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import distributions as D

from lgm.likelihoods import (LIKELIHOODS, LOG_SCALE_MIN, continuous_bernoulli_log_norm,
                             continuous_bernoulli_mean, discretized_logistic_log_prob,
                             floor_log_scale, make_likelihood)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# (name, make_likelihood kwargs): every likelihood and both scale sharings
CASES = [("bernoulli", {}), ("continuous_bernoulli", {}), ("gaussian_fixed", {"sigma": 0.2}),
         ("gaussian_learned", {"scale_sharing": "per_pixel"}),
         ("gaussian_learned", {"scale_sharing": "shared"}), ("laplace", {}),
         ("discretized_logistic", {})]
CASE_IDS = [name + ("-" + kw.get("scale_sharing", "") if "scale_sharing" in kw else "")
            for name, kw in CASES]


def _floored_scale(raw):
    """Independent restatement of the floor: log s = m + log(1 + e^{raw - m}), m = log 1e-3."""
    m = math.log(1e-3)
    return torch.from_numpy(np.exp(m + np.logaddexp(0.0, raw.cpu().numpy() - m))).to(raw)


def _raw_for_scale(scale):
    """Inverse of the floor, for building params with a chosen scale s > 1e-3."""
    m = math.log(1e-3)
    return m + torch.log(torch.expm1(torch.log(torch.as_tensor(scale)) - m))


def _inputs(lik, n=3, c=2, h=4, w=5, dtype=torch.float64, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    params = torch.randn(n, c * lik.params_per_channel, h, w, generator=g, dtype=dtype) * 2
    x = torch.rand(n, c, h, w, generator=g, dtype=dtype)
    return params.to(device), x.to(device)


def _reference(lik, name, params, x):
    """Per-pixel log-probabilities from torch.distributions (validate_args off: the
    Bernoulli is evaluated on grey levels, outside its {0, 1} support, on purpose)."""
    c = lik.channels
    loc, raw = params[:, :c], params[:, c:]
    if name == "bernoulli":
        dist = D.Bernoulli(logits=params, validate_args=False)
    elif name == "continuous_bernoulli":
        dist = D.ContinuousBernoulli(logits=params)
    elif name == "gaussian_fixed":
        dist = D.Normal(params, lik.sigma)
    elif name == "gaussian_learned" and lik.scale_sharing == "shared":
        raw_shared = lik.raw_log_scale.detach().view(1, -1, 1, 1).expand_as(params)
        dist = D.Normal(params, _floored_scale(raw_shared))
    elif name == "gaussian_learned":
        dist = D.Normal(loc, _floored_scale(raw))
    else:
        dist = D.Laplace(loc, _floored_scale(raw))
    return dist.log_prob(x).flatten(1).sum(1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name, kwargs", [c for c in CASES if c[0] != "discretized_logistic"],
                         ids=[i for i in CASE_IDS if i != "discretized_logistic"])
def test_log_prob_matches_torch_distributions(name, kwargs, dtype, device):
    lik = make_likelihood(name, channels=2, **kwargs).to(device=device, dtype=dtype)
    if getattr(lik, "raw_log_scale", None) is not None:
        with torch.no_grad():
            lik.raw_log_scale.copy_(torch.tensor([-1.5, 0.7]))
    params, x = _inputs(lik, dtype=dtype, device=device)
    ours = lik.log_prob(params, x)
    assert ours.shape == (3,) and ours.dtype == dtype
    tol = 1e-5 if dtype == torch.float64 else 2e-4  # float32: sums of 40 terms of size ~10
    torch.testing.assert_close(ours, _reference(lik, name, params, x), atol=tol, rtol=1e-5)


@pytest.mark.parametrize("logit", [0.0, 1e-9, -1e-6, 1e-4, 5e-3, -0.0099, 0.0101, 0.5, -3.0,
                                   30.0, -80.0])
def test_continuous_bernoulli_normalizer_by_quadrature(logit):
    """p(x|l) = e^{lx}/Z with Z = ∫_0^1 e^{lx} dx, and p = e^{lx - softplus(l)}·C(l), so
    log C(l) = softplus(l) - log Z; checked at and around λ = ½ (l = 0)."""
    integral, _ = integrate.quad(lambda x: math.exp(logit * x), 0.0, 1.0, epsabs=0, epsrel=1e-13)
    expected = np.logaddexp(0.0, logit) - math.log(integral)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-6)):
        got = continuous_bernoulli_log_norm(torch.tensor([logit], dtype=dtype))
        assert abs(got.item() - expected) <= tol * max(1.0, abs(expected))
    mean, _ = integrate.quad(lambda x: x * math.exp(logit * x), 0.0, 1.0, epsabs=0, epsrel=1e-13)
    got_mean = continuous_bernoulli_mean(torch.tensor([logit], dtype=torch.float64)).item()
    assert abs(got_mean - mean / integral) < 1e-9


def test_continuous_bernoulli_gradients_finite_at_half():
    logits = torch.tensor([0.0, 1e-7, -1e-3, 0.01], requires_grad=True)
    total = continuous_bernoulli_log_norm(logits).sum() + continuous_bernoulli_mean(logits).sum()
    total.backward()
    assert torch.isfinite(logits.grad).all()
    # d/dl log C = l/6 + O(l³) → 0 at l = 0; d/dl mean = 1/12 at l = 0
    assert abs(logits.grad[0].item() - 1.0 / 12.0) < 1e-6


def test_continuous_bernoulli_mean_matches_torch():
    logits = torch.linspace(-20, 20, 101, dtype=torch.float64)
    lik = make_likelihood("continuous_bernoulli")
    params = logits.view(1, 1, 1, -1)
    torch.testing.assert_close(lik.mean(params).flatten(),
                               D.ContinuousBernoulli(logits=logits).mean, atol=1e-8, rtol=0)


@pytest.mark.parametrize("logit", [-40.0, -3.0, -1e-6, 0.0, 0.7, 25.0])
def test_continuous_bernoulli_sampler_kolmogorov_smirnov(logit):
    """Draws follow F(x) = (e^{lx} - 1)/(e^l - 1) (uniform for l = 0)."""
    lik = make_likelihood("continuous_bernoulli")
    params = torch.full((1, 1, 50, 80), logit, dtype=torch.float64)
    draws = lik.sample(params, generator=torch.Generator().manual_seed(3)).flatten().numpy()
    if abs(logit) < 1e-12:
        cdf = stats.uniform.cdf
    else:
        cdf = lambda x: np.expm1(logit * x) / np.expm1(logit)  # noqa: E731
    assert stats.kstest(draws, cdf).pvalue > 1e-3


# ----------------------------------------------------------------- discretized logistic

def test_discretized_logistic_hand_worked_values():
    """μ = ½, s = 1/255, bins of half-width h = 1/510.

    Interior x = 128/255: x - μ = (256 - 255)/510 = h, so a = (x-h-μ)/s = 0 and
    b = (x+h-μ)/s = 2h·255 = 1; P = σ(1) - σ(0) = 0.7310585786300049 - 0.5, log P =
    log 0.2310585786300049 = -1.4650840134652499.
    Edge x = 0: b = (0 + 1/510 - ½)·255 = ½ - 127.5 = -127; log σ(-127) = -127 - log(1+e^-127)
    = -127.0 to double precision (σ(-127) ≈ 7e-56 underflows to 0 in float32: naive log = -inf).
    Edge x = 1: a = (1 - 1/510 - ½)·255 = 127; log(1 - σ(127)) = log σ(-127) = -127.
    """
    x = torch.tensor([128 / 255, 0.0, 1.0])
    loc = torch.full_like(x, 0.5)
    log_scale = torch.full_like(x, math.log(1 / 255))
    got = discretized_logistic_log_prob(x, loc, log_scale)
    torch.testing.assert_close(got, torch.tensor([-1.4650840134652499, -127.0, -127.0]),
                               atol=2e-5, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("loc, scale", [(0.5, 1e-3), (0.3, 0.02), (0.0, 0.1), (1.0, 0.5),
                                        (-3.0, 0.05), (4.0, 10.0), (0.4987, 1e-3),
                                        (0.5, 1e30)])
def test_discretized_logistic_sums_to_one(loc, scale, dtype):
    x = torch.arange(256, dtype=dtype) / 255
    lp = discretized_logistic_log_prob(x, torch.full_like(x, loc),
                                       torch.full_like(x, math.log(scale)))
    assert torch.isfinite(lp).all()
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert abs(torch.logsumexp(lp, 0).item()) < tol


def test_discretized_logistic_matches_scipy_cdf_differences():
    g = torch.Generator().manual_seed(0)
    loc = torch.rand(200, generator=g, dtype=torch.float64)
    scale = 0.01 + 0.2 * torch.rand(200, generator=g, dtype=torch.float64)
    # pixels within a few scales of the mean, where scipy's cdf differences are accurate
    near = loc + 3 * scale * torch.randn(200, generator=g, dtype=torch.float64)
    x = torch.round(near.clamp(0, 1) * 255) / 255
    h = 0.5 / 255
    upper = np.where(x.numpy() > 1 - h, 1.0, stats.logistic.cdf(x + h, loc, scale))
    lower = np.where(x.numpy() < h, 0.0, stats.logistic.cdf(x - h, loc, scale))
    expected = torch.from_numpy(np.log(upper - lower))
    torch.testing.assert_close(discretized_logistic_log_prob(x, loc, torch.log(scale)),
                               expected, atol=1e-9, rtol=1e-9)


def test_discretized_logistic_module_and_mean():
    lik = make_likelihood("discretized_logistic")
    loc = torch.tensor([0.5, 0.02, 0.97, 1.4, -0.2, 0.3, 0.3], dtype=torch.float64)
    scale = torch.tensor([0.002, 0.05, 0.3, 0.1, 2.0, 0.004, 1e6], dtype=torch.float64)
    params = torch.cat([loc, _raw_for_scale(scale)]).view(1, 2, 1, -1)
    torch.testing.assert_close(torch.exp(floor_log_scale(_raw_for_scale(scale))), scale)
    bins = torch.arange(256, dtype=torch.float64) / 255
    pmf = torch.exp(discretized_logistic_log_prob(bins[:, None], loc[None], torch.log(scale)[None]))
    exact_mean = (pmf * bins[:, None]).sum(0)
    # the closed form is the midpoint rule of the same integral: within half a bin
    assert ((lik.mean(params).flatten() - exact_mean).abs() <= 0.5 / 255 + 1e-9).all()
    picked = torch.tensor([128, 0, 255, 255, 3, 77, 200])
    x = bins[picked].view(1, 1, 1, -1)
    expected = torch.log(pmf[picked, torch.arange(7)]).sum()
    torch.testing.assert_close(lik.log_prob(params, x), expected.view(1))


def test_discretized_logistic_sampler_matches_pmf():
    lik = make_likelihood("discretized_logistic")
    loc, scale = 0.3, 0.01
    raw = _raw_for_scale(scale).item()
    params = torch.stack([torch.full((100, 200), loc, dtype=torch.float64),
                          torch.full((100, 200), raw, dtype=torch.float64)])
    draws = lik.sample(params[None], generator=torch.Generator().manual_seed(0)).flatten()
    counts = torch.bincount(torch.round(draws * 255).long(), minlength=256).double()
    bins = torch.arange(256, dtype=torch.float64) / 255
    pmf = torch.exp(discretized_logistic_log_prob(bins, torch.full_like(bins, loc),
                                                  torch.full_like(bins, math.log(scale))))
    total_variation = 0.5 * (counts / counts.sum() - pmf).abs().sum().item()
    assert total_variation < 0.02  # ~30 occupied bins, 20000 draws: expected TV ≈ 0.01


# ----------------------------------------------------------------- every likelihood

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_mean_and_sample_in_unit_range_and_seeded(name, kwargs, device):
    lik = make_likelihood(name, channels=3, **kwargs).to(device)
    params, _ = _inputs(lik, c=3, dtype=torch.float32, device=device)
    for scaled in (params, params * 40):  # ×40: far outside [0, 1] and into saturation
        for out in (lik.mean(scaled), lik.sample(scaled)):
            assert out.shape == (3, 3, 4, 5)
            assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1

    def draw(seed):
        return lik.sample(params, generator=torch.Generator(device).manual_seed(seed))
    assert torch.equal(draw(5), draw(5))
    assert not torch.equal(draw(5), draw(6))


@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_sample_average_matches_mean(name, kwargs):
    """Monte Carlo: mean of 20000 draws ≈ ``mean`` where clamping is negligible."""
    lik = make_likelihood(name, **kwargs).double()
    if getattr(lik, "raw_log_scale", None) is not None:
        with torch.no_grad():
            lik.raw_log_scale.fill_(_raw_for_scale(0.04).item())
    first = {"bernoulli": 0.4, "continuous_bernoulli": -1.3}.get(name, 0.45)
    planes = [torch.full((100, 200), first, dtype=torch.float64)]
    if lik.params_per_channel == 2:
        planes.append(torch.full((100, 200), _raw_for_scale(0.04).item(), dtype=torch.float64))
    params = torch.stack(planes)[None]
    draws = lik.sample(params, generator=torch.Generator().manual_seed(1))
    mean = lik.mean(params)
    # standard error ≤ 0.5/sqrt(20000) ≈ 0.0035 for anything in [0, 1]; 4 s.e. + half a bin
    assert abs(draws.mean().item() - mean.mean().item()) < 0.015 + 0.5 / 255
    assert torch.allclose(mean, mean.flatten()[0])


@pytest.mark.parametrize("name", ["gaussian_learned", "laplace", "discretized_logistic"])
def test_learned_scale_floor_bounds_the_likelihood(name):
    """With the raw log-scale at -100 and the mean exactly on x = 0 (common in
    Fashion-MNIST), log p stays finite and capped; the gradient to the raw scale survives."""
    lik = make_likelihood(name)
    raw = torch.full((1, 1, 2, 2), -100.0, requires_grad=True)
    params = torch.cat([torch.zeros(1, 1, 2, 2), raw], dim=1)
    lp = lik.log_prob(params, torch.zeros(1, 1, 2, 2))
    cap = {"gaussian_learned": -math.log(1e-3) - 0.5 * math.log(2 * math.pi),
           "laplace": -math.log(2e-3), "discretized_logistic": 0.0}[name]
    assert torch.isfinite(lp).all() and lp.item() <= 4 * cap + 1e-4
    lp.sum().backward()
    assert torch.isfinite(raw.grad).all() and (raw.grad != 0).all()


def test_floor_log_scale():
    raw = torch.tensor([-1e4, LOG_SCALE_MIN, 0.0, 5.0])
    floored = floor_log_scale(raw)
    assert floored[0].item() == pytest.approx(LOG_SCALE_MIN)
    assert floored[1].item() == pytest.approx(LOG_SCALE_MIN + math.log(2.0))
    assert floored[3].item() == pytest.approx(5.0, abs=1e-4)
    assert (floored >= LOG_SCALE_MIN).all()


def test_params_per_channel():
    expected = {"bernoulli": 1, "continuous_bernoulli": 1, "gaussian_fixed": 1,
                "gaussian_learned-per_pixel": 2, "gaussian_learned-shared": 1, "laplace": 2,
                "discretized_logistic": 2}
    for (name, kwargs), case_id in zip(CASES, CASE_IDS):
        assert make_likelihood(name, **kwargs).params_per_channel == expected[case_id]
    assert set(LIKELIHOODS) == {name for name, _ in CASES}


def test_shared_scale_is_a_parameter_per_channel():
    lik = make_likelihood("gaussian_learned", scale_sharing="shared", channels=3)
    assert [p.shape for p in lik.parameters()] == [torch.Size([3])]
    params, x = _inputs(lik, c=3, dtype=torch.float32)
    lik.log_prob(params, x).sum().backward()
    assert (lik.raw_log_scale.grad != 0).all()


@pytest.mark.parametrize("call, match", [
    (lambda: make_likelihood("gauss"), "unknown likelihood 'gauss'; allowed: bernoulli, "
                                       "continuous_bernoulli, gaussian_fixed, gaussian_learned, "
                                       "laplace, discretized_logistic"),
    (lambda: make_likelihood("gaussian_learned", scale_sharing="global"),
     "unknown scale_sharing 'global'; allowed: per_pixel, shared"),
    (lambda: make_likelihood("gaussian_fixed", sigma=0.0), "sigma must be a finite number > 0"),
    (lambda: make_likelihood("laplace", channels=0), "channels must be a positive int"),
    (lambda: make_likelihood("laplace").log_prob(torch.zeros(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)),
     r"laplace needs params of shape N×2×H×W"),
    (lambda: make_likelihood("bernoulli").log_prob(torch.zeros(2, 1, 3, 3),
                                                   torch.zeros(2, 1, 3, 4)),
     r"x must have shape \(2, 1, 3, 3\)"),
    (lambda: make_likelihood("bernoulli").mean(torch.zeros(2, 3, 3)), "N×1×H×W"),
])
def test_bad_input_raises_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
