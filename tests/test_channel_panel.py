"""The stage tab's channel panel: a feature visualisation computed once and kept on disk under a
server-chosen name, and the channel's dataset exemplars from a loaded index."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
import torch

from resnet_viz import visualize_channel
from resnet_viz.serve import explorer as explorer_module
from resnet_viz.serve.cancel import Cancelled
from resnet_viz.serve.explorer import Explorer, UserError
from resnet_viz.serve.feature_cache import FeatureVisCache
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui.channel_panel import _check_channel, exemplar_gallery, visualization_view

from .index_folder import shared_index
from .support import random_model, random_registry

SETTINGS = {"size": 64, "steps": 8, "seed": 0}  # small: the recipe's own tests check the pictures


@pytest.fixture
def explorer(registry, tmp_path):
    return Explorer(registry, SessionStore(), feature_cache=FeatureVisCache(tmp_path / "cache"), feature_vis=SETTINGS)


@pytest.mark.slow
def test_a_visualisation_is_computed_once_then_read_from_disk(explorer, examples, tmp_path):
    session = explorer.analyze(str(examples[0]), "resnet18", "fv")
    picture, note = visualization_view(explorer, session, "C3", 5, "en")
    assert picture is None and re.search(r"Press \*\*Visualise this channel\*\* .* 8 steps .* about \d+ s", note)
    seen = []
    image, meta = explorer.visualize(session, "C3", 5, progress=seen.append)
    direct = visualize_channel(random_model("resnet18"), "C3", 5, **SETTINGS)
    assert np.asarray(image).tolist() == np.asarray(direct.image).tolist()  # the library's picture, bit for bit
    assert seen[-1] == 1.0 and meta["objective"] == direct.objective
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 2 and all(re.fullmatch(r"[0-9a-f]{64}\.(png|json)", f) for f in files)  # server-chosen names
    # A second visitor (and a restarted server: a fresh explorer on the same folder) gets it from disk.
    fresh = Explorer(explorer.registry, SessionStore(), feature_cache=FeatureVisCache(tmp_path / "cache"), feature_vis=SETTINGS)
    other = fresh.analyze(str(examples[1]), "resnet18", "fv2")
    calls, handle = [], random_model("resnet18").register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        again, note = visualization_view(fresh, other, "C3", 5, "en")
        image2, _ = fresh.visualize(other, "C3", 5)
    finally:
        handle.remove()
    assert calls == [] and np.asarray(again).tolist() == np.asarray(image).tolist() == np.asarray(image2).tolist()
    assert note.startswith("The image **C3 channel 5** of resnet18 responds to most, after 8 steps")


@pytest.mark.slow
def test_other_settings_or_weights_never_hit_the_cache(explorer, tmp_path):
    model = random_model("resnet18")
    key = FeatureVisCache.key(model, "C3", 5, SETTINGS)
    assert key != FeatureVisCache.key(model, "C3", 5, {**SETTINGS, "steps": 9})
    assert key != FeatureVisCache.key(model, "C3", 6, SETTINGS)
    assert key != FeatureVisCache.key(random_model("resnet34"), "C3", 5, SETTINGS)
    other = random_registry().get("resnet18").model
    with torch.no_grad():
        other.fc.bias.add_(1.0)  # other weights, same arch
    assert key != FeatureVisCache.key(other, "C3", 5, SETTINGS)


@pytest.mark.slow
def test_a_damaged_or_unwritable_cache_only_costs_recomputing(registry, examples, tmp_path):
    cache = FeatureVisCache(tmp_path / "cache")
    explorer = Explorer(registry, SessionStore(), feature_cache=cache, feature_vis=SETTINGS)
    session = explorer.analyze(str(examples[0]), "resnet18", "fv")
    explorer.visualize(session, "C2", 1)
    for png in (tmp_path / "cache").glob("*.png"):
        png.write_bytes(b"not a png")
    assert explorer.cached_visualization("resnet18", "C2", 1) is None
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    readonly = Explorer(registry, SessionStore(), feature_cache=FeatureVisCache(blocked / "cache"), feature_vis=SETTINGS)
    image, _ = readonly.visualize(readonly.analyze(str(examples[0]), "resnet18", "ro"), "C2", 1)
    assert image.size == (64, 64)


def test_requests_for_one_channel_that_arrive_together_compute_it_once(explorer, examples, monkeypatch):
    """Eight visitors press Visualise for the same channel at once: one computation, and each of
    them gets its picture. (The cache used to be read only before waiting for the model, so every
    request that had waited computed the channel again.)"""
    computed = []

    def counting(model, stage, channel, **settings):
        computed.append((stage, channel))
        return visualize_channel(model, stage, channel, **settings)

    monkeypatch.setattr(explorer_module, "visualize_channel", counting)
    visitors = 8
    sessions = [explorer.analyze(str(examples[0]), "resnet18", f"together{n}") for n in range(visitors)]
    together = threading.Barrier(visitors)
    pictures: list = [None] * visitors

    def press(n: int) -> None:
        together.wait()
        pictures[n] = np.asarray(explorer.visualize(sessions[n], "C2", 7)[0]).tolist()

    threads = [threading.Thread(target=press, args=(n,)) for n in range(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert computed == [("C2", 7)]
    assert pictures[0] is not None and all(p == pictures[0] for p in pictures)


def test_a_visualisation_can_be_cancelled_and_leaves_nothing(explorer, examples, tmp_path):
    session = explorer.analyze(str(examples[0]), "resnet18", "fv")

    def cancel_at_three(fraction: float) -> None:
        if fraction >= 3 / 8:
            session.cancel.set()

    with pytest.raises(Cancelled):
        explorer.visualize(session, "C4", 2, progress=cancel_at_three)
    assert explorer.cached_visualization("resnet18", "C4", 2) is None
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.png"))
    assert not explorer.registry.get("resnet18").gate.busy


@pytest.mark.parametrize("stage,channel,message", [
    ("../../etc", 0, "is not a stage"), ("C2", -1, "C2 has channels 0-63; -1 is not one of them"),
    ("C2", 64, "64 is not one of them"), ("c2", 0, "is not a stage"),
])
def test_hostile_stage_and_channel_values_are_refused(explorer, examples, stage, channel, message):
    session = explorer.analyze(str(examples[0]), "resnet18", "fv")
    with pytest.raises(UserError, match=re.escape(message)):
        _check_channel(session, stage, channel, "en")


@pytest.mark.slow
def test_exemplars_from_an_index(registry, examples, tmp_path_factory):
    explorer = Explorer(registry, SessionStore(), index=shared_index(tmp_path_factory))
    session = explorer.analyze(str(examples[0]), "resnet18", "ex")
    items, note = exemplar_gallery(explorer, session, "C3", 7, "en")
    top = explorer.index.top("C3", 7)
    assert len(items) == len([e for e in top if e.patch is not None]) == 6  # every readable image of the folder
    # The file name may break after / _ - . (zero-width spaces, invisible): the caption reads the same.
    assert [caption.replace("\u200b", "") for _, caption in items] == [f"{e.score:.2f} · {e.image}" for e in top]
    assert all(max(picture.size) == 96 for picture, _ in items)
    assert note.startswith("The 6 patches of 6 indexed images that excite **C3 channel 7** most")
    other = explorer.analyze(str(examples[0]), "resnet34", "ex34")  # the index was built with resnet18
    items, note = exemplar_gallery(explorer, other, "C3", 7, "en")
    assert items == [] and note.startswith("The loaded exemplar index does not fit this model")


def test_without_an_index_the_panel_says_how_to_build_one(explorer, examples):
    session = explorer.analyze(str(examples[0]), "resnet18", "ex")
    items, note = exemplar_gallery(explorer, session, "C3", 7, "en")
    assert items == [] and "python -m resnet_viz index FOLDER --arch resnet18 --out INDEX.npz" in note
    assert "--index INDEX.npz" in note
    assert "색인" in exemplar_gallery(explorer, session, "C3", 7, "ko")[1]


def test_a_visualisation_shows_its_image_as_it_goes(explorer, examples):
    # Issue 17 §3: a preview every few steps (Lucid-style), never the last step (the result follows).
    session = explorer.analyze(str(examples[0]), "resnet18", "preview-watcher")
    seen = []
    image, meta = explorer.visualize(session, "C3", 7, on_preview=lambda step, steps, picture: seen.append(
        (step, steps, picture.size)), previews=4)
    assert [s for s, _, _ in seen] == [2, 4, 6] and {(n, size) for _, n, size in seen} == {(8, (64, 64))}
    assert meta["steps"] == 8 and image.size == (64, 64)
    again = []
    explorer.visualize(session, "C3", 7, on_preview=lambda *a: again.append(a))
    assert again == []  # from the cache: nothing to watch
