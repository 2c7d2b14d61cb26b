"""``build_index``: which images of a folder excite each channel of C1..C5 most, and where.

Two passes. Scoring: every image goes through ``model.forward_stages`` once (with the weights'
own preprocessing, exactly as ``analyze()``); each channel's maximum over its map is the image's
score and the argmax the position, merged into a running top-k per channel. Patches: the images
that won somewhere are decoded once more and the receptive field of each winning position is cut
from the 224 crop as a small PNG (see :mod:`.patches`), so the index can be shown without the
folder. Memory: O(stages x channels x k) numbers, whatever the number of images.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..model.fingerprint import hash_scope, weights_sha256
from ..model.preprocess import BACKGROUND, MAX_ASPECT, MAX_PIXELS
from ..model.resnet import ResNet
from ..probe.architecture import meta_twin
from ..probe.receptive_field import stage_geometry
from .folder import Failure, scan_folder
from .local import default_workers, score_local
from .patches import PatchJob, render_all
from .store import FORMAT, VERSION, ExemplarIndex, valid_text
from .topk import TopK

Box = tuple[int, int, int, int]

__all__ = ["ENGINES", "IndexProgress", "build_index"]

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
SCORING_SHARE = 0.9  # of the progress bar: the patch pass decodes only the winners, once each


@dataclass(frozen=True)
class IndexProgress:
    """What ``progress(fraction, status)`` receives as ``status``; ``str()`` makes a status line."""

    phase: str  # "scoring" or "patches"
    done: int  # images scored (or winners rendered) so far
    total: int
    unreadable: int
    elapsed_s: float  # since this phase started

    @property
    def images_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        text = f"{self.phase} {self.done}/{self.total} images, {self.images_per_s:.1f} images/s"
        return text + (f", {self.unreadable} unreadable" if self.unreadable else "")


Progress = Callable[[float, IndexProgress], None]


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _preprocessing(model: ResNet) -> dict[str, Any]:
    t = model.meta.transforms
    return {
        "transforms": type(t).__name__,
        "resize_size": list(t.resize_size),
        "crop_size": list(t.crop_size),
        "interpolation": t.interpolation.value,
        "antialias": bool(t.antialias),
        "mean": list(t.mean),
        "std": list(t.std),
        "loader": "resnet_viz.model.preprocess.load_image: first frame, EXIF upright, 8-bit RGB",
        "alpha_background": list(BACKGROUND),
        "max_pixels": MAX_PIXELS,
        "max_aspect": MAX_ASPECT,
    }


def build_index(
    model: ResNet,
    folder: str | os.PathLike,
    top_k: int = 9,
    engine: str = "local",
    progress: Progress | None = None,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    patch_size: int = 64,
    ray_address: str | None = None,
    ray_cpus: int | None = None,
) -> ExemplarIndex:
    """The top-k images (score, position, patch box, thumbnail) of every channel of C1..C5.

    ``folder`` is walked recursively for image files; unreadable ones are recorded in
    ``index.unreadable`` and skipped. ``engine="local"`` decodes in ``workers`` DataLoader
    processes (default: half the cores, 1-4; 0 decodes in this process); ``engine="ray"`` runs on
    Ray Data with ``workers`` model replicas (default: one per GPU, else one per CPU), joining
    ``ray_address`` or the already connected Ray, else starting a local one with ``ray_cpus`` CPUs
    (default: all) and shutting it down at the end. ``patch_size`` is the
    longest side of the stored thumbnails. ``progress(fraction, status)`` is called after every
    batch (status is an :class:`IndexProgress`; ``str(status)`` is a line for a progress bar); it
    may block, and an exception it raises stops the build (worker processes are shut down).
    Save the result with ``index.save(path)``; read it back with ``load_index(path)``.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    _check_int("top_k", top_k, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("patch_size", patch_size, 8)
    if workers is not None:
        _check_int("workers", workers, 0 if engine == "local" else 1)
    if ray_cpus is not None:
        _check_int("ray_cpus", ray_cpus, 1)
    if engine == "ray":
        from .ray_engine import require_ray

        require_ray()  # fail before the folder walk if Ray is missing
    scan = scan_folder(folder)
    names, root, transforms = scan.images, scan.root, model.meta.transforms
    started = time.perf_counter()
    sha256 = weights_sha256(model)
    failures: dict[int, str] = {}
    state = {"phase": "scoring", "done": 0, "total": len(names), "start": time.perf_counter()}

    def report(count: int, failed: list[tuple[int, str]] = ()) -> None:
        state["done"] += count
        failures.update(failed)
        if progress is not None:
            base, share = (0.0, SCORING_SHARE) if state["phase"] == "scoring" else (SCORING_SHARE, 1 - SCORING_SHARE)
            status = IndexProgress(
                state["phase"], state["done"], state["total"], len(failures), time.perf_counter() - state["start"]
            )
            progress(min(1.0, base + share * state["done"] / max(state["total"], 1)), status)

    local_workers = default_workers() if workers is None else workers
    session = contextlib.nullcontext()
    if engine == "ray":
        from .ray_engine import ray_session, score_ray

        session = ray_session(ray_address, ray_cpus)
    report(0)
    with session:
        if engine == "local":
            best = score_local(model, root, names, top_k, batch_size=batch_size, workers=local_workers, on_batch=report)
        else:
            best = score_ray(
                model, root, names, top_k, batch_size=batch_size, replicas=workers, sha256=sha256, on_batch=report
            )
        scored_s = time.perf_counter() - started
        arrays, maps = _tables(model, best)
        jobs = _patch_jobs(arrays, names)
        state.update(phase="patches", done=0, total=len(jobs), start=time.perf_counter())
        # The scoring pass is over: the patch pass may use every core.
        rendered = render_all(root, jobs, transforms, patch_size, threads=min(8, os.cpu_count() or 1), on_done=report)
    patches = _attach_patches(arrays, model, jobs, rendered)
    unreadable = [Failure(names[i], reason) for i, reason in sorted(failures.items())] + scan.unreadable
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "arch": model.meta.arch,
        "weights": model.meta.weights,
        "weights_sha256": sha256,
        "weights_hash_covers": hash_scope(model),
        "preprocessing": _preprocessing(model),
        "input_size": int(transforms.crop_size[0]),
        "top_k": top_k,
        "score": "max over the stage map of the channel's values (after the stage's last ReLU)",
        "box": "x0, y0, x1, y1 in the input crop, x1 and y1 exclusive",
        "stages": maps,
        "images": names,
        "unreadable": [{"path": f.path, "reason": f.reason} for f in unreadable],
        "indexed": len(names) - len(failures),
        "patch_size": patch_size,
        "engine": engine,
        "scoring_s": round(scored_s, 3),
        "total_s": round(time.perf_counter() - started, 3),
    }
    # Names are the folder's, read with the files: a name that is not UTF-8 is stored escaped.
    return ExemplarIndex(valid_text(meta), arrays, patches)


def _tables(model: ResNet, best: dict[str, TopK]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The index's per-stage arrays (without patch numbers) and its stage table.

    Map sizes come from a forward of the parameter-free meta-device twin (no arithmetic, no table
    per arch); boxes from the receptive-field walk.
    """
    size = int(model.meta.transforms.crop_size[0])
    fields = stage_geometry(model)
    shapes = meta_twin(model).forward_stages(torch.zeros(1, 3, size, size, device="meta"))
    arrays: dict[str, np.ndarray] = {}
    stages = []
    for info in model.stages:
        topk, field = best[info.name], fields[info.name]
        height, width = (int(v) for v in shapes[info.name].shape[-2:])
        rows, cols = (topk.positions // width).numpy(), (topk.positions % width).numpy()
        boxes = [field.box(r, c, size) for r, c in zip(rows.ravel().tolist(), cols.ravel().tolist())]
        arrays[f"{info.name}.score"] = topk.scores.numpy().astype(np.float32)
        arrays[f"{info.name}.image"] = topk.images.numpy().astype(np.int32)
        arrays[f"{info.name}.position"] = np.stack([rows, cols], axis=-1).astype(np.int16)
        arrays[f"{info.name}.box"] = np.array(boxes, dtype=np.int16).reshape(*rows.shape, 4)
        stages.append(
            {
                "name": info.name,
                "module": info.module,
                "channels": info.channels,
                "stride": info.stride,
                "height": height,
                "width": width,
                "receptive_field": field.size,
                "jump": field.jump,
                "start": field.start,
            }  # fmt: skip
        )
    return arrays, stages


def _winners(arrays: dict[str, np.ndarray], stage: str) -> tuple[list[int], list[Box]]:
    images = arrays[f"{stage}.image"].ravel()
    return images.tolist(), [tuple(b) for b in arrays[f"{stage}.box"].reshape(-1, 4).tolist()]


def _patch_jobs(arrays: dict[str, np.ndarray], names: list[str]) -> list[PatchJob]:
    """One job per winning image: the distinct boxes wanted from it, in a fixed order."""
    wanted: dict[int, set[Box]] = {}
    for stage in {key.split(".")[0] for key in arrays}:
        for image, box in zip(*_winners(arrays, stage)):
            if image >= 0:
                wanted.setdefault(image, set()).add(box)
    return [(image, names[image], sorted(wanted[image])) for image in sorted(wanted)]


def _attach_patches(
    arrays: dict[str, np.ndarray], model: ResNet, jobs: list[PatchJob], rendered: dict[int, list[bytes] | None]
) -> list[bytes]:
    """Number the rendered PNGs and store each entry's number as ``S.patch`` (-1: none)."""
    patches: list[bytes] = []
    number: dict[tuple[int, Box], int] = {}
    for image, name, wanted in jobs:
        pngs = rendered.get(image)
        if pngs is None:
            log.warning("%s could not be read again for its patches; its entries have none", name)
            continue
        for box, png in zip(wanted, pngs):
            number[(image, box)] = len(patches)
            patches.append(png)
    for info in model.stages:
        images, boxes = _winners(arrays, info.name)
        numbers = [number.get((image, box), -1) for image, box in zip(images, boxes)]
        arrays[f"{info.name}.patch"] = np.array(numbers, dtype=np.int32).reshape(arrays[f"{info.name}.image"].shape)
    return patches
