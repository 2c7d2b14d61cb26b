"""Rendering: colormaps, channel ranking, the feature grid and its click map, overlays, strips."""

from __future__ import annotations

import time
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

import resnet_viz
from resnet_viz.render import (
    CAPTION_HEIGHT,
    channel_overlay,
    colorize,
    feature_grid,
    overlay,
    rank_channels,
    side_by_side,
    tile_at,
)

WHITE = np.array([255, 255, 255], dtype=np.uint8)


@pytest.fixture(scope="module")
def tensors(resnet18, examples):
    return resnet_viz.analyze(resnet18, examples[0], return_tensors=True)[1]


def lut_colour(cmap: str, fraction: float) -> np.ndarray:
    return np.rint(np.array(matplotlib.colormaps[cmap](fraction)[:3]) * 255).astype(np.uint8)


# --- colorize ------------------------------------------------------------------------------


def test_colorize_spans_the_colormap_and_clips():
    values = np.array([[0.0, 0.5], [1.0, 2.0]])
    rgb = colorize(values, "viridis")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == lut_colour("viridis", 0.0)).all()
    assert (rgb[1, 1] == lut_colour("viridis", 1.0)).all()
    clipped = colorize(values, "magma", lo=0.0, hi=1.0)  # 2.0 is above hi: the end colour
    assert (clipped[1, 1] == clipped[1, 0]).all() and (clipped[1, 0] == lut_colour("magma", 1.0)).all()
    below = colorize(np.array([[-5.0, 0.0]]), "magma", lo=0.0, hi=1.0)
    assert (below[0, 0] == below[0, 1]).all()


def test_colorize_constant_and_nan_do_not_divide_by_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = colorize(np.full((3, 4), 7.0))
        assert (flat == lut_colour("viridis", 0.0)).all()
        assert colorize(np.array([[np.nan, 1.0], [2.0, 3.0]])).shape == (2, 2, 3)


def test_colorize_rejects_an_unknown_colormap():
    with pytest.raises(ValueError, match="no-such-map"):
        colorize(np.zeros((2, 2)), "no-such-map")


# --- rank_channels -------------------------------------------------------------------------


def test_rank_channels_by_mean_activation_ties_by_index():
    stage = torch.tensor([1.0, 3.0, 2.0, 3.0, 0.0]).view(5, 1, 1).expand(5, 4, 4)
    assert rank_channels(stage, 3) == [1, 3, 2]
    assert rank_channels(stage, 99) == [1, 3, 2, 0, 4]  # clipped to C
    assert rank_channels(stage, 0) == []


def test_rank_channels_by_weights():
    stage = torch.rand(4, 3, 3)
    assert rank_channels(stage, 2, weights=torch.tensor([0.1, -2.0, 0.5, 0.5])) == [2, 3]
    with pytest.raises(ValueError, match="4 channels"):
        rank_channels(stage, 2, weights=torch.ones(3))
    with pytest.raises(ValueError, match="count"):
        rank_channels(stage, -1)


# --- feature_grid and tile_at --------------------------------------------------------------


def test_feature_grid_layout_and_nearest_tiles():
    stage = torch.zeros(6, 7, 7)
    stage[2, :, 4:] = 5.0  # channel 2: right part hot
    grid = feature_grid(stage, [2, 0, 1], columns=2, tile=28, gap=3)
    assert grid.mode == "RGB"
    assert grid.size == (2 * 28 + 3, 2 * (CAPTION_HEIGHT + 28) + 3)
    pixels = np.asarray(grid)
    first = pixels[CAPTION_HEIGHT : CAPTION_HEIGHT + 28, :28]  # channel 2's tile
    assert (first[:, :16] == lut_colour("viridis", 0.0)).all()  # 7 -> 28 px: 4 px per pixel
    assert (first[:, 16:] == lut_colour("viridis", 1.0)).all()
    strip = pixels[:CAPTION_HEIGHT, :28]
    assert strip.max() > 200 and np.median(strip) < 60  # light text on a dark strip
    assert (pixels[-28:, 31:] == WHITE).all()  # the empty cell of the last row
    plain = feature_grid(stage, [0, 1, 2, 3], columns=8, tile=10, gap=2, captions=False)
    assert plain.size == (4 * 10 + 3 * 2, 10)


def test_feature_grid_uses_each_channels_own_range():
    base = torch.rand(1, 5, 5)
    stage = torch.cat([base, base * 1000 - 3])
    grid = np.asarray(feature_grid(stage, [0, 1], tile=20, gap=0, captions=False))
    assert (grid[:, :20] == grid[:, 20:]).all()


def test_feature_grid_rejects_a_bad_channel():
    with pytest.raises(ValueError, match="0..3"):
        feature_grid(torch.zeros(4, 2, 2), [1, 4])


@pytest.mark.parametrize("captions", [True, False])
def test_tile_at_matches_the_drawn_layout_pixel_for_pixel(captions):
    rng = torch.Generator().manual_seed(0)
    stage = torch.rand(9, 5, 5, generator=rng)
    channels, layout = [8, 3, 5, 0, 6], {"columns": 3, "tile": 15, "gap": 4}
    pixels = np.asarray(feature_grid(stage, channels, captions=captions, **layout))
    cap = None if captions else 0
    height, width = pixels.shape[:2]
    hits = np.empty((height, width), dtype=object)  # the channel each pixel would open
    for y in range(height):
        for x in range(width):
            hits[y, x] = tile_at((x, y), channels, caption_height=cap, **layout)
    # Gaps and the empty cell are exactly the background pixels (no colour of viridis is white).
    assert ((hits == None) == (pixels == WHITE).all(axis=2)).all()  # noqa: E711
    # Each hit region is that channel's tile: its lower 15x15 px are the channel's own map.
    strip = CAPTION_HEIGHT if captions else 0
    for channel in channels:
        ys, xs = np.nonzero(hits == channel)
        assert ys.max() - ys.min() + 1 == strip + 15 and xs.max() - xs.min() + 1 == 15
        tile = pixels[ys.min() + strip : ys.max() + 1, xs.min() : xs.max() + 1]
        expected = colorize(stage[channel].numpy())[np.arange(15) * 5 // 15][:, np.arange(15) * 5 // 15]
        assert (tile == expected).all()
    assert tile_at((-1, 0), channels, **layout) is None
    assert tile_at((pixels.shape[1], 0), channels, **layout) is None
    assert tile_at((0, 0), [], **layout) is None


def test_feature_grid_is_fast():
    """Vectorised, not a loop per pixel: at most 10x one colour-table gather of the same pixels,
    timed side by side (an absolute limit would fail on a slower or busier machine; measured
    4.6-5.7x on the project's 2-core CPU under load)."""
    from resnet_viz.render import _lut

    stage = torch.rand(256, 56, 56)
    channels = rank_channels(stage, 64)
    feature_grid(stage, channels)  # warm the LUT and font caches
    lut, index = _lut("viridis"), np.random.default_rng(0).integers(0, 256, (64, 96, 96), dtype=np.uint8)
    grid, gather = [], []
    for _ in range(5):
        grid.append(_timed(lambda: feature_grid(stage, channels)))
        gather.append(_timed(lambda: lut[index]))
    assert min(grid) < 10 * min(gather), f"64 tiles took {min(grid) * 1000:.1f} ms, one gather {min(gather) * 1000:.1f} ms"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- overlays ------------------------------------------------------------------------------


def test_overlay_opacity_ends():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    heat = np.array([[0.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert np.array_equal(np.asarray(overlay(image, heat, opacity=0.0)), np.asarray(image))
    full = np.asarray(overlay(image, heat, opacity=1.0, cmap="jet"))
    assert full.shape == (40, 50, 3)
    assert (full[0, 0] == lut_colour("jet", 0.0)).all()
    assert (full[-1, -1] == lut_colour("jet", 1.0)).all()  # bilinear upsampling keeps the corners
    half = np.asarray(overlay(image.convert("L"), heat, opacity=0.5))
    assert half.shape == (40, 50, 3)


@pytest.mark.parametrize("opacity", [-0.1, 1.5, float("nan")])
def test_overlay_rejects_opacity_outside_0_1(opacity):
    with pytest.raises(ValueError, match="opacity"):
        overlay(Image.new("RGB", (8, 8)), np.zeros((2, 2)), opacity=opacity)


def test_channel_overlay_on_a_real_analysis(tensors):
    c3 = tensors.stages["C3"]
    out = channel_overlay(tensors.crop, c3, int(rank_channels(c3, 1)[0]), opacity=0.6)
    assert out.size == tensors.crop.size == (224, 224) and out.mode == "RGB"
    assert not np.array_equal(np.asarray(out), np.asarray(tensors.crop))
    with pytest.raises(ValueError, match=f"0..{c3.shape[0] - 1}"):
        channel_overlay(tensors.crop, c3, c3.shape[0])
    grid = feature_grid(tensors.stages["C2"], rank_channels(tensors.stages["C2"], 16))
    assert grid.size == (8 * 96 + 7 * 4, 2 * (CAPTION_HEIGHT + 96) + 4)


def test_side_by_side_strip():
    a = Image.new("RGB", (30, 20), (255, 0, 0))
    b = Image.new("RGB", (10, 40), (0, 0, 255))
    strip = side_by_side([a, b], ["C2", "C3 층"], gap=5)
    assert strip.width == 30 + 5 + 10 and strip.height > 40
    pixels = np.asarray(strip)
    top = strip.height - 40  # the caption band
    assert (pixels[top : top + 20, :30] == [255, 0, 0]).all()
    assert (pixels[top:, 35:] == [0, 0, 255]).all()
    assert (pixels[:top, :30] != WHITE).any(axis=2).any()  # a caption was drawn
    with pytest.raises(ValueError, match="captions"):
        side_by_side([a, b], ["C2"])
