"""Patch thumbnails: the receptive-field crops of the winning positions, as small PNGs.

The index carries its patches so that a reader (the app, a notebook on another machine) can show
a channel's exemplars without the image folder. Patches are cut from the exact 224 crop the
network saw (``crop_image`` of the preprocessed input), shrunk so their longer side is at most
``max_side`` pixels and never enlarged: C1's 11 px and C2's 35-43 px fields stay pixel-exact,
C3-C5 fields (91-224 px after clipping) are scaled down. PNG, because the index must be readable
with nothing but JSON, numpy's npz and PNG decoders (no pickle).

Only the images that won somewhere are decoded again, once each, and a (image, box) pair shared
by several channels is stored once: every C5 field covers the whole crop, so all C5 patches of an
image are one thumbnail. That is at most k x channels images (9,216 for ResNet-18 at k=9), however
large the folder, so this pass runs on the driver for both engines, in a thread pool: Pillow's
decoders and encoders and torch's resize release the GIL, threads start in no time, and no process
is forked from a driver that holds Ray's threads.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from PIL import Image
from torch import nn

from .folder import crop_of

__all__ = ["PatchJob", "render_all", "render_job", "thumbnail_png"]

Box = tuple[int, int, int, int]
PatchJob = tuple[int, str, list[Box]]  # (image index, relative name, boxes wanted from it)


def thumbnail_png(crop: Image.Image, box: Box, max_side: int) -> bytes:
    patch = crop.crop(box)
    patch.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps the aspect; never enlarges
    out = io.BytesIO()
    patch.save(out, format="PNG")
    return out.getvalue()


def render_job(root: Path, job: PatchJob, transforms: nn.Module, max_side: int) -> tuple[int, list[bytes] | None]:
    """(image index, one PNG per box) for one image, or (index, None) if it cannot be read now."""
    index, name, boxes = job
    crop = crop_of(root, name, transforms)
    if crop is None:  # changed or removed since it was scored
        return index, None
    return index, [thumbnail_png(crop, box, max_side) for box in boxes]


def render_all(
    root: Path,
    jobs: list[PatchJob],
    transforms: nn.Module,
    max_side: int,
    *,
    threads: int,
    on_done: Callable[[int], None],
) -> dict[int, list[bytes] | None]:
    """Every job's thumbnails, {image index: PNGs or None}; ``on_done(n)`` after each chunk of n."""
    out: dict[int, list[bytes] | None] = {}
    chunk = max(1, 4 * threads)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="resnet-viz-patches") as pool:
        for start in range(0, len(jobs), chunk):
            part = jobs[start : start + chunk]
            out.update(pool.map(lambda job: render_job(root, job, transforms, max_side), part))
            on_done(len(part))  # may raise (cancel): the pool has nothing left running by then
    return out
