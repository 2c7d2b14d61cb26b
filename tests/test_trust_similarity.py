"""Spearman, SSIM and the chance surrogates against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from resnet_viz.trust.similarity import chance_band, ranks, spearman, ssim, surrogates


def test_ranks_share_ties():
    assert ranks(torch.tensor([10.0, 30.0, 20.0, 20.0])).tolist() == [1.0, 4.0, 2.5, 2.5]


def test_spearman_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) against (2, 1, 4, 3): d = (1, 1, 1, 1), rho = 1 - 6 * 4 / (4 * 15) = 0.6
    assert spearman(a, np.array([[2.0, 1.0], [4.0, 3.0]])) == pytest.approx(0.6)
    # a monotone change of values keeps the ranks
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)


def test_spearman_with_ties_is_pearson_of_average_ranks():
    a = np.array([1.0, 2.0, 2.0, 3.0])  # ranks 1, 2.5, 2.5, 4
    b = np.array([1.0, 3.0, 2.0, 4.0])  # ranks 1, 3, 2, 4
    ra, rb = np.array([1, 2.5, 2.5, 4]), np.array([1, 3, 2, 4.0])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    expected = (ra * rb).sum() / math.sqrt((ra**2).sum() * (rb**2).sum())  # 4.5 / sqrt(4.5 * 5)
    assert spearman(a, b) == pytest.approx(expected)
    assert spearman(a, b) == pytest.approx(4.5 / math.sqrt(22.5))


def test_spearman_of_a_constant_map_is_zero():
    assert spearman(np.zeros((3, 3)), np.arange(9.0).reshape(3, 3)) == 0.0


def test_spearman_batch_matches_single():
    rng = np.random.default_rng(0)
    a, batch = rng.random((5, 5)), rng.random((3, 5, 5))
    values = spearman(a, batch)
    assert [float(v) for v in values] == pytest.approx([spearman(a, b) for b in batch])


def test_ssim_one_window_by_hand():
    x = np.array([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.5, 1.0]])
    y = np.array([[0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [0.6, 0.6, 0.6]])
    # One 3x3 window, equal weights: means 0.5 and 0.4, variances 1/6 and 0.08/3, covariance 0.
    c1, c2 = 0.01**2, 0.03**2
    mx, my, vx, vy, cxy = 0.5, 0.4, 1 / 6, 0.08 / 3, 0.0
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(x, y, window=3, sigma=None) == pytest.approx(expected, rel=1e-5)
    assert ssim(x, x, window=3, sigma=None) == pytest.approx(1.0, rel=1e-5)
    # and against itself shifted by a constant: only the luminance term drops
    shifted = x * 0.5 + 0.25  # mean 0.5, variance 1/24, covariance with x 1/12
    expected = (2 * 0.25 + c1) * (2 * (1 / 12) + c2) / ((0.25 + 0.25 + c1) * (1 / 6 + 1 / 24 + c2))
    assert ssim(x, shifted, window=3, sigma=None) == pytest.approx(expected, rel=1e-5)


def test_ssim_averages_the_windows_inside_the_map():
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 4)), rng.random((4, 4))
    by_window = [ssim(x[i : i + 3, j : j + 3], y[i : i + 3, j : j + 3], window=3, sigma=None) for i in range(2) for j in range(2)]
    assert ssim(x, y, window=3, sigma=None) == pytest.approx(np.mean(by_window), rel=1e-5)


def test_surrogates_keep_the_values_and_the_smoothness():
    yy, xx = np.mgrid[:32, :32]
    blob = np.exp(-((yy - 10) ** 2 + (xx - 20) ** 2) / 40.0)
    fakes = surrogates(blob, 20, seed=0)
    assert fakes.shape == (20, 32, 32)
    for fake in fakes:  # the very same values, elsewhere
        assert np.allclose(np.sort(fake.numpy().ravel()), np.sort(blob.ravel()))
    # smooth in, smooth out: neighbouring pixels stay strongly correlated, unlike shuffled pixels
    neighbours = np.mean([np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1] for f in fakes.numpy()])
    assert neighbours > 0.8
    assert torch.equal(surrogates(blob, 3, seed=5), surrogates(blob, 3, seed=5))


def test_chance_band():
    band = chance_band(torch.linspace(-1, 1, 201, dtype=torch.float64))
    assert band["low"] == pytest.approx(-0.95) and band["high"] == pytest.approx(0.95) and band["mean"] == pytest.approx(0, abs=1e-12)
