"""The degradation lab's data: the offline shapes (deterministic, split, balanced) and the CIFAR-10
path through torchvision's loader, on a tiny fake folder in the official pickle-batch format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_viz.degradation.data import CIFAR10_MEAN, DataError, TrainingData, load_data
from resnet_viz.degradation.gratings import CLASSES, TEST_SEED, TEST_SIZE, TRAIN_SEED, TRAIN_SIZE, make_gratings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_gratings_are_deterministic_and_balanced():
    a_images, a_labels = make_gratings(200, seed=5)
    b_images, b_labels = make_gratings(200, seed=5)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert a_images.shape == (200, 3, 8, 8) and a_images.dtype == torch.uint8
    assert torch.bincount(a_labels, minlength=10).tolist() == [20] * 10
    assert not torch.equal(a_images, make_gratings(200, seed=6)[0])


def _orientation_bin(images: torch.Tensor) -> torch.Tensor:
    """The bin of each image's dominant stripe normal, from the structure tensor (an independent
    estimate: image gradients, summed over colour channels)."""
    x = images.double()
    gx = x[:, :, 1:-1, 2:] - x[:, :, 1:-1, :-2]  # central differences
    gy = x[:, :, 2:, 1:-1] - x[:, :, :-2, 1:-1]
    jxx, jyy, jxy = (gx * gx).sum((1, 2, 3)), (gy * gy).sum((1, 2, 3)), (gx * gy).sum((1, 2, 3))
    normal = 0.5 * torch.atan2(2 * jxy, jxx - jyy)  # in (-pi/2, pi/2]
    return (torch.rad2deg(normal) % 180 // 18).long()


def test_the_class_is_the_orientation():
    images, labels = make_gratings(1000, seed=0, size=32)  # larger images: a clean estimate
    estimated = _orientation_bin(images)
    off_by = (estimated - labels).abs()
    off_by = torch.minimum(off_by, 10 - off_by)  # 0 and 180 degrees are the same orientation
    assert (off_by == 0).float().mean() > 0.6  # exact bin (gratings near a boundary may miss it)
    assert (off_by <= 1).float().mean() > 0.97  # never far off


@pytest.mark.slow
def test_a_linear_read_out_of_the_pixels_does_poorly():
    # Random phase: every class averages to the same flat image, so no template matches a class.
    # Least squares on the raw pixels still gets above chance (about 29% right), far from what
    # the networks reach (0-1% training error after the default run, bench/degradation_acceptance.py).
    train_x, train_y = make_gratings(4000, seed=1)
    test_x, test_y = make_gratings(1000, seed=2)
    means = torch.stack([train_x[train_y == c].double().mean(0) for c in range(10)])  # (10, 3, 8, 8)
    sampling = train_x.double().std() / (len(train_x) / 10) ** 0.5  # std of a mean of 400 images
    assert (means - means.mean(0)).abs().max() < 5 * sampling  # differences are sampling noise

    def features(x):
        return np.concatenate([x.flatten(1).double().numpy() / 255, np.ones((len(x), 1))], axis=1)

    weights, *_ = np.linalg.lstsq(features(train_x), np.eye(10)[train_y.numpy()], rcond=None)
    accuracy = (features(test_x) @ weights).argmax(1) == test_y.numpy()
    assert accuracy.mean() < 0.35  # chance is 0.10


def test_offline_split_is_fixed_and_disjoint():
    data = load_data("offline")
    assert data.classes == CLASSES
    assert data.train_images.shape == (TRAIN_SIZE, 3, 8, 8) and data.test_images.shape == (TEST_SIZE, 3, 8, 8)
    # The split is exactly "TRAIN_SIZE images from TRAIN_SEED, TEST_SIZE images from TEST_SEED".
    assert torch.equal(data.test_images, make_gratings(TEST_SIZE, TEST_SEED)[0])
    assert TRAIN_SEED != TEST_SEED
    flat_train = {bytes(x.numpy()) for x in data.train_images[:2000]}
    assert not any(bytes(x.numpy()) in flat_train for x in data.test_images)
    assert torch.bincount(data.test_labels).tolist() == [TEST_SIZE // 10] * 10
    assert load_data("offline") is data  # made once per process
    info = data.info()
    assert info["train_size"] == TRAIN_SIZE and info["image_size"] == 8 and data.pad == 1 and not data.flip


def test_offline_data_is_normalised_with_its_training_statistics():
    data = load_data("offline")
    x, labels = data.test_batch(torch.arange(4000), train_split=True)
    assert torch.equal(labels, data.train_labels[:4000])
    assert x.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05


def _crops_and_flips(data: TrainingData, n: int = 32) -> list[set[tuple[int, int, bool]]]:
    """For each augmented image, the (dy, dx, flipped) that turn its clean source into it."""
    index = torch.arange(n)
    clean, _ = data.test_batch(index, train_split=True)
    augmented, labels = data.train_batch(index, torch.Generator().manual_seed(0))
    again, _ = data.train_batch(index, torch.Generator().manual_seed(0))
    assert torch.equal(augmented, again) and torch.equal(labels, data.train_labels[:n])
    p, size = data.pad, data.image_size
    padded = torch.nn.functional.pad(clean, (p, p, p, p))
    found = []
    for k in range(n):
        found.append({
            (dy, dx, flip)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            for flip in (False, True)
            if torch.equal(padded[k, :, dy : dy + size, dx : dx + size].flip(-1) if flip
                           else padded[k, :, dy : dy + size, dx : dx + size], augmented[k])
        })
    return found


def test_augmentation_is_a_random_crop_and_flip():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 12, 12), generator=g, dtype=torch.uint8)
    labels = torch.arange(32) % 10
    data = TrainingData("noise", tuple("abcdefghij"), images, labels, images, labels, (0.5,) * 3, (0.25,) * 3, 2, "x")
    found = _crops_and_flips(data)
    assert all(len(f) == 1 for f in found)  # noise images: exactly one way to make each
    shifts = {(dy, dx) for f in found for dy, dx, _ in f}
    assert len(shifts) > 5 and max(max(s) for s in shifts) <= 4  # random offsets within 2 * pad
    flips = [flip for f in found for *_, flip in f]
    assert 0 < sum(flips) < len(flips)


def test_offline_gratings_are_cropped_but_never_flipped():
    found = _crops_and_flips(load_data("offline"))
    assert all(f for f in found)  # each is a 1-px shifted copy
    assert all(any(not flip for *_, flip in f) for f in found)


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
