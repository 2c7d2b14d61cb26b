"""Dataset exemplars on Ray: the CLI's ``--engine ray`` starts a local 2-CPU Ray, ships this
package to its workers, scores on an actor pool, shuts Ray down, and writes the same index as the
local engine (float rounding aside).

One replica: each replica's start (import torch, load the model) costs 5-10 s on 2 busy cores.
Merging replicas' partial tables in any order is the merge's unit test in test_index.py."""

from __future__ import annotations

import numpy as np
import pytest
import ray

from resnet_viz import load_index
from resnet_viz.cli.main import main

from .index_folder import UNREADABLE, shared_folder, shared_index
from .test_index import _alive_children

# Ray Data's own DataContext sets its deprecated fields when it is created.
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.filterwarnings("ignore:`use_:DeprecationWarning")]

SCORE_TOL = dict(rtol=1e-4, atol=1e-5)  # replicas compute random weights' BN statistics on 1 thread


def test_cli_ray_engine_builds_the_local_index_and_leaves_nothing_running(tmp_path_factory, tmp_path, capsys):
    folder = shared_folder(tmp_path_factory)
    out = tmp_path / "ray.npz"
    assert not ray.is_initialized()
    before = set(_alive_children())
    argv = ["index", str(folder), "--arch", "resnet18", "--weights", "random", "--out", str(out), "--top-k", "9"]
    assert main(argv + ["--engine", "ray", "--workers", "1", "--ray-cpus", "2", "--batch-size", "2", "--quiet"]) == 0
    summary = capsys.readouterr().out.splitlines()
    assert summary[0].startswith(f"indexed 6 of 9 images in {folder} (3 unreadable)") and "engine ray" in summary[0]
    assert not ray.is_initialized() and set(_alive_children()) <= before  # Ray's processes are gone

    on_ray = load_index(out)
    local = shared_index(tmp_path_factory)
    for key in ("arch", "weights", "weights_sha256", "preprocessing", "stages", "images", "top_k", "indexed"):
        assert on_ray.meta[key] == local.meta[key], key
    assert {u["path"] for u in on_ray.unreadable} == set(UNREADABLE)
    assert on_ray.meta["engine"] == "ray"
    for stage in on_ray.stages:
        for channel in range(on_ray.channels(stage)):
            a = {e.image: e for e in local.top(stage, channel)}
            b = {e.image: e for e in on_ray.top(stage, channel)}
            assert a.keys() == b.keys()  # k = 9 > 6 images: every image, so no tie decides membership
            for image, e in a.items():
                assert np.isclose(b[image].score, e.score, **SCORE_TOL), (stage, channel, image)
                assert b[image].position == e.position and b[image].box == e.box, (stage, channel, image)
                assert np.array_equal(np.asarray(b[image].patch), np.asarray(e.patch))
            scores = [e.score for e in b.values()]
            assert scores == sorted(scores, reverse=True)
