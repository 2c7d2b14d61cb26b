"""Charts across depth: residual branch vs shortcut, gradient flow, lesions.

Every function returns a fresh matplotlib :class:`~matplotlib.figure.Figure` built with the
object API (never ``pyplot``, never ``rcParams``), so concurrent requests share no state; hand
it to ``gr.Plot`` (which closes it) or render it with :func:`figure_to_image`. The x axis is
always the residual blocks in forward order (input side on the left), named the seed's way
(C2.1, C2.2, ...; :func:`block_table` maps them to torchvision's ``layer1.0``), with the stages
C2..C5 marked above the axes; the legend and a one-sentence "how to read" note sit under the
chart (layout: :mod:`resnet_viz.draw.chart_layout`). All words come from a ``labels`` mapping
(defaults in :data:`DEFAULT_LABELS`) so the app can translate them; Korean text is drawn with a
Hangul font when one is installed.

Artists carry a ``gid`` (``"series:<key>"``, ``"kind:<kind>"``, ``"stage-boundary"``,
``"stage-name"``, ``"ratio-one"``, ``"ratio-one-label"``, ``"note"``, ``"floor-note"``, ...) so
tests and callers can find them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from .block_names import block_names, block_table, seed_names  # re-exported: the table beside a chart
from .chart_layout import depth_axis, footer, label_line, new_figure, title
from .fonts import font_kw, hangul_font
from .labels import DEFAULT_LABELS, merge_labels

__all__ = [
    "DEFAULT_LABELS",
    "block_names",
    "block_table",
    "figure_to_image",
    "gradient_flow_chart",
    "hangul_font",
    "lesion_chart",
    "residual_chart",
    "seed_names",
]

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
_HEADROOM = 1.08  # axis top / highest value: the top point is not cut by the frame


def _column(rows: Sequence[Mapping], key: str) -> np.ndarray:
    try:
        return np.array([float(row[key]) for row in rows], dtype=np.float64)
    except KeyError:
        raise ValueError(f"every row needs a {key!r} value") from None


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
    """A linear axis top a little above the highest value, so the top point is not cut."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    return top * _HEADROOM if top > 0 else 1.0


def residual_chart(blocks: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> Figure:
    """|F(x)| and |x| per block (left axis) and their ratio (right axis) across depth.

    ``blocks`` is ``analyze(...)["blocks"]``. Where the ratio is below the labelled ratio = 1 line
    the block mostly passes its input on (near identity); convolution blocks (squares) re-project
    the shortcut. A note under the chart says how to read it.
    """
    text = merge_labels(labels)
    fig, ax = new_figure(blocks, "blocks")
    x = depth_axis(ax, blocks, text["depth"])
    kinds = _kinds(blocks)
    twin = ax.twinx()
    kw = font_kw()
    series, drawn = [], []
    for key, axis, style in (("residual_rms", ax, "-"), ("shortcut_rms", ax, "-"), ("ratio", twin, ":")):
        y = _column(blocks, key)
        (line,) = axis.plot(x, y, style, color=_COLORS[key], linewidth=1.6, label=text[key], gid=f"series:{key}")
        series.append(line)
        drawn.append((axis, x, y))
        for kind, marker in _MARKERS.items():
            mask = kinds == kind
            if mask.any():
                size = 5 if kind == "identity" else 6
                axis.plot(x[mask], y[mask], marker, color=_COLORS[key], markersize=size, gid=f"kind:{kind}")
    ax.set_ylim(0, _headroom(np.concatenate([_column(blocks, "residual_rms"), _column(blocks, "shortcut_rms")])))
    twin.set_ylim(0, _headroom(np.append(_column(blocks, "ratio"), 1.0)))
    twin.axhline(1.0, color=_COLORS["ratio"], linewidth=1.0, linestyle="--", alpha=0.8, gid="ratio-one", zorder=1.5)
    label_line(twin, 1.0, text["ratio_one"], drawn, fontsize=8, color=_COLORS["ratio"], gid="ratio-one-label")
    ax.set_ylabel(text["rms_axis"], fontsize=9, **kw)
    twin.set_ylabel(text["ratio_axis"], fontsize=9, color=_COLORS["ratio"], **kw)
    ax.grid(axis="y", alpha=0.3)
    title(ax, text["residual_title"])
    footer(fig, series + _kind_handles(text, kinds), 3, [("note", text["residual_note"])])
    return fig


def gradient_flow_chart(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None, subtitle: str | None = None) -> Figure:
    """Gradient RMS reaching each block's input, ResNet vs its plain twin, on a log scale;
    ``subtitle`` (a second title line) names what it was computed for: photo, target, arch.

    The shortcut keeps the gradient alive on the way back to the input (left); without it the
    plain twin's gradient typically shrinks or explodes with depth. Zeros cannot be drawn on a
    log scale, so they are clipped to a floor a decade below the smallest positive value and a
    note under the chart says so.
    """
    text = merge_labels(labels)
    fig, ax = new_figure(rows, "rows")
    x = depth_axis(ax, rows, text["depth"])
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
        ax.set_ylim(lo / 10 ** (0.06 * decades), hi * 10 ** (0.06 * decades))
    notes = [("note", text["gradient_note"])]
    if clipped:
        ax.axhline(floor, color="0.6", linewidth=0.6, linestyle=":", gid="floor")
        notes.append(("floor-note", text["floor_note"].format(floor=floor)))
    ax.set_ylabel(text["grad_axis"], fontsize=9, **font_kw())
    ax.grid(axis="y", which="major", alpha=0.3)
    title(ax, text["gradient_title"] + (f"\n{subtitle}" if subtitle else ""))
    footer(fig, lines, 2, notes)
    return fig


def lesion_chart(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> Figure:
    """KL divergence of the prediction when each block is lesioned (bars) and what remains of
    the intact top-1 class's probability (line, right axis); hatched bars changed the top-1."""
    text = merge_labels(labels)
    fig, ax = new_figure(rows, "rows")
    x = depth_axis(ax, rows, text["depth"])
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
    kw = font_kw()
    ax.set_ylabel(text["kl_axis"], fontsize=9, **kw)
    twin.set_ylabel(text["probability_axis"], fontsize=9, **kw)
    ax.grid(axis="y", alpha=0.3)
    title(ax, text["lesion_title"])
    handles: list[Any] = [
        Patch(facecolor=_COLORS[kind], edgecolor="0.25", label=text[kind])
        for kind in ("identity", "convolution")
        if (kinds == kind).any()
    ]
    if changed.any():
        handles.append(Patch(facecolor="white", edgecolor="0.25", hatch="///", label=text["top1_changed"]))
    handles.append(line)
    footer(fig, handles, 4, [("note", text["lesion_note"])])
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
