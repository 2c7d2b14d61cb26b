"""ROAD: RemOve And Debias (Rong et al. 2022, "A consistent and efficient evaluation strategy for
attribution methods").

At each percentile p (10, 20, ..., 90) the p% most relevant pixels (MoRF) or the p% least relevant
(LeRF) are removed and filled by the noisy linear imputer (:mod:`~resnet_viz.trust.imputer`),
which leaks far less of the removed shape than a black or blurred fill. A faithful map loses the
class quickly under MoRF and keeps it under LeRF; the combined score is
``(mean LeRF - mean MoRF) / 2`` of the target's softmax probability (higher is better).

Which pixels are removed is decided exactly as in ``pytorch_grad_cam/metrics/road.py``: MoRF at p
removes the pixels whose value is at least the map's (100 - p)th percentile (numpy's linear
interpolation), LeRF at p those whose value is at most its pth percentile, so ties are removed
together. (That file calls the threshold percentile the "percentile": its ``ROADMostRelevantFirst
(percentile=90)`` is MoRF at p = 10 here; over 10..90 the averages are the same.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from .imputer import NOISE, impute

__all__ = ["PERCENTILES", "RoadResult", "removal_masks", "road_images"]

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


@dataclass
class RoadResult:
    percentiles: list[int]
    morf: list[float]  # the target's probability after removing the most relevant p%
    lerf: list[float]  # ... the least relevant p%
    score: float  # (mean(lerf) - mean(morf)) / 2, as pytorch_grad_cam's ROADCombined

    def to_json(self) -> dict[str, Any]:
        return {"percentiles": self.percentiles, "morf": self.morf, "lerf": self.lerf, "score": self.score}


def removal_masks(attribution: Any, percentiles: Sequence[int] = PERCENTILES) -> tuple[Tensor, Tensor]:
    """Boolean (P, H, W) masks of the pixels removed by MoRF and by LeRF at each percentile."""
    m = torch.as_tensor(np.asarray(attribution, dtype=np.float64))
    flat = m.reshape(-1)
    morf, lerf = [], []
    for p in percentiles:
        if not 0 < p < 100:
            raise ValueError(f"ROAD percentiles must lie strictly between 0 and 100, got {p!r}")
        morf.append(m >= torch.quantile(flat, 1 - p / 100))
        lerf.append(m <= torch.quantile(flat, p / 100))
    return torch.stack(morf), torch.stack(lerf)


def road_images(x: Tensor, attribution: Any, percentiles: Sequence[int], seed: int, noise: float = NOISE) -> Tensor:
    """The (2P, 3, H, W) imputed inputs: MoRF at each percentile, then LeRF at each."""
    morf, lerf = removal_masks(attribution, percentiles)
    removed = torch.cat([morf, lerf])
    images = x.expand(len(removed), *x.shape[1:])
    return impute(images, removed, noise=noise, generator=torch.Generator().manual_seed(seed))


def road_result(percentiles: Sequence[int], probabilities: Sequence[float]) -> RoadResult:
    """Split the probabilities of :func:`road_images`' images into the two curves and score them."""
    n = len(percentiles)
    morf, lerf = [float(p) for p in probabilities[:n]], [float(p) for p in probabilities[n:]]
    return RoadResult(list(percentiles), morf, lerf, (float(np.mean(lerf)) - float(np.mean(morf))) / 2)
