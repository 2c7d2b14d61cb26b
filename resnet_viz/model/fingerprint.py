"""Which weights a result was computed with: one SHA-256 per model, stable across runs and machines.

Files built from a model (an exemplar index, a cached feature visualisation) record this hash, so
a reader can tell whether they belong to the model it has loaded. The hash is over the weights'
values, not over a file: the same state dict saved as .pth or .safetensors, loaded on a GPU or
kept in channels-last memory, hashes the same.

Definition (version 1): SHA-256 over ``b"resnet-viz weights v1\\n"`` followed, for every entry in
key order, by ``"{key}\\0{dtype}\\0{shape}\\n"`` and the entry's bytes (contiguous, row-major, on the
CPU, in the machine's byte order, which is little-endian everywhere torch ships wheels for).

The entries are the whole state dict, except for ``weights="random"``: there the parameters
alone. Random weights are a seeded initialisation (bit-identical everywhere) plus BatchNorm
statistics measured by one float forward (see :func:`resnet_viz.model.weights._calibrate_batchnorm`),
whose last bits change with the number of CPU threads: measured, 1 and 2 threads give different
running means. The parameters determine those statistics, so hashing them is both sufficient and
stable.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

__all__ = ["weights_sha256", "hash_scope"]

_HEADER = b"resnet-viz weights v1\n"


def hash_scope(model: nn.Module) -> str:
    """ "parameters" for the seeded random weights, "state_dict" for everything else."""
    return "parameters" if getattr(getattr(model, "meta", None), "weights", None) == "random" else "state_dict"


def weights_sha256(model: nn.Module) -> str:
    """The hex SHA-256 of the model's weights, as defined in this module's docstring."""
    entries = model.named_parameters() if hash_scope(model) == "parameters" else model.state_dict().items()
    digest = hashlib.sha256(_HEADER)
    for key, tensor in sorted(entries, key=lambda item: item[0]):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}\0{flat.dtype}\0{tuple(tensor.shape)}\n".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
