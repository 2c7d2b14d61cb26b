"""Why skip connections make deep networks trainable, measured: the seed's H'(x) = F'(x) + 1.

For each residual block, autograd on the real model gives the gradient of the target logit at
the block's addition (H = F(x) + s(x)) and splits what reaches the block's input into the part
that came back through the shortcut s and the part that came back through the residual branch
F. The same weights without any shortcut (every block outputs ReLU(F(x)), the paper's "plain"
network) give the curve to compare against: how much gradient reaches each block's input when
there is no identity path to carry it.

What the twin does and does not show: it keeps the residual network's weights and its
BatchNorm statistics, both learned for a network whose every block input carries x, so without x
its activations leave the scale those statistics expect (its prediction means nothing). Its curve
is the gradient the residual branches alone pass back through *these* weights, i.e. what the
shortcuts carry in this network; it is neither a plain network trained without shortcuts nor one
at initialisation (the degradation lab trains those). The lab tab says this under the chart.

The blocks are driven through their own ``residual_path`` / ``shortcut_path`` / ``relu_out``
modules: no hooks, no copies of weights, nothing about the model changes.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from ..model.preprocess import ImageSource
from ..model.resnet import ResNet
from ..model.runtime import image_input
from .results import GradientFlowResult
from .targets import Target, resolve_target, target_info

__all__ = ["gradient_flow"]


def _rms(t: Tensor) -> float | None:
    value = t.detach().double().pow(2).mean().sqrt().item()
    return value if math.isfinite(value) else None  # a plain twin can overflow; JSON has no inf


def _stem(model: ResNet, x: Tensor) -> Tensor:
    # The weights are frozen, so the graph must start here for autograd to reach the first block's
    # input; the stem itself needs no gradient.
    return model.forward_stem(x).detach().requires_grad_()


def _resnet_pass(model: ResNet, x: Tensor, target: int) -> list[dict[str, float | None]]:
    """Per block: gradient rms at the addition, and at the input through s, through F, in total."""
    h = _stem(model, x)
    saved = []  # (block input, F(x), s(x), F(x) + s(x)) per block, all in the graph
    for info in model.blocks():
        block = info.module
        residual, shortcut = block.residual_path(h), block.shortcut_path(h)
        added = residual + shortcut
        saved.append((h, residual, shortcut, added))
        h = block.relu_out(added)
    score = model.forward_head(h)[0, target]

    inputs = [s[0] for s in saved]
    sums = [s[3] for s in saved]
    grads = torch.autograd.grad(score, inputs + sums, retain_graph=True)
    at_input, at_sum = grads[: len(saved)], grads[len(saved) :]
    rows = []
    for (block_in, residual, shortcut, _), g_in, g_sum in zip(saved, at_input, at_sum):
        # dL/dF = dL/ds = dL/dH at the addition; pull each back to the block input on its own.
        (through_shortcut,) = torch.autograd.grad(shortcut, block_in, g_sum, retain_graph=True)
        (through_residual,) = torch.autograd.grad(residual, block_in, g_sum, retain_graph=True)
        rows.append(
            {
                "grad_output_rms": _rms(g_sum),
                "grad_shortcut_rms": _rms(through_shortcut),
                "grad_residual_rms": _rms(through_residual),
                "grad_input_rms": _rms(g_in),
            }
        )
    return rows


def _plain_pass(model: ResNet, x: Tensor, target: int) -> list[float | None]:
    """The plain twin: same weights, every block outputs ReLU(F(x)); gradient rms at each block input."""
    h = _stem(model, x)
    inputs = []
    for info in model.blocks():
        inputs.append(h)
        h = info.module.relu_out(info.module.residual_path(h))
    score = model.forward_head(h)[0, target]
    return [_rms(g) for g in torch.autograd.grad(score, inputs)]


def gradient_flow(model: ResNet, image: ImageSource, target: Target = None) -> GradientFlowResult:
    """One row per residual block with the gradient reaching it through the shortcut and through F,
    next to the plain twin's gradient at the same place (log-scale material)."""
    start = time.perf_counter()
    x = image_input(model, image)
    with torch.inference_mode():
        logits = model(x)[0].float().cpu()
    index = resolve_target(model, target, logits)
    with torch.enable_grad():
        resnet_rows = _resnet_pass(model, x, index)
        plain = _plain_pass(model, x, index)
    rows = [
        {"name": info.name, "stage": info.stage, "kind": info.kind, **row, "plain_grad_input_rms": plain_rms}
        for info, row, plain_rms in zip(model.blocks(), resnet_rows, plain)
    ]
    return GradientFlowResult(
        arch=model.meta.arch,
        target=target_info(model, logits, index),
        blocks=rows,
        timing_ms=1000 * (time.perf_counter() - start),
    )
