"""Which class an explanation is about: an index, a label, or None for the top-1 prediction."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["Target", "resolve_target", "target_info"]

Target = int | str | None


def resolve_target(model: torch.nn.Module, target: Target, logits: Tensor | None) -> int:
    """The class index for ``target``; ``logits`` (num_classes,) decide the top-1 when it is None."""
    categories = model.meta.categories
    if target is None:
        if logits is None:
            raise ValueError("target=None needs the image's logits to find the top-1 class")
        return int(logits.argmax())
    if isinstance(target, bool):  # bool is an int subclass; True is not a class
        raise ValueError(f"unknown target {target!r}; use a class index 0-{len(categories) - 1} or an ImageNet label")
    if isinstance(target, int) or (isinstance(target, Tensor) and target.numel() == 1):
        index = int(target)
        if 0 <= index < len(categories):
            return index
        raise ValueError(f"unknown target {index}; use a class index 0-{len(categories) - 1} or an ImageNet label")
    if isinstance(target, str):
        wanted = target.strip().lower()
        for index, label in enumerate(categories):
            if label.lower() == wanted:
                return index
        if wanted.isdigit():
            return resolve_target(model, int(wanted), logits)
    raise ValueError(
        f"unknown target {target!r}; use a class index 0-{len(categories) - 1} or an ImageNet label "
        f"such as {categories[281]!r}"
    )


def target_info(model: torch.nn.Module, logits: Tensor, index: int) -> dict[str, Any]:
    """{"index", "label", "probability"} of one class under (num_classes,) logits."""
    probability = torch.softmax(logits.double(), dim=-1)[index].item()
    return {"index": index, "label": model.meta.categories[index], "probability": probability}
