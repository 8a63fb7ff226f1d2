"""The extractor-free Fréchet Wavelet Distance against its authors' package, and the
class-histogram-matched FID against hand-worked counts and its defining property."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from lgm.data import load_dataset, scale
from lgm.evaluation.metrics import feature_statistics, fid_from_statistics
from lgm.evaluation.metrics.class_histogram import (class_histogram_tv, histogram_matched_indices,
                                                    matched_counts)
from lgm.evaluation.metrics.fwd import (WaveletMoments, frechet_wavelet_distance, haar_packets,
                                        packet_statistics)
from lgm.evaluation.registry import FWD_LEVEL

N = 600


@pytest.fixture(scope="module")
def sets():
    """Real Fashion-MNIST test and training images, and a noisy and a blurred copy."""
    test = scale(load_dataset("fashion_mnist", "test").subset(N, seed=3).images, "zero_one")
    train = scale(load_dataset("fashion_mnist", "train").subset(N, seed=3).images, "zero_one")
    gen = torch.Generator().manual_seed(0)
    noisy = (test + 0.15 * torch.randn(test.shape, generator=gen)).clamp(0, 1)
    return {"test": test, "train": train, "noisy": noisy, "blurred": gaussian_blur(test, 5, 1.0)}


@pytest.fixture(scope="module")
def package():
    """pytorchfwd's own statistics and distance. Importing ``pytorchfwd.fwd`` sets torch's
    default dtype to float64 (a global side effect, one reason lgm implements FWD itself):
    restored at once."""
    pytest.importorskip("pytorchfwd")  # requirements-extras.txt (scripts/setup.sh installs it)
    before = torch.get_default_dtype()
    try:
        import pytorchfwd.fwd as fwd
    finally:
        torch.set_default_dtype(before)

    def distance(a: torch.Tensor, b: torch.Tensor, level: int) -> float:
        stats = [fwd.compute_packet_statistics([x.double()], "Haar", level, False) for x in (a, b)]
        return float(fwd._compute_avg_frechet_distance(stats[0][0], stats[1][0],
                                                       stats[0][1], stats[1][1]))
    return distance


@pytest.mark.parametrize("level", [2, FWD_LEVEL])
@pytest.mark.parametrize("other", ["train", "noisy"])
def test_fwd_equals_the_package_on_the_same_images(sets, package, level, other):
    ours = frechet_wavelet_distance(sets["test"].numpy(), sets[other].numpy(), level)
    theirs = package(sets["test"], sets[other], level)
    assert ours == pytest.approx(theirs, rel=1e-8)


def test_package_reads_grey_as_rgb_which_triples_fwd(sets, package):
    # pytorchfwd's folder reader converts to RGB: three equal channels give exactly 3x.
    a, b = sets["test"][:300], sets["blurred"][:300]
    grey = frechet_wavelet_distance(a.numpy(), b.numpy(), FWD_LEVEL)
    rgb = package(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1), FWD_LEVEL)
    assert rgb == pytest.approx(3 * grey, rel=1e-6)


def test_haar_packets_match_ptwt_as_a_set_and_preserve_energy(sets):
    ptwt, pywt = pytest.importorskip("ptwt"), pytest.importorskip("pywt")
    x = sets["test"][:4].double()
    tree = ptwt.WaveletPacket2D(x, pywt.Wavelet("Haar"), maxlevel=FWD_LEVEL)
    theirs = torch.stack([tree[n] for n in tree.get_natural_order(FWD_LEVEL)], 1).numpy()
    ours = haar_packets(x.numpy(), FWD_LEVEL)
    assert ours.shape == theirs.shape == (4, 4 ** FWD_LEVEL, 1, 4, 4)  # 28 -> 14 -> 7 -> 4
    # the same coefficients per image up to order and sign
    np.testing.assert_allclose(np.sort(np.abs(ours.reshape(4, -1)), 1),
                               np.sort(np.abs(theirs.reshape(4, -1)), 1), atol=1e-12)
    # orthogonal transform at even sizes: energy is preserved (Parseval), 28 -> 14 -> 7
    level2 = haar_packets(x.numpy(), 2)
    np.testing.assert_allclose((level2 ** 2).sum((1, 2, 3, 4)), (x.numpy() ** 2).sum((1, 2, 3)))


def test_streamed_moments_equal_one_pass(sets):
    images = sets["test"].numpy()
    moments = WaveletMoments(FWD_LEVEL)
    for start in range(0, N, 250):  # uneven last batch
        moments.add(images[start:start + 250])
    mu, sigma = moments.statistics()
    flat = haar_packets(images, FWD_LEVEL).reshape(N, 4 ** FWD_LEVEL, -1)
    np.testing.assert_allclose(mu, flat.mean(0), atol=1e-12)
    np.testing.assert_allclose(sigma[5], np.cov(flat[:, 5], rowvar=False), atol=1e-12)
    np.testing.assert_allclose(packet_statistics(images, FWD_LEVEL)[1], sigma, atol=1e-12)


def test_fwd_real_is_low_and_degraded_copies_are_worse(sets):
    real = frechet_wavelet_distance(sets["test"].numpy(), sets["train"].numpy(), FWD_LEVEL)
    for name in ("noisy", "blurred"):
        degraded = frechet_wavelet_distance(sets[name].numpy(), sets["train"].numpy(), FWD_LEVEL)
        assert real < 0.5 * degraded, (name, real, degraded)


# --------------------------------------------------------------------------- class histogram

def test_matched_counts_hand_worked():
    # Generated counts (50, 30, 20, 0), reference shares (0.25, 0.25, 0.25, 0.25). Class 3 is
    # absent from the samples, so the target is 1/3 of N = 100 for each of classes 0-2:
    # 33.33 each -> floors (33, 33, 33) = 99, one left for the largest remainder (ties: the
    # first class) -> (34, 33, 33, 0).
    assert matched_counts(np.array([50, 30, 20, 0]), np.array([25, 25, 25, 25])).tolist() == \
        [34, 33, 33, 0]
    # Already matched: unchanged.
    assert matched_counts(np.array([10, 30]), np.array([100, 300])).tolist() == [10, 30]


def _one_hot(classes, k):
    return np.eye(k)[np.asarray(classes)]


def test_resampled_histogram_matches_and_repeats_only_where_needed():
    k = 3
    gen = np.repeat([0, 1, 2], [60, 30, 10])
    ref = np.repeat([0, 1, 2], [40, 40, 20])
    rows = histogram_matched_indices(_one_hot(gen, k), _one_hot(ref, k), k, seed=0)
    assert len(rows) == 100
    assert np.bincount(gen[rows], minlength=k).tolist() == [40, 40, 20]
    # class 0 subsampled without repeats; classes 1 and 2 hold every sample plus repeats
    counts = np.bincount(rows, minlength=100)
    assert counts[gen == 0].max() == 1 and (counts[gen != 0] >= 1).all()
    assert class_histogram_tv(_one_hot(gen, k), _one_hot(ref, k), k) == pytest.approx(0.2)
    same = histogram_matched_indices(_one_hot(ref, k), _one_hot(ref, k), k, seed=0)
    assert same.tolist() == list(range(100))  # matched already: the set itself


def test_matching_removes_a_pure_class_imbalance():
    # Two well-separated Gaussian classes; the "model" draws them 80/20 where the reference
    # is 50/50: its FID is all class histogram, and matching it brings FID to sampling noise.
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0, 0, 0], [-3.0, 0, 0, 0]])

    def draw(counts):
        labels = np.repeat([0, 1], counts)
        return centres[labels] + rng.standard_normal((len(labels), 4)), labels

    ref_x, ref_y = draw([2000, 2000])
    gen_x, gen_y = draw([3200, 800])
    ref_stats = feature_statistics(ref_x)
    plain = fid_from_statistics(feature_statistics(gen_x), ref_stats)
    rows = histogram_matched_indices(_one_hot(gen_y, 2), _one_hot(ref_y, 2), 2, seed=1)
    matched = fid_from_statistics(feature_statistics(gen_x[rows]), ref_stats)
    balanced = fid_from_statistics(feature_statistics(draw([2000, 2000])[0]), ref_stats)
    assert plain > 10 * matched and matched < 3 * balanced + 0.05, (plain, matched, balanced)
