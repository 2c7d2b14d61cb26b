"""What each tab shows for a session, called directly: the functions the tab modules wire to
their components (resnet_viz/ui/<tab>.py), in English and Korean."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_viz import attribute
from resnet_viz.explain.methods import METHOD_SPECS
from resnet_viz.i18n import STRINGS
from resnet_viz.serve.explorer import Explorer, UserError
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui import architecture, attributions, files, lab, predictions, residual, stages

from .support import random_model

EN, KO = STRINGS["en"], STRINGS["ko"]

SID = "tabs"


@pytest.fixture(scope="module")
def explorer(registry):
    return Explorer(registry, SessionStore(max_sessions=8))


@pytest.fixture(scope="module")
def session(explorer, examples):
    return explorer.analyze(str(next(p for p in examples if p.name == "chelsea.png")), "resnet18", SID)


def _forwards(model):
    calls = []
    return calls, model.register_forward_pre_hook(lambda m, a: calls.append(1))


# --- predictions ---------------------------------------------------------------------------


def test_predictions_are_the_reports(session):
    probabilities = predictions.probabilities(session.report)
    rows = session.report["predictions"]
    assert [key.split(" · ")[0] for key in probabilities] == [p["label"] for p in rows]
    assert list(probabilities.values()) == [p["probability"] for p in rows]


def test_random_weights_top5_percentages_tell_the_rows_apart():
    """gr.Label rounds to whole percents: five classes near 0.1% all read "0%"."""
    values = [0.001314, 0.001302, 0.0012, 0.00118, 0.0011]
    assert predictions.percent_texts(values) == ["0.131%", "0.130%", "0.120%", "0.118%", "0.110%"]
    assert predictions.percent_texts([0.81, 0.05, 0.0]) == ["81%", "5%", "0%"]  # whole percents when they suffice
    assert predictions.percent_texts([0.004, 0.003]) == ["0.4%", "0.3%"]
    report = {"predictions": [{"label": f"class {i}", "probability": v} for i, v in enumerate(values)]}
    assert list(predictions.probabilities(report))[1] == "class 1 · 0.130%"


@pytest.mark.parametrize("size,kind", [((451, 300), None), ((1, 1), "tiny"), ((20, 30), "tiny"), ((4000, 10), "sliver"),
                                       ((300, 1300), "sliver"), ((60, 60), None)])
def test_a_tiny_or_thin_photo_gets_a_note_that_says_which(explorer, tmp_path, size, kind):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, (120, 80, 40)).save(path)
    session = explorer.analyze(str(path), "resnet18", "odd")
    note = predictions.crop_note(session, 256, "en")
    assert bool(note) == (kind is not None)
    if kind is not None:
        assert f"{size[0]}x{size[1]} px" in note
        assert ("stretched sliver" in note) == (kind == "sliver") and ("is tiny" in note) == (kind == "tiny")
        korean = predictions.crop_note(session, 256, "ko")
        assert ("가느다란 조각" in korean) == (kind == "sliver") and ("아주 작습니다" in korean) == (kind == "tiny")
    if size == (1, 1):
        assert "enlarged 256.0x" in note


# --- stage features ------------------------------------------------------------------------


@pytest.mark.parametrize("stage,channels", [("C1", 64), ("C3", 128), ("C5", 512)])
def test_the_grid_renders_from_the_session_without_a_forward(explorer, session, stage, channels):
    calls, handle = _forwards(explorer.registry.get("resnet18").model)
    try:
        grid, title, info = stages.grid_view(explorer, session, stage, "mean", 16, "en")
    finally:
        handle.remove()
    assert calls == []
    shown = session.outputs.channels
    means = session.stages[stage].float().mean(dim=(1, 2))
    assert shown == torch.argsort(means, descending=True, stable=True)[:16].tolist()
    assert grid.width > grid.height > 0
    assert title.startswith(f"#### {stage}: the 16 most active channels (resnet18")
    assert info.startswith(f"**{stage}**: {channels} channels") and "receptive field" in info


def test_the_gradcam_ranking_and_its_title(explorer, session):
    _, title, _ = stages.grid_view(explorer, session, "C4", "gradcam", 8, "en")
    weights = explorer.channel_weights(session)["C4"]
    assert session.outputs.channels == torch.argsort(weights, descending=True, stable=True)[:8].tolist()
    top1 = session.report["predictions"][0]["label"]
    assert title == f"#### C4: the 8 channels with the largest Grad-CAM weight for **{top1}** (resnet18)"
    _, korean, _ = stages.grid_view(explorer, session, "C4", "gradcam", 8, "ko")
    assert "Grad-CAM 가중치가 가장 큰 채널 8개" in korean


def test_the_channel_view_and_its_range_check(session):
    picture, caption = stages.channel_view(session, "C3", 5, 0.0, "en")
    assert picture.width > 224 and picture.height > 224  # the crop, a title band and a colour bar
    assert caption.startswith("**C3, channel 5** over the 224x224 crop (resnet18)")
    opaque, _ = stages.channel_view(session, "C3", 5, 1.0, "en")
    assert np.abs(np.asarray(opaque, dtype=int) - np.asarray(picture, dtype=int)).mean() > 10
    with pytest.raises(UserError, match="C3 has channels 0-127; 500 is not one of them"):
        stages.channel_view(session, "C3", 500, 0.5, "en")
    with pytest.raises(UserError, match="C3의 채널은 0-127입니다. -1번 채널은 없습니다."):
        stages.channel_view(session, "C3", -1, 0.5, "ko")
    with pytest.raises(UserError, match="C9 is not a stage"):
        stages.channel_view(session, "C9", 0, 0.5, "en")


# --- residual vs shortcut ------------------------------------------------------------------


def test_blocks_get_the_seed_names_and_the_torchvision_names(session):
    blocks = session.report["blocks"]
    assert residual.seed_names(blocks) == ["C2.1", "C2.2", "C3.1", "C3.2", "C4.1", "C4.2", "C5.1", "C5.2"]
    table = residual.block_table(blocks, "en")
    assert table["headers"][:3] == ["block", "torchvision name", "kind"]
    assert table["data"][2][:3] == ["C3.1", "layer2.0", "convolution block"]
    assert table["data"][1][:3] == ["C2.2", "layer1.1", "identity block"]
    assert residual.block_table(blocks, "ko")["headers"][1] == "torchvision 이름"
    for column in (3, 4, 5):  # one number of decimals per column
        assert len({len(row[column].split(".")[-1]) for row in table["data"]}) == 1, [row[column] for row in table["data"]]


def test_the_gradient_flow_subtitle_names_target_arch_and_photo(explorer, session):
    result = explorer.gradient_flow(session)
    top1 = session.report["predictions"][0]["label"]
    image = session.report["image"]
    assert lab.flow_subtitle(session, result, "en") == f"target: {top1} · resnet18 · photo {image['width']} × {image['height']} px"
    assert lab.flow_subtitle(session, result, "ko").startswith(f"대상: {top1} · resnet18 · 사진")


def test_the_stage_help_says_which_block_opens_each_stage_from_the_model():
    """ResNet-18/34's C2 opens with an identity block (64 channels in, 64 out, stride 1)."""
    eighteen = stages.stage_openings(random_model("resnet18"), "en")
    assert "C2: an **identity block**" in eighteen and "C3, C4, C5: a **convolution block**" in eighteen
    fifty = stages.stage_openings(random_model("resnet50"), "ko")
    assert "C2, C3, C4, C5: **convolution block**" in fifty and "resnet50" in fifty
    assert "Each stage opens with a" not in EN["stages_help"]


def test_a_column_of_numbers_has_one_format():
    assert residual.column_texts([0.93, 0.877, 1.2]) == ["0.930", "0.877", "1.200"]
    assert residual.column_texts([12.5, 40.0, 7.25]) == ["12.5", "40.0", "7.2"]
    assert residual.column_texts([0.0012, 0.0031]) == ["0.0012", "0.0031"]  # at most 4 decimals
    fifty = [{"stage": f"C{s}", "name": f"layer{s - 1}.{i}", "kind": "identity"} for s, n in zip(range(2, 6), (3, 8, 36, 3)) for i in range(n)]
    names = residual.seed_names(fifty)
    assert len(names) == 50 and names[10] == "C3.8" and names[46] == "C4.36"


# --- attributions --------------------------------------------------------------------------


def test_target_search(session):
    assert attributions.resolve_target_text("", "en") is None
    assert attributions.resolve_target_text("281", "en") == 281
    assert attributions.resolve_target_text("tabby cat", "en") == 281
    assert attributions.resolve_target_text("Golden", "en") == 207
    with pytest.raises(UserError, match="fits several classes: flat-coated retriever"):
        attributions.resolve_target_text("retriever", "en")
    with pytest.raises(UserError, match="No ImageNet class is called 'rocket'"):
        attributions.resolve_target_text("rocket", "en")
    with pytest.raises(UserError, match="클래스 이름은 영어 ImageNet 이름입니다. '고양이'"):
        attributions.resolve_target_text("고양이", "ko")
    # Digits int() cannot read ("²" is a digit to str.isdigit) or a number too long for it.
    for text in ("²", "9" * 5000):
        with pytest.raises(UserError, match="No ImageNet class is called"):
            attributions.resolve_target_text(text, "en")
    assert attributions.resolve_target_text("٢٨١", "en") == 281  # Arabic-Indic digits are digits to int()
    menu = attributions.target_choices("top-1", session.report["predictions"])
    assert menu[0] == ("top-1", "") and menu[1][0].startswith("1. ") and len(menu) == 1001


@pytest.mark.slow
def test_captions_name_method_stage_target_and_arch(explorer, session):
    ladder = explorer.ladder(session)
    _, caption = attributions.heatmap_view(session, {**ladder, "method": "gradcam"}, "C3", "en")
    top1 = session.report["predictions"][0]["label"]
    assert caption.startswith(f"**Grad-CAM** at C3 for **{top1}**") and "resnet18" in caption
    assert "blue = no contribution" in caption
    result = explorer.explain(session, "integrated_gradients", 281, "C5")
    _, caption = attributions.heatmap_view(session, result, None, "en")
    assert caption.startswith("**Integrated Gradients** for **tabby**") and "red = for the class" in caption
    assert "completeness error" in caption
    _, korean = attributions.heatmap_view(session, result, None, "ko")
    assert korean.startswith("**tabby**에 대한 **적분 기울기 (Integrated Gradients)**") and "완전성 오차" in korean


def test_the_heatmap_for_a_stage_is_that_stages_gradcam(explorer, session, examples):
    ladder = explorer.ladder(session)
    picture, _ = attributions.heatmap_view(session, {**ladder, "method": "gradcam"}, "C4", "en")
    direct = attribute(random_model("resnet18"), next(p for p in examples if p.name == "chelsea.png"), "gradcam", stage="C4")
    np.testing.assert_allclose(ladder["maps"]["C4"], direct["map"], atol=1e-4)
    assert picture.width > 224  # the map, its title band and colour bar


@pytest.mark.parametrize("share,word", [(0.01, "small"), (0.1, "moderate"), (0.5, "large")])
def test_the_ig_delta_in_words(share, word):
    text = attributions.delta_words({"convergence_delta": share * 4.0, "output_difference": -4.0}, "en")
    assert f"{word}," in text and f"{100 * share:.0f}" in text


def test_the_expected_time_line(explorer, session):
    assert "under a second" in attributions.expected_line(explorer, session, "gradcam", "en")
    line = attributions.expected_line(explorer, session, "occlusion", "en")
    assert line.startswith("Occlusion evaluates 50 images: about") and "cancel" in line
    assert "이미지 50장" in attributions.expected_line(explorer, session, "occlusion", "ko")


def test_one_name_per_method_in_both_languages():
    for key, spec in METHOD_SPECS.items():
        assert EN[f"method_{key}"] == spec.name("en") and KO[f"method_{key}"] == spec.name("ko")
    assert len({spec.name("ko") for spec in METHOD_SPECS.values()}) == len(METHOD_SPECS)


# --- architecture and files ----------------------------------------------------------------


def test_architecture_table(explorer):
    table = architecture.table(explorer.registry.get("resnet18").model, "en")
    assert table["headers"][:3] == ["stage", "layer", "output size"]
    assert [row[0] for row in table["data"]] == ["C1", "C2", "C3", "C4", "C5", "head", "total"]
    assert table["data"][-1][6] == "11,689,512"  # torchvision's num_params for resnet18
    assert architecture.table(explorer.registry.get("resnet18").model, "ko")["headers"][0] == "스테이지"


def test_the_zip_reads_on_its_own(explorer, examples, tmp_path):
    session = explorer.analyze(str(examples[0]), "resnet18", "zipper")
    stages.grid_view(explorer, session, "C3", "mean", 8, "en")
    stages.channel_view(session, "C3", 7, 0.5, "en")
    session.outputs.gradient_flow = explorer.gradient_flow(session)
    session.outputs.lesion_sweep = explorer.lesion_sweep(session)
    session.outputs.attribution = explorer.ladder(session)  # kept as arrays, as the tab keeps it
    path = files.write_bundle(explorer, session, tmp_path / "bundle.zip", "en")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        maps = json.loads(archive.read("attribution.json"))
        readme = archive.read("README.txt").decode()
        table = list(csv.reader(io.StringIO(archive.read("architecture.csv").decode())))
        report = json.loads(archive.read("analysis.json"))
        chart = Image.open(io.BytesIO(archive.read("residual_chart.png")))
    assert maps["method"] == "gradcam_ladder" and len(maps["map"]) == 224 and len(maps["maps"]["C3"][0]) == 224
    assert {"analysis.json", "attribution.json", "crop.png", "grid.png", "channel.png", "residual_chart.png", "gradient_flow.png",
            "gradient_flow.json", "lesion_sweep.png", "lesion_sweep.json", "architecture.csv", "README.txt"} <= names
    assert report == session.report and chart.width > 400
    assert table[0][0] == "stage" and table[-1][0] == "total"
    assert "resnet18 with random weights" in readme and "stage C3" in readme and "channel 7" in readme
    assert "아키텍처 표 (CSV)" in readme  # Korean after English
    for name in names - {"README.txt"}:
        assert name in readme  # every file is described
