"""The classifier as a drop-in feature extractor for torchmetrics' FID (an optional extra,
installed by scripts/setup.sh from requirements-extras.txt): same features, same FID."""

from __future__ import annotations

import pytest
import torch

from lgm.data import load_dataset, scale
from lgm.evaluation import classifier, extract, fid
from lgm.evaluation.interop import feature_extractor

fid_module = pytest.importorskip("torchmetrics.image.fid")


def test_torchmetrics_fid_on_our_features_equals_ours():
    real = scale(load_dataset("fashion_mnist", "test").subset(600, seed=0).images, "zero_one")
    gen = torch.Generator().manual_seed(0)
    fake = (real + 0.1 * torch.randn(real.shape, generator=gen)).clamp(0, 1)  # FID ~ 10s
    module = feature_extractor("fashion_mnist")
    metric = fid_module.FrechetInceptionDistance(feature=module)
    module.train()  # the metric's train()/eval() calls must not reach batch norm
    for start in range(0, 600, 200):
        metric.update(real[start:start + 200], real=True)
        metric.update((fake[start:start + 200] * 255).round().to(torch.uint8), real=False)
    theirs = float(metric.compute())
    net = classifier("fashion_mnist")
    quantised = (fake * 255).round().to(torch.uint8).float() / 255
    ours = fid(extract(net, real)[0], extract(net, quantised)[0])
    # torchmetrics: float64 sums, eigvals of the non-symmetric S1·S2, result cast to the
    # features' float32 (2^-24 ≈ 6e-8 relative); ours: Cholesky + eigvalsh (1e-10 vs sqrtm)
    assert theirs == pytest.approx(ours, rel=1e-6)
    assert ours > 1.0  # a real difference, not 0 against 0
    torch.testing.assert_close(module(real[:50]), extract(net, real[:50])[0], rtol=0, atol=0)
    assert not module.net.training and net is not module.net  # the shared cached net untouched
