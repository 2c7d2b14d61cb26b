"""Pictures of what the network sees: colormapped feature maps, channel grids, heatmap overlays.

Everything here is a pure function from arrays/tensors to uint8 pixels (numpy) or PIL images.
matplotlib is used only for its colormap tables, never for figures, so a grid of 64 channels is
one numpy composition instead of 64 plots. Callers should save the results as PNG: heatmaps
lose their detail in lossy formats such as Gradio's default WebP.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CAPTION_HEIGHT",
    "channel_overlay",
    "colorize",
    "feature_grid",
    "overlay",
    "rank_channels",
    "side_by_side",
    "tile_at",
]

CAPTION_HEIGHT = 14  # px of the dark strip above each tile of a captioned feature grid
_CAPTION_BG = (24, 24, 24)
_CAPTION_FG = (235, 235, 235)
_GRID_BG = (255, 255, 255)


@lru_cache(maxsize=32)
def _lut(cmap: str) -> np.ndarray:
    """The colormap sampled at 256 points as a (256, 3) uint8 table, once per name."""
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}; use a name from matplotlib.colormaps") from None
    table = colormap(np.linspace(0.0, 1.0, 256))[:, :3]  # (256, 3) floats in [0, 1]
    table = np.rint(table * 255).astype(np.uint8)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _to_indices(values: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """Values scaled to LUT indices 0..255 (uint8); NaN counts as ``lo``, a flat range as 0."""
    values = np.asarray(values, dtype=np.float32)
    finite = values[np.isfinite(values)]
    if lo is None:
        lo = float(finite.min()) if finite.size else 0.0
    if hi is None:
        hi = float(finite.max()) if finite.size else 0.0
    span = float(hi) - float(lo)
    if not math.isfinite(span) or span <= 0:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values - np.float32(lo)) * np.float32(255.0 / span)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(scaled, 0.0, 255.0, out=scaled)).astype(np.uint8)


def colorize(
    values: np.ndarray, cmap: str = "viridis", lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    """Map a 2-D array to (H, W, 3) uint8 colours; values outside [lo, hi] take the end colours.

    ``lo``/``hi`` default to the array's own min/max, so every map uses the whole colormap; a
    constant array becomes the colormap's first colour instead of dividing by zero.
    """
    return _lut(cmap)[_to_indices(values, lo, hi)]


def _stage_array(stage: torch.Tensor) -> torch.Tensor:
    if stage.ndim != 3:
        raise ValueError(f"expected a (C, H, W) stage tensor, got shape {tuple(stage.shape)}")
    return stage.detach()


def _check_channels(channels: Sequence[int], count: int) -> list[int]:
    channels = [int(c) for c in channels]
    bad = [c for c in channels if not 0 <= c < count]
    if bad:
        raise ValueError(f"channel {bad[0]} out of range; this stage has channels 0..{count - 1}")
    return channels


def rank_channels(stage: torch.Tensor, count: int, weights: torch.Tensor | None = None) -> list[int]:
    """The ``count`` most telling channels of a (C, H, W) stage, best first.

    Without ``weights`` the most active channels (highest mean activation); with ``weights`` (C,),
    e.g. Grad-CAM channel weights for a class, the channels that matter most for it. Equal scores
    keep channel order; ``count`` is clipped to C.
    """
    stage = _stage_array(stage)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    channels = stage.shape[0]
    if weights is None:
        scores = stage.double().mean(dim=(1, 2))  # (C,)
    else:
        scores = torch.as_tensor(weights).detach().double().flatten()
        if scores.numel() != channels:
            raise ValueError(f"weights has {scores.numel()} values; the stage has {channels} channels")
    scores = torch.nan_to_num(scores.cpu(), nan=-math.inf)
    order = torch.sort(scores, descending=True, stable=True).indices  # stable: ties by index
    return order[: min(count, channels)].tolist()


def _grid_shape(n: int, columns: int) -> tuple[int, int]:
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    cols = max(1, min(columns, n))
    return cols, max(1, math.ceil(n / cols))


def feature_grid(
    stage: torch.Tensor,
    channels: Sequence[int],
    *,
    columns: int = 8,
    tile: int = 96,
    cmap: str = "viridis",
    gap: int = 4,
    captions: bool = True,
) -> Image.Image:
    """Chosen channels of a (C, H, W) stage as a grid of colormapped tiles, each labelled "#c".

    Each map is upsampled by nearest neighbour, so one stage pixel stays one visible square
    (the stride shows), and coloured with its own min/max. The layout is what :func:`tile_at`
    reads clicks with: ``min(columns, len(channels))`` columns, ``gap`` px between tiles, and
    a dark :data:`CAPTION_HEIGHT` px caption strip above each tile when ``captions`` is on.
    """
    stage = _stage_array(stage)
    channels = _check_channels(channels, stage.shape[0])
    if tile < 1 or gap < 0:
        raise ValueError(f"tile must be >= 1 and gap >= 0, got tile={tile}, gap={gap}")
    n = len(channels)
    cols, rows = _grid_shape(n, columns)
    cap = CAPTION_HEIGHT if captions else 0
    width = cols * tile + (cols - 1) * gap
    height = rows * (cap + tile) + (rows - 1) * gap
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = _GRID_BG
    if n == 0:
        return Image.fromarray(canvas)

    maps = stage[channels].float().cpu().numpy()  # (N, H, W)
    if not np.isfinite(maps).all():
        maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    lo = maps.min(axis=(1, 2), keepdims=True)  # (N, 1, 1): each tile uses its own range
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)
    index = np.rint(np.clip((maps - lo) * scale, 0, 255)).astype(np.uint8)  # (N, H, W)
    # Nearest-neighbour upsampling as one gather of rows and columns.
    rows_src = np.arange(tile) * maps.shape[1] // tile
    cols_src = np.arange(tile) * maps.shape[2] // tile
    index = index[:, rows_src][:, :, cols_src]  # (N, tile, tile)
    tiles = _lut(cmap)[index]  # (N, tile, tile, 3)

    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (cap + tile + gap), c * (tile + gap)
        canvas[y + cap : y + cap + tile, x : x + tile] = tiles[i]
        if cap:
            canvas[y : y + cap, x : x + tile] = _CAPTION_BG
    image = Image.fromarray(canvas)
    if cap:
        draw = ImageDraw.Draw(image)
        font = _font(10)
        for i, channel in enumerate(channels):
            r, c = divmod(i, cols)
            draw.text((c * (tile + gap) + 3, r * (cap + tile + gap) + 1), f"#{channel}", font=font, fill=_CAPTION_FG)
    return image


def tile_at(
    grid_xy: tuple[int, int],
    channels: Sequence[int],
    *,
    columns: int = 8,
    tile: int = 96,
    gap: int = 4,
    caption_height: int | None = None,
) -> int | None:
    """The channel whose tile (or caption strip) a click at pixel (x, y) of a :func:`feature_grid`
    image hit, or None for a gap or outside the tiles.

    Pass the same ``columns``/``tile``/``gap`` as to :func:`feature_grid`; ``caption_height``
    defaults to a captioned grid's strip, use 0 for a grid drawn with ``captions=False``.
    """
    cap = CAPTION_HEIGHT if caption_height is None else caption_height
    x, y = int(grid_xy[0]), int(grid_xy[1])
    n = len(channels)
    if n == 0 or x < 0 or y < 0:
        return None
    cols, rows = _grid_shape(n, columns)
    col, dx = divmod(x, tile + gap)
    row, dy = divmod(y, cap + tile + gap)
    if col >= cols or row >= rows or dx >= tile or dy >= cap + tile:
        return None
    i = row * cols + col
    return int(channels[i]) if i < n else None


def overlay(
    image: Image.Image,
    heat: np.ndarray,
    *,
    opacity: float = 0.5,
    cmap: str = "jet",
    lo: float | None = None,
    hi: float | None = None,
) -> Image.Image:
    """A low-resolution (h, w) heatmap stretched bilinearly over ``image`` and blended in.

    ``opacity`` 0 gives the image unchanged, 1 only the heatmap. ``lo``/``hi`` fix the colour
    range (e.g. to compare maps); by default it is the heatmap's own min/max.
    """
    if not 0.0 <= float(opacity) <= 1.0:  # also rejects NaN
        raise ValueError(f"opacity must be between 0 and 1, got {opacity!r}")
    heat = np.asarray(heat.detach().cpu() if isinstance(heat, torch.Tensor) else heat, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"expected a non-empty (h, w) heatmap, got shape {heat.shape}")
    base = image.convert("RGB")
    finite = heat[np.isfinite(heat)]
    lo = (float(finite.min()) if finite.size else 0.0) if lo is None else lo
    hi = (float(finite.max()) if finite.size else 0.0) if hi is None else hi
    clean = np.nan_to_num(heat, nan=lo, posinf=hi, neginf=lo)
    big = Image.fromarray(np.ascontiguousarray(clean)).resize(base.size, Image.Resampling.BILINEAR)
    colours = colorize(np.asarray(big), cmap, lo, hi)  # (H, W, 3)
    a = np.float32(opacity)
    blended = np.asarray(base, dtype=np.float32) * (1 - a) + colours.astype(np.float32) * a
    return Image.fromarray(np.rint(blended).astype(np.uint8))


def channel_overlay(
    crop: Image.Image, stage: torch.Tensor, channel: int, *, opacity: float = 0.5, cmap: str = "viridis"
) -> Image.Image:
    """One channel of a (C, H, W) stage laid over the crop the network saw: where it fires."""
    stage = _stage_array(stage)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
        raise ValueError(f"channel must be an integer, got {channel!r}")
    (channel,) = _check_channels([channel], stage.shape[0])
    return overlay(crop, stage[channel].float().cpu().numpy(), opacity=opacity, cmap=cmap)


def side_by_side(images: Sequence[Image.Image], captions: Sequence[str], *, gap: int = 6) -> Image.Image:
    """Images in one row with a caption above each (e.g. the Grad-CAM ladder C2..C5)."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if not images:
        raise ValueError("side_by_side needs at least one image")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    font = _font(13)
    cap = 20
    pictures = [im.convert("RGB") for im in images]
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    height = cap + max(p.height for p in pictures)
    strip = Image.new("RGB", (width, height), _GRID_BG)
    draw = ImageDraw.Draw(strip)
    x = 0
    for picture, caption in zip(pictures, captions):
        strip.paste(picture, (x, cap))
        text_width = draw.textlength(str(caption), font=font)
        draw.text((x + max(0.0, (picture.width - text_width) / 2), 3), str(caption), font=font, fill=(20, 20, 20))
        x += picture.width + gap
    return strip
