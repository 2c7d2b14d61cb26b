"""The trust checks' data: one of the degradation lab's gratings placed somewhere in a noisy scene.

The lab's own images (:mod:`resnet_viz.degradation.gratings`) are 8x8 gratings that fill the whole
picture, so every pixel is evidence and a map has nothing to point at. Here a 16x16 grating
(made by the lab's generator, same classes: ten orientations) is pasted at a random place in a
32x32 scene of a flat random colour plus the lab's pixel noise. (16x16 scenes with 8x8 gratings
were tried first: their 256-pixel maps are so coarse that the chance band of a similarity spans
-0.7..0.7.) A network that learned the task
must find the grating; a map that depends on what it learned points at the patch, so the model
randomisation test has something to destroy. Everything comes from seeded generators: the same
scenes on every machine, no file, no download.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..degradation.gratings import CLASSES, make_gratings

__all__ = ["CLASSES", "PATCH", "SCENE", "make_scenes"]

SCENE = 32  # scene side in pixels (CIFAR's): 8x8 cells at the network's last stage (stride 4)
PATCH = 16  # the grating's side: the lab's generator at twice the lab's size
BACKGROUND_NOISE = 0.08  # pixel noise of the scene around the grating, the lab's own


def make_scenes(n: int, seed: int, size: int = SCENE, noise: float = BACKGROUND_NOISE, patch: int = PATCH) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` scenes (N, 3, size, size) uint8, their classes (N,) and the grating's top-left corner
    (N, 2) as (row, column)."""
    if not isinstance(n, int) or n < 1 or not isinstance(size, int) or size < patch:
        raise ValueError(f"need n >= 1 and size >= {patch}, got n={n!r}, size={size!r}")
    patches, labels = make_gratings(n, seed, size=patch)
    g = torch.Generator().manual_seed(seed + 1)  # a stream of its own: the gratings are the lab's, bit for bit
    colour = torch.rand(n, 3, 1, 1, generator=g)
    scene = colour + noise * torch.randn(n, 3, size, size, generator=g)
    scene = (scene.clamp(0, 1) * 255).round().to(torch.uint8)
    corner = torch.randint(0, size - patch + 1, (n, 2), generator=g)
    rows = corner[:, 0, None] + torch.arange(patch)  # (N, patch)
    cols = corner[:, 1, None] + torch.arange(patch)
    index = torch.arange(n)[:, None, None, None]
    chans = torch.arange(3)[None, :, None, None]
    scene[index, chans, rows[:, None, :, None], cols[:, None, None, :]] = patches
    return scene, labels, corner
