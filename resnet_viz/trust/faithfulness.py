"""Do the pixels a map ranks first really move the prediction? Deletion, insertion and ROAD.

- **Deletion** (Petsiuk et al. 2018, RISE): the pixels are replaced by black (in pixel space),
  most important first; the target's softmax probability after 0, 1/steps, ..., all of them. A
  faithful map makes it fall fast: a small area under the curve is good.
- **Insertion**: the pixels are put, most important first, into a blurred copy of the photo
  (RISE's Gaussian, 11 px, sigma 5): a faithful map makes it rise fast, a large area is good.
- **Baselines on the same photo**, so a number can be read: a random ranking (seeded) and an edge
  map (Sobel magnitude of the grey photo: no network at all). A map that does no better than the
  edge map says little about the network.
- **ROAD** (:mod:`~resnet_viz.trust.road`): MoRF and LeRF with the noisy linear imputer.

The ranking is the map's values, highest first; equal values (Grad-CAM's zeros) are ordered by a
seeded random permutation, not by position. Every perturbed image goes through the network in
batches; between batches ``progress(fraction)`` is called (it may block, or raise to cancel).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import Tensor

from ..model.preprocess import ImageSource, denormalize
from ..model.runtime import as_model_input, autocast, image_input
from ..probe.targets import Target, resolve_target, target_info
from .road import PERCENTILES, RoadResult, road_images, road_result

__all__ = ["BASELINES", "Curve", "FaithfulnessResult", "edge_map", "faithfulness", "ranking"]

Progress = Callable[[float], None]

BASELINES = ("random", "edge")
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # RISE's insertion blur
BATCH_SIZE = 16


@dataclass
class Curve:
    """The target's probability at fractions 0, 1/steps, ..., 1 of the pixels, and its area."""

    curve: list[float]
    auc: float

    def to_json(self) -> dict[str, Any]:
        return {"curve": self.curve, "auc": self.auc}


@dataclass
class FaithfulnessResult:
    target: dict[str, Any]  # {"index", "label", "probability"}
    deletion: Curve
    insertion: Curve
    road: RoadResult | None
    baselines: dict[str, dict[str, Curve]]  # "random" / "edge" -> {"deletion", "insertion"}
    protocol: dict[str, Any]
    ranking_map: np.ndarray = field(repr=False)  # the map the pixels were ranked by (float32)
    timing_ms: float = 0.0
    phases_ms: dict[str, float] = field(default_factory=dict)  # "curves", "road_imputer", "road_forwards"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "deletion": self.deletion.to_json(),
            "insertion": self.insertion.to_json(),
            **({"road": self.road.to_json()} if self.road is not None else {}),
            "baselines": {name: {k: c.to_json() for k, c in curves.items()} for name, curves in self.baselines.items()},
            "protocol": self.protocol,
            "timing_ms": self.timing_ms,
            "phases_ms": self.phases_ms,
        }


def ranking(attribution: np.ndarray, seed: int) -> Tensor:
    """Pixel indices (H*W,), most important first; ties in a seeded random order."""
    values = torch.as_tensor(np.asarray(attribution, dtype=np.float64)).reshape(-1)
    shuffle = torch.randperm(values.numel(), generator=torch.Generator().manual_seed(seed))
    order = torch.argsort(-values[shuffle], stable=True)
    return shuffle[order]


def edge_map(model: torch.nn.Module, x: Tensor) -> np.ndarray:
    """Sobel gradient magnitude of the grey photo (pixel space), the same size as the input."""
    pixels = denormalize(model.meta.transforms, x[0].detach().float().cpu())
    grey = (0.299 * pixels[0] + 0.587 * pixels[1] + 0.114 * pixels[2])[None, None]
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([sobel, sobel.T])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)
    return g.pow(2).sum(dim=1)[0].sqrt().numpy().astype(np.float32)


def _reference_images(model: torch.nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """Black (deletion's end) and the blurred photo (insertion's start), in the model's input units."""
    transforms = model.meta.transforms
    pixels = denormalize(transforms, x)
    black = TF.normalize(torch.zeros_like(pixels), transforms.mean, transforms.std)
    blurred = TF.normalize(TF.gaussian_blur(pixels, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA]), transforms.mean, transforms.std)
    return black, blurred


def _counts(pixels: int, steps: int) -> list[int]:
    return [round(k * pixels / steps) for k in range(steps + 1)]


def _auc(curve: Sequence[float]) -> float:
    fractions = np.linspace(0.0, 1.0, len(curve))
    return float(np.trapezoid(np.asarray(curve, dtype=np.float64), fractions))


class _Probe:
    """Runs image batches through the model and keeps the target's probability; calls progress
    between batches. Images are made lazily, one batch at a time, by the callables queued."""

    def __init__(self, model: torch.nn.Module, index: int, batch_size: int, progress: Progress | None, total: int) -> None:
        self.model, self.index, self.batch_size = model, index, batch_size
        self.progress, self.total, self.done = progress, max(total, 1), 0

    def run(self, makers: Sequence[Callable[[], Tensor]]) -> list[float]:
        out: list[float] = []
        for start in range(0, len(makers), self.batch_size):
            batch = torch.cat([make() for make in makers[start : start + self.batch_size]])
            with torch.inference_mode(), autocast(self.model):
                logits = self.model(as_model_input(self.model, batch))
            out += torch.softmax(logits.float(), dim=1)[:, self.index].tolist()
            self.done += len(batch)
            if self.progress is not None:
                self.progress(min(self.done / self.total, 1.0))
        return out


def _curve_makers(x: Tensor, order: Tensor, steps: int, start: Tensor, end: Tensor) -> list[Callable[[], Tensor]]:
    """Images for steps 1..steps-1: the first k ranked pixels from ``end``, the rest from ``start``."""
    h, w = x.shape[-2:]
    position = torch.empty_like(order)
    position[order] = torch.arange(order.numel())  # each pixel's place in the ranking
    position = position.view(1, 1, h, w)
    counts = _counts(h * w, steps)
    return [lambda n=n: torch.where(position < n, end, start) for n in counts[1:-1]]


def _map_array(attribution: Any, size: tuple[int, int]) -> np.ndarray:
    if isinstance(attribution, dict):
        attribution = attribution["map"]
    if isinstance(attribution, Tensor):
        attribution = attribution.detach().float().cpu().numpy()
    m = np.asarray(attribution, dtype=np.float32)
    if m.shape != size:
        raise ValueError(f"the attribution map is {m.shape}, but the model's input is {size}: pass a map of the input's size")
    if not np.isfinite(m).all():
        raise ValueError("the attribution map holds NaN or infinite values")
    return m


def faithfulness(
    model: torch.nn.Module,
    image: ImageSource | Tensor,
    attribution_map: Any,
    *,
    target: Target = None,
    steps: int = 28,
    baselines: Sequence[str] = BASELINES,
    road: bool = True,
    percentiles: Sequence[int] = PERCENTILES,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> FaithfulnessResult:
    """Deletion and insertion curves of ``attribution_map`` (an (H, W) array at the input's size,
    e.g. :func:`resnet_viz.attribute`'s ``["map"]``, or that result itself) on ``image`` for
    ``target`` (None: the top-1), the random and edge baselines, and ROAD.

    ``steps`` is the number of equal pixel steps of each curve (28: RISE's protocol is about 58
    forwards for both); areas are trapezoids over the fraction 0..1.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an integer of at least 2, got {steps!r}")
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    start_time = time.perf_counter()
    x = image_input(model, image).detach().float().cpu()  # (1, 3, H, W): perturbed on the CPU
    h, w = x.shape[-2:]
    m = _map_array(attribution_map, (h, w))
    with torch.inference_mode(), autocast(model):
        clean_logits = model(as_model_input(model, x))[0].float().cpu()
    index = resolve_target(model, target, clean_logits)
    black, blurred = _reference_images(model, x)
    rankings = {"map": ranking(m, seed)}
    if "random" in baselines:
        rankings["random"] = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed + 1))
    if "edge" in baselines:
        rankings["edge"] = ranking(edge_map(model, x), seed)

    makers: list[Callable[[], Tensor]] = [lambda: black, lambda: blurred]
    for order in rankings.values():
        makers += _curve_makers(x, order, steps, x, black)  # deletion: photo -> black
        makers += _curve_makers(x, order, steps, blurred, x)  # insertion: blur -> photo
    road_count = 2 * len(percentiles) if road else 0
    probe = _Probe(model, index, batch_size, progress, len(makers) + road_count)
    probabilities = probe.run(makers)
    phases = {"curves": 1000 * (time.perf_counter() - start_time)}
    clean = float(torch.softmax(clean_logits, dim=0)[index])
    p_black, p_blurred = probabilities[:2]
    curves: dict[str, dict[str, Curve]] = {}
    inner = steps - 1
    for i, name in enumerate(rankings):
        offset = 2 + 2 * inner * i
        deletion = [clean] + probabilities[offset : offset + inner] + [p_black]
        insertion = [p_blurred] + probabilities[offset + inner : offset + 2 * inner] + [clean]
        curves[name] = {"deletion": Curve(deletion, _auc(deletion)), "insertion": Curve(insertion, _auc(insertion))}

    road_out = None
    if road:
        tick = time.perf_counter()
        imputed = road_images(x, m, percentiles, seed)
        phases["road_imputer"] = 1000 * (time.perf_counter() - tick)
        tick = time.perf_counter()
        road_out = road_result(percentiles, probe.run([lambda i=i: imputed[i : i + 1] for i in range(len(imputed))]))
        phases["road_forwards"] = 1000 * (time.perf_counter() - tick)
    own = curves.pop("map")
    return FaithfulnessResult(
        target=target_info(model, clean_logits, index),
        deletion=own["deletion"],
        insertion=own["insertion"],
        road=road_out,
        baselines=curves,
        protocol={
            "steps": steps,
            "fractions": "0, 1/steps, ..., 1 of the pixels",
            "deletion": "most important first, replaced by black (pixel value 0)",
            "insertion": f"most important first, into the photo blurred by a {BLUR_KERNEL} px Gaussian of sigma {BLUR_SIGMA}",
            "ranking": "the map's values, highest first; ties in a seeded random order",
            "baselines": list(baselines),
            "road": {"percentiles": list(percentiles), "imputer": "noisy linear (Rong et al. 2022), noise 0.01"} if road else None,
            "score": "the target's softmax probability",
            "seed": seed,
            "batch_size": batch_size,
        },
        ranking_map=m,
        timing_ms=1000 * (time.perf_counter() - start_time),
        phases_ms=phases,
    )
