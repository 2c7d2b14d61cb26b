"""Results are types: named fields, read by key like the dicts they replaced, and to_json() with the
same keys in the same order as the JSON the API and the CLI sent before (so the bytes are too)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import resnet_viz as rv
from resnet_viz.explain.attribution import AttributionResult, attribution_json
from resnet_viz.probe.results import AnalysisReport, GradientFlowResult, LesionResult
from resnet_viz.serve.sessions import Shown

# The keys, in order, of the JSON as it was when results were dicts (commit d9f7192).
ANALYSIS_KEYS = ["arch", "weights", "device", "runtime", "image", "predictions", "stages", "blocks", "timing_ms"]
ATTRIBUTION_KEYS = ["method", "stage", "map", "raw_range", "signed", "convergence_delta", "target", "options", "timing_ms"]
IG_KEYS = ATTRIBUTION_KEYS[:6] + ["output_difference"] + ATTRIBUTION_KEYS[6:]
LADDER_KEYS = ["method", "stage", "maps", "raw_ranges", "map", "raw_range", "signed", "convergence_delta", "target",
               "options", "timing_ms"]
FLOW_KEYS = ["arch", "target", "blocks", "timing_ms"]
SWEEP_KEYS = ["arch", "intact", "blocks", "timing_ms"]
SCALED_KEYS = ["arch", "scales", "predictions", "intact_predictions", "kl_divergence", "timing_ms"]


def test_analysis_is_typed_and_its_json_unchanged(resnet18, examples):
    report = rv.analyze(resnet18, examples[0])
    assert isinstance(report, AnalysisReport)
    assert list(report) == ANALYSIS_KEYS and list(report.to_json()) == ANALYSIS_KEYS
    assert report["predictions"] is report.predictions and report.arch == "resnet18"
    assert dict(report) == report.to_json() and report == report.to_json()  # reads like the dict it was
    assert json.loads(json.dumps(report.to_json()))["blocks"] == report.blocks
    with pytest.raises(KeyError):
        report["nothing"]


def test_attribution_keys_per_method(resnet18, examples):
    cases = {"gradcam": ATTRIBUTION_KEYS, "gradcam_ladder": LADDER_KEYS,
             "integrated_gradients": IG_KEYS}
    for method, keys in cases.items():
        options = {"steps": 2, "internal_batch_size": 2} if method == "integrated_gradients" else {}
        result = rv.attribute(resnet18, examples[0], method, **options)
        assert isinstance(result, AttributionResult)
        assert list(result) == keys and list(result.to_json()) == keys, method
        payload = json.loads(json.dumps(result.to_json()))
        assert np.allclose(np.array(payload["map"]), result.map, atol=5e-5)
        assert attribution_json(result) == result.to_json()
    assert "output_difference" not in result.to_json() or result.output_difference is not None
    with pytest.raises(KeyError):
        rv.attribute(resnet18, examples[0], "saliency")["maps"]


def test_flow_and_both_lesion_uses_are_one_type_each(resnet18, examples):
    flow = rv.gradient_flow(resnet18, examples[0])
    sweep = rv.lesion(resnet18, examples[0])
    scaled = rv.lesion(resnet18, examples[0], scales={"C5": 0.5})
    assert isinstance(flow, GradientFlowResult) and list(flow.to_json()) == FLOW_KEYS
    assert type(sweep) is type(scaled) is LesionResult
    assert sweep.is_sweep and not scaled.is_sweep
    assert list(sweep.to_json()) == SWEEP_KEYS and list(scaled.to_json()) == SCALED_KEYS
    assert scaled.blocks is None and sweep.scales is None
    json.dumps(flow.to_json(), allow_nan=False), json.dumps(sweep.to_json()), json.dumps(scaled.to_json())


def test_shown_is_typed_per_session_state():
    shown = Shown()
    shown.update(stage="C4", channel_number=7)
    assert (shown.stage, shown.channel_number, shown.grid) == ("C4", 7, None)
    with pytest.raises(AttributeError, match="no field 'gird'"):
        shown.update(gird=None)  # a typo is a bug, not a new key
    assert len(shown.values()) == len(Shown.__dataclass_fields__)
