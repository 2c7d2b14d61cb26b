"""Pictures of what the network sees: colormapped feature maps, channel grids, heatmap overlays.

Everything here is a pure function from arrays/tensors to uint8 pixels (numpy) or PIL images.
matplotlib is used only for its colormap tables, never for figures, so a grid of 64 channels is
one numpy composition instead of 64 plots. Callers should save the results as PNG: heatmaps
lose their detail in lossy formats such as Gradio's default WebP.

Pictures meant to be read on their own (a download, a slide) carry their words: a title the
caller writes (method, stage/channel, target class, architecture) and a colour bar saying what
the colours mean (:func:`heatmap_picture`, ``channel_overlay(..., colorbar=True)``,
:func:`gradcam_ladder`); the words come from the same ``labels`` mapping as the charts
(:data:`resnet_viz.draw.labels.DEFAULT_LABELS`), and Korean renders with a Hangul font when one exists.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .annotate import INK, Scale, annotate, text_lines, title_band, title_height
from .colormaps import lut as _lut
from .fonts import pil_font
from .labels import merge_labels

__all__ = [
    "CAPTION_HEIGHT",
    "CAPTION_SIZE",
    "Scale",
    "activation_scale",
    "annotate",
    "attribution_scale",
    "channel_overlay",
    "colorize",
    "feature_grid",
    "gradcam_ladder",
    "grid_title_height",
    "heatmap_picture",
    "overlay",
    "rank_channels",
    "side_by_side",
    "tile_at",
]

CAPTION_SIZE = 18  # px font of the "#c" tile numbers and the ladder's stage names: 13 px tall digits
CAPTION_HEIGHT = 24  # px of the dark strip above each tile of a captioned feature grid
_CAPTION_BG = (24, 24, 24)
_CAPTION_FG = (235, 235, 235)
_GRID_BG = (255, 255, 255)


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


@lru_cache(maxsize=64)  # tile_at asks on every click
def grid_title_height(title: str | None, width: int) -> int:
    """Height in px of the title band :func:`feature_grid` draws above a ``width`` px grid (0 without)."""
    return title_height(title, width) if title else 0


def feature_grid(
    stage: torch.Tensor,
    channels: Sequence[int],
    *,
    columns: int = 8,
    tile: int = 96,
    cmap: str = "viridis",
    gap: int = 4,
    captions: bool = True,
    title: str | None = None,
) -> Image.Image:
    """Chosen channels of a (C, H, W) stage as a grid of colormapped tiles, each labelled "#c".

    Each map is upsampled by nearest neighbour, so one stage pixel stays one visible square
    (the stride shows), and coloured with its own min/max. The layout is what :func:`tile_at`
    reads clicks with: an optional ``title`` band on top (the caller says what the grid shows,
    e.g. "C3: 32 most active channels"), then ``min(columns, len(channels))`` columns, ``gap`` px
    between tiles, and a dark :data:`CAPTION_HEIGHT` px caption strip above each tile, with the
    channel number in :data:`CAPTION_SIZE` px text, when ``captions`` is on.
    """
    stage = _stage_array(stage)
    channels = _check_channels(channels, stage.shape[0])
    if tile < 1 or gap < 0:
        raise ValueError(f"tile must be >= 1 and gap >= 0, got tile={tile}, gap={gap}")
    n = len(channels)
    cols, rows = _grid_shape(n, columns)
    cap = CAPTION_HEIGHT if captions else 0
    width = cols * tile + (cols - 1) * gap
    top = grid_title_height(title, width)
    height = top + rows * (cap + tile) + (rows - 1) * gap
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = _GRID_BG
    if n:
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
            y, x = top + r * (cap + tile + gap), c * (tile + gap)
            canvas[y + cap : y + cap + tile, x : x + tile] = tiles[i]
            if cap:
                canvas[y : y + cap, x : x + tile] = _CAPTION_BG
    image = Image.fromarray(canvas)
    if top:
        image.paste(title_band(title, width), (0, 0))
    if cap and n:
        draw = ImageDraw.Draw(image)
        font = _caption_font([f"#{c}" for c in channels], tile - 6)
        baseline = (cap + font.getbbox("#0")[3] - font.getbbox("#0")[1]) // 2 + 1  # digits centred in the strip
        for i, channel in enumerate(channels):
            r, c = divmod(i, cols)
            xy = (c * (tile + gap) + 4, top + r * (cap + tile + gap) + baseline)
            draw.text(xy, f"#{channel}", font=font, fill=_CAPTION_FG, anchor="ls")
    return image


def _caption_font(captions: Sequence[str], width: int):
    """:data:`CAPTION_SIZE` px, or smaller only when the widest caption would not fit a tile."""
    widest = max(captions, key=len)
    size = CAPTION_SIZE
    while size > 6 and pil_font(size).getlength(widest) > width:
        size -= 1
    return pil_font(size)


def tile_at(
    grid_xy: tuple[int, int],
    channels: Sequence[int],
    *,
    columns: int = 8,
    tile: int = 96,
    gap: int = 4,
    caption_height: int | None = None,
    title: str | None = None,
) -> int | None:
    """The channel whose tile (or caption strip) a click at pixel (x, y) of a :func:`feature_grid`
    image hit, or None for a gap, the title or outside the tiles.

    Pass the same ``columns``/``tile``/``gap``/``title`` as to :func:`feature_grid`;
    ``caption_height`` defaults to a captioned grid's strip, use 0 for a grid drawn with
    ``captions=False``.
    """
    cap = CAPTION_HEIGHT if caption_height is None else caption_height
    n = len(channels)
    if n == 0:
        return None
    cols, rows = _grid_shape(n, columns)
    x, y = int(grid_xy[0]), int(grid_xy[1]) - grid_title_height(title, cols * tile + (cols - 1) * gap)
    if x < 0 or y < 0:
        return None
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
    lo, hi = _range(heat, lo, hi)
    clean = np.nan_to_num(heat, nan=lo, posinf=hi, neginf=lo)
    big = Image.fromarray(np.ascontiguousarray(clean)).resize(base.size, Image.Resampling.BILINEAR)
    colours = colorize(np.asarray(big), cmap, lo, hi)  # (H, W, 3)
    a = np.float32(opacity)
    blended = np.asarray(base, dtype=np.float32) * (1 - a) + colours.astype(np.float32) * a
    return Image.fromarray(np.rint(blended).astype(np.uint8))


def _range(heat: np.ndarray, lo: float | None, hi: float | None) -> tuple[float, float]:
    finite = heat[np.isfinite(heat)]
    lo = (float(finite.min()) if finite.size else 0.0) if lo is None else float(lo)
    hi = (float(finite.max()) if finite.size else 0.0) if hi is None else float(hi)
    return lo, hi


# --- pictures that carry their words -----------------------------------------------------


def attribution_scale(
    signed: bool,
    *,
    value: float | None = None,
    labels: Mapping[str, str] | None = None,
    cmap: str | None = None,
) -> Scale:
    """The colour bar of an attribution map in [0, 1] (as :func:`resnet_viz.attribute` returns it).

    Unsigned maps (Grad-CAM, saliency, SmoothGrad): 0 at the bottom, "max" (with ``value``, the raw
    maximum, when given) on top, colormap jet. Signed maps (guided backprop, Integrated Gradients,
    occlusion; 0.5 means 0): "against the class" at the bottom, "0" in the middle, "for the class"
    on top, colormap RdBu_r.
    """
    text = merge_labels(labels)
    if signed:
        return Scale(cmap or "RdBu_r", text["scale_against"], text["scale_for"], text["scale_zero"])
    high = text["scale_max"] if value is None else text["scale_max_value"].format(value=value)
    return Scale(cmap or "jet", text["scale_zero"], high, heading=text["scale_attribution"])


def activation_scale(
    lo: float, hi: float, *, labels: Mapping[str, str] | None = None, cmap: str = "viridis"
) -> Scale:
    """The colour bar of a channel's activation: its lowest value at the bottom, "max <value>" on top."""
    text = merge_labels(labels)
    low = text["scale_zero"] if lo == 0 else text["scale_value"].format(value=lo)
    return Scale(cmap, low, text["scale_max_value"].format(value=hi), heading=text["scale_activation"])


def heatmap_picture(
    crop: Image.Image,
    unit_map: np.ndarray,
    *,
    signed: bool,
    title: str | None = None,
    value: float | None = None,
    labels: Mapping[str, str] | None = None,
    opacity: float = 0.55,
    cmap: str | None = None,
) -> Image.Image:
    """An attribution map in [0, 1] over the crop, with its colour bar (see :func:`attribution_scale`)
    and an optional ``title`` band, e.g. "Grad-CAM · C5 · target: tabby · resnet50"."""
    scale = attribution_scale(signed, value=value, labels=labels, cmap=cmap)
    return annotate(overlay(crop, unit_map, opacity=opacity, cmap=scale.cmap, lo=0.0, hi=1.0), title=title, scale=scale)


def channel_overlay(
    crop: Image.Image,
    stage: torch.Tensor,
    channel: int,
    *,
    opacity: float = 0.5,
    cmap: str = "viridis",
    colorbar: bool = False,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Image.Image:
    """One channel of a (C, H, W) stage laid over the crop the network saw: where it fires.

    With ``colorbar`` a bar beside it says which colour is which activation (its min and max);
    ``title`` adds a band on top, e.g. "C3 channel #17 · resnet50". Without either the picture is
    the crop's size.
    """
    stage = _stage_array(stage)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
        raise ValueError(f"channel must be an integer, got {channel!r}")
    (channel,) = _check_channels([channel], stage.shape[0])
    heat = stage[channel].float().cpu().numpy()
    lo, hi = _range(heat, None, None)
    picture = overlay(crop, heat, opacity=opacity, cmap=cmap, lo=lo, hi=hi)
    scale = activation_scale(lo, hi, labels=labels, cmap=cmap) if colorbar else None
    return annotate(picture, title=title, scale=scale) if (scale or title) else picture


def side_by_side(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    *,
    gap: int = 6,
    columns: int | None = None,
    title: str | None = None,
    scale: Scale | None = None,
    caption_size: int = CAPTION_SIZE,
) -> Image.Image:
    """Images in a grid of ``columns`` (default: one row) with a caption above each (e.g. the
    Grad-CAM ladder C2..C5), an optional shared colour bar to the right and a title band on top.

    Captions are ``caption_size`` px text (18 px: 13 px tall capitals at the picture's natural size).
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if not images:
        raise ValueError("side_by_side needs at least one image")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    if columns is not None and (isinstance(columns, bool) or not isinstance(columns, int) or columns < 1):
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    pictures = [im.convert("RGB") for im in images]
    cols = len(pictures) if columns is None else min(columns, len(pictures))
    rows = math.ceil(len(pictures) / cols)
    cell_w = [max(p.width for p in pictures[c::cols]) for c in range(cols)]
    cell_h = [max(p.height for p in pictures[r * cols : (r + 1) * cols]) for r in range(rows)]
    font = pil_font(caption_size, " ".join(map(str, captions)))
    ascent, descent = font.getmetrics()
    line = ascent + descent
    wrapped = [text_lines(str(c), font, cell_w[i % cols]) for i, c in enumerate(captions)]
    cap = [4 + line * max(len(w) for w in wrapped[r * cols : (r + 1) * cols]) for r in range(rows)]
    width = sum(cell_w) + gap * (cols - 1)
    height = sum(cap) + sum(cell_h) + gap * (rows - 1)
    sheet = Image.new("RGB", (width, height), _GRID_BG)
    draw = ImageDraw.Draw(sheet)
    for i, (picture, lines) in enumerate(zip(pictures, wrapped)):
        r, c = divmod(i, cols)
        x = sum(cell_w[:c]) + gap * c
        y = sum(cap[:r]) + sum(cell_h[:r]) + gap * r
        sheet.paste(picture, (x + (cell_w[c] - picture.width) // 2, y + cap[r]))
        for k, text in enumerate(lines):
            text_width = font.getlength(text)
            draw.text((x + max(0.0, (cell_w[c] - text_width) / 2), y + 2 + k * line), text, font=font, fill=INK)
    return annotate(sheet, title=title, scale=scale)


def gradcam_ladder(
    crop: Image.Image,
    maps: Mapping[str, np.ndarray],
    *,
    captions: Mapping[str, str] | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
    columns: int = 2,
    opacity: float = 0.55,
    cmap: str = "jet",
) -> Image.Image:
    """Grad-CAM at each stage (``maps``: stage name -> map in [0, 1], e.g. ``result["maps"]`` of
    the ``gradcam_ladder`` method) over the crop, 2x2 by default (C2 C3 / C4 C5), each panel
    captioned with its stage (or ``captions[stage]``, e.g. "C3 · stride 8"), one colour bar for
    the shared 0..max scale and an optional ``title``."""
    if not maps:
        raise ValueError("gradcam_ladder needs at least one stage map")
    names = list(maps)
    panels = [overlay(crop, maps[name], opacity=opacity, cmap=cmap, lo=0.0, hi=1.0) for name in names]
    words = [str((captions or {}).get(name, name)) for name in names]
    scale = attribution_scale(False, labels=labels, cmap=cmap)
    return side_by_side(panels, words, columns=columns, title=title, scale=scale)
