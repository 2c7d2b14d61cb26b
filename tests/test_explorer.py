"""Each tab's handlers, called directly: what the app wires to its controls."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from resnet_viz import analyze, hook_count
from resnet_viz.explorer import Explorer, UserError
from resnet_viz.registry import ModelRegistry
from resnet_viz.sessions import SessionStore

from .conftest import TEST_LAYOUT, random_model

SID = "session-1"


@pytest.fixture(scope="module")
def explorer(examples):
    explorer = Explorer(ModelRegistry("random", "cpu", layout=TEST_LAYOUT), SessionStore(max_sessions=8))
    explorer.analyze(str(examples[0]), "resnet18", SID)
    return explorer


def test_predictions_tab(explorer, examples):
    probabilities, crop = explorer.predictions(SID)
    direct = analyze(random_model("resnet18"), examples[0])
    assert probabilities == {p["label"]: p["probability"] for p in direct["predictions"]}
    assert crop.size == (224, 224)
    assert "resnet18 · random weights · cpu · last analysis" in explorer.status("resnet18", "en", 12.0)
    assert "무작위 가중치" in explorer.status("resnet18", "ko", 12.0)


@pytest.mark.parametrize("stage,channels", [("C1", 64), ("C2", 64), ("C3", 128), ("C4", 256), ("C5", 512)])
def test_stage_tab_renders_from_the_session_without_a_forward(explorer, stage, channels):
    model = explorer.registry.get("resnet18").model
    calls = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        grid, info, shown = explorer.stage_view(SID, stage, "mean", 16)
    finally:
        handle.remove()
    assert calls == []
    assert len(shown) == 16 and len(set(shown)) == 16 and all(0 <= c < channels for c in shown)
    means = explorer.session(SID).stages[stage].float().mean(dim=(1, 2))
    assert shown == torch.argsort(means, descending=True, stable=True)[:16].tolist()
    assert grid.mode == "RGB" and grid.width > grid.height > 0
    assert info.startswith(f"**{stage}**: {channels} channels") and "receptive field" in info


def test_gradcam_ranking_uses_channel_weights(explorer):
    explorer.ensure_channel_weights(SID)
    weights = explorer.session(SID).channel_weights["C4"]
    _, _, shown = explorer.stage_view(SID, "C4", "gradcam", 8)
    assert shown == torch.argsort(weights, descending=True, stable=True)[:8].tolist()


def test_clicking_a_tile_opens_that_channel(explorer):
    _, _, shown = explorer.stage_view(SID, "C3", "mean", 16)
    assert explorer.channel_at(shown, (5, 20)) == shown[0]  # first tile, below its caption
    assert explorer.channel_at(shown, (100 + 5, 20)) == shown[1]  # one tile (96) and gap (4) to the right
    assert explorer.channel_at(shown, (10_000, 10)) is None
    half = explorer.channel_view(SID, "C3", shown[1], 0.5)
    opaque = explorer.channel_view(SID, "C3", shown[1], 1.0)
    clear = explorer.channel_view(SID, "C3", shown[1], 0.0)
    assert half.size == (224, 224)
    assert np.asarray(clear).tolist() == np.asarray(explorer.session(SID).crop).tolist()
    assert np.abs(np.asarray(opaque, dtype=int) - np.asarray(clear, dtype=int)).mean() > 10
    with pytest.raises(UserError, match="C3 has channels 0-127; 500 is not one of them"):
        explorer.channel_view(SID, "C3", 500, 0.5)


def test_residual_tab(explorer):
    figure = explorer.residual_figure(SID, "en")
    assert isinstance(figure, Figure)
    assert "Residual branch F(x) vs shortcut x" in figure.axes[0].get_title()


@pytest.mark.parametrize("method", ["gradcam", "gradcam_ladder", "integrated_gradients"])
def test_attributions_tab(explorer, method):
    seen = []
    heatmap, ladder, info = explorer.explain(SID, method, None, "C4", "en", progress=seen.append)
    assert heatmap.size == (224, 224)
    assert (ladder is not None) == (method == "gradcam_ladder")
    if ladder is not None:
        assert ladder.width > 4 * 224
    assert info.startswith("**") and " ms" in info
    assert ("IG convergence delta" in info) == (method == "integrated_gradients")
    assert seen and seen[-1] == 1.0
    assert explorer.session(SID).outputs["attribution"]["method"] == method


def test_attributions_for_a_chosen_class(explorer):
    _, _, info = explorer.explain(SID, "saliency", "207", "C5", "en")
    assert "golden retriever" in info
    with pytest.raises(UserError, match="unknown target 'not a class'"):
        explorer.explain(SID, "saliency", "not a class", "C5", "en")


def test_lab_tab(explorer):
    flow = explorer.gradient_flow_figure(SID, "en")
    assert flow.axes[0].get_yscale() == "log"
    sweep = explorer.lesion_figure(SID, "en")
    assert len(sweep.axes[0].patches) >= 8
    intact, text = explorer.scaled_predictions(SID, {"C2": 1.0, "C3": 1.0, "C4": 1.0, "C5": 1.0})
    assert intact == pytest.approx(explorer.predictions(SID)[0], rel=1e-5)
    assert text == "KL divergence from the intact prediction: 0.0000"
    _, changed = explorer.scaled_predictions(SID, {"C2": 1.0, "C3": 0.0, "C4": 1.0, "C5": 1.0})
    assert changed != text


def test_architecture_tab(explorer):
    table = explorer.architecture("resnet18", "en")
    assert table["headers"][:3] == ["stage", "layer", "output size"]
    assert [row[0] for row in table["data"]] == ["C1", "C2", "C3", "C4", "C5", "head", "total"]
    assert table["data"][-1][6] == "11,689,512"  # torchvision's num_params for resnet18
    assert explorer.architecture("resnet18", "ko")["headers"][0] == "스테이지"


def test_download_holds_the_json_and_the_pictures(explorer):
    explorer.stage_view(SID, "C2", "mean", 8)
    explorer.explain(SID, "gradcam", None, "C5")
    path = explorer.download(SID)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        report = json.loads(archive.read("analysis.json"))
    assert {"analysis.json", "crop.png", "grid.png", "heatmap.png", "attribution.json"} <= names
    assert report == explorer.session(SID).report


def test_bad_images_and_missing_sessions_are_user_errors(explorer, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(UserError, match="This image cannot be analysed: not an image"):
        explorer.analyze(str(bad), "resnet18", "other")
    with pytest.raises(UserError, match="이 이미지는 분석할 수 없습니다"):
        explorer.analyze(str(bad), "resnet18", "other", "ko")
    with pytest.raises(UserError, match="Analyse a photo first"):
        explorer.stage_view("nobody", "C2", "mean", 8)


def test_the_example_is_analysed_once_and_shared(explorer, examples):
    model = explorer.registry.get("resnet18").model
    forwards = []
    handle = model.register_forward_pre_hook(lambda m, a: forwards.append(1))
    try:
        first = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-a")
        second = explorer.analyze_example(str(examples[1]), "resnet18", "visitor-b")
    finally:
        handle.remove()
    assert forwards == [1]
    assert first.report == second.report and first is not second
    first.outputs["grid"] = "only a's"
    assert "grid" not in second.outputs


def test_forget_frees_the_session(explorer, examples):
    explorer.analyze(str(examples[2]), "resnet18", "leaving")
    explorer.download("leaving")
    assert explorer.store.get("leaving") is not None
    explorer.forget("leaving")
    assert explorer.store.get("leaving") is None
    assert not (explorer._downloads / "leaving").exists()
    assert hook_count(explorer.registry.get("resnet18").model) == 0


def test_fallback_to_random_weights_says_so(torch_home, no_network):
    registry = ModelRegistry("imagenet", "cpu")
    explorer = Explorer(registry)
    loaded = registry.get("resnet18")
    assert loaded.model.meta.weights == "random" and "not cached" in loaded.fallback
    banner = explorer.banner("resnet18", "en")
    assert banner.startswith("**Random weights: the predictions are meaningless.**")
    assert "python -m resnet_viz download --arch resnet18" in banner and str(loaded.cache_dir) in banner
    assert explorer.banner("resnet18", "ko").startswith("**무작위 가중치")


def test_a_chosen_checkpoint_that_fails_is_not_replaced(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        ModelRegistry(str(tmp_path / "missing.pth"), "cpu").get("resnet18")
