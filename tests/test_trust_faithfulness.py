"""Deletion and insertion on a toy model whose right answer is known, and ROAD against the
reference implementation's formula (pytorch_grad_cam/metrics/road.py, transcribed densely)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from resnet_viz.model.weights import ModelMeta
from resnet_viz.trust.faithfulness import faithfulness, ranking
from resnet_viz.trust.imputer import impute
from resnet_viz.trust.road import removal_masks, road_images, road_result

SIZE = 16
REGION = (slice(4, 8), slice(6, 12))  # 4 x 6 = 24 pixels that decide the class
SCALE = 6.0


class _Identity(nn.Module):
    mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]  # pixel space = input space


class RegionModel(nn.Module):
    """logit(class 0) = SCALE x the mean of the region's pixels (all channels), logit(class 1) = 0:
    only the region matters, so the best ranking is known by construction."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.meta = ModelMeta(arch="toy", weights="toy", categories=("region", "other"), transforms=_Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = SCALE * x[:, :, REGION[0], REGION[1]].mean(dim=(1, 2, 3)) + self.anchor
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def _photo() -> torch.Tensor:
    x = torch.full((3, SIZE, SIZE), 0.2)
    x[:, REGION[0], REGION[1]] = 1.0
    return x


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_ranking_puts_the_largest_first_and_breaks_ties_by_seed():
    m = np.array([[0.0, 3.0], [1.0, 0.0]])
    order = ranking(m, seed=0).tolist()
    assert order[:2] == [1, 2] and sorted(order[2:]) == [0, 3]
    assert ranking(m, seed=0).tolist() == order


def test_deletion_of_the_right_pixels_follows_the_formula():
    model, x = RegionModel(), _photo()
    perfect = np.zeros((SIZE, SIZE), np.float32)
    perfect[REGION] = 1.0
    steps = 8
    result = faithfulness(model, x, perfect, target=0, steps=steps, baselines=("random", "edge"), road=False)
    region = 24
    expected = []
    for k in range(steps + 1):
        removed = min(round(k * SIZE * SIZE / steps), region)  # the region goes first, to black (0)
        expected.append(_sigmoid(SCALE * (region - removed) / region))
    assert result.deletion.curve == pytest.approx(expected, abs=1e-6)
    assert result.deletion.auc == pytest.approx(np.trapezoid(expected, np.linspace(0, 1, steps + 1)), abs=1e-6)
    # insertion: once the region is back the probability is the photo's own
    assert result.insertion.curve[1:] == pytest.approx([_sigmoid(SCALE)] * steps, abs=1e-6)
    assert result.insertion.curve[0] < result.insertion.curve[1]
    # the worst ranking (the region last) and the baselines do worse on both curves
    worst = faithfulness(model, x, 1 - perfect, target=0, steps=steps, baselines=(), road=False)
    for other in (worst.deletion, result.baselines["random"]["deletion"]):
        assert other.auc > result.deletion.auc + 0.1
    for other in (worst.insertion, result.baselines["random"]["insertion"]):
        assert other.auc < result.insertion.auc - 0.01  # the blurred start keeps much of the bright region
    assert result.target["index"] == 0 and result.target["label"] == "region"
    json.dumps(result.to_json())  # every number is plain JSON


def test_curves_run_in_batches_and_progress_can_cancel():
    model, x = RegionModel(), _photo()
    calls = []

    class Stop(Exception):
        pass

    def progress(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 2:
            raise Stop

    with pytest.raises(Stop):
        faithfulness(model, x, np.random.default_rng(0).random((SIZE, SIZE)), steps=28, batch_size=16, progress=progress)
    assert calls == sorted(calls) and 0 < calls[0] < calls[1] < 1


def test_bad_maps_are_refused():
    model, x = RegionModel(), _photo()
    with pytest.raises(ValueError, match="input is"):
        faithfulness(model, x, np.zeros((8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        faithfulness(model, x, np.full((SIZE, SIZE), np.nan))
    with pytest.raises(ValueError, match="steps"):
        faithfulness(model, x, np.zeros((SIZE, SIZE)), steps=1)


# --- ROAD -------------------------------------------------------------------------------------

# road.py's neighbour weights and its setup_sparse_system, written densely for a small image.
REFERENCE_WEIGHTS = [((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
                     ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6)]


def reference_impute(img: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """NoisyLinearImputer(noise=0): img (C, H, W), keep (H, W) 1 where the pixel stays."""
    c, h, w = img.shape
    missing = [(r, q) for r in range(h) for q in range(w) if keep[r, q] == 0]
    where = {p: i for i, p in enumerate(missing)}
    a = np.zeros((len(missing), len(missing)))
    b = np.zeros((len(missing), c))
    for i, (r, q) in enumerate(missing):
        total = 1.0
        for (dr, dq), weight in REFERENCE_WEIGHTS:
            rr, qq = r + dr, q + dq
            if rr < 0 or qq < 0 or rr >= h or qq >= w:
                total -= weight  # "Reduce weight for invalid"
            elif keep[rr, qq] > 0.5:
                b[i] -= weight * img[:, rr, qq]
            else:
                a[i, where[(rr, qq)]] = weight
        a[i, i] = -total
    out = img.copy()
    if missing:
        solution = np.linalg.solve(a, b)
        for i, (r, q) in enumerate(missing):
            out[:, r, q] = solution[i]
    return out


def reference_keep(cam: np.ndarray, percentile: float, most_relevant_first: bool) -> np.ndarray:
    """RemoveMostRelevantFirst / RemoveLeastRelevantFirst's binary mask (1 = keep)."""
    mask = cam if most_relevant_first else 1 - cam
    return np.float32(mask < np.percentile(mask, percentile))


@pytest.mark.parametrize("p", [10, 30, 50, 70, 90])
def test_removal_masks_are_the_reference_ones(p):
    cam = np.random.default_rng(p).random((12, 12))
    morf, lerf = removal_masks(cam, [p])
    # road.py's "percentile" is the threshold: ROADMostRelevantFirst(100 - p) removes the top p%
    assert np.array_equal(morf[0].numpy(), reference_keep(cam, 100 - p, True) == 0)
    assert np.array_equal(lerf[0].numpy(), reference_keep(cam, 100 - p, False) == 0)
    assert abs(int(morf[0].sum()) - round(144 * p / 100)) <= 1


def test_imputer_solves_the_reference_system():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 12, 14))
    cams = [rng.random((12, 14)), np.add.outer(np.arange(12.0), np.arange(14.0))]  # speckle and a ramp: blob-like removal
    for cam in cams:
        for p in (20, 60, 90):
            for first in (True, False):
                keep = reference_keep(cam, 100 - p, first)
                expected = reference_impute(img, keep)
                got = impute(torch.tensor(img)[None], torch.tensor(keep == 0)[None], noise=0.0)[0].numpy()
                assert np.abs(got - expected).max() < 2e-3, (p, first)
                assert np.array_equal(got[:, keep == 1], img[:, keep == 1])  # kept pixels untouched


def test_road_score_is_the_reference_formula():
    model = RegionModel()
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.random((3, SIZE, SIZE)), dtype=torch.float32)
    x[:, REGION[0], REGION[1]] += 1.0
    cam = rng.random((SIZE, SIZE))
    cam[REGION] += 1.0
    percentiles = [10, 30, 50, 70, 90]
    images = road_images(x[None], cam, percentiles, seed=0, noise=0.0)
    with torch.no_grad():
        ours = torch.softmax(model(images), dim=1)[:, 0].tolist()
    result = road_result(percentiles, ours)
    # the reference: ROADCombined = (mean LeRF change - mean MoRF change) / 2 of the target's score
    clean = float(torch.softmax(model(x[None]), dim=1)[0, 0])
    changes = {}
    for first in (True, False):
        scores = []
        for p in percentiles:
            imputed = reference_impute(x.double().numpy(), reference_keep(cam, 100 - p, first))
            with torch.no_grad():
                scores.append(float(torch.softmax(model(torch.tensor(imputed, dtype=torch.float32)[None]), dim=1)[0, 0]) - clean)
        changes[first] = np.mean(scores)
    assert result.score == pytest.approx((changes[False] - changes[True]) / 2, abs=1e-3)
    assert result.score > 0  # the map is right: MoRF hurts, LeRF does not
