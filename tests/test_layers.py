"""Adaptive norms: unconditional ≡ torch's plain norms; conditional FiLM formula; labels."""

import pytest
import torch
from torch import nn

from lgm.layers import (AdaptiveBatchNorm2d, AdaptiveGroupNorm, AdaptiveLayerNorm,
                        LabelEmbedding, check_labels)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
C, COND = 6, 5


def _randomize_affine(*modules):
    """Same random weight/bias in every module (instead of the 1/0 defaults)."""
    g = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(C, generator=g), torch.randn(C, generator=g)
    with torch.no_grad():
        for m in modules:
            m.weight.copy_(weight)
            m.bias.copy_(bias)


def _randomize_cond_maps(layer, seed=2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for linear in (layer.to_gamma, layer.to_beta):
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=g))
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=g))


def _pairs():
    """(adaptive layer factory, equivalent torch layer factory, input shape)."""
    return {
        "batch": (lambda cond: AdaptiveBatchNorm2d(C, cond), lambda: nn.BatchNorm2d(C),
                  (8, C, 5, 4)),
        "group": (lambda cond: AdaptiveGroupNorm(3, C, cond), lambda: nn.GroupNorm(3, C),
                  (8, C, 5, 4)),
        "layer": (lambda cond: AdaptiveLayerNorm(C, cond), lambda: nn.LayerNorm(C), (8, C)),
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["batch", "group", "layer"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_unconditional_equals_plain_norm(kind, mode, device):
    make, make_plain, shape = _pairs()[kind]
    ours, plain = make(None).to(device), make_plain().to(device)
    _randomize_affine(ours, plain)
    g = torch.Generator().manual_seed(0)
    # a few training-mode passes so batch norm's running statistics are not the defaults
    for _ in range(3):
        x = (torch.randn(shape, generator=g) * 3 + 1).to(device)
        torch.testing.assert_close(ours(x), plain(x), atol=1e-6, rtol=1e-5)
    if kind == "batch":
        torch.testing.assert_close(ours.norm.running_mean, plain.running_mean)
        torch.testing.assert_close(ours.norm.running_var, plain.running_var)
    ours.train(mode == "train")
    plain.train(mode == "train")
    x = (torch.randn(shape, generator=g) * 3 + 1).to(device).requires_grad_(True)
    out, ref = ours(x), plain(x)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    # the same gradients, to the input and to the affine parameters
    w = torch.randn(shape, generator=g).to(device)
    grads = torch.autograd.grad((out * w).sum(), (x, ours.weight, ours.bias))
    grads_ref = torch.autograd.grad((ref * w).sum(), (x, plain.weight, plain.bias))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["batch", "group", "layer"])
def test_conditional_starts_as_unconditional(kind):
    make, make_plain, shape = _pairs()[kind]
    cond_layer, plain = make(COND), make_plain()
    _randomize_affine(cond_layer, plain)
    x, c = torch.randn(shape), torch.randn(shape[0], COND)
    torch.testing.assert_close(cond_layer(x, c), plain(x), atol=1e-6, rtol=1e-5)
    # and with no condition a conditional layer applies its base affine
    torch.testing.assert_close(cond_layer(x), plain(x), atol=1e-6, rtol=1e-5)


def test_conditional_batchnorm_formula():
    """y = (w + W_g c + b_g) * x_hat + (b + W_b c + b_b), x_hat with biased batch variance."""
    layer = AdaptiveBatchNorm2d(C, COND)
    _randomize_affine(layer)
    _randomize_cond_maps(layer)
    x, c = torch.randn(8, C, 3, 3) * 2 + 0.5, torch.randn(8, COND)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + 1e-5)
    gamma = layer.weight + c @ layer.to_gamma.weight.T + layer.to_gamma.bias
    beta = layer.bias + c @ layer.to_beta.weight.T + layer.to_beta.bias
    expected = gamma[:, :, None, None] * x_hat + beta[:, :, None, None]
    torch.testing.assert_close(layer(x, c), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["batch", "group", "layer"])
def test_output_depends_on_label_and_gradient_reaches_embedding(kind):
    make, _, shape = _pairs()[kind]
    layer, embed = make(COND).eval(), LabelEmbedding(10, COND)
    x = torch.randn(shape)
    same = torch.full((shape[0],), 3)
    # zero-initialised maps: the label cannot matter yet, and the embedding gets no gradient
    assert torch.equal(layer(x, embed(same)), layer(x, embed(same + 1)))
    _randomize_cond_maps(layer)
    out_a, out_b = layer(x, embed(same)), layer(x, embed(same + 1))
    assert not torch.allclose(out_a, out_b)
    torch.testing.assert_close(out_a, layer(x, embed(same.clone())))  # same labels, same output
    layer(x, embed(torch.arange(shape[0]) % 10)).square().sum().backward()
    used = embed.weight.grad.abs().sum(1)
    assert (used[:shape[0]] > 0).all() and (used[shape[0]:] == 0).all()


def test_condition_maps_learn_from_zero_init():
    """At init the maps are zero but still receive a gradient, so training can start."""
    layer = AdaptiveGroupNorm(2, C, COND)
    layer(torch.randn(4, C, 3, 3), torch.randn(4, COND)).pow(3).sum().backward()
    assert layer.to_gamma.weight.grad.abs().sum() > 0
    assert layer.to_beta.weight.grad.abs().sum() > 0


def test_label_embedding_lookup():
    embed = LabelEmbedding(4, 3)
    labels = torch.tensor([2, 0, 2])
    out = embed(labels)
    assert out.shape == (3, 3)
    torch.testing.assert_close(out, embed.weight[labels])
    torch.testing.assert_close(out[0], out[2])


@pytest.mark.parametrize("labels, error, match", [
    (torch.tensor([0, 10]), ValueError, r"label 10 out of range; allowed: 0\.\.9"),
    (torch.tensor([-1, 3]), ValueError, r"label -1 out of range"),
    (torch.tensor([0.0, 1.0]), TypeError, r"int64"),
    (torch.tensor([[0, 1]]), ValueError, r"shape \(N,\)"),
    ([0, 1], TypeError, r"torch.Tensor"),
])
def test_label_embedding_rejects_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        LabelEmbedding(10, 4)(labels)


def test_check_labels_batch_size():
    with pytest.raises(ValueError, match="got 2 labels for a batch of 3"):
        check_labels(torch.tensor([0, 1]), 10, batch_size=3)


@pytest.mark.parametrize("build, match", [
    (lambda: AdaptiveGroupNorm(4, 6), "num_groups=4 must divide num_features=6"),
    (lambda: AdaptiveBatchNorm2d(0), "num_features must be a positive int, got 0"),
    (lambda: AdaptiveLayerNorm(4, cond_dim=-2), "cond_dim must be a positive int, got -2"),
    (lambda: LabelEmbedding(10, 2.5), "dim must be a positive int, got 2.5"),
])
def test_bad_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_forward_inputs():
    with pytest.raises(ValueError, match="built with cond_dim=None"):
        AdaptiveBatchNorm2d(C)(torch.randn(2, C, 2, 2), torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"cond must have shape \(2, 5\), got \(3, 5\)"):
        AdaptiveGroupNorm(3, C, COND)(torch.randn(2, C, 2, 2), torch.randn(3, COND))
    with pytest.raises(ValueError, match="C=6"):
        AdaptiveBatchNorm2d(C)(torch.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match="N×F input"):
        AdaptiveLayerNorm(C)(torch.randn(2, C, 3))
