"""The fixed evaluation classifiers: architecture, shipped weights, SHA checks, training code."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

import torch

from lgm.data import DATASETS, DataError, load_dataset, scale
from lgm.evaluation.classifiers import (ARCHITECTURE, WEIGHTS_DIR, ClassifierNet,
                                       ClassifierWeightsError, classifier, classifier_sha256,
                                       clear_cache, read_registry)
from lgm.evaluation.classifier_training import (TrainConfig, accuracy, canonical_command,
                                                random_erase, random_flip, random_shift, register)

ROOT = Path(__file__).resolve().parents[1]


def _parse(argv):
    """The command-line parser of the program scripts/train_classifier.py."""
    spec = importlib.util.spec_from_file_location("train_classifier", ROOT / "scripts" / "train_classifier.py")
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    return program.parse(argv)

TARGETS = {"mnist": 0.993, "fashion_mnist": 0.93}  # required test accuracy of the shipped nets
MARGIN = 0.01  # a 2,000-image subset's accuracy has a standard error of ~0.2-0.6 %
TRAINED = sorted(TARGETS)


# --------------------------------------------------------------------------- architecture

@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
@pytest.mark.parametrize("feature_dim", [128, 16])
def test_net_shapes_and_head_on_features(channels, size, feature_dim):
    torch.manual_seed(0)
    net = ClassifierNet(channels, 10, feature_dim).eval()
    x = torch.rand(5, channels, size, size)
    f, logits = net.features_and_logits(x)
    assert f.shape == (5, feature_dim) and logits.shape == (5, 10)
    assert (f >= 0).all()  # post-ReLU, like Inception's pool3 features
    torch.testing.assert_close(net(x), logits)
    torch.testing.assert_close(net.features(x), f)


@pytest.mark.parametrize("bad", [{"in_channels": 0}, {"num_classes": -1}, {"feature_dim": 1.5}])
def test_net_rejects_bad_sizes(bad):
    kwargs = {"in_channels": 1, "num_classes": 10, "feature_dim": 128} | bad
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        ClassifierNet(**kwargs)


# --------------------------------------------------------------------------- shipped weights

@pytest.mark.parametrize("dataset", TRAINED)
def test_registry_entry_matches_file(dataset):
    entry = read_registry()[dataset]
    # Independent hash of the shipped file, not the module's own helper.
    digest = hashlib.sha256((WEIGHTS_DIR / entry["file"]).read_bytes()).hexdigest()
    assert entry["sha256"] == digest == classifier_sha256(dataset)
    assert entry["architecture"] == ARCHITECTURE and entry["feature_dim"] == 128
    assert entry["test_accuracy"] >= TARGETS[dataset]
    assert f"--dataset {dataset}" in entry["command"]
    assert f"--epochs {entry['epochs']}" in entry["command"]
    assert (WEIGHTS_DIR / entry["file"]).stat().st_size < 4 * 2**20  # small enough to ship


@pytest.mark.parametrize("dataset", TRAINED)
def test_shipped_classifier_accuracy_on_test_subset(dataset):
    net = classifier(dataset)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert classifier(dataset) is net  # cached per (dataset, device)
    test = load_dataset(dataset, "test").subset(2000, seed=1)
    assert accuracy(net, test, torch.device("cpu")) >= TARGETS[dataset] - MARGIN


def test_shipped_weights_are_float32():
    state = torch.load(WEIGHTS_DIR / read_registry()["mnist"]["file"], weights_only=True)
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    assert floats and all(d == torch.float32 for d in floats)


def _copy_weights(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, folder)
    return folder


def test_tampered_weights_are_refused(tmp_path):
    folder = _copy_weights(tmp_path)
    path = folder / read_registry(folder)["mnist"]["file"]
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # flip one byte deep in the tensor data
    path.write_bytes(bytes(raw))
    clear_cache()
    with pytest.raises(ClassifierWeightsError,
                       match=r"SHA-256(.|\n)*train_classifier.py --dataset mnist"):
        classifier("mnist", weights_dir=folder)


def test_missing_weights_say_how_to_retrain(tmp_path):
    folder = _copy_weights(tmp_path)
    (folder / read_registry(folder)["fashion_mnist"]["file"]).unlink()
    clear_cache()
    with pytest.raises(ClassifierWeightsError, match=r"missing(.|\n)*--dataset fashion_mnist"):
        classifier("fashion_mnist", weights_dir=folder)


@pytest.mark.parametrize("dataset", ["cifar10", "svhn"])
def test_untrained_dataset_gives_the_command(dataset):
    with pytest.raises(ClassifierWeightsError, match=f"train_classifier.py --dataset {dataset}"):
        classifier(dataset)
    with pytest.raises(ClassifierWeightsError, match="no evaluation classifier"):
        classifier_sha256(dataset)


def test_unknown_dataset_names_allowed_ones():
    with pytest.raises(DataError, match="allowed: .*fashion_mnist"):
        classifier("imagenet")


# --------------------------------------------------------------------------- augmentation

def test_random_shift_is_a_zero_filled_translation():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28) + 0.1  # strictly positive, so fill zeros are detectable
    out = random_shift(x, 2, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        # Independent check: some offset in the 5×5 window reproduces the image exactly.
        crops = [padded[i, :, dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) for c in crops)
    # Different images get different offsets (16 draws from 25 are not all equal).
    assert len({int((out[i] == 0).sum()) for i in range(16)}) > 1


def test_random_erase_zeroes_one_rectangle_in_about_prob_of_images():
    x = torch.ones(4000, 1, 28, 28)
    out = random_erase(x, 0.25, torch.Generator().manual_seed(0))
    erased = (out == 0).flatten(1).any(1)
    assert abs(erased.float().mean().item() - 0.25) < 0.03  # binomial sd ≈ 0.007
    for img in out[erased][:50, 0]:
        rows, cols = (img == 0).any(1), (img == 0).any(0)
        # A rectangle: the zero set equals the product of its row and column extents.
        assert torch.equal(img == 0, rows[:, None] & cols[None, :])
        assert 7 <= int(rows.sum()) <= 14 and 7 <= int(cols.sum()) <= 14


def test_augmentation_is_seeded():
    x = torch.rand(8, 1, 28, 28)
    runs = [random_flip(random_shift(x, 2, g), g) for g in
            (torch.Generator().manual_seed(5), torch.Generator().manual_seed(5))]
    assert torch.equal(*runs)


# --------------------------------------------------------------------------- registration

def test_canonical_command_round_trips_through_the_parser():
    config = TrainConfig("svhn", epochs=3, seed=7, lr=1e-3, erase_prob=0.0)
    argv = canonical_command(config).split("train_classifier.py ", 1)[1].split()
    parsed, _, _ = _parse(argv)
    assert parsed == config


@pytest.mark.parametrize("bad, match", [({"dataset": "imagenet"}, "allowed"),
                                        ({"epochs": 0}, "epochs"),
                                        ({"erase_prob": 1.5}, "erase_prob")])
def test_train_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**({"dataset": "mnist"} | bad))


def test_register_writes_weights_and_registry_that_load(tmp_path):
    torch.manual_seed(0)
    net = ClassifierNet(1, 10).eval()
    config = TrainConfig("mnist", epochs=1)
    shutil.copy(WEIGHTS_DIR / "registry.json", tmp_path / "registry.json")
    entry = register(net, config, 0.5, tmp_path, seconds=1.0)
    registry = json.loads((tmp_path / "registry.json").read_text())
    assert registry["mnist"] == entry
    assert registry["fashion_mnist"] == read_registry()["fashion_mnist"]  # others kept
    # Byte-reproducible: the same tensors saved elsewhere hash the same.
    assert register(net, config, 0.5, tmp_path / "again", seconds=2.0)["sha256"] == entry["sha256"]
    clear_cache()
    loaded = classifier("mnist", weights_dir=tmp_path)
    x = scale(load_dataset("mnist", "test").images[:4], "zero_one")
    torch.testing.assert_close(loaded(x), net(x))


@pytest.mark.parametrize("dataset", TRAINED)
def test_folded_inference_net_embeds_like_the_training_layout(dataset):
    """The shipped classifier (batch norms folded, channels-last) against the same weights in
    the plain eval-mode layout: features and logits equal to float32 round-off, so the faster
    embedding changes no metric beyond round-off."""
    entry = read_registry()[dataset]
    info = DATASETS[dataset]
    plain = ClassifierNet(info.shape[0], info.num_classes, int(entry["feature_dim"]))
    plain.load_state_dict(torch.load(WEIGHTS_DIR / entry["file"], weights_only=True))
    plain.eval()
    x = scale(load_dataset(dataset, "test").subset(256, seed=2).images, "zero_one")
    with torch.no_grad():
        want_features, want_logits = plain.features_and_logits(x)
        got_features, got_logits = classifier(dataset).features_and_logits(x)
    # float32 with ~1e2-sized activations: 1e-4 relative is a few hundred ulps of slack.
    torch.testing.assert_close(got_features, want_features, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_logits, want_logits, rtol=1e-4, atol=1e-4)
