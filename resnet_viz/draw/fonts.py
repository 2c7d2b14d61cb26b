"""Fonts that can draw the labels: a Hangul font for Korean, in matplotlib charts and PIL pictures.

matplotlib falls back per glyph through a list of families, so charts ask for
``["DejaVu Sans", <Hangul family>]``. PIL has no per-glyph fallback and its default font has no
Hangul, so a picture's text is drawn with the Hangul font's file when the text contains Hangul,
else with DejaVu Sans (bundled with matplotlib, so present on every machine that runs this).
Without any Hangul font Korean text still draws (as boxes); choosing English then is the
caller's business (see :func:`resnet_viz.i18n.chart_labels`).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.font_manager import FontProperties
from PIL import ImageFont

__all__ = ["families", "font_kw", "hangul_font", "hangul_font_file", "has_hangul", "legend_prop", "pil_font"]

log = logging.getLogger(__name__)

_HANGUL_NAMES = ("Nanum", "Noto Sans CJK", "Noto Sans KR", "Noto Serif CJK", "UnDotum", "Malgun", "AppleGothic")
# Hangul syllables, Jamo and compatibility Jamo: text with any of these needs a Hangul font.
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_DEJAVU = Path(matplotlib.get_data_path(), "fonts", "ttf")


def _known_hangul_family() -> str | None:
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    for wanted in _HANGUL_NAMES:
        found = sorted(name for name in names if wanted.lower() in name.lower())
        if found:
            return found[0]
    return None


@lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """The family name of an installed font with Hangul glyphs, or None (looked up once).

    matplotlib caches its font list the first time it runs; a font installed after that (say
    fonts-nanum on a machine where matplotlib ran before) is missing from the cached list. Then
    the system's font files are searched and Hangul ones added, so the answer depends on what is
    installed, not on when the cache was built.
    """
    family = _known_hangul_family()
    if family is None:
        hints = [name.lower().replace(" ", "") for name in _HANGUL_NAMES]
        for path in font_manager.findSystemFonts():
            if any(hint in Path(path).name.lower().replace(" ", "") for hint in hints):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
                    continue
        family = _known_hangul_family()
    return family


def hangul_font_file(bold: bool = False) -> str | None:
    """The file of :func:`hangul_font`'s family (its regular or its boldest upright face), or None."""
    family = hangul_font()
    if family is None:
        return None
    faces = [e for e in font_manager.fontManager.ttflist if e.name == family and e.style == "normal"]
    if not faces:
        return None

    def weight(entry: Any) -> int:
        return int(entry.weight) if str(entry.weight).isdigit() else 400

    pick = max(faces, key=weight) if bold else min(faces, key=lambda e: abs(weight(e) - 400))
    return str(pick.fname)


def has_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))


@lru_cache(maxsize=64)
def _load(path: str, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: the same glyph positions with or without libraqm (Hangul needs no shaping).
    return ImageFont.truetype(path, size=size, layout_engine=ImageFont.Layout.BASIC)


def pil_font(size: int, text: str = "", *, bold: bool = False) -> ImageFont.FreeTypeFont:
    """A PIL font of ``size`` px that can draw ``text``: the Hangul font when the text has
    Hangul and one is installed, else DejaVu Sans."""
    path = hangul_font_file(bold) if has_hangul(text) else None
    if path is not None:
        try:
            return _load(path, size)
        except OSError:  # a listed font file that FreeType cannot open: draw with DejaVu instead
            log.warning("cannot open the Hangul font %s; Korean text will show as boxes", path)
    return _load(str(_DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), size)


def families() -> list[str] | None:
    """matplotlib font families for a chart: DejaVu Sans, then the Hangul font (per glyph)."""
    korean = hangul_font()
    return ["DejaVu Sans", korean] if korean else None


def font_kw() -> dict[str, Any]:
    found = families()
    return {"fontfamily": found} if found else {}


def legend_prop(size: float = 8) -> FontProperties:
    found = families()
    return FontProperties(family=found, size=size) if found else FontProperties(size=size)
