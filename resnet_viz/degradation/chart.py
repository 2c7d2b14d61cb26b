"""The degradation lab's chart: training error against step, plain dashed, residual solid.

Drawn as in He et al. 2016, Fig. 1 and Fig. 6: one colour per depth, plain networks dashed,
ResNets solid, so "deeper plain is higher, deeper ResNet is not" reads at a glance. The function
takes a result (partial or final, or its JSON) and returns a fresh matplotlib ``Figure`` made with
the object API (see :mod:`resnet_viz.draw.charts` for the house rules); all words come from a
``labels`` mapping (defaults in :data:`DEGRADATION_LABELS`) so the app can translate them.
Artists carry ``gid``s: ``"train:<name>"``, ``"test:<name>"``, ``"lr-drop"``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from ..draw.fonts import font_kw, legend_prop
from ..draw.labels import merge_labels
from ..i18n import catalogue_words
from .experiment import DegradationResult

__all__ = ["DEGRADATION_LABELS", "degradation_chart"]

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


def degradation_chart(
    result: DegradationResult | Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    *,
    smooth: int = 4,
    show_test: bool = False,
) -> Figure:
    """Training error (%) per network against step.

    ``smooth``: each point is the mean of the last ``smooth`` logged windows (the raw running
    error of one window of a few batches is noisy); 1 draws the raw values. ``show_test`` adds
    the test-error points as thin lines with markers.
    """
    if not isinstance(result, DegradationResult):
        result = DegradationResult.from_json(dict(result))
    if not isinstance(smooth, int) or isinstance(smooth, bool) or smooth < 1:
        raise ValueError(f"smooth must be a positive integer, got {smooth!r}")
    text = merge_labels(labels, DEGRADATION_LABELS)
    kw = font_kw()
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    depths = sorted({n.depth for n in result.networks})
    colors = {d: _DEPTH_COLORS[i % len(_DEPTH_COLORS)] for i, d in enumerate(depths)}
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
    if result.points == 0:
        ax.text(0.5, 0.5, text["waiting"], transform=ax.transAxes, ha="center", va="center", color="0.4", **kw)
    ax.set_xlim(0, total)
    top = max([max(n.train_error, default=0) for n in result.networks] + [0.5])
    ax.set_ylim(0, min(100, 100 * top * 1.08))
    ax.set_xlabel(text["step_axis"], fontsize=9, **kw)
    ax.set_ylabel(text["error_axis"], fontsize=9, **kw)
    ax.grid(alpha=0.3)
    ax.set_title(text["title"], fontsize=11, pad=4, **kw)
    if handles:
        fig.legend(handles=handles, loc="outside right center", prop=legend_prop(), frameon=False)
    return fig
