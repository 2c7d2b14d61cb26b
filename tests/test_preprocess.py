"""Preprocessing: torchvision's own transforms, sensible RGB from any mode, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from resnet_viz import ImageError, load_image, preprocess
from resnet_viz.model.preprocess import crop_image

from .odd_images import hostile, unusual


@pytest.mark.parametrize("arch,resize", [("resnet18", 256), ("resnet50", 232)])
def test_matches_torchvision_transforms_on_examples(examples, arch, resize):
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    transforms = weights.transforms()
    assert transforms.resize_size == [resize] and transforms.crop_size == [224]
    for path in examples:
        expected = transforms(Image.open(path).convert("RGB"))
        ours = preprocess(transforms, load_image(path))
        assert ours.shape == (3, 224, 224) and ours.dtype == torch.float32
        assert torch.equal(ours, expected), path.name


def test_crop_image_is_what_the_network_saw(examples):
    transforms = torchvision.models.ResNet50_Weights.DEFAULT.transforms()
    x = preprocess(transforms, load_image(examples[0]))
    crop = crop_image(transforms, x)
    assert crop.size == (224, 224)
    reference = torchvision.transforms.functional.center_crop(
        torchvision.transforms.functional.resize(Image.open(examples[0]).convert("RGB"), 232), 224
    )
    assert np.abs(np.asarray(crop, dtype=int) - np.asarray(reference, dtype=int)).max() <= 1


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return unusual(tmp_path_factory.mktemp("unusual"))


def _pixel(path, xy):
    return load_image(path).getpixel(xy)


def test_every_unusual_file_becomes_rgb(odd):
    for name, path in odd.items():
        im = load_image(path)
        assert im.mode == "RGB", name
        assert preprocess(torchvision.models.ResNet18_Weights.DEFAULT.transforms(), im).shape == (3, 224, 224)


def test_sizes_are_reported_after_exif_orientation(odd):
    assert load_image(odd["exif_rotated.jpg"]).size == (20, 40)  # stored 40x20, shown upright
    assert load_image(odd["one_pixel.png"]).size == (1, 1)
    assert load_image(odd["strip_3000x20.png"]).size == (3000, 20)


def test_exif_rotation_turns_the_picture_upright(odd):
    im = load_image(odd["exif_rotated.jpg"])
    top, bottom = np.asarray(im)[:15].mean(axis=(0, 1)), np.asarray(im)[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 60  # the red left half is on top after a clockwise turn
    assert bottom[2] > 200 and bottom[0] < 60


def test_alpha_is_composited_on_white(odd):
    assert _pixel(odd["la.png"], (5, 5)) == (255, 255, 255)
    assert _pixel(odd["rgba.png"], (2, 2)) == (255, 0, 0)
    assert _pixel(odd["rgba.png"], (25, 2)) == (255, 255, 255)
    assert _pixel(odd["palette_transparent.png"], (30, 5)) == (255, 255, 255)  # transparent index
    assert _pixel(odd["palette_transparent.png"], (5, 5)) == (0, 0, 255)


def test_sixteen_bit_is_scaled_not_clipped(odd):
    row = np.asarray(load_image(odd["grey16.png"]))[:, :, 0].ravel()
    assert row.min() == 0 and row.max() == 255
    assert 110 < np.median(row) < 145  # a ramp: mid-grey in the middle, not white


def test_cmyk_and_first_frames(odd):
    r, g, b = _pixel(odd["cmyk.jpg"], (10, 10))
    assert r < 40 and g > 200 and b > 200  # cyan
    assert _pixel(odd["animated.gif"], (5, 5)) == (255, 0, 0)
    assert _pixel(odd["multipage.tiff"], (5, 5)) == (0, 255, 0)
    assert _pixel(odd["grey.png"], (5, 5)) == (128, 128, 128)


def test_other_inputs(examples):
    from_path = load_image(examples[0])
    assert load_image(examples[0].read_bytes()).tobytes() == from_path.tobytes()
    assert load_image(np.asarray(from_path)).tobytes() == from_path.tobytes()
    assert load_image(Image.open(examples[0])).tobytes() == from_path.tobytes()
    assert load_image(np.zeros((8, 8), dtype=np.uint8)).size == (8, 8)


@pytest.mark.parametrize(
    "name,reason",
    [
        ("empty.jpg", "the file is empty"),
        ("truncated.jpg", "truncated or corrupt"),
        ("text.png", "not an image"),
        ("random.bin", "not an image"),
        ("bomb.png", "too many pixels"),
    ],
)
def test_hostile_files_raise_one_clear_line(tmp_path, examples, name, reason):
    jpeg = next(p for p in examples if p.suffix == ".jpg")
    path = hostile(tmp_path, jpeg)[name]
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(info.value).startswith(f"{name}: ")
    assert reason in info.value.reason
    assert "\n" not in str(info.value)


def test_pixel_budget_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(path)
    with pytest.raises(ImageError, match=r"400x300 = 120,000 pixels, more than the 100,000-pixel limit"):
        load_image(path, max_pixels=100_000)


def test_missing_file_and_bad_arrays(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nothing.png")
    with pytest.raises(ImageError, match="an array of shape"):
        load_image(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_extreme_strips_are_cut_before_resizing():
    transforms = torchvision.models.ResNet50_Weights.DEFAULT.transforms()
    strip = Image.new("RGB", (2, 400_000), (0, 128, 255))
    x = preprocess(transforms, strip)  # without the cut: a 232 x 46,400,000 resize
    assert x.shape == (3, 224, 224)
    moderate = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 1000, 3), dtype=np.uint8))
    assert torch.equal(preprocess(transforms, moderate), transforms(moderate))  # below the limit: untouched
