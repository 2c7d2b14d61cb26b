"""How a loaded model is run: its device, its inputs' memory layout, and private copies.

Models are kept in channels-last memory on every device: measured on this project's 2-core CPU
(`bench/bench_model.py`), it makes ResNet-18/50/152 forwards 10-20% faster, and it is what
cuDNN's tensor-core kernels want on a GPU.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from typing import ContextManager

import torch
from torch import Tensor, nn

from .preprocess import ImageSource, load_image, preprocess

__all__ = ["MEMORY_FORMAT", "as_model_input", "autocast", "image_input", "model_device", "private_copy"]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

MEMORY_FORMAT = torch.channels_last


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def as_model_input(model: nn.Module, batch: Tensor) -> Tensor:
    """A (B, 3, H, W) batch on the model's device, in the model's memory layout."""
    return batch.to(model_device(model)).contiguous(memory_format=MEMORY_FORMAT)


def image_input(model: nn.Module, image: ImageSource | Tensor) -> Tensor:
    """One image, loaded and preprocessed with the model's transforms: (1, 3, 224, 224) ready to run.

    A (3, H, W) tensor is taken as already preprocessed (``AnalysisTensors.input``): the app keeps
    that instead of the uploaded file, which the web server may clean away meanwhile.
    """
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(f"a preprocessed image must be a (3, H, W) float tensor, got {tuple(image.shape)}")
        return as_model_input(model, image.unsqueeze(0))
    return as_model_input(model, preprocess(model.meta.transforms, load_image(image)).unsqueeze(0))


def private_copy(model: nn.Module) -> nn.Module:
    """New module objects that share the model's parameter and buffer tensors (no copy of weights).

    Captum registers hooks on the modules it is given, and guided backprop overrides every ReLU's
    backward. Giving it a private copy (11 ms for ResNet-50, 35 ms for ResNet-152) leaves the
    shared model without a single hook, and two requests explaining at once cannot see each other.
    """
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    if hasattr(model, "meta"):
        shared[id(model.meta)] = model.meta
    return copy.deepcopy(model, memo=shared)


def autocast(model: nn.Module) -> ContextManager:
    """CUDA autocast in the model's opt-in inference precision; a no-op for float32 models."""
    precision = getattr(getattr(model, "meta", None), "precision", "fp32")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=_AUTOCAST_DTYPES[precision])
