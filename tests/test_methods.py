"""A method is one object: every method is known to the library, the CLI, the app's menu and the
time estimate, and no code outside its entry picks behaviour by comparing a method's name."""

from __future__ import annotations

import argparse
import ast

import numpy as np
import pytest

import resnet_viz as rv
from resnet_viz.cli.trust import _methods as trust_cli_methods
from resnet_viz.explain.methods import LAYER_STAGES, METHOD_SPECS, Method
from resnet_viz.i18n import LANGUAGES, tr
from resnet_viz.trust.report import COMPARABLE_METHODS

from .support import ROOT

# Small settings, so every method runs in a second or two on a CPU.
CHEAP = {
    "integrated_gradients": {"steps": 2, "internal_batch_size": 2},
    "smoothgrad": {"samples": 2, "batch_size": 2},
    "occlusion": {"window": 112, "stride": 112},
}


@pytest.mark.parametrize("key", list(METHOD_SPECS))
def test_every_method_runs_in_the_library(key, resnet18, examples):
    spec = METHOD_SPECS[key]
    result = rv.attribute(resnet18, examples[0], key, stage="C4", **CHEAP.get(key, {}))
    assert result["method"] == key and result["signed"] == spec.signed
    assert result["map"].shape == (224, 224) and 0 <= result["map"].min() <= result["map"].max() <= 1
    assert set(result["options"]) == set(spec.options)
    if spec.all_stages:
        assert result["stage"] == list(LAYER_STAGES) and set(result["maps"]) == set(LAYER_STAGES)
    else:
        assert result["stage"] == ("C4" if spec.needs_stage else None)
    assert (result["convergence_delta"] is not None) == ("output_difference" in result)


@pytest.mark.parametrize("key", list(METHOD_SPECS))
def test_every_method_is_named_and_costed(key):
    spec = METHOD_SPECS[key]
    assert isinstance(spec, Method) and type(spec) is not Method, "a method's entry carries how it runs"
    for lang in LANGUAGES:
        name = spec.name(lang)
        assert name and name != f"method_{key}"
    evaluations = spec.evaluations()
    assert isinstance(evaluations, int) and evaluations >= 1
    assert (spec.cost == "slow") == (evaluations > 2), "slow methods are the ones that evaluate many images"


def test_the_cli_knows_every_method_the_trust_metrics_can_score():
    assert list(COMPARABLE_METHODS) == [k for k, s in METHOD_SPECS.items() if s.comparable]
    for key, spec in METHOD_SPECS.items():
        args = argparse.Namespace(all_methods=False, method=[key])
        if spec.comparable:
            assert trust_cli_methods(args) == [key]
        else:
            with pytest.raises(ValueError, match="unknown method"):
                trust_cli_methods(args)
    assert trust_cli_methods(argparse.Namespace(all_methods=True, method=None)) == list(COMPARABLE_METHODS)


def test_the_app_menu_and_time_estimate_know_every_method(registry):
    import app
    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.ui.attributions import expected_line

    explorer = Explorer(registry)
    demo = app.build_demo("resnet18", explorer=explorer)
    (menu,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "method"]
    assert [value for _, value in menu.choices] == list(METHOD_SPECS)
    (api_menu,) = {tuple(c[1] for c in b.choices) for b in demo.blocks.values()
                   if getattr(b, "choices", None) and "occlusion" in [c[1] for c in b.choices]
                   and getattr(b, "elem_id", None) != "method"}
    assert list(api_menu) == list(METHOD_SPECS)
    for key, spec in METHOD_SPECS.items():
        for lang in LANGUAGES:
            line = expected_line(explorer, None, key, lang)
            assert spec.name(lang) in line
            if spec.cost == "slow":
                assert str(spec.evaluations()) in line


def _method_name_comparisons(tree: ast.AST) -> list[tuple[int, str]]:
    """Comparisons of a method-ish name (``method``, ``method_name``, ``*.key``) with a method's name."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        names = set()
        for side in sides:
            values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            names |= {v.value for v in values if isinstance(v, ast.Constant) and v.value in METHOD_SPECS}
        about_a_method = any(
            (isinstance(s, ast.Name) and "method" in s.id) or (isinstance(s, ast.Attribute) and s.attr in ("key", "method"))
            for s in sides
        )
        if names and about_a_method:
            found.append((node.lineno, ", ".join(sorted(names))))
    return found


def test_no_method_name_is_compared_outside_its_entry():
    offenders = []
    for path in sorted((ROOT / "resnet_viz").rglob("*.py")) + [ROOT / "app.py"]:
        if path == ROOT / "resnet_viz" / "explain" / "methods.py":
            continue
        for line, names in _method_name_comparisons(ast.parse(path.read_text())):
            offenders.append(f"{path.relative_to(ROOT)}:{line} compares with {names}")
    assert offenders == []


def test_the_scan_finds_a_comparison_when_there_is_one():
    code = 'if method == "gradcam":\n    pass\nif spec.key in ("occlusion", "x"):\n    pass\nif ranking == "gradcam":\n    pass\n'
    assert _method_name_comparisons(ast.parse(code)) == [(1, "gradcam"), (3, "occlusion")]


def test_gradcam_is_the_ladder_stage_map_and_the_ladder_its_c5(resnet18, examples):
    ladder = rv.attribute(resnet18, examples[0], "gradcam_ladder")
    for stage in LAYER_STAGES:
        gradcam = rv.attribute(resnet18, examples[0], "gradcam", stage=stage)
        assert METHOD_SPECS["gradcam"].ladder_stage(stage) == stage
        np.testing.assert_allclose(gradcam["map"], ladder["maps"][stage], atol=1e-5)
    assert METHOD_SPECS["gradcam_ladder"].ladder_stage("C3") == "C5"
    assert all(METHOD_SPECS[k].ladder_stage("C3") is None for k in METHOD_SPECS if k not in ("gradcam", "gradcam_ladder"))
    assert tr("method_gradcam_ladder", "en") != tr("method_gradcam", "en")
