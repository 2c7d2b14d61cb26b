"""The paper's architecture table (He et al. 2016, Table 1), computed from the loaded model.

Nothing is typed in per arch: block descriptions come from the modules' kernel sizes and
channels, output sizes and multiply-accumulates from one forward of a zeros batch through a
parameter-free twin on the meta device (milliseconds, and the shared model is never run or
hooked), observed by scoped forward hooks, receptive fields from walking kernel sizes and strides along the deepest
path. The numbers depend on the architecture only, never on the weights, so they are cached per
(arch, stride_in_1x1, input_size, classes).
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import Tensor, nn

from ..model.resnet import ResNet, build_model
from ..model.runtime import as_model_input
from .hooks import forward_taps

__all__ = ["architecture_table", "architecture_totals", "as_int", "branch_convs", "meta_twin", "stage_groups"]

_cache: dict[tuple, list[dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def stage_groups(model: ResNet) -> dict[str, list[tuple[str, nn.Module]]]:
    """Top-level children grouped by stage in forward order: the stem up to and including C1's
    module, then one stage module each for C2..C5, then the head (avgpool, fc)."""
    names = [s.name for s in model.stages]
    closes = {s.module: i for i, s in enumerate(model.stages)}  # module -> index of the stage it ends
    groups: dict[str, list[tuple[str, nn.Module]]] = {name: [] for name in names + ["head"]}
    current = 0
    for name, child in model.named_children():
        groups[names[current] if current < len(names) else "head"].append((name, child))
        if name in closes:
            current = closes[name] + 1
    return groups


def as_int(value: int | tuple[int, ...]) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def _conv_text(conv: nn.Conv2d, with_stride: bool) -> str:
    k = as_int(conv.kernel_size)
    stride = as_int(conv.stride)
    return f"{k}x{k}, {conv.out_channels}" + (f", stride {stride}" if with_stride and stride != 1 else "")


def branch_convs(block: nn.Module) -> list[nn.Conv2d]:
    """The residual branch's convs in order (conv1, conv2[, conv3]); the projection shortcut is a
    nested Sequential and is left out."""
    return [child for child in block.children() if isinstance(child, nn.Conv2d)]


def _describe(stage: str, modules: list[tuple[str, nn.Module]]) -> tuple[str, int]:
    """The paper's "block" cell and the number of residual blocks of one stage."""
    if stage == "head":
        fc = [m for _, m in modules if isinstance(m, nn.Linear)]
        pool = "global average pool" if any(isinstance(m, nn.AdaptiveAvgPool2d) for _, m in modules) else "pool"
        return ", ".join([pool] + [f"{m.out_features}-d fc" for m in fc]), 0
    layers = [m for _, m in modules if isinstance(m, nn.Sequential)]
    if not layers:  # the stem
        parts = []
        for _, m in modules:
            if isinstance(m, nn.Conv2d):
                parts.append(_conv_text(m, with_stride=True))
            elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                k, s = as_int(m.kernel_size), as_int(m.stride)
                kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
                parts.append(f"{k}x{k} {kind} pool" + (f", stride {s}" if s != 1 else ""))
        return "; ".join(parts), 0
    blocks = [block for layer in layers for block in layer]
    body = "; ".join(_conv_text(conv, with_stride=False) for conv in branch_convs(blocks[0]))
    return f"[{body}] x {len(blocks)}", len(blocks)


def _receptive_walk(modules: list[tuple[str, nn.Module]], rf: int, jump: int) -> tuple[int, int]:
    """Extend (receptive field, jump) along the deepest path: rf += (k - 1) * dilation * jump and
    jump *= stride for every conv/pool on it. In a residual block that path is the branch."""
    for _, module in modules:
        if isinstance(module, nn.Sequential):
            for block in module:
                rf, jump = _receptive_walk([("", conv) for conv in branch_convs(block)], rf, jump)
        elif isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            dilation = as_int(getattr(module, "dilation", 1))
            rf += (as_int(module.kernel_size) - 1) * dilation * jump
            jump *= as_int(module.stride)
    return rf, jump


def _macs(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one conv/linear call per image, from its output shape."""
    per_image = 1
    for size in out_shape[1:]:
        per_image *= size
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_image * (module.in_channels // module.groups) * kh * kw
    return per_image * module.in_features


def _observe(model: ResNet, input_size: int, groups: dict) -> tuple[dict[str, tuple], dict[str, int]]:
    """One forward of zeros: each stage's output shape and each conv/linear's MACs, by stage."""
    stage_of = {id(m): stage for stage, members in groups.items() for _, top in members for m in top.modules()}
    taps: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            taps[f"op/{name}"] = module
    for stage, members in groups.items():
        taps[f"out/{stage}"] = members[-1][1] if stage != "head" else next(
            (m for _, m in members if isinstance(m, nn.AdaptiveAvgPool2d)), members[-1][1]
        )
    shapes: dict[str, tuple] = {}
    macs = {stage: 0 for stage in groups}

    def record(tap: str, output: Tensor) -> None:
        kind, name = tap.split("/", 1)
        if kind == "out":
            shapes[name] = tuple(output.shape)
        else:
            module = taps[tap]
            macs[stage_of[id(module)]] += _macs(module, tuple(output.shape))

    parameter = next(model.parameters())
    batch = torch.zeros(1, 3, input_size, input_size, dtype=parameter.dtype)
    with torch.inference_mode(), forward_taps(taps, record):
        model(as_model_input(model, batch))
    return shapes, macs


def meta_twin(model: ResNet) -> ResNet:
    """A parameter-free copy of the architecture on the meta device: shapes without arithmetic."""
    with torch.device("meta"):
        twin = build_model(model.arch, stride_in_1x1=model.stride_in_1x1, num_classes=model.fc.out_features)
    return twin.eval()


def _count(model: ResNet, input_size: int) -> list[dict[str, Any]]:
    groups = stage_groups(model)
    twin = meta_twin(model)
    shapes, macs = _observe(twin, input_size, stage_groups(twin))
    rows = []
    rf, jump = 1, 1
    for index, (stage, modules) in enumerate(groups.items()):
        if stage == "head":
            c5 = shapes[list(groups)[index - 1]]
            rf += (c5[-1] - 1) * jump  # the global pool sees all of C5
            layer, channels = "avgpool, fc", next(m.out_features for _, m in modules if isinstance(m, nn.Linear))
        else:
            rf, jump = _receptive_walk(modules, rf, jump)
            layer, channels = ("conv1" if index == 0 else f"conv{index + 1}_x"), shapes[stage][1]
        block, count = _describe(stage, modules)
        height, width = shapes[stage][-2:]
        rows.append(
            {
                "stage": stage,
                "layer": layer,
                "output_size": f"{height}x{width}",
                "blocks": count,
                "block": block,
                "channels": int(channels),
                "params": sum(p.numel() for _, m in modules for p in m.parameters()),
                "gflops": macs[stage] / 1e9,
                "receptive_field": int(rf),
            }
        )
    return rows


def architecture_table(model: ResNet, input_size: int = 224) -> list[dict[str, Any]]:
    """One row per stage C1..C5 plus the head, as in the paper's Table 1, with parameters,
    GFLOPs (multiply-accumulates / 1e9, torchvision's convention) and receptive fields.

    The model is not run or changed: a parameter-free twin on the meta device is counted (its
    hooks live for one forward, removed even if it raises), and results are cached since they
    do not depend on the weights.
    """
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
    key = (model.arch, model.stride_in_1x1, input_size, model.fc.out_features)
    with _cache_lock:
        rows = _cache.get(key)
    if rows is None:
        rows = _count(model, input_size)
        with _cache_lock:
            _cache[key] = rows
    return [dict(row) for row in rows]


def architecture_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A "total" row for :func:`architecture_table`'s rows: blocks, parameters and GFLOPs summed."""
    return {
        "stage": "total",
        "layer": "",
        "output_size": "",
        "blocks": sum(int(row["blocks"]) for row in rows),
        "block": "",
        "channels": None,
        "params": sum(int(row["params"]) for row in rows),
        "gflops": sum(float(row["gflops"]) for row in rows),
        "receptive_field": None,
    }
