"""Colormaps as 256-entry colour tables, shared by the pictures and their colour bars."""

from __future__ import annotations

from functools import lru_cache

import matplotlib
import numpy as np

__all__ = ["lut"]


@lru_cache(maxsize=32)
def lut(cmap: str) -> np.ndarray:
    """The colormap sampled at 256 points as a (256, 3) uint8 table, once per name."""
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}; use a name from matplotlib.colormaps") from None
    table = colormap(np.linspace(0.0, 1.0, 256))[:, :3]  # (256, 3) floats in [0, 1]
    table = np.rint(table * 255).astype(np.uint8)
    table.setflags(write=False)
    return table
