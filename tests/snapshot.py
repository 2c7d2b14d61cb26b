"""What "the model is unchanged" means in tests: same modules, mode, hooks, flags and numbers."""

from __future__ import annotations

from torch import nn

from resnet_viz import hook_count


def model_snapshot(model: nn.Module) -> tuple:
    return (
        tuple((name, id(module), type(module), module.training) for name, module in model.named_modules()),
        tuple((name, p.requires_grad, p.data_ptr()) for name, p in model.named_parameters()),
        tuple((name, float(b.double().sum())) for name, b in model.named_buffers()),
        hook_count(model),
    )
