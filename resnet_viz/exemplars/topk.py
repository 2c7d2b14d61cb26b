"""Scores and a running top-k per channel whose memory does not grow with the number of images.

An image's score for (stage, channel) is the channel's largest value anywhere on the stage map;
the argmax is the position whose receptive field becomes the patch. The builder keeps, per stage,
a (C, k) table of the best scores seen so far and merges each batch's (C, B) candidates into it,
so it holds O(stages x channels x k) numbers whatever the folder's size, never a score matrix.

Ties (dead channels of random weights score exactly 0 on every image) are broken by the lower
image index. The merge is therefore a pure function of the set of candidates: any batch size, any
order of batches and any number of Ray replicas give the identical table. ``torch.topk`` leaves the
order of equal values unspecified, so the merge is two stable sorts over the k + B candidates of
each channel (first by image index, then by score), which cost about what topk does at this size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TopK", "empty_topk", "merge_topk", "stage_maxima", "PAD_IMAGE"]

PAD_IMAGE = -1  # image index of an unused slot (fewer images than k so far); its score is -inf


@dataclass(frozen=True)
class TopK:
    """The best k (score, image, position) of every channel of one stage, best first."""

    scores: Tensor  # (C, k) float32, -inf in unused slots
    images: Tensor  # (C, k) int64 index into the image list, PAD_IMAGE in unused slots
    positions: Tensor  # (C, k) int64 flat index row * width + col into the stage map

    @property
    def k(self) -> int:
        return self.scores.shape[1]

    def to(self, device: torch.device | str) -> TopK:
        return TopK(self.scores.to(device), self.images.to(device), self.positions.to(device))


def empty_topk(channels: int, k: int, device: torch.device | str = "cpu") -> TopK:
    return TopK(
        torch.full((channels, k), float("-inf"), device=device),
        torch.full((channels, k), PAD_IMAGE, dtype=torch.int64, device=device),
        torch.zeros((channels, k), dtype=torch.int64, device=device),
    )


def stage_maxima(stage: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) stage output -> (C, B) float32 maxima and (C, B) flat argmax positions.

    ``max`` returns the first position of a tied maximum, so the position is deterministic too.
    The flatten is a view for NCHW and channels-last tensors alike.
    """
    values, where = stage.flatten(2).max(dim=2)  # (B, C)
    return values.float().T, where.T


def merge_topk(best: TopK, scores: Tensor, images: Tensor, positions: Tensor) -> TopK:
    """``best`` and a batch's candidates merged: still (C, k), still best first.

    ``scores`` and ``positions`` are (C, B); ``images`` is (B,) (one image index per column) or
    (C, B). Order: higher score first, then lower image index.
    """
    channels, k = best.scores.shape
    if images.dim() == 1:
        images = images.to(best.images.device).expand(channels, -1)
    cand_scores = torch.cat([best.scores, scores.to(best.scores)], dim=1)  # (C, k + B)
    cand_images = torch.cat([best.images, images.to(best.images)], dim=1)
    cand_positions = torch.cat([best.positions, positions.to(best.positions)], dim=1)
    by_image = torch.argsort(cand_images, dim=1, stable=True)
    cand_scores, cand_images, cand_positions = (
        t.gather(1, by_image) for t in (cand_scores, cand_images, cand_positions)
    )
    keep = torch.argsort(cand_scores, dim=1, descending=True, stable=True)[:, :k]
    return TopK(cand_scores.gather(1, keep), cand_images.gather(1, keep), cand_positions.gather(1, keep))
