"""Layout shared by the depth charts: block ticks, stage names, the footer, a label beside a line.

The charts in :mod:`resnet_viz.draw.charts` put blocks in forward order on the x axis. This module
keeps their words readable at any depth (ResNet-18's 8 blocks to ResNet-152's 50):

* x ticks carry the seed's names (C2.1, C2.2, ...); :class:`BlockTicks` chooses at draw time, from
  the axis' real width, which blocks get a name (each stage's first block, then every k-th that
  fits), and every block keeps a minor tick;
* the stage names sit in a strip above the axes, under the title, so they cover neither data nor
  tick labels;
* the legend and the "how to read" notes sit in a footer band below everything, its height
  measured from the wrapped text, so a downloaded PNG carries them and nothing overlaps.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, Locator
from matplotlib.transforms import blended_transform_factory, offset_copy

from .block_names import seed_names
from .fonts import families, font_kw, legend_prop

__all__ = [
    "BlockTicks",
    "PLOT_HEIGHT",
    "WIDTH",
    "depth_axis",
    "footer",
    "label_line",
    "new_figure",
    "thin_ticks",
    "title",
]

WIDTH = 9.0  # in
PLOT_HEIGHT = 3.7  # in: title, stage names, axes, block ticks and the depth label; the footer adds to it
TICK_SIZE = 8.0  # pt
STAGE_SIZE = 9.0
NOTE_SIZE = 8.0
_STAGE_LIFT = 2.0  # pt between the axes' top and the stage names
_TITLE_PAD = _STAGE_LIFT + 1.4 * STAGE_SIZE + 4  # pt: the title sits above the stage names
_TICK_GAP = 6.0  # pt of space kept between two block names
_MARGIN = 0.12  # in, left and right of the footer
_BAND_PAD = 0.06  # in, above and below the footer's contents
_NICE_STEPS = (1, 2, 5, 10, 20, 50, 100)


def _renderer(fig: Figure) -> RendererAgg:
    """A scratch renderer at the figure's dpi, to measure text before anything is drawn."""
    dpi = fig.get_dpi()
    width, height = fig.get_size_inches()
    return RendererAgg(max(1, int(width * dpi)), max(1, int(height * dpi)), dpi)


def _text_width_pt(renderer: RendererAgg, text: str, prop: FontProperties) -> float:
    family = tuple(prop.get_family())
    return _measure(text, family, prop.get_size_in_points(), str(prop.get_weight()), float(renderer.dpi))


@lru_cache(maxsize=4096)  # the same words (block names, notes) come back in every chart
def _measure(text: str, family: tuple[str, ...], size: float, weight: str, dpi: float) -> float:
    prop = FontProperties(family=list(family), size=size, weight=weight)
    width, _, _ = RendererAgg(1, 1, dpi).get_text_width_height_descent(text, prop, ismath=False)
    return width * 72.0 / dpi


def new_figure(rows: Sequence[Mapping], what: str) -> tuple[Figure, Any]:
    if not rows:
        raise ValueError(f"no {what} to plot")
    fig = Figure(figsize=(WIDTH, PLOT_HEIGHT), layout="constrained")
    return fig, fig.add_subplot()


def title(ax: Any, text: str) -> None:
    ax.set_title(text, fontsize=11, pad=_TITLE_PAD, **font_kw())


def _stages(rows: Sequence[Mapping]) -> list[str]:
    return [str(row.get("stage", "")) for row in rows]


def thin_ticks(firsts: Sequence[int], index_in_stage: Sequence[int], widths: np.ndarray, slot: float) -> list[int]:
    """The blocks that get a name: each stage's first, then those whose 1-based index in their
    stage is a multiple of the smallest nice step k whose names fit ``slot`` pt apart; a name that
    would touch an already chosen one is skipped (``widths`` in pt)."""
    n = len(widths)
    if n == 0 or slot <= 0:
        return []
    need = float(widths.max()) + _TICK_GAP
    step = next((k for k in _NICE_STEPS if k * slot >= need), None)
    first_set = set(firsts)
    others = [] if step is None else [i for i in range(n) if i not in first_set and index_in_stage[i] % step == 0]
    if step == 1:
        others = [i for i in range(n) if i not in first_set]
    chosen: list[int] = []
    for i in [*firsts, *others]:
        if all(abs(i - j) * slot >= (widths[i] + widths[j]) / 2 + _TICK_GAP for j in chosen):
            chosen.append(i)
    return sorted(chosen)


class BlockTicks(Locator):
    """Major x ticks on the blocks whose names fit at the axis' drawn width (see :func:`thin_ticks`).

    Chosen at draw time, so a figure drawn larger or smaller (a download at another dpi keeps
    proportions; a resized figure does not) still shows as many names as fit.
    """

    def __init__(self, firsts: Sequence[int], index_in_stage: Sequence[int], widths_pt: np.ndarray) -> None:
        self.firsts = list(firsts)
        self.index_in_stage = list(index_in_stage)
        self.widths = np.asarray(widths_pt, dtype=np.float64)

    def __call__(self) -> np.ndarray:
        lo, hi = self.axis.get_view_interval()
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        axes = self.axis.axes
        span = abs(float(vmax) - float(vmin)) or 1.0
        slot = axes.bbox.width * 72.0 / axes.get_figure(root=True).dpi / span  # pt per block
        return np.array(thin_ticks(self.firsts, self.index_in_stage, self.widths, slot), dtype=np.float64)


def _name_at(names: Sequence[str], x: float, _pos: Any = None) -> str:
    i = int(round(x))
    return names[i] if abs(x - i) < 1e-6 and 0 <= i < len(names) else ""


def depth_axis(ax: Any, rows: Sequence[Mapping], depth_label: str) -> np.ndarray:
    """Blocks on the x axis by seed name, stage boundaries as dashed lines, stage names on top."""
    n = len(rows)
    x = np.arange(n)
    names = seed_names(rows)
    stages = _stages(rows)
    firsts = [i for i in range(n) if i == 0 or stages[i] != stages[i - 1]]
    index_in_stage = [int(name.rsplit(".", 1)[1]) for name in names]
    found = families()
    prop = FontProperties(family=found, size=TICK_SIZE) if found else FontProperties(size=TICK_SIZE)
    renderer = _renderer(ax.get_figure(root=True))
    widths = np.array([_text_width_pt(renderer, name, prop) for name in names])

    ax.set_xlim(-0.6, n - 0.4)
    ax.xaxis.set_major_locator(BlockTicks(firsts, index_in_stage, widths))
    ax.xaxis.set_minor_locator(FixedLocator(x))
    ax.xaxis.set_major_formatter(FuncFormatter(partial(_name_at, names)))
    family = {"labelfontfamily": found} if found else {}
    ax.tick_params(axis="x", which="major", labelsize=TICK_SIZE, length=4, **family)
    ax.tick_params(axis="x", which="minor", length=2)
    kw = font_kw()
    ax.set_xlabel(depth_label, fontsize=9, **kw)

    fig = ax.get_figure(root=True)
    above = offset_copy(blended_transform_factory(ax.transData, ax.transAxes), fig=fig, y=_STAGE_LIFT, units="points")
    for k, first in enumerate(firsts):
        last = (firsts[k + 1] if k + 1 < len(firsts) else n) - 1
        if k:
            ax.axvline(first - 0.5, color="0.55", linewidth=0.8, linestyle="--", gid="stage-boundary", zorder=1)
        style = {"ha": "center", "va": "bottom", "fontsize": STAGE_SIZE, "fontweight": "bold", "color": "0.3"}
        ax.text((first + last) / 2, 1.0, stages[first], transform=above, gid="stage-name", clip_on=False, **style, **kw)
    return x


def _wrap(renderer: RendererAgg, text: str, prop: FontProperties, width_pt: float) -> str:
    """``text`` broken at spaces into lines no wider than ``width_pt`` (a longer word keeps its line):
    Korean words, like English ones, are never split. Each word is measured once and a line's
    width is the sum (kerning across a space is a fraction of a point: 2% is kept free for it)."""
    width_pt *= 0.98
    space = _text_width_pt(renderer, "a a", prop) - _text_width_pt(renderer, "aa", prop)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for word in paragraph.split(" "):
            size = _text_width_pt(renderer, word, prop)
            if line and used + space + size > width_pt:
                lines.append(line)
                line, used = word, size
            else:
                line, used = (f"{line} {word}", used + space + size) if line else (word, size)
        lines.append(line)
    return "\n".join(lines)


def footer(fig: Figure, handles: Sequence[Any], ncols: int, notes: Iterable[tuple[str, str]]) -> None:
    """The legend and the notes (``(gid, text)``, wrapped to the figure's width) in a band below
    the chart; the figure grows by the band's height, so the chart keeps its size."""
    renderer = _renderer(fig)
    inches = blended_transform_factory(fig.transFigure, fig.dpi_scale_trans)  # x: fraction, y: inches
    available = (WIDTH - 2 * _MARGIN) * 72.0
    legend = None
    for columns in range(max(1, ncols), 0, -1):  # fewer columns when long (e.g. Korean) labels do not fit
        if legend is not None:
            legend.remove()
        legend = fig.legend(
            handles=handles, loc="upper center", ncols=columns, prop=legend_prop(), frameon=False,
            bbox_to_anchor=(0.5, 0.0), bbox_transform=inches, borderaxespad=0.0,
        )
        if legend.get_window_extent(renderer).width * 72.0 / renderer.dpi <= available:
            break
    texts: list[Text] = []
    for gid, note in notes:
        text = fig.text(_MARGIN / WIDTH, 0.0, "", transform=inches, fontsize=NOTE_SIZE, color="0.25",
                        ha="left", va="top", gid=gid, **font_kw())
        text.set_text(_wrap(renderer, note, text.get_fontproperties(), available))
        texts.append(text)
    gap = 0.04  # in
    heights = [legend.get_window_extent(renderer).height / renderer.dpi] + [
        t.get_window_extent(renderer).height / renderer.dpi for t in texts
    ]
    band = 2 * _BAND_PAD + sum(heights) + gap * (len(heights) - 1)
    total = math.ceil((PLOT_HEIGHT + band) * 10 - 1e-6) / 10  # whole pixels at 50 and 100 dpi
    band = total - PLOT_HEIGHT
    fig.set_size_inches(WIDTH, total)
    fig.get_layout_engine().set(rect=(0.0, band / total, 1.0, 1.0 - band / total))
    y = band - _BAND_PAD
    legend.set_bbox_to_anchor((0.5, y), transform=inches)
    y -= heights[0] + gap
    for text, height in zip(texts, heights[1:]):
        text.set_y(y)
        y -= height + gap


def label_line(
    ax: Any, y: float, text: str, series: Sequence[tuple[Any, np.ndarray, np.ndarray]], **style: Any
) -> Text:
    """Write ``text`` just above or below the horizontal line at ``y`` (data units of ``ax``), at the
    place along it that the drawn ``series`` ((axes, x, y) each) and the stage boundaries cross least."""
    x0, x1 = ax.get_xlim()
    points = [_axes_fraction(axis, xs, ys, (x0, x1)) for axis, xs, ys in series]
    for axis in {id(a): a for a, _, _ in series}.values():
        for line in axis.get_lines():
            if line.get_gid() == "stage-boundary":
                at = (float(line.get_xdata()[0]) - x0) / (x1 - x0)
                points.append(np.column_stack([np.full(101, at), np.linspace(0, 1, 101)]))
    cloud = np.concatenate(points) if points else np.zeros((0, 2))
    line_y = float(_axes_fraction(ax, np.array([x0]), np.array([y]), (x0, x1))[0, 1])
    fig = ax.get_figure(root=True)
    renderer = _renderer(fig)
    found = families()
    size = float(style.get("fontsize", 8))
    prop = FontProperties(family=found, size=size) if found else FontProperties(size=size)
    # The axes' size before layout is a guess; the box is padded to make up for it.
    axes_w = (WIDTH - 1.7) * 72.0
    axes_h = (PLOT_HEIGHT - 1.3) * 72.0
    box_w = (_text_width_pt(renderer, text, prop) + 14) / axes_w  # + markers' radius and the guess' error
    box_h = (1.5 * size + 6) / axes_h
    best = None
    for centre in np.linspace(box_w / 2 + 0.01, 1 - box_w / 2 - 0.01, 41)[::-1]:  # right end first
        for above in (True, False):
            bottom = line_y if above else line_y - box_h
            if bottom < 0 or bottom + box_h > 1:
                continue
            across = np.abs(cloud[:, 0] - centre) <= box_w / 2
            score = int((across & (cloud[:, 1] >= bottom) & (cloud[:, 1] <= bottom + box_h)).sum())
            if best is None or score < best[0]:
                best = (score, centre, above)
    _, centre, above = best if best is not None else (0, 1 - box_w / 2, True)
    where = blended_transform_factory(ax.transAxes, ax.transData)
    shift = offset_copy(where, fig=fig, y=2 if above else -2, units="points")
    return ax.text(centre, y, text, transform=shift, ha="center", va="bottom" if above else "top",
                   clip_on=False, **style, **font_kw())


def _axes_fraction(ax: Any, xs: np.ndarray, ys: np.ndarray, xlim: tuple[float, float]) -> np.ndarray:
    """(x, y) data points of ``ax``, densely sampled along the polyline, as axes fractions."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size > 1:
        t = np.linspace(0, xs.size - 1, 16 * (xs.size - 1) + 1)
        xs, ys = np.interp(t, np.arange(xs.size), xs), np.interp(t, np.arange(ys.size), ys)
    y0, y1 = ax.get_ylim()
    if ax.get_yscale() == "log":
        ys, y0, y1 = np.log10(np.clip(ys, 1e-300, None)), np.log10(y0), np.log10(y1)
    return np.column_stack([(xs - xlim[0]) / (xlim[1] - xlim[0]), (ys - y0) / (y1 - y0)])
