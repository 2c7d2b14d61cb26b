"""The local engine: a torch DataLoader whose worker processes decode while the model runs.

Workers load, decode and preprocess (``FolderImages`` + ``collate`` run in them); the main process
only moves each batch to the model's device, runs ``model.forward_stages`` and merges the batch's
per-channel maxima into the running top-k. Nothing here touches the model's state: no hooks, no
mode change, so a shared model stays usable by others between batches.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader

from ..model.resnet import ResNet
from ..model.runtime import as_model_input, autocast, model_device
from .folder import Batch, FolderImages, collate
from .topk import TopK, empty_topk, merge_topk, stage_maxima

__all__ = ["default_workers", "score_local"]

OnBatch = Callable[[int, list[tuple[int, str]]], None]  # (images done in this batch, its failures)


def default_workers() -> int:
    """One decoding process per two cores, at least one, at most four.

    Decoding and preprocessing one photo costs a fifth to a half of a ResNet-18 forward on a CPU,
    so half the cores keep the model fed while the other half run it; on a GPU machine the model
    needs few cores and four workers decode ~400-800 images/s.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _loader(dataset, batch_size: int, workers: int, collate_fn, pin: bool) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
    )


def score_local(
    model: ResNet, root: Path, names: list[str], top_k: int, *, batch_size: int, workers: int, on_batch: OnBatch
) -> dict[str, TopK]:
    """The top-k of every stage and channel over ``names``; failures are reported via on_batch."""
    device = model_device(model)
    best = {s.name: empty_topk(s.channels, top_k, device) for s in model.stages}
    loader = _loader(
        FolderImages(root, names, model.meta.transforms), batch_size, workers, collate, device.type == "cuda"
    )
    batches: Iterator[Batch] = iter(loader)
    try:
        for batch in batches:
            if batch.indices.numel():
                with torch.inference_mode(), autocast(model):
                    stages = model.forward_stages(as_model_input(model, batch.pixels))
                    indices = batch.indices.to(device)
                    for name, output in stages.items():
                        scores, positions = stage_maxima(output)
                        best[name] = merge_topk(best[name], scores, indices, positions)
                    del stages
            on_batch(batch.count, batch.failed)  # may block or raise (cancel): nothing held needs the model
    finally:
        del batches  # shuts the worker processes down now, also when on_batch raised
    return {name: topk.to("cpu") for name, topk in best.items()}
