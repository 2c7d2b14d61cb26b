"""The words drawn inside charts and pictures, English by default.

Charts (:mod:`resnet_viz.draw.charts`), pictures (:mod:`resnet_viz.draw.render`) and the block table
(:mod:`resnet_viz.draw.block_names`) take a ``labels`` mapping with any of these keys; the app builds
it with :func:`resnet_viz.i18n.chart_labels` (i18n keys ``chart_<key>``). Texts with ``{...}``
fields are templates: keep the fields when translating.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["DEFAULT_LABELS", "merge_labels"]

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
    "ratio_one": "|F(x)| = |x|",
    "residual_note": (
        "How to read: where the ratio (right axis) stays below the |F(x)| = |x| line, a block adds a small "
        "correction to its input instead of replacing it; squares mark convolution blocks (re-projected shortcut)."
    ),
    # gradient_flow_chart
    "gradient_title": "Gradient flow: gradient reaching each block's input",
    "grad_input": "ResNet: gradient at block input",
    "plain_grad_input": "plain twin (no shortcuts): gradient at block input",
    "grad_shortcut": "part through the shortcut",
    "grad_residual": "part through the residual branch",
    "grad_axis": "gradient RMS (log scale)",
    "floor_note": "zeros drawn at {floor:.1e} (log scale)",  # keep the {floor} field when translating
    "gradient_note": (
        "How to read: the gradient travels from the class score (right) back to the input (left); the "
        "shortcut keeps the ResNet's line level, while the plain twin's can fade or blow up by decades."
    ),
    # lesion_chart
    "lesion_title": "Lesions: one block removed at a time",
    "kl": "KL divergence (intact || lesioned)",
    "kl_axis": "KL divergence (nats)",
    "intact_probability": "probability of the intact top-1 class",
    "probability_axis": "probability",
    "top1_changed": "top-1 class changed",
    "lesion_note": (
        "How to read: a tall bar means removing that block's residual branch changes the prediction a lot; "
        "most single blocks can go with little effect, convolution blocks usually matter most."
    ),
    # colour bars of the pictures (render.py)
    "scale_zero": "0",
    "scale_max": "max",
    "scale_max_value": "max {value:.3g}",  # keep the {value} field when translating
    "scale_value": "{value:.3g}",
    "scale_for": "for the class",
    "scale_against": "against the class",
    "scale_attribution": "importance",
    "scale_activation": "activation",
    # titles the app can fill in for the pictures (the caller formats them)
    "title_attribution": "{method} · {stage} · target: {label} · {arch}",
    "title_attribution_no_stage": "{method} · target: {label} · {arch}",
    "title_channel": "{stage} channel #{channel} · {arch}",
    "title_ladder": "Grad-CAM at C2-C5 · target: {label} · {arch}",
    "grid_title_mean": "{stage}: {count} most active channels",
    "grid_title_gradcam": "{stage}: {count} channels with the largest Grad-CAM weight for '{label}'",
    # the block table beside the charts (block_names.block_table)
    "block_col_seed": "block",
    "block_col_torchvision": "torchvision name",
    "block_col_kind": "kind",
}


def merge_labels(labels: Mapping[str, str] | None, defaults: Mapping[str, str] = DEFAULT_LABELS) -> dict[str, str]:
    """``defaults`` with ``labels`` on top; an unknown key is an error (a typo would be silent)."""
    merged = dict(defaults)
    if labels:
        unknown = sorted(set(labels) - set(defaults))
        if unknown:
            raise ValueError(f"unknown label key {unknown[0]!r}; known keys: {', '.join(defaults)}")
        merged.update(labels)
    return merged
