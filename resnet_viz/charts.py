"""Charts across depth: residual branch vs shortcut, gradient flow, lesions.

Every function returns a fresh matplotlib :class:`~matplotlib.figure.Figure` built with the
object API (never ``pyplot``, never ``rcParams``), so concurrent requests share no state; hand
it to ``gr.Plot`` (which closes it) or render it with :func:`figure_to_image`. The x axis is
always the residual blocks in forward order (input side on the left) with the stages C2..C5
marked. All words come from a ``labels`` mapping (defaults in :data:`DEFAULT_LABELS`) so the app
can translate them; Korean text is drawn with a Hangul font when one is installed.

Artists carry a ``gid`` (``"series:<key>"``, ``"kind:<kind>"``, ``"stage-boundary"``,
``"stage-name"``, ``"floor-note"``, ...) so tests and callers can find them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from PIL import Image

__all__ = [
    "DEFAULT_LABELS",
    "figure_to_image",
    "gradient_flow_chart",
    "hangul_font",
    "lesion_chart",
    "residual_chart",
]

DEFAULT_LABELS: dict[str, str] = {
    # shared
    "depth": "residual block (forward order, input side left)",
    "identity": "identity block",
    "convolution": "convolution block (projection shortcut)",
    # residual_chart
    "residual_title": "Residual branch F(x) vs shortcut x across depth",
    "residual_rms": "|F(x)|  residual branch (RMS)",
    "shortcut_rms": "|x|  shortcut (RMS)",
    "ratio": "|F(x)| / |x|",
    "rms_axis": "RMS activation",
    "ratio_axis": "ratio |F(x)| / |x|",
    # gradient_flow_chart
    "gradient_title": "Gradient flow: gradient reaching each block's input",
    "grad_input": "ResNet: gradient at block input",
    "plain_grad_input": "plain twin (no shortcuts): gradient at block input",
    "grad_shortcut": "part through the shortcut",
    "grad_residual": "part through the residual branch",
    "grad_axis": "gradient RMS (log scale)",
    "floor_note": "zeros drawn at {floor:.1e} (log scale)",  # keep the {floor} field when translating
    # lesion_chart
    "lesion_title": "Lesions: one block removed at a time",
    "kl": "KL divergence (intact || lesioned)",
    "kl_axis": "KL divergence (nats)",
    "intact_probability": "probability of the intact top-1 class",
    "probability_axis": "probability",
    "top1_changed": "top-1 class changed",
}

_HANGUL_NAMES = ("Nanum", "Noto Sans CJK", "Noto Sans KR", "Noto Serif CJK", "UnDotum", "Malgun", "AppleGothic")
_SIZE = (9.0, 4.0)
_COLORS = {
    "residual_rms": "tab:red",
    "shortcut_rms": "tab:blue",
    "ratio": "tab:green",
    "grad_input": "tab:blue",
    "plain_grad_input": "tab:red",
    "grad_shortcut": "tab:cyan",
    "grad_residual": "tab:orange",
    "identity": "#8fa9c9",
    "convolution": "#d9843b",
    "intact_probability": "black",
}
_MARKERS = {"identity": "o", "convolution": "s"}
_HEADROOM = 1.18  # axis top / highest value: room for the stage names


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


def _families() -> list[str] | None:
    korean = hangul_font()
    return ["DejaVu Sans", korean] if korean else None  # matplotlib falls back per glyph


def _font_kw() -> dict[str, Any]:
    families = _families()
    return {"fontfamily": families} if families else {}


def _legend_prop(size: float = 8) -> FontProperties:
    families = _families()
    return FontProperties(family=families, size=size) if families else FontProperties(size=size)


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(DEFAULT_LABELS)
    if labels:
        unknown = sorted(set(labels) - set(DEFAULT_LABELS))
        if unknown:
            raise ValueError(f"unknown label key {unknown[0]!r}; known keys: {', '.join(DEFAULT_LABELS)}")
        merged.update(labels)
    return merged


def _column(rows: Sequence[Mapping], key: str) -> np.ndarray:
    try:
        return np.array([float(row[key]) for row in rows], dtype=np.float64)
    except KeyError:
        raise ValueError(f"every row needs a {key!r} value") from None


def _new_figure(rows: Sequence[Mapping], what: str) -> tuple[Figure, Any]:
    if not rows:
        raise ValueError(f"no {what} to plot")
    fig = Figure(figsize=_SIZE, layout="constrained")
    return fig, fig.add_subplot()


def _depth_axis(ax: Any, rows: Sequence[Mapping], text: dict[str, str]) -> np.ndarray:
    """Block names as x ticks, stage boundaries as vertical lines, stage names on top."""
    x = np.arange(len(rows))
    kw = _font_kw()
    ax.set_xticks(x, [str(row["name"]) for row in rows], rotation=90, fontsize=8 if len(rows) <= 24 else 6, **kw)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(text["depth"], fontsize=9, **kw)
    top = blended_transform_factory(ax.transData, ax.transAxes)  # x in blocks, y in axes fraction
    spans: list[tuple[str, int, int]] = []
    for i, row in enumerate(rows):
        stage = str(row.get("stage", ""))
        if spans and spans[-1][0] == stage:
            spans[-1] = (stage, spans[-1][1], i)
        else:
            spans.append((stage, i, i))
    for k, (stage, first, last) in enumerate(spans):
        if k:
            ax.axvline(first - 0.5, color="0.55", linewidth=0.8, linestyle="--", gid="stage-boundary", zorder=1)
        name_style = {"ha": "center", "va": "top", "fontsize": 9, "fontweight": "bold", "color": "0.3"}
        ax.text((first + last) / 2, 0.98, stage, transform=top, gid="stage-name", **name_style, **kw)
    return x


def _kinds(rows: Sequence[Mapping]) -> np.ndarray:
    kinds = np.array([str(row.get("kind", "identity")) for row in rows])
    bad = sorted(set(kinds) - set(_MARKERS))
    if bad:
        raise ValueError(f"unknown block kind {bad[0]!r}; expected 'identity' or 'convolution'")
    return kinds


def _kind_handles(text: dict[str, str], kinds: np.ndarray) -> list[Line2D]:
    return [
        Line2D([], [], color="0.35", marker=_MARKERS[kind], linestyle="none", label=text[kind])
        for kind in ("identity", "convolution")
        if (kinds == kind).any()
    ]


def _headroom(values: np.ndarray) -> float:
    """A linear axis top that leaves the strip under the stage names free."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    return top * _HEADROOM if top > 0 else 1.0


def _title(ax: Any, title: str) -> None:
    ax.set_title(title, fontsize=11, pad=4, **_font_kw())


def residual_chart(blocks: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> Figure:
    """|F(x)| and |x| per block (left axis) and their ratio (right axis) across depth.

    ``blocks`` is ``analyze(...)["blocks"]``. Where the ratio is small the block mostly passes its
    input on (near identity); convolution blocks (squares) re-project the shortcut.
    """
    text = _labels(labels)
    fig, ax = _new_figure(blocks, "blocks")
    x = _depth_axis(ax, blocks, text)
    kinds = _kinds(blocks)
    twin = ax.twinx()
    kw = _font_kw()
    series = []
    for key, axis, style in (("residual_rms", ax, "-"), ("shortcut_rms", ax, "-"), ("ratio", twin, ":")):
        y = _column(blocks, key)
        (line,) = axis.plot(x, y, style, color=_COLORS[key], linewidth=1.6, label=text[key], gid=f"series:{key}")
        series.append(line)
        for kind, marker in _MARKERS.items():
            mask = kinds == kind
            if mask.any():
                size = 5 if kind == "identity" else 6
                axis.plot(x[mask], y[mask], marker, color=_COLORS[key], markersize=size, gid=f"kind:{kind}")
    twin.axhline(1.0, color=_COLORS["ratio"], linewidth=0.6, alpha=0.4, gid="ratio-one")
    ax.set_ylim(0, _headroom(np.concatenate([_column(blocks, "residual_rms"), _column(blocks, "shortcut_rms")])))
    twin.set_ylim(0, _headroom(np.append(_column(blocks, "ratio"), 1.0)))
    ax.set_ylabel(text["rms_axis"], fontsize=9, **kw)
    twin.set_ylabel(text["ratio_axis"], fontsize=9, color=_COLORS["ratio"], **kw)
    ax.grid(axis="y", alpha=0.3)
    _title(ax, text["residual_title"])
    handles = series + _kind_handles(text, kinds)
    fig.legend(handles=handles, loc="outside lower center", ncols=3, prop=_legend_prop(), frameon=False)
    return fig


def gradient_flow_chart(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> Figure:
    """Gradient RMS reaching each block's input, ResNet vs its plain twin, on a log scale.

    The shortcut keeps the gradient alive on the way back to the input (left); without it the
    plain twin's gradient typically shrinks or explodes with depth. Zeros cannot be drawn on a
    log scale, so they are clipped to a floor a decade below the smallest positive value and a
    note says so.
    """
    text = _labels(labels)
    fig, ax = _new_figure(rows, "rows")
    x = _depth_axis(ax, rows, text)
    _kinds(rows)  # only checked here: the kinds are drawn by the other two charts
    spec = (
        ("grad_input", "-", 2.0, "o"),
        ("plain_grad_input", "--", 2.0, "^"),
        ("grad_shortcut", "-", 0.9, None),
        ("grad_residual", "-", 0.9, None),
    )
    values = {key: _column(rows, f"{key}_rms") for key, *_ in spec}
    for y in values.values():
        y[~np.isfinite(y)] = np.nan  # a gap rather than a broken axis
    stacked = np.concatenate(list(values.values()))
    positive = stacked[np.isfinite(stacked) & (stacked > 0)]
    floor = float(positive.min()) / 10 if positive.size else 1e-12
    clipped = False
    lines = []
    for key, style, width, marker in spec:
        y = values[key]
        low = np.isfinite(y) & (y < floor)
        clipped |= bool(low.any())
        y = np.where(low, floor, y)
        (line,) = ax.plot(
            x,
            y,
            style,
            color=_COLORS[key],
            linewidth=width,
            marker=marker,
            markersize=3.5,
            alpha=1.0 if width > 1 else 0.8,
            label=text[key],
            gid=f"series:{key}",
        )
        lines.append(line)
    ax.set_yscale("log")
    drawn = np.concatenate([line.get_ydata() for line in lines]).astype(np.float64)
    drawn = drawn[np.isfinite(drawn)]
    if drawn.size:  # a log-scale version of the headroom of the linear charts
        lo, hi = float(drawn.min()), float(drawn.max())
        decades = max(math.log10(hi / lo), 1.0)
        ax.set_ylim(lo / 10 ** (0.06 * decades), hi * 10 ** (0.2 * decades))
    if clipped:
        ax.axhline(floor, color="0.6", linewidth=0.6, linestyle=":", gid="floor")
        note = text["floor_note"].format(floor=floor)
        ax.text(0.01, 0.02, note, transform=ax.transAxes, fontsize=7, color="0.35", gid="floor-note", **_font_kw())
    ax.set_ylabel(text["grad_axis"], fontsize=9, **_font_kw())
    ax.grid(axis="y", which="major", alpha=0.3)
    _title(ax, text["gradient_title"])
    fig.legend(handles=lines, loc="outside lower center", ncols=2, prop=_legend_prop(), frameon=False)
    return fig


def lesion_chart(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> Figure:
    """KL divergence of the prediction when each block is lesioned (bars) and what remains of
    the intact top-1 class's probability (line, right axis); hatched bars changed the top-1."""
    text = _labels(labels)
    fig, ax = _new_figure(rows, "rows")
    x = _depth_axis(ax, rows, text)
    kinds = _kinds(rows)
    kl = np.nan_to_num(_column(rows, "kl_divergence"), nan=0.0, posinf=0.0).clip(min=0)
    changed = np.array([bool(row.get("top1_changed", False)) for row in rows])
    bars = ax.bar(x, kl, width=0.75, color=[_COLORS[k] for k in kinds], edgecolor="0.25", linewidth=0.5, zorder=2)
    for bar, flag, kind in zip(bars, changed, kinds):
        bar.set_gid(f"bar:{kind}")
        if flag:
            bar.set_hatch("///")
    twin = ax.twinx()
    prob = _column(rows, "intact_class_probability")
    (line,) = twin.plot(
        x,
        prob,
        "-",
        color=_COLORS["intact_probability"],
        marker=".",
        linewidth=1.2,
        label=text["intact_probability"],
        gid="series:intact_class_probability",
    )
    twin.set_ylim(0, _HEADROOM)
    ax.set_ylim(0, _headroom(kl) if kl.max() > 0 else 1e-3)
    kw = _font_kw()
    ax.set_ylabel(text["kl_axis"], fontsize=9, **kw)
    twin.set_ylabel(text["probability_axis"], fontsize=9, **kw)
    ax.grid(axis="y", alpha=0.3)
    _title(ax, text["lesion_title"])
    handles: list[Any] = [
        Patch(facecolor=_COLORS[kind], edgecolor="0.25", label=text[kind])
        for kind in ("identity", "convolution")
        if (kinds == kind).any()
    ]
    if changed.any():
        handles.append(Patch(facecolor="white", edgecolor="0.25", hatch="///", label=text["top1_changed"]))
    handles.append(line)
    fig.legend(handles=handles, loc="outside lower center", ncols=4, prop=_legend_prop(), frameon=False)
    return fig


def figure_to_image(fig: Figure, dpi: int = 100) -> Image.Image:
    """Render a figure to an RGB image (e.g. for a download) with the Agg backend; the figure
    stays open and keeps its own dpi."""
    if not isinstance(dpi, (int, float)) or not math.isfinite(dpi) or dpi <= 0:
        raise ValueError(f"dpi must be a positive number, got {dpi!r}")
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    original = fig.get_dpi()
    try:
        fig.set_dpi(dpi)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())  # (H, W, 4)
        return Image.fromarray(rgba[..., :3].copy())
    finally:
        fig.set_dpi(original)
