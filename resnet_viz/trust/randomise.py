"""The cascade's steps and re-initialisation, on a private copy of the network.

A network is a chain: the stem (C1), the residual blocks in forward order, the head. Adebayo et
al. 2018 destroy it from the top: first the head, then the last stage (or block), and so on down
to the stem, each step keeping the earlier ones' damage. Each step draws fresh weights with the
architecture's own initialisation (He et al. 2015, fan-out, for convolutions; BatchNorm scale 1,
shift 0 and running statistics 0 and 1, as a freshly built model has them; PyTorch's default for
the linear head) from one seeded generator.

The shared model is never touched: the copy (:func:`resnet_viz.model.runtime.private_copy`) shares the
untouched modules' tensors and gets new tensors for the re-initialised ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..draw.block_names import seed_names
from ..model.resnet import StagedNetwork
from ..model.runtime import private_copy

__all__ = ["STEP_MODES", "CascadeStep", "cascade_steps", "chain_outputs", "randomise", "reuse_below"]

STEP_MODES = ("stages", "blocks")


@dataclass(frozen=True)
class CascadeStep:
    name: str  # "head", a stage ("C5") or a block in the seed's words ("C5.3")
    modules: tuple[str, ...]  # the module paths re-initialised at this step
    first_randomised: int  # position in the chain (0 = stem, 1.. = blocks, last = head) of the lowest module randomised so far


def _chain(model: StagedNetwork) -> tuple[list[str], list[str], list[str], list[str]]:
    """(stem module paths, block paths in forward order, their stages, head module paths)."""
    stage_modules = [s.module for s in model.stages[1:]]
    children = [name for name, _ in model.named_children()]
    first, last = children.index(stage_modules[0]), children.index(stage_modules[-1])
    has_params = {name for name, child in model.named_children() if any(True for _ in child.parameters())}
    stem = [name for name in children[:first] if name in has_params]
    head = [name for name in children[last + 1 :] if name in has_params]
    blocks = list(model.blocks())
    return stem, [b.name for b in blocks], [b.stage for b in blocks], head


def cascade_steps(model: StagedNetwork, steps: str = "stages") -> list[CascadeStep]:
    """The cascade from the top: head, then the stages C5..C2 (or each block), then the stem C1."""
    if steps not in STEP_MODES:
        raise ValueError(f"unknown steps {steps!r}; choose one of {', '.join(STEP_MODES)}")
    stem, blocks, stages, head = _chain(model)
    head_position = len(blocks) + 1
    out = [CascadeStep("head", tuple(head), head_position)]
    if steps == "blocks":
        names = seed_names([{"stage": s} for s in stages])
        for i in reversed(range(len(blocks))):
            out.append(CascadeStep(names[i], (blocks[i],), i + 1))
    else:
        for stage in reversed(model.stages[1:]):
            members = [i for i, s in enumerate(stages) if s == stage.name]
            out.append(CascadeStep(stage.name, tuple(blocks[i] for i in members), members[0] + 1))
    out.append(CascadeStep(model.stages[0].name, tuple(stem), 0))
    return out


def _fresh(old: Tensor, init, generator: torch.Generator) -> nn.Parameter:
    new = torch.empty_like(old, device="cpu")  # drawn on the CPU: one stream on every device; same layout
    with torch.no_grad():
        init(new, generator)
    return nn.Parameter(new.to(old.device), requires_grad=False)


def _reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """New tensors for every parameter and BN statistic inside ``module`` (the old ones are shared)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight = _fresh(m.weight, lambda t, g: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g), generator)
            if m.bias is not None:
                m.bias = _fresh(m.bias, lambda t, g: t.zero_(), generator)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight = _fresh(m.weight, lambda t, g: t.fill_(1.0), generator)
            m.bias = _fresh(m.bias, lambda t, g: t.zero_(), generator)
            m.running_mean = torch.zeros_like(m.running_mean)
            m.running_var = torch.ones_like(m.running_var)
        elif isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.weight.shape[1])  # PyTorch's own Linear.reset_parameters
            m.weight = _fresh(m.weight, lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g), generator)
            if m.bias is not None:
                m.bias = _fresh(m.bias, lambda t, g: nn.init.uniform_(t, -bound, bound, generator=g), generator)


def randomise(model: nn.Module, step: CascadeStep, generator: torch.Generator) -> None:
    """Re-initialise ``step``'s modules of ``model`` (a private copy: see the module docstring)."""
    for path in step.modules:
        _reinitialise(model.get_submodule(path), generator)


def chain_outputs(model: StagedNetwork, x: Tensor) -> list[Tensor]:
    """The chain's activations for one input: [stem output, each block's output] (no gradients)."""
    _, blocks, _, _ = _chain(model)
    outputs = []
    with torch.inference_mode():
        h = model.forward_stem(x)
        outputs.append(h)
        for path in blocks:
            h = model.get_submodule(path)(h)
            outputs.append(h)
    return [t.clone() for t in outputs]  # normal tensors, usable inside autograd


def reuse_below(model: nn.Module, position: int, cached: Tensor) -> nn.Module:
    """A private copy of ``model`` that starts from ``cached``, the (unchanged) output of chain
    position ``position - 1``: the stem returns it and the blocks below ``position`` pass it on.

    Only for computations that need no gradient below that point (Grad-CAM at a stage whose
    output comes after it); the caller checks that.
    """
    copy = private_copy(model)
    _, blocks, _, _ = _chain(copy)
    for path in blocks[: position - 1]:
        parent, _, index = path.rpartition(".")
        copy.get_submodule(parent)[int(index)] = nn.Identity()
    # An instance attribute shadows the class's method: forward() then starts from the cache.
    copy.__dict__["forward_stem"] = lambda x: cached.expand(x.shape[0], *cached.shape[1:])
    return copy
