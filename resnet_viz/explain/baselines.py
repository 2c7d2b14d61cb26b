"""Integrated Gradients' reference inputs: what "no evidence" looks like to the network."""

from __future__ import annotations

import torch
import torchvision.transforms.functional as TF
from torch import Tensor

from ..i18n import UserError
from ..model.preprocess import denormalize
from ..model.resnet import ResNet
from ..model.runtime import as_model_input

__all__ = ["BASELINES", "baseline_input"]

BASELINES = ("black", "blur", "noise")


def baseline_input(model: ResNet, x: Tensor, kind: str) -> Tensor:
    """IG's reference input: a black picture, a heavily blurred copy, or seeded uniform noise."""
    transforms = model.meta.transforms
    if kind == "black":
        pixels = torch.zeros_like(x)
    elif kind == "blur":
        pixels = TF.gaussian_blur(denormalize(transforms, x), kernel_size=[51, 51], sigma=[16.0, 16.0])
    elif kind == "noise":
        pixels = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    else:
        raise UserError("error_baseline", baseline=repr(kind), choices=", ".join(BASELINES))
    return as_model_input(model, TF.normalize(pixels, transforms.mean, transforms.std))
