"""lgm.data: loading from the local files, clear errors, scaling and seeded batching."""

import gzip
import shutil
from pathlib import Path

import pytest
import torch

import lgm.data as data
from lgm.data import BatchStream, DataError, ImageDataset, load_dataset, scale, to_unit

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def test_mnist_test_split_matches_its_source_card():
    ds = load_dataset("mnist", "test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64
    # Label counts of t10k as listed in shared/data/mnist/SOURCE.md.
    assert ds.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.info.class_names[3] == "3" and ds.info.num_classes == 10


def test_fashion_mnist_train_split_from_local_copy():
    ds = load_dataset("fashion_mnist", "train")
    assert ds.images.shape == (60000, 1, 28, 28)
    # Fashion-MNIST is balanced: 6,000 training images per class.
    assert ds.labels.bincount().tolist() == [6000] * 10
    assert ds.info.class_names[9] == "Ankle boot"
    assert 0 < ds.images.float().mean() < 255


@pytest.mark.parametrize("bad", ["fashion-mnist", "MNIST", "imagenet"])
def test_unknown_dataset_name_lists_allowed(bad):
    with pytest.raises(DataError, match="allowed: mnist, fashion_mnist, cifar10, svhn"):
        load_dataset(bad, "train")


def test_unknown_split():
    with pytest.raises(DataError, match="allowed: train, test"):
        load_dataset("mnist", "validation")


def test_missing_files_error_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_KNOWN_COPIES", {"mnist": [tmp_path / "nowhere"]})
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "test", data_dir=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "mnist") in message and str(tmp_path / "nowhere") in message
    assert "LGM_DATA_DIR" in message  # says how to get the data


def test_env_variable_root_is_used(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for f in SHARED_MNIST.glob("t10k-*.gz"):
        shutil.copy(f, tmp_path / "mnist" / f.name)
    monkeypatch.setenv("LGM_DATA_DIR", str(tmp_path))
    ds = load_dataset("mnist", "test", download=False)
    assert ds.source == str(tmp_path / "mnist") and len(ds) == 10000


def _fake_root(tmp_path, image_bytes: bytes, compress=True):
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copy(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", folder)
    name = "t10k-images-idx3-ubyte" + (".gz" if compress else "")
    (folder / name).write_bytes(gzip.compress(image_bytes) if compress else image_bytes)
    return tmp_path


def _raw_test_images() -> bytes:
    with gzip.open(SHARED_MNIST / "t10k-images-idx3-ubyte.gz") as f:
        return f.read()


def test_truncated_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_KNOWN_COPIES", {})
    root = _fake_root(tmp_path, _raw_test_images()[:100_000])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset("mnist", "test", data_dir=root, download=False)


def test_broken_gzip_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_KNOWN_COPIES", {})
    folder = tmp_path / "mnist"
    folder.mkdir()
    shutil.copy(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", folder)
    whole = (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_dataset("mnist", "test", data_dir=tmp_path, download=False)


def test_bad_magic_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_KNOWN_COPIES", {})
    root = _fake_root(tmp_path, b"\x00\x00\x08\x01" + _raw_test_images()[4:])
    with pytest.raises(DataError, match="bad magic number 00000801"):
        load_dataset("mnist", "test", data_dir=root, download=False)


def test_uncompressed_idx_files_are_accepted(tmp_path, monkeypatch):
    reference = load_dataset("mnist", "test").images
    monkeypatch.setattr(data, "_KNOWN_COPIES", {})
    root = _fake_root(tmp_path, _raw_test_images(), compress=False)
    ds = load_dataset("mnist", "test", data_dir=root, download=False)
    assert torch.equal(ds.images, reference)


# ----------------------------------------------------------------------------- scaling

def test_scale_maps_ends_exactly():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert scale(x, "zero_one").tolist() == pytest.approx([0.0, 0.2, 1.0])
    # 51/255 = 0.2 → 2 * 0.2 - 1 = -0.6
    assert scale(x, "minus_one_one").tolist() == pytest.approx([-1.0, -0.6, 1.0])


def test_dequantized_values_stay_in_their_bin():
    x = torch.arange(256, dtype=torch.uint8)
    u = torch.rand(256, generator=torch.Generator().manual_seed(0))
    y = scale(x, "zero_one", noise=u)
    # (x + u) / 256 with u in [0, 1) lies in [x/256, (x+1)/256).
    assert torch.all(y >= x.float() / 256) and torch.all(y < (x.float() + 1) / 256)


@pytest.mark.parametrize("scaling", ["zero_one", "minus_one_one"])
def test_to_unit_inverts_scale(scaling):
    x = torch.arange(256, dtype=torch.uint8)
    assert torch.allclose(to_unit(scale(x, scaling), scaling), x.float() / 255, atol=1e-6)


def test_unknown_scaling_is_refused():
    with pytest.raises(ValueError, match="allowed: zero_one, minus_one_one"):
        scale(torch.zeros(1, dtype=torch.uint8), "0_1")


# ----------------------------------------------------------------------------- batching

def _indexed_dataset(n=100):
    """Images whose first pixel is their own index, to see which examples a batch holds."""
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % 10, data.DATASETS["mnist"], "train", "test")


def _indices(x):
    return (x[:, 0, 0, 0] * 255).round().long().tolist()


def test_an_epoch_visits_each_example_at_most_once_and_drops_the_tail():
    stream = BatchStream(_indexed_dataset(100), batch_size=16, seed=3)
    assert stream.steps_per_epoch == 6  # 100 // 16, the last 4 examples are dropped
    seen = [i for x, _ in stream.epoch(0) for i in _indices(x)]
    assert len(seen) == 96 and len(set(seen)) == 96


def test_batches_are_a_pure_function_of_seed_and_step():
    ds = _indexed_dataset()
    a, b = BatchStream(ds, 16, seed=1), BatchStream(ds, 16, seed=1)
    # Different call orders (as after a resume) give the same batches.
    late = _indices(a.batch(13)[0])
    assert _indices(b.batch(2)[0]) == _indices(a.batch(2)[0])
    assert _indices(b.batch(13)[0]) == late
    assert _indices(BatchStream(ds, 16, seed=2).batch(13)[0]) != late
    # Epochs are reshuffled: step 0 and the first step of epoch 1 differ.
    assert _indices(a.batch(0)[0]) != _indices(a.batch(6)[0])


def test_labels_follow_their_images_and_can_be_left_out():
    stream = BatchStream(_indexed_dataset(), 10, seed=0)
    x, y = stream.batch(4)
    assert [i % 10 for i in _indices(x)] == y.tolist()
    only_x = BatchStream(_indexed_dataset(), 10, seed=0, with_labels=False).batch(4)
    assert torch.equal(only_x, x)


def test_dequantized_batches_are_seeded():
    ds = _indexed_dataset()
    a = BatchStream(ds, 8, seed=0, dequantize=True).batch(5)[0]
    b = BatchStream(ds, 8, seed=0, dequantize=True).batch(5)[0]
    c = BatchStream(ds, 8, seed=0, dequantize=False).batch(5)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.all((a - c).abs() < 1 / 255 + 1e-6)


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size must be in 1..100"):
        BatchStream(_indexed_dataset(), 0)


def test_subset_is_seeded_and_sized():
    ds = _indexed_dataset()
    a, b = ds.subset(30, seed=4), ds.subset(30, seed=4)
    assert len(a) == 30 and torch.equal(a.images, b.images)
    assert ds.subset(1000) is ds
