"""How alike two maps are, and how alike two unrelated maps of the same kind are by chance.

- :func:`spearman`: Spearman's rank correlation, ties given their average rank (as scipy does);
  0 when either map is constant (no ranking to compare).
- :func:`ssim`: the structural similarity of Wang et al. 2004 on maps scaled to 0..1 (data range
  1, K1 = 0.01, K2 = 0.03), a Gaussian window of sigma 1.5 and 11 px (smaller maps: the largest
  odd window that fits), weighted means and (co)variances, averaged over the window positions
  that lie wholly inside the map (no padding). ``sigma=None`` weighs the window uniformly.
- :func:`surrogates`: random maps with the same smoothness and the same values as a given map,
  the chance level's yardstick (see :func:`chance_band`).

Everything takes numpy arrays or tensors and computes in float64 on the CPU: the maps are small.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["chance_band", "ranks", "spearman", "ssim", "surrogates"]

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
K1, K2 = 0.01, 0.03


def _as_tensor(x: Any) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).detach().cpu().double()


def ranks(x: Tensor) -> Tensor:
    """Ranks 1..n of each row of (..., n), ties sharing their average rank."""
    flat = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(flat, dtype=torch.float64)
    for row, values in enumerate(flat):  # rows are few (a map, or a batch of surrogates)
        sorted_values, order = torch.sort(values, stable=True)
        _, inverse, counts = torch.unique_consecutive(sorted_values, return_inverse=True, return_counts=True)
        ends = torch.cumsum(counts, 0).double()  # 1-based last position of each run of equal values
        average = ends - (counts.double() - 1) / 2
        out[row, order] = average[inverse]
    return out.reshape(x.shape)


def _pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    denominator = torch.sqrt((a * a).sum(dim=-1) * (b * b).sum(dim=-1))
    r = (a * b).sum(dim=-1) / denominator
    return torch.where(denominator > 0, r, torch.zeros_like(r)).clamp(-1, 1)


def spearman(a: Any, b: Any) -> float | Tensor:
    """Spearman's rho between map ``a`` and map ``b`` (any shape, flattened); ``b`` may be a batch
    (K, *a.shape), giving K values."""
    a, b = _as_tensor(a), _as_tensor(b)
    ra = ranks(a.reshape(-1))
    if b.shape == a.shape:
        return float(_pearson_rows(ra, ranks(b.reshape(-1))))
    rb = ranks(b.reshape(b.shape[0], -1))
    return _pearson_rows(ra.expand_as(rb), rb)


def _window(size: int, sigma: float | None) -> Tensor:
    """The 1-D weights; the 2-D window is their outer product, applied as two 1-D passes."""
    if sigma is None:
        w = torch.ones(size, dtype=torch.float64)
    else:
        coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        w = torch.exp(-(coords**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(a: Any, b: Any, *, window: int = SSIM_WINDOW, sigma: float | None = SSIM_SIGMA) -> float | Tensor:
    """Mean SSIM of (H, W) map ``a`` against map ``b`` or a batch (K, H, W) of maps, all in 0..1."""
    a, b = _as_tensor(a), _as_tensor(b)
    batch = b.dim() == 3
    b = b if batch else b[None]
    a = a.expand_as(b)
    size = min(window, a.shape[-2], a.shape[-1])
    size -= 1 - size % 2  # odd
    w = _window(size, sigma).float()
    rows, cols = w.view(1, 1, size, 1), w.view(1, 1, 1, size)
    x, y = a[:, None].float(), b[:, None].float()  # (K, 1, H, W); float32: 224 px batches are 5x faster

    def mean(t: Tensor) -> Tensor:  # the window's weighted mean at every position inside the map
        return F.conv2d(F.conv2d(t, rows), cols)

    mx, my = mean(x), mean(y)
    vx = mean(x * x) - mx * mx
    vy = mean(y * y) - my * my
    cxy = mean(x * y) - mx * my
    c1, c2 = K1**2, K2**2  # data range 1
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    values = s.double().mean(dim=(1, 2, 3))
    return values if batch else float(values[0])


def surrogates(m: Any, count: int, seed: int) -> Tensor:
    """``count`` random maps (K, H, W) as smooth as ``m`` and holding exactly its values.

    Amplitude-adjusted Fourier surrogates (Theiler et al. 1992): the map's Fourier amplitudes with
    random phases (the same power spectrum, so the same smoothness: blobs stay blobs, speckle stays
    speckle), then the map's own values handed out in that random field's rank order (the same
    histogram: as many zeros, the same maximum). They are unrelated to the photo and the network.
    """
    m = _as_tensor(m)
    h, w = m.shape
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(count, h, w, generator=g, dtype=torch.float64)
    phases = torch.fft.rfft2(noise)
    phases = phases / phases.abs().clamp_min(1e-12)
    amplitude = torch.fft.rfft2(m - m.mean()).abs()
    field = torch.fft.irfft2(amplitude * phases, s=(h, w))  # (K, H, W)
    order = torch.argsort(field.reshape(count, -1), dim=1, stable=True)
    values = torch.sort(m.reshape(-1)).values
    out = torch.empty(count, h * w, dtype=torch.float64)
    out.scatter_(1, order, values.expand(count, -1).contiguous())
    return out.reshape(count, h, w)


def chance_band(values: Tensor, low: float = 2.5, high: float = 97.5) -> dict[str, float]:
    """The middle 95% (by default) of similarities between unrelated maps, and their mean."""
    values = values.double()
    finite = values[torch.isfinite(values)]
    if finite.numel() == 0:
        return {"low": 0.0, "high": 0.0, "mean": 0.0}
    q = torch.quantile(finite, torch.tensor([low / 100, high / 100], dtype=torch.float64))
    mean = float(finite.mean())
    return {"low": float(q[0]), "high": float(q[1]), "mean": mean if math.isfinite(mean) else 0.0}
