"""Where a position of a stage map looks in the input: receptive-field size, jump and start.

For a chain of convolutions and pools the input region seen by output position ``i`` (along one
axis) is centred on ``start + i * jump`` and ``size`` pixels wide, with, per layer of kernel k,
stride s, padding p and dilation d (Dumoulin & Visin, "A guide to convolution arithmetic", 2016;
Araujo et al., "Computing receptive fields of convolutional neural networks", Distill 2019)::

    size  += (k - 1) * d * jump
    start += ((k - 1) * d / 2 - p) * jump
    jump  *= s

In a residual block the branch is the deeper path; its field is centred where the shortcut's is
(the 3x3 convs are padded by 1, the 1x1 projections by 0) and contains it, so walking the branch
gives the block's field. The walk reads the modules themselves (the stage table, the stem's and
each block's convs), never a table of numbers per arch; its sizes equal
:func:`resnet_viz.architecture_table`'s receptive fields, and the tests check the boxes against
the input pixels that receive gradient from one output position.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..model.resnet import ResNet
from .architecture import as_int, branch_convs, stage_groups

__all__ = ["FieldGeometry", "stage_geometry", "patch_box"]


@dataclass(frozen=True)
class FieldGeometry:
    """One stage's receptive field, in input pixels (pixel i's centre is at coordinate i)."""

    size: int  # width of the field of one output position
    jump: int  # input pixels between neighbouring output positions (the stage's stride)
    start: float  # centre of output position 0's field (0.0 for every torchvision ResNet)

    def box(self, row: int, col: int, input_size: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of position (row, col)'s field clipped to an input_size square;
        x1 and y1 are exclusive, as in ``PIL.Image.crop``."""
        half = (self.size - 1) / 2

        def span(i: int) -> tuple[int, int]:
            centre = self.start + i * self.jump
            return max(0, int(round(centre - half))), min(input_size, int(round(centre + half)) + 1)

        x0, x1 = span(col)
        y0, y1 = span(row)
        return x0, y0, x1, y1


def _walk(module: nn.Module, size: int, jump: int, start: float) -> tuple[int, int, float]:
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s = as_int(module.kernel_size), as_int(module.stride)
        p, d = as_int(module.padding), as_int(getattr(module, "dilation", 1))
        return size + (k - 1) * d * jump, jump * s, start + ((k - 1) * d / 2 - p) * jump
    if isinstance(module, nn.Sequential):  # a stage: its residual blocks in order
        for block in module:
            for conv in branch_convs(block):
                size, jump, start = _walk(conv, size, jump, start)
    return size, jump, start  # BN, ReLU and taps change nothing


def stage_geometry(model: ResNet) -> dict[str, FieldGeometry]:
    """{"C1": FieldGeometry(11, 4, 0.0), ...} for every stage in ``model.stages``."""
    size, jump, start = 1, 1, 0.0
    fields: dict[str, FieldGeometry] = {}
    for stage, modules in stage_groups(model).items():
        if stage == "head":
            break
        for _, module in modules:
            size, jump, start = _walk(module, size, jump, start)
        fields[stage] = FieldGeometry(int(size), int(jump), float(start))
    return fields


def patch_box(model: ResNet, stage: str, row: int, col: int, input_size: int = 224) -> tuple[int, int, int, int]:
    """The crop region (x0, y0, x1, y1) that stage position (row, col) sees, clipped to the crop."""
    fields = stage_geometry(model)
    if stage not in fields:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(fields)}")
    return fields[stage].box(row, col, input_size)
