"""The explorer's shared state and model work, called directly (no Gradio): analyses, the shared
example, results derived once per analysis, explanations (fast, slow, cancelled), lab work."""

from __future__ import annotations

import threading

import pytest
import torch

from resnet_viz import analyze, attribute, gradient_flow, hook_count, lesion
from resnet_viz.serve.cancel import Cancelled
from resnet_viz.serve.explorer import Explorer, UserError
from resnet_viz.serve.registry import ModelRegistry
from resnet_viz.serve.sessions import SessionStore

from .support import random_model

SID = "session-1"


@pytest.fixture(scope="module")
def explorer(examples, registry):
    explorer = Explorer(registry, SessionStore(max_sessions=8))
    explorer.analyze(str(examples[0]), "resnet18", SID)
    return explorer


def _forwards(model):
    calls = []
    return calls, model.register_forward_pre_hook(lambda m, a: calls.append(1))


@pytest.mark.slow
def test_an_analysis_is_the_librarys(explorer, examples):
    session = explorer.session(SID)
    direct = analyze(random_model("resnet18"), examples[0])
    assert session.report["predictions"] == direct["predictions"]
    assert session.crop.size == (224, 224) and session.analysis.input.shape == (3, 224, 224)
    assert {name: tuple(t.shape) for name, t in session.stages.items()} == {
        "C1": (64, 56, 56), "C2": (64, 56, 56), "C3": (128, 28, 28), "C4": (256, 14, 14), "C5": (512, 7, 7)
    }


@pytest.mark.slow
def test_the_example_is_analysed_once_and_shared(explorer, examples):
    model = explorer.registry.get("resnet18").model
    calls, handle = _forwards(model)
    try:
        first = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-a")
        second = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-b")
    finally:
        handle.remove()
    assert calls == [1]
    assert first.analysis is second.analysis and first is not second
    first.outputs.grid = "only a's"
    assert second.outputs.grid is None


@pytest.mark.slow
def test_derived_results_are_computed_once_per_analysis(explorer, examples):
    a = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-c")
    b = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-d")
    model = explorer.registry.get("resnet18").model
    calls, handle = _forwards(model)
    try:
        ladder = explorer.ladder(a)
        flow = explorer.gradient_flow(a)
        weights = explorer.channel_weights(a)
        n = len(calls)
        assert explorer.ladder(b) is ladder and explorer.gradient_flow(b) is flow and explorer.channel_weights(b) is weights
        assert len(calls) == n  # the second visitor's are the first's
    finally:
        handle.remove()
    direct = attribute(random_model("resnet18"), examples[1], "gradcam_ladder")
    assert ladder["target"] == direct["target"]
    torch.testing.assert_close(torch.from_numpy(ladder["maps"]["C4"]), torch.from_numpy(direct["maps"]["C4"]), atol=1e-5, rtol=0)
    assert flow["target"] == gradient_flow(random_model("resnet18"), examples[1])["target"]
    assert set(weights) == {"C1", "C2", "C3", "C4", "C5"} and weights["C5"].shape == (512,)


def test_a_concurrent_visitor_waits_for_the_one_computation(explorer, examples):
    session = explorer.analyze(str(examples[2]), "resnet18", "racer")
    results = []
    threads = [threading.Thread(target=lambda: results.append(explorer.ladder(session))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(r is results[0] for r in results)


# Few steps and big windows: the methods' own tests check them at their defaults.
CHEAP = {"integrated_gradients": {"steps": 8}, "occlusion": {"window": 112, "stride": 56}}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "saliency", "integrated_gradients", "occlusion"])
def test_explanations_equal_the_library(explorer, examples, method):
    session = explorer.session(SID)
    seen = []
    options = CHEAP.get(method, {})
    result = explorer.explain(session, method, None, "C4", progress=seen.append, **options)
    direct = attribute(random_model("resnet18"), examples[0], method, stage="C4", **options)
    assert result["target"] == direct["target"]
    torch.testing.assert_close(torch.from_numpy(result["map"]), torch.from_numpy(direct["map"]), atol=1e-4, rtol=0)
    assert seen and seen[-1] == 1.0
    assert hook_count(random_model("resnet18")) == 0


@pytest.mark.slow
def test_a_chosen_class_and_a_bad_one(explorer):
    session = explorer.session(SID)
    assert explorer.explain(session, "saliency", 207, "C5")["target"]["label"] == "golden retriever"
    with pytest.raises(UserError, match="unknown target 9999"):
        explorer.explain(session, "saliency", 9999, "C5")
    with pytest.raises(UserError, match="unknown method 'magic'"):
        explorer.explain(session, "magic", None, "C5")


@pytest.mark.slow
def test_a_slow_method_stops_when_cancelled_and_gives_the_model_back(explorer):
    session = explorer.session(SID)
    fractions = []

    def progress(fraction: float) -> None:
        fractions.append(fraction)
        if len(fractions) == 2:
            session.cancel.set()  # what the Cancel button does

    with pytest.raises(Cancelled):
        explorer.explain(session, "occlusion", None, "C5", progress=progress)
    assert len(fractions) == 2  # it stopped at the next batch, not at the end
    assert not explorer.registry.get("resnet18").gate.busy
    assert hook_count(explorer.registry.get("resnet18").model) == 0
    assert explorer.explain(session, "occlusion", None, "C5")["map"].shape == (224, 224)  # and runs again


@pytest.mark.slow
def test_cancel_pressed_while_a_run_waits_stops_it_before_any_batch(explorer):
    session = explorer.session(SID)
    explorer.arm_cancel(SID)  # Explain pressed: an earlier Cancel is forgotten
    session.cancel.set()  # Cancel pressed while the run still waits in the queue
    batches = []
    with pytest.raises(Cancelled):
        explorer.explain(session, "occlusion", None, "C5", progress=batches.append)
    assert batches == [] and not session.cancel.is_set()  # stopped at once; that Cancel is used up
    assert not explorer.registry.get("resnet18").gate.busy
    explorer.arm_cancel("../x")  # hostile ids touch nothing
    session.cancel.set()
    explorer.arm_cancel(SID)  # a Cancel pressed before Explain does not stop the new run
    assert explorer.explain(session, "occlusion", None, "C5", window=112, stride=112)["map"].shape == (224, 224)


def test_expected_time_comes_from_the_forward_and_then_from_measurements(explorer):
    session = explorer.session(SID)
    forward_s = session.report["timing_ms"]["forward"] / 1000
    fresh = Explorer(explorer.registry, SessionStore())
    first = fresh.expected_seconds(session, "occlusion")
    assert first == pytest.approx(forward_s * 0.6 * 50)  # 7 x 7 windows and the image itself
    assert fresh.expected_seconds(session, "integrated_gradients") == pytest.approx(forward_s * 0.6 * 3 * 34)
    fresh._learn("resnet18", False, 0.5)
    assert fresh.expected_seconds(session, "occlusion") == pytest.approx(25.0)


@pytest.mark.slow
def test_lab_work_equals_the_library(explorer, examples):
    session = explorer.session(SID)
    sweep = explorer.lesion_sweep(session)
    assert [r["name"] for r in sweep["blocks"]] == [b.name for b in random_model("resnet18").blocks()]
    scaled = explorer.scaled(session, {"C3": 0.0})
    direct = lesion(random_model("resnet18"), examples[0], scales={"C3": 0.0})
    assert scaled["kl_divergence"] == pytest.approx(direct["kl_divergence"], rel=1e-5)
    intact = explorer.scaled(session, {"C2": 1.0, "C3": 1.0, "C4": 1.0, "C5": 1.0})
    assert intact["kl_divergence"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(UserError, match="C9"):
        explorer.scaled(session, {"C9": 0.5})


def test_bad_images_and_missing_sessions_are_user_errors(explorer, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(UserError, match="This image cannot be analysed: not an image"):
        explorer.analyze(str(bad), "resnet18", "other")
    with pytest.raises(UserError, match="이 이미지는 분석할 수 없습니다: 이미지가 아니거나"):
        explorer.analyze(str(bad), "resnet18", "other", "ko")
    with pytest.raises(UserError, match="Analyse a photo first"):
        explorer.session("nobody")


def test_forget_frees_the_session_and_its_folder(explorer, examples):
    session = explorer.analyze(str(examples[2]), "resnet18", "leaving")
    folder = explorer.downloads.folder(session)
    (folder / "a.zip").write_bytes(b"zip")
    explorer.forget("leaving")
    assert explorer.current("leaving") is None
    assert not folder.exists() and explorer.downloads.root.exists()
    assert hook_count(explorer.registry.get("resnet18").model) == 0


@pytest.mark.slow
def test_a_newer_photo_makes_the_old_session_stale(explorer, examples):
    old = explorer.analyze(str(examples[0]), "resnet18", "switcher")
    assert explorer.is_current("switcher", old)
    explorer.analyze(str(examples[1]), "resnet18", "switcher")
    assert not explorer.is_current("switcher", old)


def test_the_banner_says_when_weights_are_random(torch_home, no_network, explorer):
    registry = ModelRegistry("imagenet", "cpu")
    fallback = Explorer(registry)
    loaded = registry.get("resnet18")
    assert loaded.model.meta.weights == "random" and "not cached" in loaded.fallback
    banner = fallback.banner("resnet18", "en")
    assert banner.startswith("**Random weights: the predictions are meaningless.**")
    assert "python -m resnet_viz download --arch resnet18" in banner
    korean = fallback.banner("resnet18", "ko")
    assert korean.startswith("**무작위 가중치")
    # No server path in a message a visitor reads (issue 17): where the cache lives is the host's business.
    assert str(loaded.cache_dir) not in banner and str(loaded.cache_dir) not in korean and str(torch_home) not in banner
    # chosen with --weights random: said too, with what to do instead
    chosen = explorer.banner("resnet18", "en")
    assert chosen.startswith("**Random weights: the predictions are meaningless.**") and "--weights random" in chosen
    assert explorer.banner("resnet18", "ko").startswith("**무작위 가중치")


def test_a_chosen_checkpoint_that_fails_is_not_replaced(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        ModelRegistry(str(tmp_path / "missing.pth"), "cpu").get("resnet18")
