"""Blind human ratings → statistics: Bradley–Terry scores, fooling rates, agreement with the
metrics, and how many more judgments a stable ranking needs. Pure functions on arrays.

- **Pairs (two-alternative forced choice).** A judgment compares configurations ``i`` and
  ``j`` and scores ``s`` for ``i``: 1 (``i`` chosen), 0 (``j`` chosen) or ½ ("can't tell":
  half a win for each side, the usual convention for ties in paired comparisons, so a tie
  is evidence that the two are close and never favours either). The Bradley–Terry model
  (Bradley & Terry 1952) says P(i preferred to j) = π_i / (π_i + π_j); :func:`bradley_terry`
  fits it by maximum likelihood (Newton–Raphson; the fixed point of Hunter's 2004 MM
  algorithm, checked in the tests). Scores are log-strengths θ = log π,
  centred to mean 0 over the configurations, so θ_i − θ_j is the log-odds of preferring i.
- **Regularisation.** A configuration never chosen has maximum-likelihood strength 0
  (θ = −∞). So each configuration also plays ``prior`` virtual games against a fixed
  reference of strength 1, half won and half lost (a weak prior pulling every θ towards the
  reference; with the default of one virtual game it weighs as much as one real judgment).
  With ``prior=0`` the plain maximum-likelihood fit is returned, and a comparison graph that
  is not strongly connected (Hunter 2004, Assumption 1: the estimate would be infinite)
  raises ``ValueError`` instead of giving ±inf silently.
- **Real or generated** (HYPE∞, Zhou et al. 2019): a configuration's *fooling rate* is the
  share of its generated images rated "real", with a Wilson score interval (Wilson 1927;
  valid at small n, unlike the normal interval); real images' "real" rate is the reference.
- **Agreement with a metric**: Kendall's τ-b over configurations between the raters' scores
  and the metric oriented so that higher is better (direction from the metric registry), with
  a percentile-bootstrap interval over resampled judgments; and the share of decided
  judgments on which the metric (compared on the two runs shown) picks the raters' choice.
- **Sample size**: :func:`judgments_needed`.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from scipy import stats

__all__ = ["PRIOR", "TIE_SCORE", "win_matrix", "log_posterior", "bradley_terry", "bootstrap_bradley_terry",
           "preference", "proportion_interval", "kendall_tau_b", "bootstrap_interval_of",
           "metric_agreement", "judgments_needed", "ALPHA_ONE_SIDED", "POWER"]

PRIOR = 1.0           # virtual games per configuration against the reference (half won)
TIE_SCORE = 0.5       # "can't tell" = half a win for each side
ALPHA_ONE_SIDED = 0.025  # judgments_needed: one-sided level (= a two-sided 5 % test)
POWER = 0.8
_INTERVAL_METHODS = ("wilson", "clopper-pearson")


# --------------------------------------------------------------------------- Bradley–Terry

def win_matrix(first, second, score, k: int, *, counts=None) -> np.ndarray:
    """``W[..., i, j]``: how often ``i`` was preferred to ``j`` (a tie adds ½ to both).

    ``first``, ``second``: configuration indices per judgment (or per cell of distinct
    judgments); ``score``: 1, ½ or 0 for ``first``; ``counts`` (…, m): how often each cell
    occurs (a bootstrap resample), default once each.
    """
    first, second = np.asarray(first, dtype=int), np.asarray(second, dtype=int)
    score = np.asarray(score, dtype=float)
    counts = np.ones(first.shape, dtype=float) if counts is None else np.asarray(counts, dtype=float)
    cells = np.zeros((first.size, k, k))
    cells[np.arange(first.size), first, second] += score
    cells[np.arange(first.size), second, first] += 1.0 - score
    return np.tensordot(counts, cells, axes=([-1], [0]))


def _strongly_connected(wins: np.ndarray) -> bool:
    """True when every configuration can be reached from every other along "beat" edges."""
    beats = wins > 0
    k = beats.shape[0]
    reach = beats | np.eye(k, dtype=bool)
    for _ in range(k):
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    return bool(reach.all())


def log_posterior(theta, wins, *, prior: float = PRIOR) -> np.ndarray:
    """The penalised Bradley–Terry log-likelihood of log-strengths ``theta`` (…, k)::

        Σ_ij wins_ij log σ(θ_i − θ_j) + (prior/2) Σ_i [log σ(θ_i) + log σ(−θ_i)]

    (σ the logistic function; the second sum: half of ``prior`` games won and half lost
    against the reference of strength e⁰ = 1)."""
    theta = np.asarray(theta, dtype=float)
    difference = theta[..., :, None] - theta[..., None, :]
    fit = -(np.asarray(wins, dtype=float) * np.logaddexp(0.0, -difference)).sum(axis=(-1, -2))
    return fit - prior / 2.0 * (np.logaddexp(0.0, -theta) + np.logaddexp(0.0, theta)).sum(axis=-1)


def _newton_step(theta, won, games, prior):
    """Gradient g and the Newton direction −H⁻¹g of :func:`log_posterior` (batched)::

        g_i = W_i − Σ_j N_ij p_ij + prior (½ − σ(θ_i)),
        H_ij = N_ij p_ij (1 − p_ij) (i ≠ j),  H_ii = −Σ_j N_ij p_ij (1 − p_ij) − prior σ_i (1 − σ_i)

    with p_ij = σ(θ_i − θ_j), W_i = Σ_j wins_ij, N_ij = wins_ij + wins_ji. Without a prior
    the scale is free (H𝟙 = 0 and 𝟙ᵀg = 0): solving with H − 𝟙𝟙ᵀ gives the step with 𝟙ᵀδ = 0.
    """
    k = theta.shape[-1]
    p = 1.0 / (1.0 + np.exp(theta[..., None, :] - theta[..., :, None]))
    sigma = 1.0 / (1.0 + np.exp(-theta))
    gradient = won - (games * p).sum(axis=-1) + prior * (0.5 - sigma)
    curvature = games * p * (1.0 - p)
    hessian = curvature - np.eye(k) * (curvature.sum(axis=-1) + prior * sigma * (1 - sigma))[..., None]
    if prior == 0:
        hessian = hessian - 1.0
    return gradient, -np.linalg.solve(hessian, gradient[..., None])[..., 0]


def bradley_terry(wins, *, prior: float = PRIOR, tol: float = 1e-10,
                  max_iter: int = 100) -> np.ndarray:
    """Centred log-strengths θ (…, k) maximising :func:`log_posterior` for win matrices
    ``wins`` (…, k, k): Newton–Raphson with step halving (the objective is concave, so this
    converges to its unique maximum; at the solution Hunter's (2004) MM fixed point
    π_i = (W_i + prior/2) / (Σ_j N_ij/(π_i + π_j) + prior/(π_i + 1)) holds, see the tests).
    """
    if prior < 0:
        raise ValueError(f"prior must be >= 0 (virtual games per configuration), got {prior}")
    wins = np.asarray(wins, dtype=float)
    if prior == 0:
        for matrix in wins.reshape(-1, *wins.shape[-2:]):
            if not _strongly_connected(matrix):
                raise ValueError("without a prior the Bradley–Terry scores are infinite: some "
                                 "configuration was never preferred to (or always preferred "
                                 "over) the others; use prior > 0")
    won, games = wins.sum(axis=-1), wins + np.swapaxes(wins, -1, -2)
    theta = np.zeros(wins.shape[:-1])
    value = log_posterior(theta, wins, prior=prior)
    for _ in range(max_iter):
        gradient, step = _newton_step(theta, won, games, prior)
        scale = np.ones(value.shape)
        for _ in range(60):  # halve the step where it would not increase the objective
            candidate = theta + scale[..., None] * step
            new_value = log_posterior(candidate, wins, prior=prior)
            worse = new_value < value - 1e-12 * np.abs(value)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2.0, scale)
        theta, value = candidate, new_value
        if np.max(np.abs(scale[..., None] * step), initial=0.0) < tol:
            break
    return theta - theta.mean(axis=-1, keepdims=True)


def bootstrap_bradley_terry(first, second, score, k: int, *, resamples: int, seed: int = 0,
                            prior: float = PRIOR) -> np.ndarray:
    """θ of ``resamples`` bootstrap resamples of the judgments (resampled with replacement,
    as many as observed; seeded), shape (resamples, k)."""
    first, second, score = (np.asarray(a) for a in (first, second, score))
    cells, inverse = np.unique(np.stack([first, second, score.astype(float)], axis=1), axis=0,
                               return_inverse=True)
    observed = np.bincount(inverse.ravel(), minlength=len(cells))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(int(observed.sum()), observed / observed.sum(), size=resamples)
    wins = win_matrix(cells[:, 0], cells[:, 1], cells[:, 2], k, counts=counts)
    return bradley_terry(wins, prior=prior)


def preference(theta_i, theta_j):
    """P(i preferred to j) under Bradley–Terry: 1 / (1 + exp(θ_j − θ_i))."""
    return 1.0 / (1.0 + np.exp(np.asarray(theta_j) - np.asarray(theta_i)))


# --------------------------------------------------------------------------- proportions

def proportion_interval(successes: int, n: int, *, level: float = 0.95,
                        method: str = "wilson") -> tuple[float, float]:
    """Interval for a binomial proportion (scipy's ``binomtest(...).proportion_ci``).

    ``wilson`` (Wilson 1927): centre (k + z²/2)/(n + z²), half-width
    z/(n + z²)·√(k(n − k)/n + z²/4); ``clopper-pearson``: the exact beta-quantile interval
    (Clopper & Pearson 1934). ``(nan, nan)`` for n = 0.
    """
    if method not in _INTERVAL_METHODS:
        raise ValueError(f"method {method!r} unknown; allowed: {', '.join(_INTERVAL_METHODS)}")
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=level, method="exact" if method == "clopper-pearson" else "wilson")
    return float(ci.low), float(ci.high)


# --------------------------------------------------------------------------- agreement

def kendall_tau_b(x, y) -> np.ndarray:
    """Kendall's τ-b of each row of ``x`` (…, k) with ``y`` (k):
    (n_c − n_d) / √((n_0 − n_x)(n_0 − n_y)), n_0 = k(k − 1)/2 pairs, n_x, n_y the pairs tied
    in x, y (Kendall 1945). NaN where either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    k = y.shape[-1]
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    sx = np.sign(x[..., :, None] - x[..., None, :])[..., upper]
    sy = np.sign(y[:, None] - y[None, :])[upper]
    pairs = upper.sum()
    untied_x, untied_y = (sx != 0).sum(axis=-1), (sy != 0).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sx * sy).sum(axis=-1) / np.sqrt(untied_x * float(untied_y))
    return np.where((untied_x == 0) | (untied_y == 0) | (pairs == 0), np.nan, tau)


def bootstrap_interval_of(samples, *, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap ``samples`` (NaN samples ignored)."""
    values = np.asarray(samples, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def metric_agreement(chosen_values, other_values, *, maximize: bool) -> tuple[int, int]:
    """``(agree, n)``: on how many of ``n`` decided judgments the metric prefers the chosen run.

    ``chosen_values[t]`` / ``other_values[t]``: the metric of the run the rater chose and of
    the other run shown; judgments where either is missing or the two are equal are left out.
    """
    a, b = np.asarray(chosen_values, dtype=float), np.asarray(other_values, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b) & (a != b)
    agree = (a[keep] > b[keep]) if maximize else (a[keep] < b[keep])
    return int(agree.sum()), int(keep.sum())


# --------------------------------------------------------------------------- sample size

def judgments_needed(preference: float, *, alpha: float = ALPHA_ONE_SIDED,
                     power: float = POWER) -> float:
    """Judgments of one pair for a one-sided binomial test of "no preference" (p₀ = ½) at level
    ``alpha`` to detect a true preference ``preference`` with probability ``power``.

    The test rejects when the count X ≥ n p₀ + z_{1−α} √(n p₀ q₀); with the normal
    approximation its power is Φ((n (p − p₀) − z_{1−α} √(n p₀ q₀)) / √(n p q)). Setting that
    to ``power`` and solving for n::

        n = ⌈((z_{1−α} √(p₀ q₀) + z_power √(p q)) / (p − p₀))²⌉

    e.g. 60:40 at α = 0.025 (two-sided 5 %) and 80 % power: n = 194. The exact binomial test
    is discrete (its real level is below α), so its power at this n zigzags a little under
    the target (0.76 at 194, 0.80 at 204): read n as "about". ``inf`` without a preference.
    """
    if not 0.0 < alpha < 0.5 or not 0.5 <= power < 1.0:
        raise ValueError(f"need 0 < alpha < 0.5 and 0.5 <= power < 1, got {alpha}, {power}")
    p = max(float(preference), 1.0 - float(preference))  # a preference either way
    if not p > 0.5 or not math.isfinite(p):
        return math.inf
    normal = NormalDist()
    root = normal.inv_cdf(1.0 - alpha) * 0.5 + normal.inv_cdf(power) * math.sqrt(p * (1.0 - p))
    return float(math.ceil((root / (p - 0.5)) ** 2 - 1e-9))
