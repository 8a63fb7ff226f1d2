"""The shipped classifiers as drop-in feature extractors for other metric libraries.

torchmetrics' FID takes any ``nn.Module`` that maps a batch of images to N×D features
(``FrechetInceptionDistance(feature=module)``); :func:`feature_extractor` gives one built on
the dataset's SHA-256-checked classifier, so torchmetrics' numbers are in the same 128-d
feature space as ``lgm.evaluation``'s (``tests/test_interop.py`` checks that its FID equals
``lgm.evaluation.fid`` to 1e-6 relative)::

    from torchmetrics.image.fid import FrechetInceptionDistance
    from lgm.evaluation.interop import feature_extractor

    metric = FrechetInceptionDistance(feature=feature_extractor("fashion_mnist"))
    metric.update(real_images, real=True)       # N×1×28×28, float in [0, 1] or uint8
    metric.update(generated_images, real=False)
    metric.compute()

torchmetrics is an optional extra (``requirements-extras.txt``), not a dependency of lgm.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lgm.data import dataset_info
from lgm.evaluation.classifiers import classifier
from lgm.evaluation.features import check_images

__all__ = ["FeatureExtractor", "feature_extractor"]


class FeatureExtractor(nn.Module):
    """``module(x)`` → the classifier's float32 N×``num_features`` penultimate features.

    ``x``: N×C×H×W, uint8 (0–255, divided by 255) or float in [0, 1] (checked). The wrapped
    network is a private copy of the cached classifier that stays in eval mode whatever
    ``train()`` is called with: batch norm must use its stored statistics, never a batch's.
    """

    def __init__(self, net: nn.Module, shape: tuple[int, int, int]):
        super().__init__()
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.shape = tuple(shape)
        self.num_features = int(net.feature_dim)  # read by torchmetrics instead of a dry run

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        check_images(x, self.shape, name="images")
        device = next(self.net.parameters()).device
        return self.net.features(x.to(device, torch.float32)).float()


def feature_extractor(dataset: str, device: str | torch.device = "cpu") -> FeatureExtractor:
    """A :class:`FeatureExtractor` of ``dataset``'s shipped classifier on ``device``."""
    return FeatureExtractor(classifier(dataset, device), dataset_info(dataset).shape)
