"""The offline data set of the degradation lab: oriented gratings in noise, made on the spot.

No download and no file: every image comes from a seeded ``torch.Generator``, so the same split is
made on every machine (a classroom without internet, CI) in a fraction of a second.

An image is an 8x8 RGB sinusoidal grating in Gaussian noise. Its class is the grating's
orientation, in ten bins of 18 degrees (class k: stripes whose normal points between 18k and
18(k + 1) degrees; drawn from the middle half of the bin, so neighbouring classes are 9 degrees
apart and a good network can get nearly all of them right); everything else is random and carries
no information about the class: the
period (2.5-5 px), the phase, the two colours the stripes swing between, the contrast (0.3-0.6)
and the noise (standard deviation 0.08 on the 0..1 scale). The phase is random, so every class
averages to the same flat image and no pixel template matches a class (least squares on the raw
pixels gets under a third of the test images right, chance being 10%); a network has to learn
oriented, phase-invariant detectors from noisy 8x8 patches, which takes plain-20 hundreds of steps.

Why this and why 8x8 (measured on this project's 2-core CPU, one thread, see the README): the
budget of the app's live run was then 3 minutes for four networks, two of them 56 layers deep, about
1,000 steps of 32 images each at 8x8 (a 16x16 step costs 2.3 times as much); the default run is now
depths 20 and 32 for 1,500 steps (at most 4 minutes), see resnet_viz.degradation.presets. Textured shapes at
16x16 (ten outlines in random colours and textures) were tried first and were not learned at all
in that budget, not even by ResNet-20; gratings at 8x8 are learned by plain-20, ResNet-20 and
ResNet-56, while plain-56 is not. With orientations filling whole bins (no gap between classes)
the final errors were 6-9%, and ResNet-56 stayed 1-2 points above ResNet-20; with the middle 70% of
each bin (5.4-degree gaps) 1-3%, ResNet-56 still 0.5-1.6 points above ResNet-20 after 1,100 steps
(seeds 10-12); with the middle half (9-degree gaps) 0-1% after 900 steps, ResNet-56 0.2-0.3 points
above ResNet-20 on seeds 0-2, within the seed-to-seed spread (0.7). Plain-56 stays at chance on all
of them.

The split is fixed: :data:`TRAIN_SIZE` training images from seed :data:`TRAIN_SEED` and
:data:`TEST_SIZE` test images from seed :data:`TEST_SEED`, classes balanced. Horizontal flips
would change the class (an orientation t becomes 180 - t), so these images are augmented with
random crops only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["CLASSES", "IMAGE_SIZE", "TEST_SEED", "TEST_SIZE", "TRAIN_SEED", "TRAIN_SIZE", "make_gratings"]

BINS = 10
CLASSES = tuple(f"{18 * k}-{18 * (k + 1)} deg" for k in range(BINS))
IMAGE_SIZE = 8
TRAIN_SIZE = 20_000
TEST_SIZE = 2_000
TRAIN_SEED = 20160
TEST_SEED = 20161

PERIOD = (2.5, 5.0)  # pixels per stripe cycle
CONTRAST = (0.3, 0.6)  # half the swing between the two colours, in the channel that swings most
NOISE = 0.08  # standard deviation of the pixel noise
BIN_FILL = 0.5  # the part of each 18-degree bin that orientations are drawn from (centred)


def make_gratings(n: int, seed: int, size: int = IMAGE_SIZE) -> tuple[Tensor, Tensor]:
    """``n`` images (N, 3, size, size) as uint8 and their labels (N,) int64, balanced over classes.

    The random numbers come from torch's CPU generator, the same stream on every machine; the
    arithmetic is numpy's, on one thread (numpy's float32 sin may differ in the last bit between
    CPU kinds, which can move a pixel by one grey level, no more).
    """
    if not isinstance(n, int) or n < 1 or not isinstance(size, int) or size < 4:
        raise ValueError(f"need n >= 1 and size >= 4, got n={n!r}, size={size!r}")
    g = torch.Generator().manual_seed(seed)

    def uniform(*shape: int) -> np.ndarray:
        return torch.rand(*shape, generator=g).numpy()

    labels = (torch.arange(n) % BINS)[torch.randperm(n, generator=g)]
    within = 0.5 + BIN_FILL * (uniform(n) - 0.5)  # uniform over the middle BIN_FILL of the bin
    theta = (labels.numpy() + within) * np.float32(math.pi / BINS)
    period = PERIOD[0] + (PERIOD[1] - PERIOD[0]) * uniform(n)
    phase = uniform(n) * np.float32(2 * math.pi)
    coords = np.arange(size, dtype=np.float32) + 0.5
    ys, xs = coords[None, :, None], coords[None, None, :]
    along = xs * np.cos(theta)[:, None, None] + ys * np.sin(theta)[:, None, None]  # (N, H, W)
    wave = np.sin(np.float32(2 * math.pi) * along / period[:, None, None] + phase[:, None, None])
    a, b = uniform(n, 3, 1, 1), uniform(n, 3, 1, 1)
    swing = (a - b) / (np.abs(a - b).max(axis=1, keepdims=True) + 1e-3)  # largest channel swing 1
    contrast = CONTRAST[0] + (CONTRAST[1] - CONTRAST[0]) * uniform(n, 1, 1, 1)
    image = (a + b) / 2 + contrast * swing * wave[:, None]
    image = image + NOISE * torch.randn(n, 3, size, size, generator=g).numpy()
    images = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return torch.from_numpy(images), labels
