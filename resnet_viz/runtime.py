"""How a loaded model is run: its device and the memory layout its inputs should have.

Models are kept in channels-last memory on every device: measured on this project's 2-core CPU
(`bench/bench_model.py`), it makes ResNet-18/50/152 forwards 10-20% faster, and it is what
cuDNN's tensor-core kernels want on a GPU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MEMORY_FORMAT", "as_model_input", "model_device"]

MEMORY_FORMAT = torch.channels_last


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def as_model_input(model: nn.Module, batch: Tensor) -> Tensor:
    """A (B, 3, H, W) batch on the model's device, in the model's memory layout."""
    return batch.to(model_device(model)).contiguous(memory_format=MEMORY_FORMAT)
