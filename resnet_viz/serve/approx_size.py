"""How many bytes a visitor's results hold, estimated cheaply enough to do on every store.

The session store keeps a memory budget over what each visitor's session holds alone: rendered
pictures (PIL), tensors, arrays, and JSON-like results (an attribution's 224 x 224 map as nested
lists). Walking every float of such a map on each store would cost more than the estimate is
worth, so a list is measured by its first item times its length (results are rectangular).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from PIL import Image

__all__ = ["approx_nbytes"]

_MAX_DEPTH = 8  # results are a few levels deep; anything deeper is counted as one object


def approx_nbytes(value: Any, _depth: int = 0) -> int:
    """Bytes ``value`` holds, roughly: exact for pictures, tensors and arrays, an estimate for
    containers (rectangular lists assumed), ``sys.getsizeof`` for anything else."""
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if _depth >= _MAX_DEPTH:
        return sys.getsizeof(value)
    if isinstance(value, dict):
        items = list(value.items())  # one step under the GIL: a render may add a key meanwhile
        return sys.getsizeof(value) + sum(approx_nbytes(k, _depth + 1) + approx_nbytes(v, _depth + 1) for k, v in items)
    if isinstance(value, (list, tuple)):
        if not value:
            return sys.getsizeof(value)
        return sys.getsizeof(value) + len(value) * approx_nbytes(value[0], _depth + 1)  # getsizeof counts the slots
    return sys.getsizeof(value)
