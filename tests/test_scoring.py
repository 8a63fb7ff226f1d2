"""Scoring sample files and arrays (lgm.evaluation.files / scoring / __main__): every input
format gives the numbers of the same images in memory, which equal what ``evaluate`` gives
them; every bad input is refused before any embedding; compare, statistics files, the
sample-count rule, and memorisation on real data with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lgm.evaluation.scoring as scoring
from lgm.data import load_dataset
from lgm.evaluation import evaluate, extract, classifier, fid, registry
from lgm.evaluation.__main__ import main
from lgm.evaluation.evaluator import balanced_labels
from lgm.evaluation.files import SampleInputError, as_images

DATASET = "fashion_mnist"
PER_CLASS = 10  # 100 images: every metric runs (data copying needs 21), in a fraction of a second
# Per-class FID from 10 samples in 128-d: the metrics rightly warn of the bias.
# Scoring 100 images warns that N < 10,000 (tested once, below).
pytestmark = [pytest.mark.filterwarnings("ignore::lgm.evaluation.metrics.RankDeficientCovarianceWarning"),
              pytest.mark.filterwarnings("ignore::lgm.evaluation.scoring.SampleCountWarning")]


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    """Reference statistics go to a temporary cache, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LGM_CACHE_DIR", str(tmp_path_factory.mktemp("lgm_cache")))
        yield


@pytest.fixture(scope="module")
def real():
    """100 real test images, 10 of each class, uint8 N×1×28×28, and their labels."""
    test = load_dataset(DATASET, "test")
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(7))
    picks = torch.cat([order[test.labels[order] == k][:PER_CLASS] for k in range(10)])
    picks = picks[torch.randperm(len(picks), generator=torch.Generator().manual_seed(8))]
    return test.images[picks].clone(), test.labels[picks].clone()


@pytest.fixture(scope="module")
def expected(real):
    """The numbers of the images as float32 in memory (what every lossless format must give)."""
    return scoring.score(real[0].float() / 255, dataset=DATASET, labels=real[1]).values


@pytest.fixture
def no_embedding(monkeypatch):
    """Counts classifier passes of the scoring module: a refusal must come before any."""
    calls = []
    monkeypatch.setattr(scoring, "extract", lambda *a, **k: calls.append(1))
    return calls


def _png_folder(folder: Path, images: np.ndarray, mode: str = "L", suffix: str = ".png") -> Path:
    """Images N×H×W uint8, half in ``a/``, half in ``b/``: sorted paths keep their order."""
    for i, image in enumerate(images):
        sub = folder / ("a" if i < len(images) // 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        (picture.convert(mode) if mode != "L" else picture).save(sub / f"{i:03d}{suffix}")
    return folder


# --------------------------------------------------------------------------- formats

def _formats(tmp: Path, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Every lossless way of writing the same images (and where the labels come from)."""
    u8, y = images.numpy(), labels.numpy()
    hw = u8[:, 0]
    np.save(tmp / "nhw.npy", hw)
    np.save(tmp / "nhwc.npy", hw[..., None])
    np.savez(tmp / "nchw_float.npz", images=u8.astype(np.float32) / np.float32(255), labels=y)
    np.savez(tmp / "rgb_single.npz", np.repeat(hw[..., None], 3, axis=-1))  # arr_0, N×H×W×3
    torch.save(images, tmp / "tensor.pt")
    torch.save({"images": images, "labels": labels}, tmp / "dict.pt")
    np.savetxt(tmp / "labels.txt", y, fmt="%d")
    (tmp / "labels.csv").write_text("file,label\n" + "".join(f"{i:03d}.png,{k}\n" for i, k in enumerate(y)))
    np.save(tmp / "labels.npy", y)
    return {
        "png folder (nested)": (_png_folder(tmp / "png", hw), tmp / "labels.csv"),
        "rgb png folder of grey": (_png_folder(tmp / "rgb", hw, mode="RGB"), tmp / "labels.txt"),
        "npy N×H×W uint8": (tmp / "nhw.npy", tmp / "labels.npy"),
        "npy N×H×W×1 uint8": (tmp / "nhwc.npy", tmp / "labels.txt"),
        "npz N×C×H×W float with labels": (tmp / "nchw_float.npz", None),
        "npz single RGB array": (tmp / "rgb_single.npz", tmp / "labels.npy"),
        "pt tensor": (tmp / "tensor.pt", tmp / "labels.npy"),
        "pt dict with labels": (tmp / "dict.pt", None),
        "numpy array in memory": (u8, y),
        "uint8 tensor in memory": (images, labels),
    }


def test_every_lossless_format_gives_the_same_numbers(tmp_path, real, expected):
    for name, (source, labels) in _formats(tmp_path, *real).items():
        result = scoring.score(source, dataset=DATASET, labels=labels)
        assert result.values == expected, name
    assert set(expected) >= {"eval/fid", "eval/ct", "eval/copy_fraction", "eval/vendi",
                             "eval/conditional_accuracy", "eval/fid_class/9"}
    assert expected["eval/num_samples"] == 100 and len(expected["eval/classifier_sha256"]) == 64


def test_layout_and_conversion_are_reported(tmp_path, real):
    hw = real[0].numpy()[:, 0]
    rgb = np.repeat(hw[..., None], 3, axis=-1)
    np.save(tmp_path / "x.npy", rgb)
    notes = scoring.load_set(tmp_path / "x.npy", DATASET).notes
    assert notes[0] == "layout N×H×W×C (100, 28, 28, 3)"
    assert "uint8 levels 0–255 scaled by 1/255" in notes and "RGB with equal channels, read as grey" in notes


def test_jpeg_and_near_grey_rgb_are_read_as_grey(tmp_path, real, expected):
    hw = real[0].numpy()[:, 0]
    folder = _png_folder(tmp_path / "jpg", hw, mode="RGB", suffix=".jpg")
    loaded = scoring.load_set(folder, DATASET)
    assert loaded.images.shape == (100, 1, 28, 28) and "RGB with equal channels, read as grey" in loaded.notes
    # JPEG (quality 75) moves pixels by several levels: close to the lossless numbers, not equal
    got = scoring.score(folder, dataset=DATASET).values
    assert got["eval/fid"] == pytest.approx(expected["eval/fid"], rel=0.15)
    assert got["eval/is"] == pytest.approx(expected["eval/is"], rel=0.1)
    # near-grey RGB (green 2 levels off, as chroma rounding leaves it) → BT.601 luma, by hand
    rgb = np.repeat(hw[..., None], 3, axis=-1).astype(np.int16)
    rgb[..., 1] = np.clip(rgb[..., 1] + 2, 0, 255)
    images, notes = as_images(rgb.astype(np.uint8), (1, 28, 28))
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    np.testing.assert_allclose(images[:, 0].numpy(), np.clip(luma, 0, 1), atol=1e-6)
    assert any("BT.601 luma" in n for n in notes)


def test_scores_equal_evaluate_of_the_same_samples_served_in_order(real, expected):
    # Independent path: evaluate's own batching and embedding, with a sampler that serves,
    # for each requested label, the next image of that class (evaluate requests the
    # balanced_labels order), versus score() of the images arranged in that order.
    images, labels = real[0].float() / 255, real[1]
    requested = balanced_labels(100, 10, 0)
    pools = {k: list(torch.nonzero(labels == k).flatten()) for k in range(10)}
    arranged = torch.stack([pools[int(k)].pop(0) for k in requested])

    served = iter(arranged.tolist())

    def sample_fn(n, y):
        return images[[next(served) for _ in range(n)]]

    out = evaluate(sample_fn=sample_fn, dataset=DATASET, num_samples=100, conditional=True, seed=0,
                   extractors=(registry.PRIMARY_EXTRACTOR,))  # score: one extractor's space
    got = scoring.score(images[arranged], dataset=DATASET, labels=requested).values
    assert got == out and "eval/fwd" in got


# --------------------------------------------------------------------------- bad input

def _write(tmp, name, make):
    """``tmp / name`` after ``make(path)`` wrote it."""
    path = tmp / name
    make(path)
    return path


def _with_file(folder, name, make):
    """``folder`` after ``make(folder / name)`` added or replaced one file in it."""
    _write(folder, name, make)
    return folder


BAD = {
    "wrong image size (files)": (lambda t, r: _png_folder(t / "big", np.zeros((30, 32, 32), np.uint8)),
                                 {}, "30 of 30 images are not 28×28"),
    "wrong image size (array)": (lambda t, r: np.zeros((30, 32, 32), np.uint8), {}, "not a batch of 28×28"),
    "flattened array": (lambda t, r: np.zeros((30, 784), np.uint8), {}, "flattened"),
    "real colour": (lambda t, r: np.stack([r, r // 2, r // 3], axis=-1), {}, "colour images"),
    "alpha channel": (lambda t, r: np.zeros((30, 28, 28, 4), np.uint8), {}, "alpha channel"),
    "transparent png": (lambda t, r: _with_file(_png_folder(t / "rgba", r, mode="RGBA"), "a/000.png",
                                                lambda p: Image.new("RGBA", (28, 28), (0, 0, 0, 0)).save(p)),
                        {}, "transparent pixels"),
    "floats 0-255": (lambda t, r: r.astype(np.float32), {}, "divide by 255"),
    "floats -1..1": (lambda t, r: r.astype(np.float32) / 127.5 - 1, {}, r"\(x \+ 1\) / 2"),
    "integers above 255": (lambda t, r: r.astype(np.int32) * 2, {}, "8-bit levels 0–255"),
    "NaN": (lambda t, r: np.full((30, 28, 28), np.nan, np.float32), {}, "NaN"),
    "booleans": (lambda t, r: r > 0, {}, "not image data"),
    "too few samples": (lambda t, r: r[:20], {}, "at least 21 .data_copying"),
    "empty folder": (lambda t, r: _with_file(t, "empty", lambda p: p.mkdir()) / "empty", {}, "no images found"),
    "unreadable file": (lambda t, r: _with_file(_png_folder(t / "broken", r), "b/zz.png",
                                                lambda p: p.write_bytes(b"not a png")),
                        {}, r"1 of 31 files cannot be read as images: b/zz.png"),
    "missing path": (lambda t, r: t / "nowhere", {}, "no such file or folder"),
    "unsupported suffix": (lambda t, r: _write(t, "x.h5", lambda p: p.write_bytes(b"")), {}, "unsupported file type"),
    "npz with several arrays": (lambda t, r: _write(t, "two.npz", lambda p: np.savez(p, a=r, b=r)), {},
                                "name the images"),
    "pt holding a list": (lambda t, r: _write(t, "list.pt", lambda p: torch.save([1, 2], p)), {}, "holds list"),
    "N not a multiple of the classes": (lambda t, r: np.repeat(r, 2, axis=0)[:55],
                                        {"labels": np.arange(55) % 10}, "not a multiple of 10"),
    "unbalanced labels": (lambda t, r: r, {"labels": np.r_[np.zeros(12), np.arange(18) % 10].astype(int)},
                          "not balanced"),
    "a class missing from the reference": (lambda t, r: r, {"labels": np.arange(30) % 10},
                                           "training reference of N = 30 images holds [01] of class"),
    "labels of the wrong length": (lambda t, r: r, {"labels": np.arange(29) % 10}, "29 labels for 30 samples"),
    "labels out of range": (lambda t, r: r, {"labels": np.arange(30) % 11}, r"classes 0..9, found 2 outside"),
    "labels not integers": (lambda t, r: r, {"labels": np.full(30, 0.5)}, "whole numbers"),
    "labels file of words": (lambda t, r: r, {"labels": "WORDS"}, "must be integers"),
    "unknown dataset": (lambda t, r: r, {"dataset": "imagenet"},
                        "unknown dataset 'imagenet'; datasets with a classifier: fashion_mnist, mnist"),
    "dataset without a classifier": (lambda t, r: r, {"dataset": "cifar10"},
                                     "'cifar10' has no trained classifier; datasets with a classifier: "
                                     "fashion_mnist, mnist"),
    "num_samples beyond the train split": (lambda t, r: r, {"num_samples": 60_001}, "at most 60000"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_before_any_embedding(tmp_path, real, no_embedding, case):
    make, kwargs, match = BAD[case]
    grey = real[0].numpy()[:30, 0]
    source = make(tmp_path, grey)
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("labels"), str):
        (tmp_path / "words.txt").write_text("shoe\nbag\n")
        kwargs["labels"] = tmp_path / "words.txt"
    kwargs.setdefault("dataset", DATASET)
    with pytest.raises(SampleInputError, match=match):
        scoring.score(source, **kwargs)
    assert no_embedding == []


def test_labels_given_twice_are_refused(tmp_path, real):
    np.savez(tmp_path / "x.npz", images=real[0].numpy(), labels=real[1].numpy())
    with pytest.raises(SampleInputError, match="holds labels already"):
        scoring.load_set(tmp_path / "x.npz", DATASET, labels=real[1])


# --------------------------------------------------------------------------- sample count

def test_more_samples_than_n_gives_a_seeded_balanced_subset(real):
    labels = real[1]
    a, _ = scoring.choose_samples(100, 50, labels, 10, seed=0)
    b, _ = scoring.choose_samples(100, 50, labels, 10, seed=0)
    c, _ = scoring.choose_samples(100, 50, labels, 10, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.bincount(labels[a], minlength=10), torch.full((10,), 5))
    assert bool((a[1:] > a[:-1]).all())  # the set's own order is kept
    plain, _ = scoring.choose_samples(100, 30, None, 10, seed=0)
    assert len(plain) == 30 and len(set(plain.tolist())) == 30
    out = scoring.score(real[0], dataset=DATASET, num_samples=50).values
    assert out["eval/num_samples"] == 50


def test_fewer_samples_than_n_warn_and_record_n(real):
    with pytest.warns(scoring.SampleCountWarning, match="not comparable"):
        result = scoring.score(real[0], dataset=DATASET)  # default N = 10,000
    assert result.values["eval/num_samples"] == 100 and result.warnings


# --------------------------------------------------------------------------- compare and stats

def test_compare_against_itself_and_against_an_independent_fid(tmp_path, real):
    images = real[0].float() / 255
    same = scoring.compare(images, images, dataset=DATASET).values
    assert same["eval/fid"] < 1e-6 and same["eval/precision"] == same["eval/recall"] == 1.0
    assert same["eval/coverage"] == 1.0 and "eval/ct" not in same
    train = load_dataset(DATASET, "train").subset(100, seed=3).images
    out = scoring.compare(images, train, dataset=DATASET).values
    net = classifier(DATASET)
    assert out["eval/fid"] == pytest.approx(fid(extract(net, images)[0], extract(net, train.float() / 255)[0]),
                                            rel=1e-12)
    with pytest.raises(SampleInputError, match="needs the training split"):
        scoring.compare(images, train, dataset=DATASET, metrics=("fid", "data_copying"))


def test_statistics_file_stands_in_for_the_set(tmp_path, real, expected):
    x = scoring.load_set(real[0], DATASET, labels=real[1])
    path = scoring.write_stats(tmp_path / "s.npz", scoring.embed(x, DATASET))
    assert scoring.score(path, dataset=DATASET).values == expected  # labels stored too
    stored = np.load(path)
    np.testing.assert_allclose(stored["mu"], stored["features"].astype(np.float64).mean(0), rtol=1e-12)
    assert stored["sigma"].shape == (128, 128)  # pytorch-fid's names: mu, sigma
    images = real[0].float() / 255
    train = load_dataset(DATASET, "train").subset(100, seed=3).images
    b = scoring.write_stats(tmp_path / "b.npz", scoring.embed(scoring.load_set(train, DATASET), DATASET))
    assert scoring.compare(images, b, dataset=DATASET).values == \
        scoring.compare(images, train, dataset=DATASET).values


def test_statistics_of_another_classifier_or_dataset_are_refused(tmp_path, real, no_embedding):
    x = scoring.load_set(real[0], DATASET)
    path = tmp_path / "s.npz"
    features = torch.zeros(100, 128)
    pixels = (np.zeros((64, 16)), np.zeros((64, 16, 16)))
    e = scoring.EmbeddedSet(features, torch.full((100, 10), 0.1), None, DATASET, "0" * 64, "test",
                            pixels=pixels)
    scoring.write_stats(path, e)
    with pytest.raises(SampleInputError, match="made with the fashion_mnist classifier of SHA-256 0000"):
        scoring.score(path, dataset=DATASET)
    with pytest.raises(SampleInputError, match="statistics of 'fashion_mnist', but --dataset is 'mnist'"):
        scoring.score(path, dataset="mnist")
    assert len(x) == 100 and no_embedding == []


# --------------------------------------------------------------------------- memorisation, real data

def test_a_copying_model_is_flagged_and_a_held_out_split_is_not():
    n = 400  # 2 k-means cells of the 400-image training reference
    copier = load_dataset(DATASET, "train").subset(n, seed=0)  # exactly the reference images
    shuffled = copier.images[torch.randperm(n, generator=torch.Generator().manual_seed(1))]
    test = load_dataset(DATASET, "test")
    in_reference = set(torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:n].tolist())
    fresh = torch.tensor([i for i in range(len(test)) if i not in in_reference][:n])
    copies = scoring.score(shuffled, dataset=DATASET, num_samples=n).values
    held_out = scoring.score(test.images[fresh], dataset=DATASET, num_samples=n).values
    assert copies["eval/ct"] < -10 and copies["eval/copy_fraction"] == 1.0
    assert abs(held_out["eval/ct"]) < 3  # a z-score: real data are no closer than real data
    assert 0.015 < held_out["eval/copy_fraction"] < 0.09  # α = 5 %, ±3 binomial s.e. at 400


# --------------------------------------------------------------------------- the command

def test_command_score_json_and_table(tmp_path, real, expected, capsys):
    np.savez(tmp_path / "x.npz", images=real[0].numpy(), labels=real[1].numpy())
    rc = main(["score", str(tmp_path / "x.npz"), "--dataset", DATASET, "--json",
               str(tmp_path / "out.json"), "--copies", str(tmp_path / "copies.png"), "--device", "cpu"])
    out = capsys.readouterr()
    import json

    assert rc == 0 and json.loads((tmp_path / "out.json").read_text()) == expected
    assert expected["eval/classifier_sha256"] in out.out and "N = 100" in out.out
    assert "eval/fid_class/9" in out.out and "warning: 100 samples, fewer than the 10000" in out.err
    assert (tmp_path / "copies.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_stats_then_compare(tmp_path, real, capsys):
    np.save(tmp_path / "a.npy", real[0].numpy())
    assert main(["stats", str(tmp_path / "a.npy"), "--dataset", DATASET, "--out", str(tmp_path / "a.npz")]) == 0
    assert main(["compare", str(tmp_path / "a.npy"), str(tmp_path / "a.npz"), "--dataset", DATASET,
                 "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "every metric" in out and "eval/fid" in out and "eval/ct" not in out


@pytest.mark.parametrize("argv, match", [
    (["score", "EMPTY", "--dataset", DATASET], "error: EMPTY: no images found"),
    (["score", "EMPTY", "--dataset", "svhn"], "error: dataset 'svhn' has no trained classifier"),
    (["score", "EMPTY"], "error: the following arguments are required: --dataset"),
    (["score", "EMPTY", "--dataset", DATASET, "--device", "tpu"], "error: argument --device"),
])
def test_command_errors_are_one_line_with_exit_status_2(tmp_path, capsys, argv, match):
    (tmp_path / "EMPTY").mkdir()
    argv = [str(tmp_path / "EMPTY") if a == "EMPTY" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert err.startswith(match) and err.count("\n") == 1 and "Traceback" not in err, err
