"""Feature extraction, the reference cache, real-data sanity of the metrics, and ``evaluate``."""

from __future__ import annotations

import shutil

import pytest
import numpy as np
import torch
from torchvision.transforms.functional import gaussian_blur

import lgm.evaluation.features as features_module
from lgm.data import load_dataset, scale
from lgm.evaluation import (ClassifierWeightsError, classifier, evaluate, extract, fid,
                            inception_score, reference_statistics)
from lgm.evaluation.classifiers import (WEIGHTS_DIR, ClassifierNet, clear_cache, file_sha256,
                                       read_registry)
from lgm.evaluation.features import reference_cache_path

N = 1000  # images per set: enough for stable 128-d FID differences, seconds on one core


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    """Reference statistics go to a temporary cache, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LGM_CACHE_DIR", str(tmp_path_factory.mktemp("lgm_cache")))
        yield


@pytest.fixture(scope="module")
def net():
    return classifier("fashion_mnist")


@pytest.fixture(scope="module")
def test_images():
    data = load_dataset("fashion_mnist", "test").subset(N, seed=0)
    return scale(data.images, "zero_one"), data.labels


@pytest.fixture(scope="module")
def test_feats(net, test_images):
    return extract(net, test_images[0])


@pytest.fixture(scope="module")
def train_feats(net):
    images = scale(load_dataset("fashion_mnist", "train").subset(N, seed=0).images, "zero_one")
    return extract(net, images)[0]


# --------------------------------------------------------------------------- extraction

def test_extract_is_batch_size_independent(net, test_images):
    x = test_images[0][:300]
    f7, p7 = extract(net, x, batch_size=7)
    f500, p500 = extract(net, x, batch_size=500)
    assert f7.dtype == torch.float32 and f7.shape == (300, 128) and p7.shape == (300, 10)
    torch.testing.assert_close(f7, f500, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p7, p500, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p7.sum(1), torch.ones(300))


@pytest.mark.parametrize("bad, match", [
    (lambda x: (x * 255).to(torch.uint8), "float"),
    (lambda x: x * 2 - 1, r"\[0, 1\]"),
    (lambda x: x.expand(-1, 3, -1, -1), "shape"),  # RGB into the grey-level net
    (lambda x: x.masked_fill(x > 0.5, float("nan")), "NaN"),
])
def test_extract_rejects_bad_images(net, test_images, bad, match):
    with pytest.raises(ValueError, match=match):
        extract(net, bad(test_images[0][:8]))


def test_extract_refuses_training_mode():
    with pytest.raises(ValueError, match="training mode"):
        extract(ClassifierNet(1, 10), torch.rand(2, 1, 28, 28))  # a new net is in train mode


# --------------------------------------------------------------------------- real-data sanity

def _noisy(x, sigma):
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_fid_train_vs_test_is_small_and_noise_raises_it(net, test_images, test_feats, train_feats):
    x = test_images[0]
    base = fid(train_feats, test_feats[0])
    noisy = [fid(test_feats[0], extract(net, _noisy(x, s))[0]) for s in (0.05, 0.15, 0.4)]
    # Same distribution, different images: only the finite-sample bias remains.
    assert base < 0.1 * noisy[0], (base, noisy)
    assert noisy[0] < noisy[1] < noisy[2], noisy


def test_fid_grows_with_blur(net, test_images, test_feats):
    x = test_images[0]
    blurred = [fid(test_feats[0], extract(net, gaussian_blur(x, 7, s))[0]) for s in (0.6, 1.2, 2.5)]
    assert blurred[0] < blurred[1] < blurred[2], blurred


def test_inception_score_real_vs_uniform_noise(net, test_feats):
    is_real = inception_score(test_feats[1]).mean
    noise = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    is_noise = inception_score(extract(net, noise)[1]).mean
    # IS = exp(H(y) - E H(y|x)) ≤ exp(H(y)) = 10 for 10 balanced classes; the classifier's
    # residual uncertainty on real images (~7 % errors) costs about exp(-0.2): ~8.
    assert 7.5 < is_real <= 10.0
    assert is_noise < 0.5 * is_real, (is_real, is_noise)


# --------------------------------------------------------------------------- reference cache

def _count_extract(monkeypatch):
    calls = []
    original = features_module.extract

    def counting(*args, **kwargs_):
        calls.append(1)
        return original(*args, **kwargs_)

    monkeypatch.setattr(features_module, "extract", counting)
    return calls


def test_reference_cache_hit_and_miss(monkeypatch, tmp_path):
    calls = _count_extract(monkeypatch)
    first = reference_statistics("mnist", num_samples=300, cache_dir=tmp_path)
    again = reference_statistics("mnist", num_samples=300, cache_dir=tmp_path)
    assert len(calls) == 1  # second call read the file
    torch.testing.assert_close(first.features, again.features)
    assert (first.mu == again.mu).all() and (first.sigma == again.sigma).all()
    other_n = reference_statistics("mnist", num_samples=200, cache_dir=tmp_path)
    assert len(calls) == 2 and other_n.features.shape == (200, 128)  # n=300 file not reused
    assert len(list(tmp_path.glob("mnist-train-n*.pt"))) == 2


def test_stale_cache_with_other_sha_is_not_used(monkeypatch, tmp_path):
    # A second set of weights: the shipped MNIST net with one weight nudged.
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, folder)
    entry = read_registry(folder)["mnist"]
    state = torch.load(folder / entry["file"], weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] + 0.05
    torch.save(state, folder / entry["file"])
    new_sha = file_sha256(folder / entry["file"])
    text = (folder / "registry.json").read_text().replace(entry["sha256"], new_sha)
    (folder / "registry.json").write_text(text)
    clear_cache()

    cache = tmp_path / "cache"
    old = reference_statistics("mnist", num_samples=200, cache_dir=cache)
    # Plant the old file under the new key's name: the key stored inside must expose it.
    path = reference_cache_path("mnist", "train", 200, 0, new_sha, cache)
    shutil.copy(reference_cache_path("mnist", "train", 200, 0, old.sha256, cache), path)
    calls = _count_extract(monkeypatch)
    new = reference_statistics("mnist", num_samples=200, cache_dir=cache, weights_dir=folder)
    assert len(calls) == 1 and new.sha256 == new_sha != old.sha256
    assert not torch.equal(new.features, old.features)
    assert torch.load(path, weights_only=True)["sha256"] == new_sha  # overwritten


def test_reference_rejects_bad_num_samples():
    with pytest.raises(ValueError, match="num_samples"):
        reference_statistics("mnist", split="test", num_samples=20_000)


# --------------------------------------------------------------------------- evaluate

class PoolSampler:
    """Serves images from a fixed pool in order; ``labels`` pick images of that class."""

    def __init__(self, images, labels=None):
        self.images, self.labels, self.calls = images, labels, 0
        self.next_of_class = {}

    def __call__(self, n, labels):
        self.calls += 1
        if labels is None:
            out = self.images[:n]
            self.images = torch.cat([self.images[n:], out])  # rotate: fresh images next time
            return out
        picks = []
        for k in labels.tolist():
            pool = (self.labels == k).nonzero().flatten()
            i = self.next_of_class.get(k, 0)
            self.next_of_class[k] = i + 1
            picks.append(pool[i % len(pool)])
        return self.images[torch.stack(picks)]


EXPECTED_KEYS = {"eval/fid", "eval/is", "eval/is_std", "eval/kid", "eval/kid_std",
                 "eval/precision", "eval/recall", "eval/density", "eval/coverage",
                 "eval/ct", "eval/copy_fraction", "eval/vendi", "eval/fid_inf", "eval/fid_se",
                 "eval/real_precision", "eval/real_recall", "eval/real_density", "eval/real_coverage",
                 "eval/classifier_sha256", "eval/num_samples",
                 # robustness to the extractor: no network, class histogram matched, the
                 # second extractor's cheap metrics and its weights' hash
                 "eval/fwd", "eval/fid_hm", "eval/class_tv", "eval/mlp/fid", "eval/mlp/fid_se",
                 "eval/mlp/classifier_sha256"}


def test_evaluate_real_images_score_well_and_noise_badly(test_images):
    real = evaluate(sample_fn=PoolSampler(test_images[0]), dataset="fashion_mnist",
                    num_samples=1000, progress=False)
    gen = torch.Generator().manual_seed(0)
    noise_fn = lambda n, labels: torch.rand(n, 1, 28, 28, generator=gen)  # noqa: E731
    noise = evaluate(sample_fn=noise_fn, dataset="fashion_mnist", num_samples=1000)
    assert set(real) == EXPECTED_KEYS == set(noise)
    assert all(type(v) in (float, int, str) for v in real.values())
    assert real["eval/num_samples"] == 1000 and len(real["eval/classifier_sha256"]) == 64
    assert real["eval/fid"] < 0.02 * noise["eval/fid"], (real["eval/fid"], noise["eval/fid"])
    assert real["eval/precision"] > 0.6 > noise["eval/precision"]
    assert real["eval/coverage"] > 0.8 > noise["eval/coverage"]
    assert real["eval/kid"] < noise["eval/kid"] and real["eval/is"] > 7.5


def test_evaluate_does_not_depend_on_batch_size(test_images):
    kw = {"dataset": "fashion_mnist", "num_samples": 500, "metrics": ("fid", "is")}
    a = evaluate(sample_fn=PoolSampler(test_images[0]), batch_size=500, **kw)
    b = evaluate(sample_fn=PoolSampler(test_images[0]), batch_size=64, **kw)
    assert a.keys() == b.keys() and a["eval/classifier_sha256"] == b["eval/classifier_sha256"]
    for key in ("eval/fid", "eval/is", "eval/is_std"):
        assert a[key] == pytest.approx(b[key], rel=1e-5), key


# Per-class FID from 100 samples per class in 128-d: the metrics rightly warn of the bias.
@pytest.mark.filterwarnings("ignore::lgm.evaluation.metrics.RankDeficientCovarianceWarning")
def test_evaluate_conditional_and_reconstruction(test_images):
    sampler = PoolSampler(*test_images)
    out = evaluate(sample_fn=sampler, dataset="fashion_mnist", num_samples=1000,
                   conditional=True, reconstruct_fn=lambda x, y: x, metrics=("fid",))
    assert out["eval/conditional_accuracy"] > 0.9  # the classifier's own accuracy, ~93 %
    assert set(sampler.next_of_class.values()) == {100}  # balanced: 1000 / 10 per class
    per_class = [out[f"eval/fid_class/{k}"] for k in range(10)]
    assert all(0 <= v < 10 * out["eval/fid"] + 5 for v in per_class), per_class
    # Identity "reconstructions" of the test split are real images: FID as small as real.
    assert out["eval/fid_recon"] < 2 * out["eval/fid"] + 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"metrics": ("fid", "sharpness")}, ValueError, "sharpness"),
    ({"metrics": "fid"}, ValueError, "sequence"),
    ({"dataset": "cifar10"}, ClassifierWeightsError, "train_classifier.py --dataset cifar10"),
    ({"conditional": True, "num_samples": 1005}, ValueError, "multiple of 10"),
    ({"num_samples": 1}, ValueError, "num_samples"),
    ({"seed": -1}, ValueError, "seed"),
    ({"reconstruct_fn": "identity"}, TypeError, "reconstruct_fn"),
])
def test_evaluate_rejects_bad_arguments_before_sampling(kwargs, error, match):
    sampler = PoolSampler(torch.rand(10, 1, 28, 28))
    with pytest.raises(error, match=match):
        evaluate(**({"sample_fn": sampler, "dataset": "fashion_mnist"} | kwargs))
    assert sampler.calls == 0


def test_evaluate_rejects_minus_one_one_samples():
    with pytest.raises(ValueError, match="to_unit"):
        evaluate(sample_fn=lambda n, y: torch.rand(n, 1, 28, 28) * 2 - 1,
                 dataset="fashion_mnist", num_samples=200, metrics=("fid",))


def test_reference_carries_its_knn_radii_once_computed(tmp_path, monkeypatch):
    from lgm.evaluation.metrics.manifold import real_sq_radii

    cache = tmp_path / "cache"
    plain = reference_statistics("mnist", num_samples=200, cache_dir=cache)
    assert plain.radii == {}
    calls = _count_extract(monkeypatch)
    with_radii = reference_statistics("mnist", num_samples=200, cache_dir=cache, radii_ks=(3, 5))
    again = reference_statistics("mnist", num_samples=200, cache_dir=cache, radii_ks=(3,))
    assert calls == []  # the features came from the cache both times; the radii were added to it
    expected = real_sq_radii(plain.features, (3, 5))
    for ref in (with_radii, again):
        assert set(ref.radii) == {3, 5}
        for k in (3, 5):
            np.testing.assert_array_equal(ref.radii[k], expected[k])
