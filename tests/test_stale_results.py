"""Issue 17 §1: an asynchronous result is shown only under what it was computed for.

A feature visualisation that ends after the visitor picked another stage or channel goes to the
cache, and the panel shows the channel on screen now; an explanation that ends after a newer one was
asked for is dropped; the Grad-CAM ladder always shows the heatmap's target."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_viz.explain.methods import method_spec
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.feature_cache import FeatureVisCache
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui.attributions import explained_views, ladder_view
from resnet_viz.ui.channel_panel import finished_view

SETTINGS = {"size": 32, "steps": 2, "seed": 0}
TABBY, PAJAMA = 281, 697


@pytest.fixture
def explorer(registry, tmp_path):
    return Explorer(registry, SessionStore(), feature_cache=FeatureVisCache(tmp_path / "cache"), feature_vis=SETTINGS)


@pytest.fixture
def session(explorer, examples):
    session = explorer.analyze(str(next(p for p in examples if p.name == "chelsea.png")), "resnet18", "stale")
    session.outputs.update(stage="C4", channel_number=146)  # what the stage tab shows
    return session


def test_a_visualisation_for_the_channel_on_screen_is_shown(explorer, session):
    done = explorer.visualize(session, "C4", 146)
    picture, note = finished_view(explorer, session, "C4", 146, done, "en")
    assert picture is done[0] and "**C4 channel 146**" in note


def test_a_visualisation_that_ends_after_another_channel_was_picked_shows_that_channel(explorer, session):
    done = explorer.visualize(session, "C4", 146)  # the run, started on 146 ...
    session.outputs.update(channel_number=200)  # ... while the visitor clicked tile 200
    picture, note = finished_view(explorer, session, "C4", 146, done, "en")
    assert picture is None and "C4 channel 200" in note and "146" not in note  # 200's button, not 146's picture
    assert explorer.cached_visualization("resnet18", "C4", 146) is not None  # kept for when 146 is picked again
    # The channel picked meanwhile already has a picture: that one is shown.
    other = explorer.visualize(session, "C4", 200)
    picture, note = finished_view(explorer, session, "C4", 146, done, "en")
    assert np.array_equal(np.asarray(picture), np.asarray(other[0])) and "**C4 channel 200**" in note


def test_a_stage_change_counts_too_and_so_does_a_cancelled_run(explorer, session):
    done = explorer.visualize(session, "C4", 7)
    session.outputs.update(stage="C2", channel_number=7)  # same number, other stage
    picture, note = finished_view(explorer, session, "C4", 7, done, "en")
    assert picture is None and "C2 channel 7" in note
    picture, note = finished_view(explorer, session, "C4", 7, None, "en")  # cancelled, then another stage
    assert picture is None and "C2 channel 7" in note and "cancelled" not in note


def test_only_the_newest_explanation_asked_for_is_shown(session):
    first = session.ask("explain")
    second = session.ask("explain")
    assert not session.is_latest("explain", first) and session.is_latest("explain", second)
    assert session.is_latest("visualize", 0)  # kinds are counted apart


def test_the_ladder_shows_the_heatmaps_target(explorer, session):
    # Before: a ladder for "pajama"; then saliency for "tabby", a method without maps of its own.
    pajama = explorer.explain(session, "gradcam_ladder", PAJAMA)
    session.outputs.ladder = ladder_view(session, pajama, "en")
    result = explorer.explain(session, "saliency", TABBY)
    picture, steps, caption = explained_views(explorer, session, result, method_spec("saliency"), "C5", TABBY, "en")
    expected = ladder_view(session, explorer.explain(session, "gradcam_ladder", TABBY), "en")
    assert "tabby" in caption
    assert np.array_equal(np.asarray(steps), np.asarray(expected)) and session.outputs.ladder is steps
    # No class typed: the heatmap and the ladder both show the top-1 (the shared ladder).
    result = explorer.explain(session, "saliency", None)
    _, steps, caption = explained_views(explorer, session, result, method_spec("saliency"), "C5", None, "en")
    top1 = session.report["predictions"][0]["label"]
    assert top1 in caption
    assert np.array_equal(np.asarray(steps), np.asarray(ladder_view(session, explorer.ladder(session), "en")))
