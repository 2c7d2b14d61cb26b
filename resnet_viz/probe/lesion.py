"""Block lesions (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively
Shallow Networks"): remove or scale residual branches and watch the prediction.

A lesioned identity block outputs its input x; a lesioned convolution block outputs
ReLU(projection(x)). Scaling a branch by ``a`` gives ReLU(a * F(x) + s(x)); ``a = 0`` is the
lesion, ``a = 1`` the intact block. Everything runs through the blocks' own
``residual_path`` / ``shortcut_path`` / ``relu_out`` modules without changing them.

The sweep reuses the intact pass: the input of block k is kept, the lesioned output of block k
is computed from it, and all lesioned variants travel on through the remaining blocks together
as one growing batch, so the whole sweep costs a fraction of one forward per lesion.
"""

from __future__ import annotations

import time
from typing import Mapping

import torch
from torch import Tensor

from ..i18n import UserError
from ..model.preprocess import ImageSource
from ..model.resnet import BlockInfo, ResNet
from ..model.runtime import autocast, image_input
from .analysis import top_predictions
from .results import LesionResult
from .targets import target_info

__all__ = ["lesion", "scaled_block", "resolve_scales"]


def scaled_block(info: BlockInfo, x: Tensor, scale: float) -> Tensor:
    """ReLU(scale * F(x) + s(x)); scale 0 skips the branch entirely."""
    block = info.module
    shortcut = block.shortcut_path(x)
    if scale == 0:
        return block.relu_out(shortcut)  # identity block: x itself, since x >= 0 after a ReLU
    if scale == 1:
        return block.relu_out(block.residual_path(x) + shortcut)
    return block.relu_out(scale * block.residual_path(x) + shortcut)


def _kl(p_log: Tensor, q_log: Tensor) -> Tensor:
    """KL(p || q) per row from log-probabilities: sum p (log p - log q)."""
    return (p_log.exp() * (p_log - q_log)).sum(dim=-1)


def resolve_scales(model: ResNet, scales: Mapping[str, float]) -> dict[str, float]:
    """Block name -> factor. Keys are block names ("layer3.2") or stage names ("C4": all its blocks)."""
    blocks = {b.name: b for b in model.blocks()}
    stages = {s.name for s in model.stages[1:]}
    resolved: dict[str, float] = {}
    for key, value in scales.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise UserError("error_scale_value", key=repr(key), value=repr(value))
        if key in stages:
            resolved.update({name: float(value) for name, b in blocks.items() if b.stage == key})
        elif key in blocks:
            resolved[key] = float(value)
        else:
            names = list(blocks)
            raise UserError(
                "error_scale_block", key=repr(key), stages=", ".join(sorted(stages)), first=names[0], last=names[-1], count=len(names)
            )
    return resolved


def _sweep(model: ResNet, x: Tensor) -> tuple[Tensor, Tensor]:
    """(intact logits (1, K), logits with each block lesioned in turn (B, K))."""
    blocks = list(model.blocks())
    h = model.forward_stem(x)
    inputs = []
    for info in blocks:
        inputs.append(h)
        h = info.module(h)
    intact = model.forward_head(h)
    variants: Tensor | None = None  # row i: block i lesioned, carried through blocks i+1..k
    for k, info in enumerate(blocks):
        lesioned = scaled_block(info, inputs[k], 0.0)
        variants = lesioned if variants is None else torch.cat([info.module(variants), lesioned])
    return intact, model.forward_head(variants)


def _scaled_forward(model: ResNet, x: Tensor, scales: Mapping[str, float]) -> Tensor:
    h = model.forward_stem(x)
    for info in model.blocks():
        h = scaled_block(info, h, scales.get(info.name, 1.0))
    return model.forward_head(h)


def lesion(model: ResNet, image: ImageSource, *, scales: Mapping[str, float] | None = None, top_k: int = 5) -> LesionResult:
    """The lesion sweep (``scales=None``) or the top-k with chosen residual branches scaled."""
    start = time.perf_counter()
    x = image_input(model, image)
    if scales is None:
        with torch.inference_mode(), autocast(model):
            intact, swept = _sweep(model, x)
        intact, swept = intact.double().cpu(), swept.double().cpu()
        intact_log = torch.log_softmax(intact[0], dim=-1)
        swept_log = torch.log_softmax(swept, dim=-1)
        top1 = int(intact[0].argmax())
        kl = _kl(intact_log.unsqueeze(0), swept_log)
        rows = []
        for info, logits, log_probs, divergence in zip(model.blocks(), swept, swept_log, kl):
            new_top = int(logits.argmax())
            rows.append(
                {
                    "name": info.name,
                    "stage": info.stage,
                    "kind": info.kind,
                    "top1_index": new_top,
                    "top1_label": model.meta.categories[new_top],
                    "top1_probability": float(log_probs[new_top].exp()),
                    "intact_class_probability": float(log_probs[top1].exp()),
                    "kl_divergence": float(divergence),
                    "top1_changed": new_top != top1,
                }
            )
        return LesionResult(
            arch=model.meta.arch,
            intact=target_info(model, intact[0], top1),
            blocks=rows,
            timing_ms=1000 * (time.perf_counter() - start),
        )
    resolved = resolve_scales(model, scales)
    with torch.inference_mode(), autocast(model):
        intact = model(x)[0].double().cpu()
        scaled = _scaled_forward(model, x, resolved)[0].double().cpu()
    divergence = _kl(torch.log_softmax(intact, dim=-1), torch.log_softmax(scaled, dim=-1))
    return LesionResult(
        arch=model.meta.arch,
        scales=resolved,
        predictions=top_predictions(model, scaled, top_k),
        intact_predictions=top_predictions(model, intact, top_k),
        kl_divergence=float(divergence),
        timing_ms=1000 * (time.perf_counter() - start),
    )
