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
from resnet_viz.draw import fonts
from resnet_viz.draw.labels import DEFAULT_LABELS
from resnet_viz.draw.render import (
    CAPTION_HEIGHT,
    activation_scale,
    annotate,
    attribution_scale,
    channel_overlay,
    colorize,
    feature_grid,
    gradcam_ladder,
    grid_title_height,
    heatmap_picture,
    overlay,
    rank_channels,
    side_by_side,
    tile_at,
)
from resnet_viz.i18n import chart_labels

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


@pytest.mark.parametrize("captions, title", [(True, None), (False, None), (True, "C3: 5 channels")])
def test_tile_at_matches_the_drawn_layout_pixel_for_pixel(captions, title):
    rng = torch.Generator().manual_seed(0)
    stage = torch.rand(9, 5, 5, generator=rng)
    channels, layout = [8, 3, 5, 0, 6], {"columns": 3, "tile": 15, "gap": 4}
    pixels = np.asarray(feature_grid(stage, channels, captions=captions, title=title, **layout))
    cap = None if captions else 0
    top = grid_title_height(title, 3 * 15 + 2 * 4)
    assert (top > 0) == bool(title)
    pixels = pixels[top:]  # the title band: never a tile, checked below
    height, width = pixels.shape[:2]
    hits = np.empty((height, width), dtype=object)  # the channel each pixel would open
    for y in range(height):
        for x in range(width):
            hits[y, x] = tile_at((x, y + top), channels, caption_height=cap, title=title, **layout)
    clicks = [(x, y) for y in range(top) for x in range(width)]  # on the title band
    assert [tile_at(xy, channels, caption_height=cap, title=title, **layout) for xy in clicks] == [None] * len(clicks)
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
    from resnet_viz.draw.render import _lut

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


# --- captions, titles and colour bars: pictures that read on their own --------------------


def _ink_rows(pixels: np.ndarray, light: bool) -> np.ndarray:
    """Rows of an (h, w, 3) strip holding text: light text on dark, or dark text on white."""
    grey = pixels.astype(int).sum(axis=2) / 3
    return np.nonzero(((grey > 160) if light else (grey < 100)).any(axis=1))[0]


def test_grid_captions_are_at_least_12_px_tall_and_a_title_row_goes_on_top():
    stage = torch.rand(2048, 7, 7)
    channels = [2047, 3, 1024]
    grid = np.asarray(feature_grid(stage, channels, columns=8, tile=96))
    ink = _ink_rows(grid[:CAPTION_HEIGHT, :96], light=True)
    assert ink.max() - ink.min() + 1 >= 12  # "#2047" at the grid's natural size
    assert (grid[:CAPTION_HEIGHT, 96:100] == WHITE).all()  # the caption stays in its tile: no spill into the gap
    titled = np.asarray(feature_grid(stage, channels, columns=8, tile=96, title="C5: 3 most active channels"))
    top = grid_title_height("C5: 3 most active channels", grid.shape[1])
    assert titled.shape == (grid.shape[0] + top, grid.shape[1], 3)
    assert (titled[top:] == grid).all()  # the tiles and their numbers, untouched below the title
    assert len(_ink_rows(titled[:top], light=False)) >= 10  # the title's text


def test_colour_bar_words_signed_unsigned_and_activation():
    unsigned = attribution_scale(False, value=3.2)
    assert (unsigned.cmap, unsigned.low, unsigned.high, unsigned.middle) == ("jet", "0", "max 3.2", None)
    assert attribution_scale(False).high == "max"
    signed = attribution_scale(True)
    assert (signed.cmap, signed.low, signed.middle) == ("RdBu_r", "against the class", "0")
    assert signed.high == "for the class"
    korean = attribution_scale(True, labels=chart_labels("ko", True))
    assert korean.low == "클래스에 반대함" and korean.high == "클래스를 지지함"
    activation = activation_scale(0.0, 6.4123)
    assert (activation.low, activation.high) == ("0", "max 6.41")
    assert activation.heading == DEFAULT_LABELS["scale_activation"] == "activation"
    assert activation_scale(-1.5, 2.0).low == "-1.5"


@pytest.mark.parametrize("signed", [False, True])
def test_heatmap_picture_has_the_overlay_a_colour_bar_and_a_title(signed):
    crop = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    unit = np.linspace(0, 1, 49, dtype=np.float32).reshape(7, 7)
    plain = heatmap_picture(crop, unit, signed=signed)
    cmap = "RdBu_r" if signed else "jet"
    assert plain.height == 224 and plain.width > 224 + 60  # the bar and its words beside the crop
    pixels = np.asarray(plain)
    assert (pixels[:, :224] == np.asarray(overlay(crop, unit, opacity=0.55, cmap=cmap, lo=0, hi=1))).all()
    # The bar: a column whose colours run from the colormap's high end (top) to its low end (bottom).
    column = pixels[:, 224 + 6 + 8].astype(int)
    coloured = np.nonzero((column != WHITE).any(axis=1))[0]
    bar = max(np.split(coloured, np.nonzero(np.diff(coloured) != 1)[0] + 1), key=len)  # the longest unbroken run
    assert len(bar) > 150  # most of the crop's height
    assert (column[bar[1]] == lut_colour(cmap, 1.0)).all()  # inside the outline: the high end on top
    assert (column[bar[-2]] == lut_colour(cmap, 0.0)).all()
    if signed:  # white in the middle of RdBu_r: 0
        assert np.abs(column[(bar[0] + bar[-1]) // 2] - lut_colour(cmap, 0.5)).max() <= 6
    # Other end words draw other pixels (the words are really there).
    words = {"scale_for": "pro", "scale_against": "contra", "scale_max": "top"}
    other = heatmap_picture(crop, unit, signed=signed, labels=words)
    assert not np.array_equal(np.asarray(other), pixels)
    titled = heatmap_picture(crop, unit, signed=signed, title="Grad-CAM · C5 · target: tabby · resnet50")
    assert titled.width == plain.width and titled.height > plain.height
    assert (np.asarray(titled)[titled.height - 224 :] == pixels).all()


def test_channel_overlay_colour_bar_and_title():
    crop = Image.new("RGB", (224, 224), (120, 120, 120))
    stage = torch.rand(3, 14, 14) * 5
    plain = channel_overlay(crop, stage, 1)
    assert plain.size == (224, 224)  # unchanged without a bar or title
    barred = channel_overlay(crop, stage, 1, colorbar=True, title="C3 channel #1 · resnet18")
    assert barred.width > 224 and barred.height > 224
    assert (np.asarray(barred)[barred.height - 224 :, :224] == np.asarray(plain)).all()
    top = float(stage[1].max())
    expected = annotate(plain, title="C3 channel #1 · resnet18", scale=activation_scale(float(stage[1].min()), top))
    assert np.array_equal(np.asarray(barred), np.asarray(expected))  # the bar names that channel's own max


def test_gradcam_ladder_is_2x2_with_readable_stage_captions():
    crop = Image.new("RGB", (224, 224), (200, 200, 200))
    rng = np.random.default_rng(1)
    sizes = {"C2": 56, "C3": 28, "C4": 14, "C5": 7}  # 224 / stride
    maps = {name: rng.random((size, size)).astype(np.float32) for name, size in sizes.items()}
    ladder = gradcam_ladder(crop, maps, title="Grad-CAM at C2-C5 · target: tabby · resnet18")
    pixels = np.asarray(ladder)
    panels = {name: np.asarray(overlay(crop, m, opacity=0.55, cmap="jet", lo=0, hi=1)) for name, m in maps.items()}
    found = {}
    for name, panel in panels.items():  # where each panel sits, by matching its top-left 8x8 block
        for y in range(pixels.shape[0] - 223):
            xs = [x for x in (0, 230) if (pixels[y : y + 224, x : x + 224] == panel).all()]
            if xs:
                found[name] = (xs[0], y)
                break
    assert found["C2"][0] == found["C4"][0] == 0 and found["C3"][0] == found["C5"][0] == 230  # 2 columns, gap 6
    assert found["C2"][1] == found["C3"][1] < found["C4"][1] == found["C5"][1]  # 2 rows
    assert found["C4"][1] - found["C2"][1] >= 224 + 12  # a caption row between the rows: not squeezed
    caption = pixels[found["C4"][1] - 22 : found["C4"][1], :224]  # C4's caption band
    ink = _ink_rows(caption, light=False)
    assert ink.max() - ink.min() + 1 >= 12  # "C4" at least 12 px tall at natural size
    assert ladder.width > 2 * 224 + 6 + 40  # the shared colour bar beside the panels
    one_row = gradcam_ladder(crop, maps, columns=4)
    assert one_row.width > 4 * 224 and one_row.height < ladder.height


# --- Korean text in pictures ---------------------------------------------------------------


def _glyph(text: str) -> np.ndarray:
    return np.asarray(annotate(Image.new("RGB", (40, 8)), title=text))


def test_korean_renders_with_a_hangul_font_not_as_boxes():
    assert fonts.hangul_font_file() is not None, "no Hangul font: install fonts-nanum (.ci/run does)"
    assert not np.array_equal(_glyph("가"), _glyph("나"))  # boxes (tofu) would be identical
    assert fonts.pil_font(16, "가").path == fonts.hangul_font_file()
    assert fonts.pil_font(16, "C2").path.endswith("DejaVuSans.ttf")  # Latin-only text keeps DejaVu


def test_pictures_without_any_hangul_font_still_draw(monkeypatch):
    hangul = ("nanum", "cjk", "noto sans kr", "undotum", "malgun", "applegothic")
    others = [e for e in fonts.font_manager.fontManager.ttflist if not any(h in e.name.lower() for h in hangul)]
    try:
        with monkeypatch.context() as patch:
            patch.setattr(fonts.font_manager.fontManager, "ttflist", others)
            patch.setattr(fonts.font_manager, "findSystemFonts", lambda *a, **k: [])
            fonts.hangul_font.cache_clear()
            assert fonts.hangul_font_file() is None
            assert np.array_equal(_glyph("가"), _glyph("나"))  # what the test above rules out: boxes
            crop = Image.new("RGB", (224, 224))
            korean = chart_labels("ko", True)
            picture = heatmap_picture(crop, np.zeros((7, 7)), signed=True, title="기여도", labels=korean)
            assert picture.width > 224 and picture.height > 224
    finally:
        fonts.hangul_font.cache_clear()
