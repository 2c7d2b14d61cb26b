"""The model randomisation test: its steps, the shared model left alone, the reuse of the
unchanged lower part, and the paper's result on the trained lab network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_viz.explain.attribution import attribute
from resnet_viz.model import build_model
from resnet_viz.model.runtime import private_copy
from resnet_viz.probe.hooks import hook_count
from resnet_viz.trust import LabConfig, data_randomisation, load_lab_network, sanity_check, train_lab_network
from resnet_viz.trust.lab import scene_batch
from resnet_viz.trust.randomise import cascade_steps, randomise

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAB = Path(__file__).resolve().parent.parent / "assets" / "trust_lab_true.pt"


@pytest.fixture(scope="module")
def lab():
    return load_lab_network(LAB)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_cascade_steps_from_the_top():
    with torch.device("meta"):
        r50 = build_model("resnet50")
    assert [s.name for s in cascade_steps(r50)] == ["head", "C5", "C4", "C3", "C2", "C1"]
    blocks = cascade_steps(r50, "blocks")
    assert len(blocks) == 18  # head, 16 blocks, stem
    assert [s.name for s in blocks[:4]] == ["head", "C5.3", "C5.2", "C5.1"] and blocks[-1].name == "C1"
    assert blocks[1].modules == ("layer4.2",) and blocks[-1].modules == ("conv1", "bn1")
    assert cascade_steps(r50)[0].modules == ("fc",)
    with pytest.raises(ValueError, match="stages, blocks"):
        cascade_steps(r50, "layers")


def test_the_shared_model_is_untouched_and_no_hook_is_left(resnet18, lab, examples):
    for model, image, method in ((resnet18, examples[0], "gradcam"), (lab.model, scene_batch(1)[0][0], "guided_backprop")):
        before = _snapshot(model)
        flags = [p.requires_grad for p in model.parameters()]
        result = sanity_check(model, image, method, chance_samples=20)
        assert hook_count(model) == 0
        assert not model.training and flags == [p.requires_grad for p in model.parameters()]
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert len(result.maps) == len(result.steps) and result.maps[0].shape == result.original.shape
        payload = json.loads(json.dumps(result.to_json()))
        assert ("spearman" in payload) == (method == "guided_backprop")  # the signed map's, for signed methods
        assert {"steps", "spearman_abs", "ssim", "chance", "verdict"} <= set(payload)
    # ... also when the run is cancelled half way (progress raising)
    class Stop(Exception):
        pass

    def stop(fraction: float) -> None:
        if fraction > 0.5:
            raise Stop

    before = _snapshot(lab.model)
    with pytest.raises(Stop):
        sanity_check(lab.model, scene_batch(1)[0][0], "guided_backprop", progress=stop)
    assert hook_count(lab.model) == 0
    assert all(torch.equal(before[k], v) for k, v in lab.model.state_dict().items())


def test_gradcam_from_the_stored_lower_part_is_the_full_computation(lab):
    x, labels, _ = scene_batch(1)
    result = sanity_check(lab.model, x[0], "gradcam", target=int(labels[0]), steps="blocks", seed=3, chance_samples=10)
    copy = private_copy(lab.model)
    generator = torch.Generator().manual_seed(3)
    for step, reused in zip(cascade_steps(lab.model, "blocks"), result.maps):
        randomise(copy, step, generator)
        full = attribute(copy, x[0], "gradcam", target=int(labels[0]), stage="C4")["map"]
        assert np.allclose(full, reused, atol=1e-5), step.name


def test_the_lab_network_learned_its_task(lab):
    assert lab.config.labels == "true" and lab.test_accuracy > 0.9
    x, labels, _ = scene_batch(200, seed=7)
    with torch.inference_mode():
        assert float((lab.model(x).argmax(dim=1) == labels).float().mean()) > 0.9


def test_the_papers_result_on_the_trained_lab_network(lab):
    """Adebayo et al. 2018: Grad-CAM changes as soon as the top of the network is destroyed; Guided
    Backprop stays far above chance through the cascade (here until the stem, see the README)."""
    x, labels, _ = scene_batch(8)
    for i in range(8):
        cam = sanity_check(lab.model, x[i], "gradcam", target=int(labels[i]))
        gbp = sanity_check(lab.model, x[i], "guided_backprop", target=int(labels[i]))
        cam_high, gbp_high = cam.chance["spearman_abs"]["high"], gbp.chance["spearman_abs"]["high"]
        print(i, np.round(cam.spearman_abs, 2), round(cam_high, 2), cam.verdict, "|", np.round(gbp.spearman_abs, 2), round(gbp_high, 2), gbp.verdict)
        assert cam.verdict == "depends on the weights"
        assert cam.spearman_abs[-1] <= cam_high
        assert min(gbp.spearman_abs[:2]) >= gbp_high + 0.2  # head and C4 randomised: still the same map


@pytest.mark.slow
def test_training_and_data_randomisation_run(lab):
    calls = []
    tiny = train_lab_network(LabConfig(labels="permuted", train_size=64, test_size=64, steps=40), progress=calls.append)
    assert calls == [0.5, 1.0]
    assert tiny.model.meta.categories == lab.model.meta.categories and not tiny.model.training
    result = data_randomisation(lab, tiny, "gradcam", scenes=2)
    assert len(result.spearman_abs) == 2 and result.verdict in (
        "depends on the weights", "barely depends on the weights", "partly depends on the weights")
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["networks"]["permuted"]["config"]["labels"] == "permuted"


def test_every_verdict_has_its_words_in_both_languages():
    from resnet_viz.i18n import tr
    from resnet_viz.trust.sanity import VERDICT_KEYS, VERDICTS

    assert set(VERDICT_KEYS) == set(VERDICTS)
    for key in VERDICT_KEYS.values():
        for lang in ("en", "ko"):
            assert tr(key, lang) and tr(key + "_help", lang).count("\n") == 1  # a badge and two lines
        assert tr(key, "ko") != tr(key, "en")


def test_data_randomisation_on_the_shipped_networks(lab):
    """Adebayo et al.'s second test: Grad-CAM's maps on the true-label and the permuted-label network
    are unrelated (inside the chance band); Guided Backprop's stay far more alike."""
    permuted = load_lab_network(LAB.with_name("trust_lab_permuted.pt"))
    assert permuted.config.labels == "permuted" and permuted.train_accuracy > 0.95 and permuted.test_accuracy < 0.2
    cam = data_randomisation(lab, permuted, "gradcam", scenes=16)
    gbp = data_randomisation(lab, permuted, "guided_backprop", scenes=16)
    assert cam.verdict == "depends on the weights"
    assert np.mean(gbp.spearman_abs) > np.mean(cam.spearman_abs) + 0.2
