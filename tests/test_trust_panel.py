"""The attributions tab's "Can I trust this map?" part: the pictures read on their own, the check
runs as a slow method on the session's photo, every word in the page's language."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from resnet_viz.draw import trust_charts
from resnet_viz.explain.methods import method_spec
from resnet_viz.i18n import tr
from resnet_viz.serve.explorer import Explorer
from resnet_viz.trust.report import COMPARABLE_METHODS
from resnet_viz.trust.sanity import VERDICT_KEYS
from resnet_viz.ui.trust_panel import BADGES, compare_table, trust_views

# Cheap trust settings: the tests check what is drawn and said, not how fine the curves are.
CHEAP = {"steps": "stages", "curve_steps": 4, "road": True, "percentiles": (30, 70), "seed": 0}


def test_the_strip_shows_the_original_then_every_step():
    crop = Image.new("RGB", (224, 224), (120, 90, 60))
    maps = [np.full((224, 224), v, np.float32) for v in (0.8, 0.5, 0.2)]
    strip = trust_charts.randomisation_strip(crop, np.ones((224, 224), np.float32), maps, ["head", "C5", "C4"],
                                             signed=False, title="Grad-CAM · tabby · resnet18")
    assert strip.width >= 4 * trust_charts.TILE and strip.height > trust_charts.TILE
    with pytest.raises(ValueError, match="3 maps for 2 steps"):
        trust_charts.randomisation_strip(crop, maps[0], maps, ["head", "C5"], signed=False)


def test_the_charts_carry_the_band_the_curves_and_their_baselines():
    fig = trust_charts.similarity_chart(["head", "C5"], [0.9, 0.1], [0.8, 0.3], (-0.1, 0.2))
    ax = fig.axes[0]
    assert {a.get_gid() for a in ax.get_children()} >= {"chance-band", "series:spearman_abs", "series:ssim"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["head", "C5"]
    curves = trust_charts.faithfulness_chart([0.9, 0.4, 0.1], [0.1, 0.5, 0.9],
                                             {"random": {"deletion": [0.9, 0.7, 0.1], "insertion": [0.1, 0.3, 0.9]},
                                              "edge": {"deletion": [0.9, 0.6, 0.1], "insertion": [0.1, 0.4, 0.9]}},
                                             aucs={"deletion": 0.45, "insertion": 0.5})
    gids = {line.get_gid() for ax in curves.axes for line in ax.get_lines()}
    assert gids == {f"{k}:{w}" for k in ("deletion", "insertion") for w in ("map", "random", "edge")}
    assert "AUC 0.450" in curves.axes[0].get_legend().get_texts()[0].get_text()


@pytest.mark.slow
def test_a_check_of_the_session_photo_in_both_languages(registry, examples):
    explorer = Explorer(registry, trust=CHEAP)  # what is drawn, not how fine the curves are
    session = explorer.analyze(str(examples[0]), "resnet18", "teacher")
    report = explorer.trust(session, "gradcam")
    (name, checked), = report.methods.items()
    assert name == "gradcam" and checked.randomisation.steps[0] == "head"
    for lang, words in (("en", "this map"), ("ko", "이 지도")):
        text, strip, similarity, curves = trust_views(session, report, lang, random_weights=True)
        badge = BADGES[checked.randomisation.verdict]
        assert text.startswith("**Grad-CAM" if lang == "en" else "**Grad-CAM") and ("AUC" in text)
        assert ("meaningless" in text) if lang == "en" else ("의미가 없습니다" in text)
        if lang == "en":  # the check's wall time, once (not the method's time added to the total)
            assert text.rstrip().split("\n\n")[1].endswith(f"· {report.timing_ms['total'] / 1000:.0f} s")
        assert badge in ("trust_depends", "trust_barely", "trust_partly")
        assert all(isinstance(p, Image.Image) for p in (strip, similarity, curves))
    # The ladder has no single map: its check is Grad-CAM's at the last stage, its headline map.
    assert list(explorer.trust(session, "gradcam_ladder").methods) == ["gradcam"]



@pytest.mark.slow
def test_compare_all_methods_is_one_sortable_table_with_the_baselines_as_rows(registry, examples):
    explorer = Explorer(registry, trust=CHEAP)
    assert explorer.compare_methods == COMPARABLE_METHODS  # the app's table: every method with one map
    explorer.compare_methods = FAST = ("gradcam", "saliency")  # all seven cost minutes here
    session = explorer.analyze(str(examples[0]), "resnet18", "teacher")
    seen = []
    report = explorer.compare_all(session, progress=seen.append)
    assert list(report.methods) == list(FAST) and seen[-1] == pytest.approx(1.0)
    assert explorer.expected_compare_seconds(session) > 0
    for lang in ("en", "ko"):
        table = compare_table(report, lang)
        assert len(table["headers"]) == 5 and len(table["data"]) == len(FAST) + 2
        names = [row[0] for row in table["data"]]
        assert names[: len(FAST)] == [method_spec(m).name(lang) for m in FAST]
        assert names[-2:] == [tr("trust_row_random", lang), tr("trust_row_edge", lang)]
        for row, (name, checked) in zip(table["data"], report.methods.items()):
            assert row[1] == tr(VERDICT_KEYS[checked.randomisation.verdict], lang)
            assert row[2:] == [round(checked.faithfulness.deletion.auc, 3), round(checked.faithfulness.insertion.auc, 3),
                               round(checked.faithfulness.road.score, 3)]
        for row, kind in zip(table["data"][-2:], ("random", "edge")):  # no network behind a baseline
            assert row[1] == "—" and row[4] is None
            assert row[2] == round(report.baselines[kind]["deletion"].auc, 3)
        assert all(isinstance(v, float) for row in table["data"] for v in row[2:4])  # numbers sort as numbers
    assert tr("trust_col_deletion", "ko") != tr("trust_col_deletion", "en")
