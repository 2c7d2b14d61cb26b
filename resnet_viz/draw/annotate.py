"""Words on pictures: a title band, a colour bar with what its colours mean, wrapped text (PIL).

A heatmap or channel view saved on its own (a download, a slide) must say what it shows: the
title names method, stage, target and architecture (the caller writes it), the colour bar says
which end of the colormap means what. Text is drawn with :func:`resnet_viz.draw.fonts.pil_font`, so
Korean renders wherever a Hangul font is installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .colormaps import lut
from .fonts import pil_font

__all__ = ["Scale", "annotate", "colour_bar", "text_lines", "title_band", "title_height"]

INK = (20, 20, 20)
PAPER = (255, 255, 255)
TITLE_SIZE = 16  # px
LABEL_SIZE = 14  # px
_PAD = 6  # px around text
_BAR_WIDTH = 16  # px of colour
_LABEL_WIDTH = 120  # px at most beside the bar; longer labels wrap


@dataclass(frozen=True)
class Scale:
    """What a picture's colours mean: the colormap, the words at its ends and (signed maps) at its
    middle, and a heading naming the quantity."""

    cmap: str
    low: str
    high: str
    middle: str | None = None
    heading: str | None = None


def text_lines(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """``text`` wrapped at spaces to lines at most ``width`` px wide; only a word wider than that
    on its own is cut between characters."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and font.getlength(line) > width:
                cut = len(line) - 1
                while cut > 1 and font.getlength(line[:cut]) > width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def title_height(text: str, width: int, *, size: int = TITLE_SIZE) -> int:
    """Height in px of :func:`title_band` (measured, not drawn: cheap enough for every click)."""
    font = pil_font(size, text)
    return 2 * _PAD + _line_height(font) * len(text_lines(text, font, max(1, width - 2 * _PAD)))


def title_band(text: str, width: int, *, size: int = TITLE_SIZE) -> Image.Image:
    """A white band ``width`` px wide with ``text`` wrapped in it, left-aligned."""
    font = pil_font(size, text)
    lines = text_lines(text, font, max(1, width - 2 * _PAD))
    step = _line_height(font)
    band = Image.new("RGB", (width, title_height(text, width, size=size)), PAPER)
    draw = ImageDraw.Draw(band)
    for i, line in enumerate(lines):
        draw.text((_PAD, _PAD + i * step), line, font=font, fill=INK)
    return band


def colour_bar(scale: Scale, height: int, *, size: int = LABEL_SIZE) -> Image.Image:
    """A vertical bar of ``scale.cmap`` (high end on top), its end words beside it, ``height`` px
    tall; the heading, if any, above the bar."""
    texts = [scale.low, scale.high, scale.middle or "", scale.heading or ""]
    font = pil_font(size, " ".join(texts))
    widest = max(int(np.ceil(font.getlength(t))) for t in texts)
    label_w = min(_LABEL_WIDTH, max(1, widest))
    width = _BAR_WIDTH + _PAD + label_w + _PAD
    step = _line_height(font)
    heading = text_lines(scale.heading, font, width - _PAD) if scale.heading else []
    top = len(heading) * step + (_PAD if heading else 0) + step // 2  # half a line: the top word is centred on the end
    bottom = height - step // 2
    if bottom - top < 32:
        raise ValueError(f"a colour bar needs more height than {height} px for its words")
    column = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(column)
    for i, line in enumerate(heading):
        draw.text((0, i * step), line, font=font, fill=INK)
    ramp = lut(scale.cmap)[np.linspace(255, 0, bottom - top).round().astype(np.uint8)]  # (h, 3), high on top
    column.paste(Image.fromarray(np.repeat(ramp[:, None, :], _BAR_WIDTH, axis=1)), (0, top))
    draw.rectangle((0, top - 1, _BAR_WIDTH - 1, bottom), outline=(90, 90, 90))  # around the ramp, not on it
    x = _BAR_WIDTH + _PAD
    for text, y in ((scale.high, top), (scale.middle, (top + bottom) // 2), (scale.low, bottom - 1)):
        if not text:
            continue
        lines = text_lines(text, font, label_w)
        block = step * len(lines)
        y0 = min(max(0, y - block // 2), height - block)  # centred on its place, kept inside the column
        if text is scale.high:
            y0 = max(y0, len(heading) * step + (_PAD if heading else 0))
        draw.line((_BAR_WIDTH, y, _BAR_WIDTH + 3, y), fill=(90, 90, 90))
        for i, line in enumerate(lines):
            draw.text((x, y0 + i * step), line, font=font, fill=INK)
    return column


def annotate(picture: Image.Image, *, title: str | None = None, scale: Scale | None = None) -> Image.Image:
    """``picture`` with a colour bar to its right (when ``scale``) and a title band above (when
    ``title``): a picture that reads on its own."""
    body = picture.convert("RGB")
    if scale is not None:
        bar = colour_bar(scale, body.height)
        joined = Image.new("RGB", (body.width + _PAD + bar.width, body.height), PAPER)
        joined.paste(body, (0, 0))
        joined.paste(bar, (body.width + _PAD, 0))
        body = joined
    if not title:
        return body
    band = title_band(title, body.width)
    out = Image.new("RGB", (body.width, band.height + body.height), PAPER)
    out.paste(band, (0, 0))
    out.paste(body, (0, band.height))
    return out
