"""The degradation lab's data: the offline shapes (deterministic, split, balanced) and the CIFAR-10
path through torchvision's loader, on a tiny fake folder in the official pickle-batch format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_viz.degradation_data import CIFAR10_MEAN, DataError, TrainingData, load_data
from resnet_viz.shapes_data import CLASSES, TEST_SEED, TEST_SIZE, TRAIN_SEED, TRAIN_SIZE, make_shapes


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are tiny: on a busy 2-core machine torch's second thread makes each op wait
    for a core (measured: 1 s with one thread, 38 s with two), so the module runs on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_shapes_are_deterministic_and_balanced():
    a_images, a_labels = make_shapes(200, seed=5)
    b_images, b_labels = make_shapes(200, seed=5)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert a_images.shape == (200, 3, 16, 16) and a_images.dtype == torch.uint8
    assert torch.bincount(a_labels, minlength=10).tolist() == [20] * 10
    c_images, _ = make_shapes(200, seed=6)
    assert not torch.equal(a_images, c_images)


def test_colour_is_not_a_cue():
    # The per-class mean image brightness stays within a few grey levels: only the shape tells.
    images, labels = make_shapes(2000, seed=0)
    means = torch.stack([images[labels == c].float().mean() for c in range(10)])
    assert float(means.max() - means.min()) < 12  # of 255


def test_offline_split_is_fixed_and_disjoint():
    data = load_data("offline")
    assert data.classes == CLASSES
    assert data.train_images.shape == (TRAIN_SIZE, 3, 16, 16) and data.test_images.shape == (TEST_SIZE, 3, 16, 16)
    # The split is exactly "TRAIN_SIZE images from TRAIN_SEED, TEST_SIZE images from TEST_SEED".
    assert torch.equal(data.test_images, make_shapes(TEST_SIZE, TEST_SEED)[0])
    assert TRAIN_SEED != TEST_SEED
    flat_train = {bytes(x.numpy()) for x in data.train_images[:2000]}
    assert not any(bytes(x.numpy()) in flat_train for x in data.test_images)
    assert torch.bincount(data.test_labels).tolist() == [TEST_SIZE // 10] * 10
    assert load_data("offline") is data  # made once per process
    info = data.info()
    assert info["train_size"] == TRAIN_SIZE and info["image_size"] == 16 and data.pad == 2


def test_augmentation_crops_flips_and_normalises():
    data = load_data("offline")
    index = torch.arange(64)
    clean, labels = data.test_batch(index, train_split=True)
    assert torch.equal(labels, data.train_labels[:64])
    # Normalised with the training split's statistics: about zero mean, unit std per channel.
    all_x, _ = data.test_batch(torch.arange(4000), train_split=True)
    assert all_x.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (all_x.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05
    g = torch.Generator().manual_seed(0)
    augmented, aug_labels = data.train_batch(index, g)
    assert augmented.shape == clean.shape and torch.equal(aug_labels, labels)
    again, _ = data.train_batch(index, torch.Generator().manual_seed(0))
    assert torch.equal(augmented, again)  # the generator decides everything
    # Every augmented image is a shifted (by at most pad px), maybe mirrored, copy of the clean one.
    p = data.pad
    padded = torch.nn.functional.pad(clean, (p, p, p, p))
    for k in range(8):
        hits = [
            (dy, dx, flip)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            for flip in (False, True)
            if torch.allclose(
                (padded[k, :, dy : dy + 16, dx : dx + 16].flip(-1) if flip else padded[k, :, dy : dy + 16, dx : dx + 16]),
                augmented[k],
            )
        ]
        assert hits, f"image {k} is not a crop/flip of its source"


def _fake_cifar(root: Path, per_batch: int = 4) -> Path:
    """A cifar-10-batches-py folder in the official format (pickled dicts of uint8 rows), tiny."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        entry = {
            "batch_label": name,
            "labels": [(k + i) % 10 for i in range(per_batch)],
            "data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


def test_cifar10_through_torchvision_loader(tmp_path):
    folder = _fake_cifar(tmp_path)
    data = load_data("cifar10", root=tmp_path, verify=False)
    assert isinstance(data, TrainingData) and data.name == "cifar10"
    assert data.classes[0] == "airplane" and len(data.classes) == 10
    assert data.train_images.shape == (20, 3, 32, 32) and data.test_images.shape == (4, 3, 32, 32)
    # The first image's red plane is the first 1024 bytes of the first row, as the format says.
    first = pickle.loads((folder / "data_batch_1").read_bytes())
    assert data.train_images[0, 0].flatten().tolist() == first["data"][0, :1024].tolist()
    assert data.train_labels[:4].tolist() == first["labels"]
    assert data.mean == CIFAR10_MEAN and data.pad == 4
    x, y = data.train_batch(torch.arange(8), torch.Generator().manual_seed(0))
    assert x.shape == (8, 3, 32, 32) and y.shape == (8,)


def test_cifar10_checks_md5_by_default(tmp_path):
    _fake_cifar(tmp_path)  # right format, wrong bytes: torchvision's MD5 check refuses it
    with pytest.raises(DataError, match="fails its MD5 check"):
        load_data("cifar10", root=tmp_path)


def test_missing_cifar10_without_network_says_what_to_do(tmp_path, no_network):
    with pytest.raises(DataError) as info:
        load_data("cifar10", root=tmp_path, download=True)
    message = str(info.value)
    assert "download --data cifar10" in message and "--data offline" in message and "\n" not in message
    with pytest.raises(DataError, match="is not cached"):
        load_data("cifar10", root=tmp_path)


def test_unknown_data_names_the_choices():
    with pytest.raises(ValueError, match="'imagenet'.*offline, cifar10"):
        load_data("imagenet")
