"""The offline data set of the degradation lab: ten classes of textured shapes, made on the spot.

No download, no file: every image comes from a seeded ``torch.Generator``, so the same split is
made on every machine (classroom without internet, CI) in about a second. Each image is 16x16 RGB
(the paper's CIFAR images are 32x32; half the side makes a training step four times cheaper, which
is what lets four networks, two of them 56 layers deep, train visibly on a 2-core CPU in minutes).

What an image holds: one shape of the class, at a random position, size (radius 3.5-6.5 px) and
rotation, filled with a random colour modulated by a sinusoidal grating (random orientation,
period and phase), on a background of another random colour with its own grating, plus Gaussian
pixel noise. The ten classes are the shapes::

    0 disk   1 ring   2 square   3 frame (hollow square)   4 triangle
    5 plus   6 bar    7 two dots  8 half disk              9 L

Colour, texture, position, size and orientation carry no information about the class; only the
outline does, and at 16 px with noise and textured backgrounds telling a ring from a frame or a
plus from an L takes real learning. Every class is its own mirror image under a horizontal flip
(the L's mirror image is still an L), so flip augmentation keeps labels right. Shapes are drawn
with anti-aliased edges from signed distance functions.

The split is fixed: :data:`TRAIN_SIZE` training images from seed :data:`TRAIN_SEED` and
:data:`TEST_SIZE` test images from seed :data:`TEST_SEED`, classes balanced (the same number of
each class, in a shuffled order).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["CLASSES", "IMAGE_SIZE", "TEST_SEED", "TEST_SIZE", "TRAIN_SEED", "TRAIN_SIZE", "make_shapes"]

CLASSES = ("disk", "ring", "square", "frame", "triangle", "plus", "bar", "two dots", "half disk", "L")
IMAGE_SIZE = 16
TRAIN_SIZE = 20_000
TEST_SIZE = 2_000
TRAIN_SEED = 20160
TEST_SEED = 20161

_CHUNK = 2_000  # images rendered at once: bounds the memory of the (N, H, W) coordinate grids
_NOISE = 0.10  # std of the Gaussian pixel noise, on the 0..1 scale
_TEXTURE = 0.25  # amplitude of the gratings

# The random numbers come from torch's CPU generator (the same stream on every machine); the
# arithmetic is numpy's, single-threaded: hundreds of small elementwise ops are slower on torch's
# thread pool than on one thread, and ten times slower on a busy 2-core machine.


def _box(u: np.ndarray, v: np.ndarray, hu: float, hv: float) -> np.ndarray:
    """Signed distance to an axis-aligned box with half-sides hu, hv."""
    du, dv = np.abs(u) - hu, np.abs(v) - hv
    outside = np.sqrt(np.maximum(du, 0) ** 2 + np.maximum(dv, 0) ** 2)
    return outside + np.minimum(np.maximum(du, dv), 0)


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance to an equilateral triangle of circumradius 1, centred (after Inigo Quilez)."""
    k = math.sqrt(3.0)
    r = 0.866  # half side for circumradius 1
    u = np.abs(u) - r
    v = v + r / k
    flip = (u + k * v) > 0
    u, v = np.where(flip, (u - k * v) / 2, u), np.where(flip, (-k * u - v) / 2, v)
    u = u - np.clip(u, -2 * r, 0)
    return -np.sqrt(u * u + v * v) * np.sign(v)


_SHAPES = {  # signed distance functions of the ten classes, in units of the shape's radius
    0: lambda u, v, rho: rho - 1.0,
    1: lambda u, v, rho: np.abs(rho - 0.72) - 0.28,
    2: lambda u, v, rho: _box(u, v, 0.8, 0.8),
    3: lambda u, v, rho: np.abs(_box(u, v, 0.78, 0.78)) - 0.24,
    4: lambda u, v, rho: _triangle(u, v - 0.1),
    5: lambda u, v, rho: np.minimum(_box(u, v, 1.0, 0.3), _box(u, v, 0.3, 1.0)),
    6: lambda u, v, rho: _box(u, v, 1.0, 0.3),
    7: lambda u, v, rho: np.sqrt((np.abs(u) - 0.62) ** 2 + v * v) - 0.38,
    8: lambda u, v, rho: np.maximum(rho - 1.0, -(v + 0.35)),
    9: lambda u, v, rho: np.minimum(_box(u + 0.55, v, 0.3, 0.95), _box(u, v - 0.65, 0.85, 0.3)),
}


def _shape_distance(label: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in units of the shape's radius) of every pixel to its image's shape.

    ``u``, ``v``: (N, H, W) coordinates in the shape's own rotated, scaled frame.
    """
    d = np.empty_like(u)
    for cls, sdf in _SHAPES.items():
        rows = np.flatnonzero(label == cls)
        if rows.size:
            uu, vv = u[rows], v[rows]
            d[rows] = sdf(uu, vv, np.sqrt(uu * uu + vv * vv))
    return d


def _uniform(g: torch.Generator, *shape: int) -> np.ndarray:
    return torch.rand(*shape, generator=g).numpy()


def _grating(g: torch.Generator, n: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(N, H, W) sinusoids in [-1, 1] with random orientation, period 2.5-8 px and phase."""
    theta = _uniform(g, n, 1, 1) * np.float32(math.pi)
    period = 2.5 + 5.5 * _uniform(g, n, 1, 1)
    phase = _uniform(g, n, 1, 1) * np.float32(2 * math.pi)
    along = xs * np.cos(theta) + ys * np.sin(theta)
    return np.sin(np.float32(2 * math.pi) * along / period + phase)


def _render(g: torch.Generator, label: np.ndarray, size: int) -> np.ndarray:
    n = label.size
    coords = np.arange(size, dtype=np.float32) + 0.5
    ys, xs = coords.reshape(1, size, 1), coords.reshape(1, 1, size)
    radius = 3.5 + 3.0 * _uniform(g, n, 1, 1)
    margin = radius * 0.9  # most of the shape stays inside the frame
    cy = margin + (size - 2 * margin) * _uniform(g, n, 1, 1)
    cx = margin + (size - 2 * margin) * _uniform(g, n, 1, 1)
    angle = _uniform(g, n, 1, 1) * np.float32(2 * math.pi)
    dy, dx = (ys - cy) / radius, (xs - cx) / radius
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    distance = _shape_distance(label, u, v) * radius  # in pixels
    coverage = np.clip(0.5 - distance, 0, 1)[:, None]  # anti-aliased edge one pixel wide, (N, 1, H, W)

    fg = _uniform(g, n, 3, 1, 1) + _TEXTURE * _grating(g, n, ys, xs)[:, None]
    bg = _uniform(g, n, 3, 1, 1) + _TEXTURE * _grating(g, n, ys, xs)[:, None]
    image = coverage * fg + (1 - coverage) * bg
    image = image + _NOISE * torch.randn(image.shape, generator=g).numpy()
    return np.clip(image, 0, 1)  # (N, 3, H, W)


def make_shapes(n: int, seed: int, size: int = IMAGE_SIZE) -> tuple[Tensor, Tensor]:
    """``n`` images (N, 3, size, size) as uint8 and their labels (N,) int64, balanced over classes.

    The same ``n``, ``seed`` and ``size`` give the same images on every machine: torch's CPU
    generator draws the same numbers everywhere (numpy's float32 sin/sqrt may differ in the last
    bit between CPU kinds, which can move a pixel by one grey level, no more).
    """
    if n < 1 or size < 8:
        raise ValueError(f"need n >= 1 and size >= 8, got n={n!r}, size={size!r}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    label_np = labels.numpy()
    chunks = [_render(g, label_np[i : i + _CHUNK], size) for i in range(0, n, _CHUNK)]
    images = np.round(np.concatenate(chunks) * 255).astype(np.uint8)
    return torch.from_numpy(images), labels
