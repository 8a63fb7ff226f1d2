"""Adaptive (conditional) normalization and label embeddings.

One network serves both a conditional and an unconditional model: every normalization
layer takes an optional condition embedding ``c`` (N×cond_dim) and computes

    y = gamma(c) * x_hat + beta(c),   gamma(c) = weight + W_g c,   beta(c) = bias + W_b c,

where ``x_hat`` is the input normalized *without* an affine transform. With no condition
(``cond=None``) the layer is exactly the plain norm with affine parameters ``weight`` and
``bias``. The maps ``W_g``, ``W_b`` (with biases) start at zero, so a freshly built
conditional network computes the same function as its unconditional twin and learns to use
the label from there.

This is conditional batch norm (de Vries et al. 2017, "Modulating early visual processing
by language"; Miyato & Koyama 2018, "cGANs with projection discriminator"), and for group /
layer norm the AdaIN / FiLM form (Huang & Belongie 2017; Perez et al. 2018). With a
``LabelEmbedding`` of dimension >= num_classes in front, a linear map of the embedding can
represent any per-class gamma/beta table, as in Miyato & Koyama's class-wise parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LabelEmbedding", "AdaptiveBatchNorm2d", "AdaptiveGroupNorm", "AdaptiveLayerNorm",
           "check_labels", "check_model_labels", "check_image_batch", "check_positive_int",
           "check_image_shape", "check_choice", "GenerativeModel"]


def check_positive_int(name: str, value) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_choice(name: str, value, allowed) -> None:
    """Raise ValueError naming ``name`` and listing ``allowed`` unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


class GenerativeModel(nn.Module):
    """What every model family shares about its configuration (``self.config`` with
    ``num_classes``): whether it is conditional, its device, and its label check, whose error
    names the family (``MODEL_NAME``)."""

    MODEL_NAME = "model"

    @property
    def conditional(self) -> bool:
        return self.config.num_classes is not None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _check_labels(self, labels, batch_size: int):
        return check_model_labels(labels, self.config.num_classes, batch_size, self.MODEL_NAME)


def check_image_shape(image_shape, *, halvings: int = 0, who: str = "the network") -> tuple:
    """``image_shape`` as a tuple (YAML / JSON give lists) after checking it is three positive
    ints (C, H, W) and, when ``who`` halves H and W ``halvings`` times, that both divide by
    ``2**halvings``; ValueError naming what is wrong otherwise."""
    shape = tuple(image_shape)
    if len(shape) != 3 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ValueError(f"image_shape must be three positive ints (C, H, W), got {image_shape!r}")
    factor = 2 ** halvings
    if shape[1] % factor or shape[2] % factor:
        raise ValueError(f"{who} halves H and W {halvings} times, so both must be divisible by "
                         f"{factor}; got image_shape {shape}")
    return shape


def check_labels(labels, num_classes: int, batch_size: int | None = None) -> torch.Tensor:
    """Validate class labels: an integer tensor of shape (N,) with values in 0..num_classes-1.

    Raises ``TypeError`` / ``ValueError`` naming the wrong value. The range check costs one
    device synchronisation; it is worth it because an out-of-range index on CUDA is a
    device-side assert that kills the process with no useful message.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of int64 class indices, "
                        f"got {type(labels).__name__}")
    if labels.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"labels must have dtype int64 (or int32), got {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {tuple(labels.shape)}")
    if batch_size is not None and labels.shape[0] != batch_size:
        raise ValueError(f"got {labels.shape[0]} labels for a batch of {batch_size}")
    bad = (labels < 0) | (labels >= num_classes)
    if labels.numel() and bool(bad.any()):
        value = int(labels[bad][0])
        raise ValueError(f"label {value} out of range; allowed: 0..{num_classes - 1}")
    return labels


def check_model_labels(labels, num_classes: int | None, batch_size: int, model: str):
    """Labels for a model that is conditional exactly when ``num_classes`` is set.

    An unconditional model refuses labels and a conditional one requires them, so a
    forgotten ``labels=`` is an error rather than a silently unconditional sample.
    """
    if num_classes is None:
        if labels is not None:
            raise ValueError(f"labels given to an unconditional {model} (num_classes=None); "
                             f"drop them or build the model with num_classes set")
        return None
    if labels is None:
        raise ValueError(f"this {model} is conditional (num_classes={num_classes}); "
                         f"labels are required")
    return check_labels(labels, num_classes, batch_size)


def check_image_batch(x, image_shape: tuple, name: str, scaling: str) -> None:
    """``x`` must be an N×C×H×W tensor of the model's ``image_shape``."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        shape = "×".join(map(str, image_shape))
        raise ValueError(f"{name} must have shape N×{shape} (scaled {scaling}), got {got}")


class LabelEmbedding(nn.Module):
    """Class labels (int64, shape N) → learned vectors (N×dim), with a range check."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("dim", dim)
        self.num_classes, self.dim = num_classes, dim
        self.embedding = nn.Embedding(num_classes, dim)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.embedding(check_labels(labels, self.num_classes))


class _AdaptiveAffine(nn.Module):
    """Shared part: the base affine (weight, bias) and the zero-initialised condition maps."""

    def __init__(self, num_features: int, cond_dim: int | None):
        super().__init__()
        check_positive_int("num_features", num_features)
        if cond_dim is not None:
            check_positive_int("cond_dim", cond_dim)
        self.num_features, self.cond_dim = num_features, cond_dim
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        if cond_dim is None:
            self.to_gamma = self.to_beta = None
        else:
            self.to_gamma = nn.Linear(cond_dim, num_features)
            self.to_beta = nn.Linear(cond_dim, num_features)
            for linear in (self.to_gamma, self.to_beta):
                nn.init.zeros_(linear.weight)
                nn.init.zeros_(linear.bias)

    @property
    def conditional(self) -> bool:
        return self.cond_dim is not None

    def _check_cond(self, cond: torch.Tensor, batch_size: int) -> None:
        if not self.conditional:
            raise ValueError(f"{type(self).__name__} was built with cond_dim=None "
                             f"(unconditional) but was given a condition")
        if cond.ndim != 2 or cond.shape != (batch_size, self.cond_dim):
            raise ValueError(f"cond must have shape ({batch_size}, {self.cond_dim}), "
                             f"got {tuple(cond.shape)}")

    def _affine(self, x_hat: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """gamma * x_hat + beta over the feature axis 1, broadcast over the trailing axes."""
        trailing = (1,) * (x_hat.ndim - 2)
        if cond is None:
            shape = (1, self.num_features) + trailing
            return x_hat * self.weight.view(shape) + self.bias.view(shape)
        self._check_cond(cond, x_hat.shape[0])
        shape = (x_hat.shape[0], self.num_features) + trailing
        gamma = (self.weight + self.to_gamma(cond)).view(shape)
        beta = (self.bias + self.to_beta(cond)).view(shape)
        return x_hat * gamma + beta

    def _check_input(self, x: torch.Tensor, ndim: int, what: str) -> None:
        if x.ndim != ndim or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__} expects {what} with "
                             f"C={self.num_features}, got shape {tuple(x.shape)}")


class AdaptiveBatchNorm2d(_AdaptiveAffine):
    """Conditional batch norm over N×C×H×W.

    ``x_hat = (x - E[x]) / sqrt(Var[x] + eps)`` with batch statistics in training and running
    statistics in eval (exactly ``nn.BatchNorm2d(affine=False)``), then the adaptive affine.
    ``cond=None`` equals ``nn.BatchNorm2d`` with the same weight/bias, in both modes.
    """

    def __init__(self, num_features: int, cond_dim: int | None = None, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__(num_features, cond_dim)
        self.norm = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x, 4, "N×C×H×W input")
        return self._affine(self.norm(x), cond)


class AdaptiveGroupNorm(_AdaptiveAffine):
    """Conditional group norm (AdaIN/FiLM form) over N×C×... inputs.

    Statistics are per example and group, so train and eval behave the same and the output
    for one example does not depend on the rest of the batch. ``cond=None`` equals
    ``nn.GroupNorm(num_groups, num_features)`` with the same weight/bias.
    """

    def __init__(self, num_groups: int, num_features: int, cond_dim: int | None = None,
                 eps: float = 1e-5):
        super().__init__(num_features, cond_dim)
        check_positive_int("num_groups", num_groups)
        if num_features % num_groups:
            raise ValueError(f"num_groups={num_groups} must divide num_features={num_features}")
        self.num_groups, self.eps = num_groups, eps

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"AdaptiveGroupNorm expects N×C×... input with "
                             f"C={self.num_features}, got shape {tuple(x.shape)}")
        return self._affine(F.group_norm(x, self.num_groups, eps=self.eps), cond)


class AdaptiveLayerNorm(_AdaptiveAffine):
    """FiLM on features for MLPs: layer norm over the last axis of N×F, then adaptive affine.

    ``cond=None`` equals ``nn.LayerNorm(num_features)`` with the same weight/bias.
    """

    def __init__(self, num_features: int, cond_dim: int | None = None, eps: float = 1e-5):
        super().__init__(num_features, cond_dim)
        self.eps = eps

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x, 2, "N×F input")
        return self._affine(F.layer_norm(x, (self.num_features,), eps=self.eps), cond)
