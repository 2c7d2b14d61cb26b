"""ResNet-18/34/50/101/152 written out for probing.

The parameter names are torchvision's (``conv1``, ``bn1``, ``layer1..4``, ``downsample.0/.1``,
``fc``), so its ImageNet checkpoints load with ``strict=True`` and no remapping. The blocks are
built for hooks rather than for the last percent of speed:

- every activation is its own ``nn.ReLU`` module, used once per forward, never in place;
- the residual branch output F(x) passes through ``block.residual`` and the shortcut output s(x)
  through ``block.shortcut`` (parameter-free ``nn.Identity`` taps, no state-dict keys), so a
  forward hook on either sees exactly one tensor;
- the addition is out of place: ``out = relu_out(residual + shortcut)``.

The same blocks build the CIFAR-10 networks of He et al. 2016 (``resnet_viz.degradation.networks``): there a
shape-changing shortcut may be the parameter-free :class:`ZeroPadShortcut` (the paper's option A),
and a block built with ``plain=True`` has no shortcut at all and outputs ``relu_out(F(x))``.

Vocabulary from the design document (``../shared/seed/resnet-seed.md``): a block whose shortcut
is the identity is an *identity block*; a block whose shortcut is a 1x1 conv + BN projection is
a *convolution block*. C1 is the stem's max-pool output, C2..C5 the outputs of stages 2..5.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ARCHS",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "StageInfo",
    "StagedNetwork",
    "BlockInfo",
    "ZeroPadShortcut",
    "build_model",
    "stage_table",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """The paper's option A shortcut (He et al. 2016, section 4.2): parameter-free.

    Where a stage changes shape it keeps every ``stride``-th pixel of x and appends zero channels
    up to ``out_channels``: s(x)[:, :C_in] = x[:, :, ::stride, ::stride], s(x)[:, C_in:] = 0.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels or stride < 1:
            raise ValueError(f"option A needs out_channels >= in_channels and stride >= 1, got "
                             f"{in_channels} -> {out_channels}, stride {stride}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))  # (B, C_out, H/s, W/s)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class _ResidualBlock(nn.Module):
    """What both block types share: the shortcut, the taps and H(x) = relu(F(x) + s(x)).

    A *plain* block (``plain=True``, the paper's plain baseline) has the same branch and no
    shortcut: H(x) = relu(F(x)); its ``shortcut`` tap never fires.
    """

    expansion: int = 1
    plain: bool = False

    def _add_shortcut(self, downsample: nn.Module | None, plain: bool = False) -> None:
        # Called after the branch's layers so the state dict keeps torchvision's key order.
        # A projection shortcut (1x1 conv + BN) makes this a "convolution block"; without one it is
        # an "identity block". torchvision calls the projection `downsample`, so we do too.
        if plain and downsample is not None:
            raise ValueError("a plain block has no shortcut, so it takes no downsample module")
        self.plain = plain
        self.downsample = downsample
        self.residual = nn.Identity()  # tap: F(x), after the branch's last BN
        self.shortcut = nn.Identity()  # tap: s(x), the input or its projection
        self.relu_out = nn.ReLU()

    @property
    def kind(self) -> str:
        """"identity" or "convolution" (the seed's words); "padding" for an option A shortcut that
        changes shape, "plain" for a block without shortcut."""
        if self.plain:
            return "plain"
        if self.downsample is None:
            return "identity"
        return "padding" if isinstance(self.downsample, ZeroPadShortcut) else "convolution"

    def branch(self, x: Tensor) -> Tensor:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def residual_path(self, x: Tensor) -> Tensor:
        """F(x): the residual branch, observed by the `residual` tap."""
        return self.residual(self.branch(x))

    def shortcut_path(self, x: Tensor) -> Tensor:
        """s(x): x itself, or its projection, observed by the `shortcut` tap."""
        return self.shortcut(x if self.downsample is None else self.downsample(x))

    def forward(self, x: Tensor) -> Tensor:
        if self.plain:
            return self.relu_out(self.residual_path(x))
        return self.relu_out(self.residual_path(x) + self.shortcut_path(x))


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,  # no 1x1 conv here; accepted so all blocks build alike
        plain: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self._add_shortcut(downsample, plain)

    def branch(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(_ResidualBlock):
    """1x1 -> 3x3 -> 1x1 (ResNet-50/101/152), the seed's identity and convolution blocks.

    The stride sits on the 3x3 conv (ResNet v1.5, what torchvision's checkpoints need) unless
    ``stride_in_1x1`` puts it on the first 1x1 conv as in the original paper and the seed.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, planes, stride_1x1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes, stride_3x3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self._add_shortcut(downsample)

    def branch(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


@dataclass(frozen=True)
class ArchSpec:
    block: type[_ResidualBlock]
    layers: tuple[int, int, int, int]  # residual blocks in stages 2..5 (C2..C5)


ARCHS: dict[str, ArchSpec] = {
    "resnet18": ArchSpec(BasicBlock, (2, 2, 2, 2)),
    "resnet34": ArchSpec(BasicBlock, (3, 4, 6, 3)),
    "resnet50": ArchSpec(Bottleneck, (3, 4, 6, 3)),
    "resnet101": ArchSpec(Bottleneck, (3, 4, 23, 3)),
    "resnet152": ArchSpec(Bottleneck, (3, 8, 36, 3)),
}


@dataclass(frozen=True)
class StageInfo:
    """One row of the C1..C5 table that probes and the UI read instead of hard-coding names."""

    name: str  # "C1".."C5", as in the seed
    module: str  # the module whose output is this stage: "maxpool", "layer1", ...
    channels: int
    stride: int  # input pixels per output pixel


@dataclass(frozen=True)
class BlockInfo:
    name: str  # "layer3.2", the torchvision module path
    stage: str  # "C4"
    kind: str  # "identity" | "convolution" (ImageNet); CIFAR nets also "padding" | "plain"
    module: _ResidualBlock


class StagedNetwork(nn.Module):
    """What the ImageNet and CIFAR networks share: a stage table whose first row is the stem and
    whose other rows are ``nn.Sequential`` stages of residual blocks, and He initialisation."""

    stages: tuple[StageInfo, ...]

    def stage_modules(self) -> dict[str, nn.Module]:
        """{"C1": self.maxpool, "C2": self.layer1, ...}, read from the stage table."""
        return {s.name: self.get_submodule(s.module) for s in self.stages}

    def blocks(self) -> Iterator[BlockInfo]:
        """Every residual block in forward order, with its stage and seed vocabulary kind."""
        for stage in self.stages[1:]:
            layer = self.get_submodule(stage.module)
            for i, block in enumerate(layer):
                yield BlockInfo(f"{stage.module}.{i}", stage.name, block.kind, block)

    def _init_weights(self) -> None:
        # torchvision's initialisation (He et al. 2015, fan-out), so `weights="random"` behaves like
        # an untrained torchvision model; it is also the initialisation of He et al. 2016's CIFAR nets.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


class ResNet(StagedNetwork):
    """The backbone: stem (C1), four stages of residual blocks (C2..C5), pooled linear head."""

    def __init__(
        self,
        block: type[_ResidualBlock],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        stride_in_1x1: bool = False,
        arch: str = "resnet",
    ) -> None:
        super().__init__()
        self.arch = arch
        self.stride_in_1x1 = stride_in_1x1
        self.inplanes = 64
        # Stage 1 (stem): 7x7/2 conv, BN, ReLU, 3x3/2 max-pool -> C1 at stride 4.
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Stages 2..5: the first block of stages 3..5 halves the resolution.
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        width = block.expansion
        self.stages: tuple[StageInfo, ...] = (
            StageInfo("C1", "maxpool", 64, 4),
            StageInfo("C2", "layer1", 64 * width, 4),
            StageInfo("C3", "layer2", 128 * width, 8),
            StageInfo("C4", "layer3", 256 * width, 16),
            StageInfo("C5", "layer4", 512 * width, 32),
        )
        self._init_weights()

    def _make_layer(self, block: type[_ResidualBlock], planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.stride_in_1x1)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    # --- the forward pass, split into named phases -------------------------------------------

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_head(self, c5: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avgpool(c5), 1))

    def forward_stages(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """C1..C5 for a (B, 3, H, W) batch: strides 4, 4, 8, 16, 32."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        out["C1"] = x = self.forward_stem(x)
        out["C2"] = x = self.layer1(x)
        out["C3"] = x = self.layer2(x)
        out["C4"] = x = self.layer3(x)
        out["C5"] = self.layer4(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.forward_head(x)


def build_model(arch: str, *, stride_in_1x1: bool = False, num_classes: int = 1000) -> ResNet:
    """A freshly initialised ResNet whose state dict matches ``torchvision.models.<arch>()``."""
    try:
        spec = ARCHS[arch]
    except (KeyError, TypeError):
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}") from None
    return ResNet(spec.block, spec.layers, num_classes=num_classes, stride_in_1x1=stride_in_1x1, arch=arch)


@lru_cache(maxsize=None)
def stage_table(arch: str) -> tuple[StageInfo, ...]:
    """``arch``'s C1..C5 table without any weights (the model is built on the meta device)."""
    with torch.device("meta"):
        return build_model(arch).stages
