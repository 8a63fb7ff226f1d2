"""The second, independent extractor: its shipped weights and accuracies read back from the
registry, its hash checked before any work, its keys (one naming scheme owned by
``lgm.evaluation.registry``), and on real data every extractor ranking real images above
degraded copies."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

import lgm.evaluation.classifiers as classifiers
from lgm.data import load_dataset, scale
from lgm.evaluation import ClassifierWeightsError, evaluate, registry, scoring
from lgm.evaluation.__main__ import main
from lgm.evaluation.classifier_training import TrainConfig, accuracy
from lgm.evaluation.classifiers import (ARCHITECTURES, build_net, classifier, classifier_sha256,
                                       clear_cache, inference_net, read_registry, weights_folder)

DATASETS = ("fashion_mnist", "mnist")
# Required test accuracy of the shipped nets: the primary CNN's, and an MLP's usual level.
TARGETS = {"cnn": {"mnist": 0.993, "fashion_mnist": 0.93},
           "mlp": {"mnist": 0.985, "fashion_mnist": 0.88}}
MARGIN = 0.015  # a 2,000-image subset's accuracy: standard error up to ~0.7 %


# --------------------------------------------------------------------------- key names

def test_key_names_hand_worked():
    assert registry.EXTRACTORS == ("cnn", "mlp") and registry.PRIMARY_EXTRACTOR == "cnn"
    assert registry.extractor_keys("eval/fid") == {"cnn": "eval/fid", "mlp": "eval/mlp/fid"}
    assert registry.extractor_keys("curve/mlp/fid_se") == {"cnn": "curve/fid_se", "mlp": "curve/mlp/fid_se"}
    assert registry.extractor_key("eval/classifier_sha256", "mlp") == "eval/mlp/classifier_sha256"
    assert registry.split_key("eval/mlp/fid") == ("eval", "mlp", "fid")
    assert registry.split_key("eval/fid_class/3") == ("eval", "cnn", "fid_class/3")
    assert [registry.metric_name(k) for k in ("eval/mlp/recall", "eval/fid_class/3", "fid")] == \
        ["recall", "fid_class", "fid"]
    assert registry.goal("eval/mlp/fid") == registry.goal("eval/fwd") == registry.MINIMIZE
    assert registry.goal("eval/mlp/precision") == registry.MAXIMIZE  # as --extractor mlp logs it
    assert registry.known_goal("eval/class_tv") is None  # a diagnostic
    assert registry.se_key("eval/mlp/fid") == "eval/mlp/fid_se"
    assert registry.robustness_keys("eval/fid") == {"mlp": "eval/mlp/fid", "fwd": "eval/fwd",
                                                    "fid_hm": "eval/fid_hm"}
    assert registry.robustness_keys("eval/mlp/fid") == {"cnn": "eval/fid", "fwd": "eval/fwd",
                                                        "fid_hm": "eval/fid_hm"}
    assert registry.robustness_keys("eval/vendi") == registry.robustness_keys("eval/kid") == {}
    assert registry.outputs_of("kid", extractor="mlp") == ["eval/mlp/kid", "eval/mlp/kid_std"]
    with pytest.raises(ValueError, match="not logged per extractor"):
        registry.extractor_key("eval/kid", "mlp")


def test_unknown_extractor_is_refused_listing_the_shipped_ones():
    with pytest.raises(ValueError, match=r"unknown extractor 'vit'; shipped extractors: cnn, mlp"):
        registry.check_extractor("vit")
    with pytest.raises(ValueError, match="shipped extractors: cnn, mlp"):
        registry.extractor_key("eval/fid", "vit")
    with pytest.raises(ValueError, match="shipped extractors"):
        TrainConfig("mnist", arch="vit")
    calls = []

    def sample_fn(n, labels):
        calls.append(n)
        return torch.rand(n, 1, 28, 28)
    with pytest.raises(ValueError, match="unknown extractor 'vit'"):
        evaluate(sample_fn=sample_fn, dataset="mnist", num_samples=100, extractors=("cnn", "vit"))
    assert calls == []  # refused before any sample was drawn


def test_command_line_refuses_an_unknown_extractor_in_one_line(capsys):
    assert main(["score", "nowhere.npz", "--dataset", "mnist", "--extractor", "vit"]) == 2
    err = capsys.readouterr().err
    assert err == "error: unknown extractor 'vit'; shipped extractors: cnn, mlp (primary: cnn)\n"


# --------------------------------------------------------------------------- shipped weights

@pytest.mark.parametrize("extractor", registry.EXTRACTORS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_registry_records_hash_accuracy_and_command(extractor, dataset):
    folder = weights_folder(extractor)
    entry = read_registry(folder)[dataset]
    digest = hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()  # independent
    assert entry["sha256"] == digest == classifier_sha256(dataset, extractor=extractor)
    assert entry["architecture"] == ARCHITECTURES[extractor][1] and entry["feature_dim"] == 128
    assert entry["test_accuracy"] >= TARGETS[extractor][dataset]
    assert f"--dataset {dataset}" in entry["command"] and f"--seed {entry['seed']}" in entry["command"]
    if extractor != registry.PRIMARY_EXTRACTOR:
        assert f"--arch {extractor}" in entry["command"]
        assert (folder / entry["file"]).stat().st_size < 2 * 2**20  # small enough to ship
        # its own seed, hence its own weight init and data order (BatchStream(seed=...))
        assert entry["seed"] != read_registry(weights_folder("cnn"))[dataset]["seed"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_second_extractor_accuracy_reads_back_from_the_registry(dataset):
    net = classifier(dataset, extractor="mlp")
    assert not any(isinstance(m, nn.Conv2d) for m in net.modules())  # another family
    test = load_dataset(dataset, "test").subset(2000, seed=2)
    measured = accuracy(net, test, torch.device("cpu"))
    recorded = read_registry(weights_folder("mlp"))[dataset]["test_accuracy"]
    assert measured == pytest.approx(recorded, abs=MARGIN)
    assert classifier(dataset) is not net  # the primary is another network


def test_folded_mlp_equals_the_training_layout():
    torch.manual_seed(0)
    net = build_net("mlp", "mnist").eval()
    for m in net.modules():  # non-trivial batch-norm statistics, so folding has work to do
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(6, 1, 28, 28)
    f, logits = net.features_and_logits(x)
    folded = inference_net(net)
    g, folded_logits = folded.features_and_logits(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(g, f, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(folded_logits, logits, rtol=1e-5, atol=1e-5)


def test_a_tampered_second_weights_file_is_refused_before_training(tmp_path, monkeypatch):
    from study import pipeline
    from study.config import RunConfig, resolve

    folder = tmp_path / "weights"
    shutil.copytree(classifiers.WEIGHTS_DIR, folder)
    with open(folder / "mlp" / "fashion_mnist.pt", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setattr(classifiers, "WEIGHTS_DIR", folder)
    clear_cache()

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the second classifier was checked")
    monkeypatch.setattr(pipeline, "train", no_training)
    config = dataclasses.replace(resolve(RunConfig(budget="smoke")), device="cpu")
    with pytest.raises(ClassifierWeightsError, match=r"mlp/fashion_mnist.pt have SHA-256"):
        pipeline.execute(config, tmp_path, device="cpu")
    clear_cache()


# --------------------------------------------------------------------------- real data

N = 1000
KEYS = ("eval/fid", "eval/mlp/fid", "eval/fwd", "eval/fid_hm")


def _served(images):
    state = {"at": 0}

    def sample_fn(n, labels):
        out = images[state["at"]:state["at"] + n]
        state["at"] += n
        return out
    return sample_fn


@pytest.fixture(scope="module")
def real_and_degraded():
    test = scale(load_dataset("fashion_mnist", "test").subset(N, seed=5).images, "zero_one")
    gen = torch.Generator().manual_seed(0)
    sets = {"real": test, "noisy": (test + 0.15 * torch.randn(test.shape, generator=gen)).clamp(0, 1),
            "blurred": gaussian_blur(test, 5, 1.0)}
    return {name: evaluate(sample_fn=_served(images), dataset="fashion_mnist", num_samples=N,
                           metrics=("fid", "fwd", "fid_hm"), progress=False)  # KID: slow, tested elsewhere
            for name, images in sets.items()}


def test_real_images_score_low_on_every_extractor(real_and_degraded):
    real = real_and_degraded["real"]
    # real test images against the training reference: near the floor of each distance
    # (FID at N = 1000 has a bias of about 0.5-1 here; FWD's scale is 100x smaller)
    assert real["eval/fid"] < 2 and real["eval/mlp/fid"] < 2 and real["eval/fid_hm"] < 2
    assert real["eval/fwd"] < 0.02
    assert real["eval/mlp/classifier_sha256"] == classifier_sha256("fashion_mnist", extractor="mlp")


@pytest.mark.parametrize("degradation", ["noisy", "blurred"])
def test_a_degraded_copy_scores_worse_on_every_extractor(real_and_degraded, degradation):
    real, worse = real_and_degraded["real"], real_and_degraded[degradation]
    for key in KEYS:
        assert worse[key] > 3 * real[key] and worse[key] > real[key] + 0.01, \
            (key, real[key], worse[key])


def test_score_with_the_second_extractor_equals_the_runs_keys(tmp_path, capsys):
    images = scale(load_dataset("mnist", "test").subset(200, seed=7).images, "zero_one")
    logged = evaluate(sample_fn=_served(images), dataset="mnist", num_samples=200, seed=3,
                      metrics=("fid", "kid", "precision_recall", "fid_se", "fwd"), progress=False)
    np.save(tmp_path / "x.npy", images.numpy())
    scored = scoring.score(tmp_path / "x.npy", dataset="mnist", num_samples=200, seed=3,
                           extractor="mlp").values
    common = set(scored) & set(logged)
    assert {"eval/mlp/fid", "eval/mlp/fid_se", "eval/mlp/classifier_sha256", "eval/fwd",
            "eval/num_samples"} <= common
    assert {k: scored[k] for k in common} == {k: logged[k] for k in common}  # exactly
    assert "eval/fid" not in scored and {"eval/mlp/is", "eval/mlp/kid"} <= set(scored)  # all, mlp's space
    # statistics files record their extractor and are never mixed
    assert main(["stats", str(tmp_path / "x.npy"), "--dataset", "mnist", "--num-samples", "200",
                 "--extractor", "mlp", "--out", str(tmp_path / "s.npz")]) == 0
    assert str(np.load(tmp_path / "s.npz")["extractor"]) == "mlp"
    capsys.readouterr()
    assert main(["score", str(tmp_path / "s.npz"), "--dataset", "mnist", "--num-samples", "200"]) == 2
    assert "features of extractor 'mlp', but --extractor is 'cnn'" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "s.npz"), "--dataset", "mnist", "--num-samples", "200",
                 "--extractor", "mlp", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "classifier (extractor mlp) SHA-256" in out and "eval/mlp/fid " in out
