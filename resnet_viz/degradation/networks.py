"""The CIFAR-10 networks of He et al. 2016 (section 4.2), residual and plain, from the same blocks.

The paper's family, depth 6n + 2 (20, 32, 44, 56, 110):

    stem   3x3 conv, 16 filters, BN, ReLU                 32x32 maps (C1)
    layer1 n basic blocks, 16 filters                     32x32      (C2)
    layer2 n basic blocks, 32 filters, first one stride 2 16x16      (C3)
    layer3 n basic blocks, 64 filters, first one stride 2  8x8       (C4)
    global average pooling, linear head (10 classes)

The blocks are :class:`resnet_viz.model.resnet.BasicBlock`, the ImageNet ResNet-18/34 block, so the
``residual`` / ``shortcut`` taps, ``relu_out`` and ``model.blocks()`` work here as they do there.
Where a stage changes shape the shortcut is option A (:class:`~resnet_viz.model.resnet.ZeroPadShortcut`:
subsample and zero-pad, no parameters; what the paper uses on CIFAR) or option B (1x1 conv + BN
projection, the seed's convolution block). The plain twin (``plain=True``) is the same network
with every shortcut removed: each block outputs ReLU(F(x)).

Parameters (option A; the paper's Table 6 in brackets): ResNet-20 269,722 (0.27M), -32 464,154
(0.46M), -44 658,586 (0.66M), -56 853,018 (0.85M), -110 1,727,962 (1.7M). Option A adds nothing
to the plain twin's count; option B adds two projections (2,752 weights in the 1x1 convs and BNs).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from ..model.resnet import BasicBlock, StagedNetwork, StageInfo, ZeroPadShortcut, conv1x1, conv3x3

__all__ = ["CIFAR_DEPTHS", "SHORTCUTS", "CifarResNet", "build_cifar_model", "cifar_network_name"]

CIFAR_DEPTHS = (20, 32, 44, 56, 110)  # the paper's; any 6n + 2 builds
SHORTCUTS = ("A", "B")
WIDTHS = (16, 32, 64)


class CifarResNet(StagedNetwork):
    """Stem, three stages of ``n`` basic blocks (16/32/64 filters), pooled linear head."""

    def __init__(self, n: int, shortcut: str = "A", plain: bool = False, num_classes: int = 10) -> None:
        super().__init__()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"blocks per stage must be a positive integer, got {n!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut option {shortcut!r}; choose 'A' (zero-padding) or 'B' (projection)")
        self.n, self.depth, self.shortcut_option, self.plain = n, 6 * n + 2, shortcut, plain
        self.inplanes = WIDTHS[0]
        self.conv1 = conv3x3(3, self.inplanes)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(WIDTHS[0], n, stride=1)
        self.layer2 = self._make_layer(WIDTHS[1], n, stride=2)
        self.layer3 = self._make_layer(WIDTHS[2], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(WIDTHS[2], num_classes)
        self.stages: tuple[StageInfo, ...] = (
            StageInfo("C1", "relu", WIDTHS[0], 1),
            StageInfo("C2", "layer1", WIDTHS[0], 1),
            StageInfo("C3", "layer2", WIDTHS[1], 2),
            StageInfo("C4", "layer3", WIDTHS[2], 4),
        )
        self._init_weights()

    @property
    def name(self) -> str:
        return cifar_network_name(self.depth, not self.plain)

    def _shortcut(self, planes: int, stride: int) -> nn.Module | None:
        if self.plain or (stride == 1 and self.inplanes == planes):
            return None
        if self.shortcut_option == "A":
            return ZeroPadShortcut(self.inplanes, planes, stride)
        return nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(self.inplanes, planes, stride, self._shortcut(planes, stride), plain=self.plain)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, plain=self.plain) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.relu(self.bn1(self.conv1(x)))

    def forward_head(self, c4: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avgpool(c4), 1))

    def forward_stages(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """C1..C4 for a (B, 3, H, W) batch: strides 1, 1, 2, 4."""
        out: OrderedDict[str, Tensor] = OrderedDict()
        out["C1"] = x = self.forward_stem(x)
        out["C2"] = x = self.layer1(x)
        out["C3"] = x = self.layer2(x)
        out["C4"] = self.layer3(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.layer3(self.layer2(self.layer1(self.forward_stem(x)))))


def cifar_network_name(depth: int, residual: bool) -> str:
    """"ResNet-56" or "plain-56", the paper's names."""
    return f"{'ResNet' if residual else 'plain'}-{depth}"


def build_cifar_model(depth: int, *, residual: bool = True, shortcut: str = "A", num_classes: int = 10) -> CifarResNet:
    """A freshly He-initialised CIFAR network of depth 6n + 2; ``residual=False`` is its plain twin."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth!r}")
    return CifarResNet((depth - 2) // 6, shortcut=shortcut, plain=not residual, num_classes=num_classes)
