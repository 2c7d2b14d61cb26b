"""The residual-learning lab's data randomisation test (issue 18, section 3): the shipped pair
compared once per server, a live pair trained one at a time and paused while the explorer's
models compute, Cancel, and the table, words and picture in both languages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from resnet_viz.draw import trust_charts
from resnet_viz.i18n import UserError, tr
from resnet_viz.serve.cancel import Cancelled
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.gate import Activity
from resnet_viz.serve.trust_lab import LAB_METHODS, DataRandomisationLab
from resnet_viz.trust.lab import LabConfig
from resnet_viz.trust.sanity import VERDICT_KEYS
from resnet_viz.ui.data_randomisation import SHOWN_SCENES, lab_views

TINY = (LabConfig(labels="true", train_size=64, test_size=64, steps=12),
        LabConfig(labels="permuted", train_size=64, test_size=64, steps=12))


@pytest.fixture(scope="module")
def shipped():
    lab = DataRandomisationLab()
    return lab, lab.shipped()


def test_the_shipped_pair_is_compared_once_per_server(shipped):
    lab, results = shipped
    assert list(results) == list(LAB_METHODS)
    assert lab.shipped() is results  # cached: the next visitor waits for nothing
    # The paper's pattern on the shipped pair (as tests/test_trust_sanity.py asserts of the library).
    assert results["gradcam"].verdict == "depends on the weights"
    assert np.mean(results["guided_backprop"].spearman_abs) > np.mean(results["gradcam"].spearman_abs) + 0.2


def test_the_lab_shows_a_table_a_note_and_the_pairs_of_maps_in_both_languages(shipped):
    _, results = shipped
    for lang in ("en", "ko"):
        note, table, picture = lab_views(results, lang, live=False)
        assert table["headers"][0] == tr("datarand_col_method", lang) and len(table["data"]) == len(LAB_METHODS)
        for row, result in zip(table["data"], results.values()):
            assert row[1] == round(float(np.mean(result.spearman_abs)), 2)
            assert row[2] == round(result.chance["spearman_abs"]["high"], 2)
            assert row[4] == tr(VERDICT_KEYS[result.verdict], lang)
        assert note.startswith(tr("datarand_shipped", lang)) and "10%" in note
        assert tr("datarand_trained_in", lang).split("{")[0] not in note  # the shipped pair's times are not this server's
        assert isinstance(picture, Image.Image) and picture.height > SHOWN_SCENES * 84
    live_note = lab_views(results, "en", live=True)[0]
    assert live_note.startswith("The pair trained just now") and "Training took" in live_note


def test_the_grid_pairs_each_scene_with_both_networks_maps():
    scenes = [Image.new("RGB", (32, 32), (90, 90, 90))] * 2
    maps = {"Grad-CAM": ([np.zeros((32, 32))] * 2, [np.ones((32, 32))] * 2)}
    grid = trust_charts.data_randomisation_grid(scenes, ["0-18°", "18-36°"], maps)
    assert grid.width >= 3 * 84 and grid.height >= 2 * 84
    with pytest.raises(ValueError, match="one map per scene"):
        trust_charts.data_randomisation_grid(scenes, ["a", "b"], {"x": ([np.zeros((32, 32))], [np.zeros((32, 32))] * 2)})


@pytest.mark.slow
def test_a_live_pair_trains_one_at_a_time_and_waits_while_the_models_compute():
    activity = Activity()
    lab = DataRandomisationLab(activity, live=TINY)
    seen: list[float] = []
    results: dict = {}
    activity.add(1)  # an analysis is running: the training must not take its cores
    worker = threading.Thread(target=lambda: results.update(lab.train(seen.append)))
    worker.start()
    time.sleep(1.0)
    assert lab.training and len(seen) == 1  # the first step reported, then it waits
    with pytest.raises(UserError) as refused:
        lab.train(lang="ko")
    assert refused.value.text("ko") == tr("datarand_busy", "ko")
    activity.add(-1)
    worker.join(120)
    assert not lab.training and list(results) == list(LAB_METHODS) and seen[-1] == pytest.approx(1.0)
    assert results["gradcam"].networks["permuted"]["config"]["labels"] == "permuted"


def test_cancel_stops_a_live_training(registry, examples):
    explorer = Explorer(registry)
    explorer.data_randomisation = DataRandomisationLab(registry.activity, live=TINY)
    session = explorer.analyze(str(examples[0]), "resnet18", "student")
    explorer.cancel("student")
    with pytest.raises(Cancelled):
        explorer.data_randomisation_test(session, live=True)
    assert not explorer.data_randomisation.training  # the server's one training slot is free again
