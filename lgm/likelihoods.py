"""Output likelihoods p(x|z) for images x in [0, 1] (the VAE sees data scaled ``zero_one``).

A decoder outputs ``params_per_channel`` maps per image channel, N×(C·k)×H×W; for two-map
likelihoods the first C maps are the location and the last C the raw log-scale. Each
likelihood gives ``log_prob`` (nats, summed over pixels, one value per example), ``mean``
(the documented choice for images shown or scored: the distribution's mean, clamped to
[0, 1] where the support is wider) and ``sample`` (a draw, clamped to [0, 1]).

What the numbers mean differs (Theis et al. 2016, "A note on the evaluation of generative
models"):

* ``bernoulli`` is a pmf on {0, 1}; on grey-level data it is *not* a normalized likelihood
  of the data (the "probability" of x=0.5 is not a probability of anything), so its
  ELBO/bits-per-dim are a training criterion only, not comparable to the others.
* ``continuous_bernoulli``, ``gaussian_*`` and ``laplace`` are densities on [0, 1] or R:
  log-densities of data scaled x/255, comparable to a discrete 8-bit likelihood only after
  dequantization ((x+u)/256) and adding log(256) nats per dimension.
* ``discretized_logistic`` is a pmf over the 256 values k/255: a proper discrete likelihood.

Learned scales are floored. Fashion-MNIST has many pixels that are exactly 0; a density can
put its mean there and shrink its scale to zero, sending log p(x) → +∞ (an unbounded
likelihood: the data is discrete, the model continuous). The floor log σ ≥ log(1e-3) caps a
Gaussian's per-pixel log-density at -log(1e-3) - ½log(2π) ≈ 5.99 nats. It is applied
smoothly, ``log σ = m + softplus(r - m)`` with m = log(1e-3) (the soft clipping of Rybkin et
al. 2021, "Simple and effective VAE training with calibrated decoders"), so the gradient
never vanishes the way it would behind a hard clamp.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import check_choice, check_positive_int

__all__ = ["Likelihood", "Bernoulli", "ContinuousBernoulli", "GaussianFixed", "GaussianLearned",
           "Laplace", "DiscretizedLogistic", "LIKELIHOODS", "SCALE_SHARINGS", "LOG_SCALE_MIN",
           "DEFAULT_SIGMA", "DEFAULT_SCALE_SHARING", "DENSITIES",
           "make_likelihood", "floor_log_scale", "continuous_bernoulli_log_norm",
           "continuous_bernoulli_mean", "discretized_logistic_log_prob"]

LOG_SCALE_MIN = math.log(1e-3)
SCALE_SHARINGS = ("per_pixel", "shared")
DEFAULT_SIGMA = 0.1  # gaussian_fixed's σ on [0, 1] data (about 25 grey levels)
DEFAULT_SCALE_SHARING = "per_pixel"  # gaussian_learned: one σ per pixel
NUM_BINS = 256
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def floor_log_scale(raw: torch.Tensor, floor: float = LOG_SCALE_MIN) -> torch.Tensor:
    """Smooth lower bound on a log-scale: ``floor + softplus(raw - floor)``.

    ≈ raw for raw ≫ floor, → floor as raw → -∞, gradient sigmoid(raw - floor) > 0 always.
    """
    return floor + F.softplus(raw - floor)


def _draw_scale(log_scale: torch.Tensor) -> torch.Tensor:
    """Scale for draws only, capped at 1e4: on [0, 1] data such a scale is already a fair
    coin between the two ends, and the cap keeps s·ε from becoming inf·0 = NaN."""
    return torch.exp(log_scale.clamp(max=math.log(1e4)))


def _uniform(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U(0,1) strictly inside (0, 1): log(u) and log(1-u) stay finite in inverse CDFs."""
    u = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
    tiny = torch.finfo(like.dtype).eps
    return u.clamp(tiny, 1.0 - tiny)


class Likelihood(nn.Module):
    """Base class: validates shapes, then calls the subclass's ``_log_prob_pixels(params, x)``,
    ``_mean(params)`` and ``_sample(params, generator)``."""

    name = ""
    params_per_channel = 1
    # A density (continuous support) must be trained and scored on dequantized data for its
    # log p to bound the 8-bit image's log-probability (Theis et al. 2016); a pmf must not.
    is_density = False

    def __init__(self, channels: int = 1):
        super().__init__()
        check_positive_int("channels", channels)
        self.channels = channels

    def _check_params(self, params: torch.Tensor) -> None:
        want = self.channels * self.params_per_channel
        if params.ndim != 4 or params.shape[1] != want:
            raise ValueError(f"{self.name} needs params of shape N×{want}×H×W "
                             f"({self.params_per_channel} per channel × {self.channels} "
                             f"channels), got {tuple(params.shape)}")

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return params[:, :self.channels], params[:, self.channels:]

    def log_prob_pixels(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_i | params) per pixel, nats, shape of x."""
        self._check_params(params)
        expected = (params.shape[0], self.channels) + tuple(params.shape[2:])
        if tuple(x.shape) != expected:
            raise ValueError(f"x must have shape {expected} to match params "
                             f"{tuple(params.shape)}, got {tuple(x.shape)}")
        return self._log_prob_pixels(params, x)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | params) in nats, summed over all pixels: shape (N,)."""
        return self.log_prob_pixels(params, x).flatten(1).sum(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The distribution's mean, in [0, 1] (clamped where the support is wider)."""
        self._check_params(params)
        return self._mean(params)

    def sample(self, params: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw per pixel, clamped to [0, 1]; noise from ``generator`` (on params' device)."""
        self._check_params(params)
        return self._sample(params, generator)


class _LocScale(Likelihood):
    """Two maps per channel: location μ and a raw log-scale, floored by ``floor_log_scale``."""

    params_per_channel = 2

    def _loc_log_scale(self, params):
        loc, raw = self._split(params)
        return loc, floor_log_scale(raw)

    def loc_scale(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, scale) as the likelihood uses them, e.g. to build a torch distribution."""
        self._check_params(params)
        loc, log_scale = self._loc_log_scale(params)
        return loc, torch.exp(log_scale)

    def _mean(self, params):
        return self._loc_log_scale(params)[0].clamp(0.0, 1.0)


class Bernoulli(Likelihood):
    """p(x|l) = σ(l)^x (1-σ(l))^(1-x); log p = x·l - softplus(l) (stable BCE-with-logits)."""

    name = "bernoulli"

    def _log_prob_pixels(self, params, x):
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none")

    def _mean(self, params):
        return torch.sigmoid(params)

    def _sample(self, params, generator):
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


def continuous_bernoulli_log_norm(logits: torch.Tensor, cutoff: float = 1e-2) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), in logits l.

    With λ = σ(l): 1-2λ = -tanh(l/2) and atanh(1-2λ) = -l/2, so
    C = 2·atanh(1-2λ)/(1-2λ) = l / tanh(l/2), i.e. p(x|l) = e^{lx}·l/(e^l - 1) on [0, 1].
    The ratio is 0/0 at l = 0 (λ = ½), so below ``cutoff`` we use the Taylor series
    log C = log 2 + l²/12 - l⁴/720 + O(l⁶) (from log(u/tanh u) = u²/3 - u⁴/45 + …, u = l/2;
    the next term is 2u⁶/945 ≈ 3e-17 at the cutoff), as torch does in λ-space.
    """
    small = logits.abs() < cutoff
    safe = torch.where(small, torch.ones_like(logits), logits)  # unused branch stays finite
    exact = torch.log(safe / torch.tanh(0.5 * safe))  # l, tanh(l/2) share a sign: ratio > 0
    sq = logits * logits
    taylor = math.log(2.0) + sq / 12.0 - sq * sq / 720.0
    return torch.where(small, taylor, exact)


def continuous_bernoulli_mean(logits: torch.Tensor, cutoff: float = 0.1) -> torch.Tensor:
    """E[x] = 1/(1 - e^{-l}) - 1/l, the mean of the density ∝ e^{lx} on [0, 1].

    The two terms are each ≈ 1/l near l = 0 and cancel catastrophically, so below ``cutoff``
    use the series ½ + l/12 - l³/720 (Bernoulli numbers; next term l⁵/30240 ≈ 3e-10).
    """
    small = logits.abs() < cutoff
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = 1.0 / (-torch.expm1(-safe)) - 1.0 / safe
    taylor = 0.5 + logits / 12.0 - logits ** 3 / 720.0
    return torch.where(small, taylor, exact)


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli: log p(x|l) = x·l - softplus(l) + log C(l), x ∈ [0, 1]."""

    name = "continuous_bernoulli"
    is_density = True

    def _log_prob_pixels(self, params, x):
        return (-F.binary_cross_entropy_with_logits(params, x, reduction="none")
                + continuous_bernoulli_log_norm(params))

    def _mean(self, params):
        return continuous_bernoulli_mean(params).clamp(0.0, 1.0)

    def _sample(self, params, generator):
        """Inverse CDF. F(x) = (e^{lx} - 1)/(e^l - 1) ⇒ x = log1p(u·expm1(l))/l.

        For l > 0, expm1(l) overflows, so draw y from the mirrored a = -|l| ≤ 0 (where
        expm1(a) ∈ (-1, 0]) and use 1 - X ~ CB(-l). Near a = 0 the ratio is 0/0: use its
        series u + a·u(1-u)/2.
        """
        u = _uniform(params, generator)
        a = -params.abs()
        small = a > -1e-4
        safe = torch.where(small, -torch.ones_like(a), a)
        y = torch.where(small, u + 0.5 * a * u * (1.0 - u),
                        torch.log1p(u * torch.expm1(safe)) / safe)
        return torch.where(params < 0, y, 1.0 - y).clamp(0.0, 1.0)


def _gaussian_log_prob(x, loc, log_scale):
    """log N(x; μ, σ) = -½((x-μ)/σ)² - log σ - ½ log 2π."""
    z = (x - loc) * torch.exp(-log_scale)
    return -0.5 * z * z - log_scale - _HALF_LOG_2PI


def _gaussian_draw(loc, log_scale, generator):
    eps = torch.randn(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
    return (loc + _draw_scale(log_scale) * eps).clamp(0.0, 1.0)


class GaussianFixed(Likelihood):
    """N(x; μ, σ²) with a fixed σ; params = μ (unconstrained). Mean: μ clamped to [0, 1]."""

    name = "gaussian_fixed"
    is_density = True

    def __init__(self, sigma: float = DEFAULT_SIGMA, channels: int = 1):
        super().__init__(channels)
        _check_positive_float("sigma", sigma)
        self.sigma = float(sigma)

    def _log_prob_pixels(self, params, x):
        return _gaussian_log_prob(x, params, torch.full_like(params, math.log(self.sigma)))

    def _mean(self, params):
        return params.clamp(0.0, 1.0)

    def _sample(self, params, generator):
        return _gaussian_draw(params, torch.full_like(params, math.log(self.sigma)), generator)


class GaussianLearned(_LocScale):
    """N(x; μ, σ²) with learned, floored σ (see the module docstring for the floor).

    ``scale_sharing="per_pixel"``: the decoder outputs μ and a raw log σ per pixel (2 maps
    per channel). ``"shared"``: the decoder outputs μ only; one raw log σ per channel is a
    parameter of this module (the σ-VAE of Rybkin et al. 2021), initialised at 0 (σ ≈ 1).
    """

    name = "gaussian_learned"
    is_density = True

    def __init__(self, scale_sharing: str = DEFAULT_SCALE_SHARING, channels: int = 1):
        super().__init__(channels)
        check_choice("scale_sharing", scale_sharing, SCALE_SHARINGS)
        self.scale_sharing = scale_sharing
        self.raw_log_scale = None
        if scale_sharing == "shared":
            self.params_per_channel = 1
            self.raw_log_scale = nn.Parameter(torch.zeros(channels))

    def _loc_log_scale(self, params):
        if self.raw_log_scale is None:
            return super()._loc_log_scale(params)
        raw = self.raw_log_scale.view(1, -1, 1, 1).expand_as(params)
        return params, floor_log_scale(raw)

    def _log_prob_pixels(self, params, x):
        return _gaussian_log_prob(x, *self._loc_log_scale(params))

    def _sample(self, params, generator):
        return _gaussian_draw(*self._loc_log_scale(params), generator)


class Laplace(_LocScale):
    """Laplace(x; μ, b) = exp(-|x-μ|/b)/(2b), per-pixel learned, floored b; 2 maps/channel."""

    name = "laplace"
    is_density = True

    def _log_prob_pixels(self, params, x):
        loc, log_scale = self._loc_log_scale(params)
        return -(x - loc).abs() * torch.exp(-log_scale) - log_scale - math.log(2.0)

    def _sample(self, params, generator):
        """Inverse CDF: with v = u - ½ ∈ (-½, ½), x = μ - b·sign(v)·log(1 - 2|v|)."""
        loc, log_scale = self._loc_log_scale(params)
        v = _uniform(loc, generator) - 0.5
        x = loc - _draw_scale(log_scale) * torch.sign(v) * torch.log1p(-2.0 * v.abs())
        return x.clamp(0.0, 1.0)


def _log_one_minus_exp_neg(log_w: torch.Tensor) -> torch.Tensor:
    """log(1 - e^{-w}) from log w. For small w, exp(-w) rounds to 1 (and w = exp(log w)
    itself may underflow for a huge scale), so use the series
    log(1 - e^{-w}) = log w - w/2 + w²/24 + O(w⁴) below w = 1e-3 (error < 1e-13)."""
    w = torch.exp(log_w)
    small = w < 1e-3
    exact = torch.log(-torch.expm1(-torch.where(small, torch.ones_like(w), w)))
    return torch.where(small, log_w - 0.5 * w + w * w / 24.0, exact)


def discretized_logistic_log_prob(x: torch.Tensor, loc: torch.Tensor,
                                  log_scale: torch.Tensor) -> torch.Tensor:
    """Per-pixel log P(x) of a logistic(μ, s) discretized to the 256 values k/255.

    Bin k covers [x - h, x + h] with h = 1/510; the edge bins extend to ∓∞ (Salimans et al.
    2017, PixelCNN++), so the 256 probabilities sum to 1. With a = (x-h-μ)/s, b = (x+h-μ)/s:

        interior:  P = σ(b) - σ(a) = σ(b)·σ(-a)·(1 - e^{-(b-a)})
        x = 0:     P = σ(b)          x = 1:  P = 1 - σ(a) = σ(-a)

    The product form (check: σ(b)σ(-a)(1-e^{a-b}) = (e^{-a}-e^{-b})/((1+e^{-a})(1+e^{-b})))
    is evaluated with log-sigmoids and log(-expm1(-(b-a))), with b - a = 2h/s taken exactly,
    so it neither cancels (σ(b) ≈ σ(a) in a tail) nor underflows (σ(-127) is 0 in float32
    while logsigmoid(-127) = -127). Off-grid x are assigned their nearest bin.
    """
    steps = NUM_BINS - 1
    x = torch.round(x * steps) / steps
    half = 0.5 / steps
    inv_scale = torch.exp(-log_scale)
    centered = x - loc
    upper = (centered + half) * inv_scale
    lower = (centered - half) * inv_scale
    log_upper, log_one_minus_lower = F.logsigmoid(upper), F.logsigmoid(-lower)
    interior = log_upper + log_one_minus_lower + _log_one_minus_exp_neg(
        math.log(2.0 * half) - log_scale)
    edge_or_interior = torch.where(x > 1.0 - half, log_one_minus_lower, interior)
    return torch.where(x < half, log_upper, edge_or_interior)


class DiscretizedLogistic(_LocScale):
    """Single discretized logistic per pixel (PixelCNN++ without the mixture), 2 maps/channel.

    ``mean``: E[clamp(Y, 0, 1)] for Y ~ logistic(μ, s), = s·(softplus(μ/s) - softplus((μ-1)/s))
    (integrate P(Y > t) = σ((μ-t)/s) over t ∈ [0, 1]). The discretized mean is the midpoint
    rule of that integral over the 255 bin boundaries, so the two differ by at most half a
    bin (1/510) — without the 256× cost of summing over bins.
    """

    name = "discretized_logistic"

    def _log_prob_pixels(self, params, x):
        return discretized_logistic_log_prob(x, *self._loc_log_scale(params))

    def _mean(self, params):
        loc, log_scale = self._loc_log_scale(params)
        # With d = 1/s, a = μ/s, b = (μ-1)/s = a - d: m = (softplus(a) - softplus(b))/d.
        # For small d (large s) that difference cancels; use the exact rewrite
        # softplus(a) - softplus(b) = log1p(σ(b)·expm1(d)), whose limit d → 0 is σ(b)·d.
        # d is clamped away from 0 (s so large that 1/s underflows) and, in the unused
        # branch, kept ≤ 20 so expm1 cannot overflow into a NaN gradient.
        d = torch.exp(-log_scale)
        a, b = loc * d, (loc - 1.0) * d
        wide = torch.log1p(torch.sigmoid(b) * torch.expm1(d.clamp(max=20.0))) / d.clamp(min=1e-30)
        m = torch.where(d > 20.0, (F.softplus(a) - F.softplus(b)) / d, wide)
        return m.clamp(0.0, 1.0)

    def _sample(self, params, generator):
        """Y = μ + s·(log u - log(1-u)) (logistic inverse CDF), rounded to the nearest bin."""
        loc, log_scale = self._loc_log_scale(params)
        u = _uniform(loc, generator)
        y = loc + _draw_scale(log_scale) * (torch.log(u) - torch.log1p(-u))
        steps = NUM_BINS - 1
        return (torch.round(y * steps) / steps).clamp(0.0, 1.0)


LIKELIHOODS: dict[str, type] = {
    cls.name: cls for cls in (Bernoulli, ContinuousBernoulli, GaussianFixed, GaussianLearned,
                              Laplace, DiscretizedLogistic)
}
DENSITIES = frozenset(name for name, cls in LIKELIHOODS.items() if cls.is_density)


def _check_positive_float(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def make_likelihood(name: str, *, sigma: float = DEFAULT_SIGMA, scale_sharing: str = DEFAULT_SCALE_SHARING,
                    channels: int = 1) -> Likelihood:
    """Build a likelihood by name. ``sigma`` is used by ``gaussian_fixed`` only and
    ``scale_sharing`` by ``gaussian_learned`` only; both are validated regardless so that a
    typo in a sweep fails loudly. ``channels`` is the number of image channels."""
    check_choice("likelihood", name, LIKELIHOODS)
    _check_positive_float("sigma", sigma)
    check_choice("scale_sharing", scale_sharing, SCALE_SHARINGS)
    cls = LIKELIHOODS[name]
    if cls is GaussianFixed:
        return GaussianFixed(sigma=sigma, channels=channels)
    if cls is GaussianLearned:
        return GaussianLearned(scale_sharing=scale_sharing, channels=channels)
    return cls(channels=channels)
