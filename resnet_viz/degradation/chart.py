"""The degradation lab's charts: training error against step, and the gradients at initialisation.

Drawn as in He et al. 2016, Fig. 1 and Fig. 6: one colour per depth, plain networks dashed,
ResNets solid, so "deeper plain is higher, deeper ResNet is not" reads at a glance. The gradient
chart shows why a deep plain net starts late: at initialisation its first layer's gradient is
orders of magnitude larger than its last layer's, while a ResNet's stays within one decade.
Both functions take a result (partial or final, or its JSON) and return a fresh matplotlib
``Figure`` made with the object API (see :mod:`resnet_viz.draw.charts` for the house rules); all words
come from a ``labels`` mapping (defaults in :data:`DEGRADATION_LABELS`) so the app can translate
them. ``source="recorded"`` or ``"live"`` puts which curves these are into the title, so a chart
on screen (or downloaded) never leaves it to a line of text elsewhere. Artists carry ``gid``s:
``"train:<name>"``, ``"test:<name>"``, ``"lr-drop"``, ``"message"``, ``"grad:<name>"``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from ..draw.fonts import font_kw, legend_prop
from ..draw.labels import merge_labels
from ..i18n import catalogue_words
from .experiment import DegradationResult

__all__ = ["DEGRADATION_LABELS", "SOURCES", "degradation_chart", "gradient_chart"]

SOURCES = ("recorded", "live")

# The catalogue's dchart_* words in English (resnet_viz/i18n/en.json); keep {depth} and {name}.
DEGRADATION_LABELS: dict[str, str] = catalogue_words("dchart_")

_DEPTH_COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Mean over the last ``window`` logged points (fewer at the start): each point stays causal."""
    if window <= 1 or values.size == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    return (cumulative[idx] - cumulative[lo]) / (idx - lo)


def _parsed(result: DegradationResult | Mapping[str, Any]) -> DegradationResult:
    return result if isinstance(result, DegradationResult) else DegradationResult.from_json(dict(result))


def _title(text: Mapping[str, str], key: str, source: str | None) -> str:
    if source is None:
        return text[key]
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)} or None")
    return text[f"{key}_{source}"]


def _colors(result: DegradationResult) -> dict[int, str]:
    depths = sorted({n.depth for n in result.networks} | set(result.config.depths))
    return {d: _DEPTH_COLORS[i % len(_DEPTH_COLORS)] for i, d in enumerate(depths)}


def degradation_chart(
    result: DegradationResult | Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    *,
    smooth: int = 4,
    show_test: bool = False,
    source: str | None = None,
    message: str | None = None,
) -> Figure:
    """Training error (%) per network against step.

    ``smooth``: each point is the mean of the last ``smooth`` logged windows (the raw running
    error of one window of a few batches is noisy); 1 draws the raw values. ``show_test`` adds
    the test-error points as thin lines with markers. ``source``: "recorded" or "live" (named in
    the title) or None. ``message``: written across the middle of the axes (the run's state
    before its first point, e.g. "starting"); by default "waiting" while there is no point.
    """
    result = _parsed(result)
    if not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer, got {smooth!r}")
    text = merge_labels(labels, DEGRADATION_LABELS)
    title = _title(text, "title", source)
    kw = font_kw()
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    colors = _colors(result)
    handles = []
    for net in result.networks:
        name = text["resnet" if net.residual else "plain"].format(depth=net.depth)
        style = "-" if net.residual else "--"
        y = 100 * _smooth(np.asarray(net.train_error, dtype=np.float64), smooth)
        (line,) = ax.plot(
            net.steps, y, style, color=colors[net.depth], linewidth=2.0 if net.residual else 1.8,
            label=name, gid=f"train:{net.name}",
        )
        handles.append(line)
        if show_test and net.test_steps:
            (test,) = ax.plot(
                net.test_steps, 100 * np.asarray(net.test_error), style, color=colors[net.depth], linewidth=0.8,
                marker="o", markersize=3, alpha=0.7, label=text["test"].format(name=name), gid=f"test:{net.name}",
            )
            handles.append(test)
    total = result.config.steps
    for m in result.config.milestones:
        ax.axvline(m * total, color="0.6", linewidth=0.8, linestyle=":", gid="lr-drop")
    if result.config.milestones:
        ax.text(result.config.milestones[0] * total, 0.98, " " + text["lr_drop"], transform=ax.get_xaxis_transform(),
                fontsize=7, color="0.4", va="top", **kw)
    if message is None and result.points == 0:
        message = text["waiting"]
    if message:
        box = dict(boxstyle="round,pad=0.6", facecolor="#fff6d5", edgecolor="0.6")
        ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.25", fontsize=13,
                wrap=True, bbox=box, gid="message", **kw)
    ax.set_xlim(0, total)
    top = max([max(n.train_error, default=0) for n in result.networks] + [0.5 if result.points else 0.93])
    ax.set_ylim(0, min(100, 100 * top * 1.08))
    ax.set_xlabel(text["step_axis"], fontsize=9, **kw)
    ax.set_ylabel(text["error_axis"], fontsize=9, **kw)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=11, pad=4, **kw)
    if handles:
        fig.legend(handles=handles, loc="outside right center", prop=legend_prop(), frameon=False)
    return fig


def gradient_chart(
    result: DegradationResult | Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
) -> Figure:
    """|dL/dW| of every layer on the run's first batch, before any update (log scale), per network.

    The legend gives each network's first-to-last ratio; a network without recorded gradients
    (a run before its first step, or a file from before they were recorded) is left out, and an
    empty chart says where the numbers will come from.
    """
    result = _parsed(result)
    text = merge_labels(labels, DEGRADATION_LABELS)
    title = _title(text, "grad_title", source)
    kw = font_kw()
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")  # beside the error chart in the app
    ax = fig.add_subplot()
    colors = _colors(result)
    handles = []
    for net in result.networks:
        grads = np.asarray(net.layer_gradients, dtype=np.float64)
        if grads.size < 2:
            continue
        name = text["resnet" if net.residual else "plain"].format(depth=net.depth)
        ratio = grads[0] / grads[-1] if grads[-1] > 0 else float("inf")
        ratio_text = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"
        (line,) = ax.plot(
            np.arange(1, grads.size + 1), np.maximum(grads, 1e-12), "-" if net.residual else "--",
            color=colors[net.depth], linewidth=2.0 if net.residual else 1.8,
            label=text["grad_ratio"].format(name=name, ratio=ratio_text), gid=f"grad:{net.name}",
        )
        handles.append(line)
    ax.set_yscale("log")
    if not handles:
        ax.set_xlim(0, max(result.config.depths) + 1)
        ax.text(0.5, 0.5, text["grad_waiting"], transform=ax.transAxes, ha="center", va="center", color="0.4", **kw)
    ax.set_xlabel(text["grad_layer_axis"], fontsize=9, **kw)
    ax.set_ylabel(text["grad_axis"], fontsize=9, **kw)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title, fontsize=10, pad=4, **kw)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=2, prop=legend_prop(7.5), frameon=False)
    return fig
