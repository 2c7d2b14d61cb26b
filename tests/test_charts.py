"""Charts: the artists each chart draws, log-scale safety, labels (Korean too), no pyplot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure

import resnet_viz
from resnet_viz import charts
from resnet_viz.charts import (
    DEFAULT_LABELS,
    figure_to_image,
    gradient_flow_chart,
    hangul_font,
    lesion_chart,
    residual_chart,
)

ROOT = Path(__file__).resolve().parent.parent
KOREAN = {
    "residual_title": "잔차 분기 F(x) 대 지름길 x",
    "gradient_title": "기울기 흐름",
    "lesion_title": "손상 실험",
    "depth": "블록 (입력 쪽이 왼쪽)",
    "identity": "항등 블록",
    "convolution": "합성곱 블록",
    "floor_note": "0 값은 {floor:.1e}에 표시",
}
# No Hangul font is installed on the test machine: matplotlib draws boxes and warns per glyph.
no_glyph_warnings = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


PYPLOT_PROBE = """
import sys
import resnet_viz.charts as charts, resnet_viz.render as render
import numpy as np, torch
rows = [{"name": f"layer{i}.0", "stage": f"C{i + 1}", "kind": "convolution", "residual_rms": 1.0,
         "shortcut_rms": 2.0, "ratio": 0.5, "cosine": 0.0, "output_rms": 1.0} for i in range(1, 5)]
charts.figure_to_image(charts.residual_chart(rows))
render.feature_grid(torch.rand(4, 3, 3), [0, 1])
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
print("ok")
"""


@pytest.fixture(scope="module", autouse=True)
def pyplot_probe():
    """A fresh interpreter that imports and uses the chart and render modules; started when this
    module's tests start, so its imports (torch, torchvision: seconds) overlap with them."""
    probe = subprocess.Popen(
        [sys.executable, "-c", PYPLOT_PROBE], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    yield probe
    if probe.poll() is None:
        probe.kill()
    probe.communicate()


def by_gid(artists, gid: str) -> list:
    return [a for a in artists if a.get_gid() == gid]


def is_drawn(fig: Figure) -> None:
    image = np.asarray(figure_to_image(fig, dpi=50))  # a low dpi keeps the tests quick
    assert image.shape == (200, 450, 3)
    assert (image < 128).any() and len(np.unique(image.reshape(-1, 3), axis=0)) > 20


@pytest.fixture(scope="module")
def blocks(resnet18, examples):
    return resnet_viz.analyze(resnet18, examples[0])["blocks"]


def synthetic_rows(blocks) -> list[dict]:
    rows = []
    for i, block in enumerate(blocks):
        rows.append(
            {
                "name": block["name"],
                "stage": block["stage"],
                "kind": block["kind"],
                "grad_output_rms": 1.0,
                "grad_shortcut_rms": 0.0 if i == 2 else 10.0**-i,
                "grad_residual_rms": 1e-30 if i == 3 else 0.1,
                "grad_input_rms": 1.0 + i,
                "plain_grad_input_rms": 1e12 if i == 0 else 10.0 ** (-3 * i),
                "kl_divergence": 0.0 if i == 1 else 0.1 * i,
                "intact_class_probability": 1.0 - 0.1 * i,
                "top1_changed": i in (3, 6),
            }
        )
    return rows


def test_residual_chart_from_a_real_analysis(blocks):
    fig = residual_chart(blocks)
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == (9.0, 4.0)
    ax, twin = fig.axes
    lines = ax.get_lines()
    assert len(by_gid(lines, "series:residual_rms")) == len(by_gid(lines, "series:shortcut_rms")) == 1
    assert len(by_gid(twin.get_lines(), "series:ratio")) == 1
    np.testing.assert_allclose(by_gid(twin.get_lines(), "series:ratio")[0].get_ydata(), [b["ratio"] for b in blocks])
    conv = [i for i, b in enumerate(blocks) if b["kind"] == "convolution"]
    assert conv == [2, 4, 6]
    for axis in (ax, twin):  # one square-marker line per series through exactly the convolution blocks
        for marks in by_gid(axis.get_lines(), "kind:convolution"):
            assert marks.get_marker() == "s" and list(marks.get_xdata()) == conv
        assert by_gid(axis.get_lines(), "kind:identity")[0].get_marker() == "o"
    assert len(by_gid(lines, "kind:convolution")) == 2 and len(by_gid(twin.get_lines(), "kind:convolution")) == 1
    assert [line.get_xdata()[0] for line in by_gid(lines, "stage-boundary")] == [1.5, 3.5, 5.5]
    assert [t.get_text() for t in by_gid(ax.texts, "stage-name")] == ["C2", "C3", "C4", "C5"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [b["name"] for b in blocks]
    (legend,) = fig.legends
    assert len(legend.get_texts()) == 5  # three series and the two kinds
    is_drawn(fig)


def test_gradient_flow_chart_survives_zeros_and_extremes(blocks):
    rows = synthetic_rows(blocks)
    fig = gradient_flow_chart(rows)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    series = [line for line in ax.get_lines() if str(line.get_gid()).startswith("series:")]
    assert [line.get_gid() for line in series] == [
        "series:grad_input",
        "series:plain_grad_input",
        "series:grad_shortcut",
        "series:grad_residual",
    ]
    assert series[0].get_linewidth() > series[2].get_linewidth()  # the path parts are thinner
    floor = 1e-31  # the smallest positive value (1e-30) / 10
    for line in series:
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.isfinite(y).all() and (y >= floor * 0.999).all()
        assert list(line.get_xdata()) == list(range(len(rows)))  # forward order, input on the left
    assert by_gid(series, "series:grad_shortcut")[0].get_ydata()[2] == pytest.approx(floor)
    bottom, top = ax.get_ylim()
    assert bottom < floor and top > 1e12
    (note,) = by_gid(ax.texts, "floor-note")
    assert "1.0e-31" in note.get_text()
    assert len(by_gid(ax.get_lines(), "stage-boundary")) == 3
    is_drawn(fig)


def test_gradient_flow_chart_without_zeros_has_no_note(blocks):
    rows = [{**row, "grad_shortcut_rms": 1.0, "grad_residual_rms": 1.0} for row in synthetic_rows(blocks)]
    fig = gradient_flow_chart(rows)
    assert by_gid(fig.axes[0].texts, "floor-note") == []


def test_lesion_chart_bars_hatches_and_probability(blocks):
    rows = synthetic_rows(blocks)
    fig = lesion_chart(rows)
    ax, twin = fig.axes
    assert len(ax.patches) == len(rows)
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], [r["kl_divergence"] for r in rows])
    assert [i for i, bar in enumerate(ax.patches) if bar.get_hatch()] == [3, 6]
    assert len(by_gid(ax.patches, "bar:convolution")) == 3
    (line,) = by_gid(twin.get_lines(), "series:intact_class_probability")
    np.testing.assert_allclose(line.get_ydata(), [r["intact_class_probability"] for r in rows])
    assert twin.get_ylim()[0] == 0 and twin.get_ylim()[1] >= 1
    assert len(fig.legends[0].get_texts()) == 4  # two kinds, top-1 changed, probability
    is_drawn(fig)


@no_glyph_warnings
def test_korean_labels_render(blocks):
    rows = synthetic_rows(blocks)
    for fig in (residual_chart(blocks, KOREAN), gradient_flow_chart(rows, KOREAN), lesion_chart(rows, KOREAN)):
        assert fig.axes[0].get_title() in KOREAN.values()
        is_drawn(fig)
    assert "에 표시" in by_gid(gradient_flow_chart(rows, KOREAN).axes[0].texts, "floor-note")[0].get_text()


def _without_hangul_fonts() -> list:
    hangul = ("nanum", "cjk", "noto sans kr", "undotum", "malgun", "applegothic")
    return [e for e in font_manager.fontManager.ttflist if not any(h in e.name.lower() for h in hangul)]


@no_glyph_warnings
def test_a_hangul_font_is_used_for_every_text(blocks, monkeypatch):
    """On a machine whose only Hangul font is "NanumGothic" (whatever this machine has installed)."""
    real = hangul_font()
    entry = font_manager.FontEntry(fname=font_manager.findfont("DejaVu Sans"), name="NanumGothic")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(font_manager.fontManager, "ttflist", [*_without_hangul_fonts(), entry])
            hangul_font.cache_clear()
            assert hangul_font() == "NanumGothic"
            fig = residual_chart(blocks, KOREAN)
            ax = fig.axes[0]
            wanted = ["DejaVu Sans", "NanumGothic"]
            assert ax.title.get_fontfamily() == wanted
            assert ax.xaxis.label.get_fontfamily() == wanted
            assert ax.get_xticklabels()[0].get_fontfamily() == wanted
            assert all(t.get_fontfamily() == wanted for t in fig.legends[0].get_texts())
            assert all(t.get_fontfamily() == wanted for t in ax.texts)
    finally:
        hangul_font.cache_clear()  # the real font list again for later tests
    assert hangul_font() == real


def test_a_font_installed_after_matplotlibs_cache_is_found(monkeypatch):
    """matplotlib's cached font list predates fonts-nanum: the font files on disk still count."""
    on_disk = [p for p in font_manager.findSystemFonts() if "nanum" in Path(p).name.lower()]
    try:
        with monkeypatch.context() as patch:
            patch.setattr(font_manager.fontManager, "ttflist", _without_hangul_fonts())
            hangul_font.cache_clear()
            found = hangul_font()
            if on_disk:  # CI installs fonts-nanum, so this branch is the one CI takes
                assert found is not None and "nanum" in found.lower()
            else:
                assert found is None
    finally:
        hangul_font.cache_clear()


def test_labels_are_checked_and_empty_input_is_refused(blocks):
    with pytest.raises(ValueError, match="titel"):
        residual_chart(blocks, {"titel": "x"})
    for chart in (residual_chart, gradient_flow_chart, lesion_chart):
        with pytest.raises(ValueError, match="no "):
            chart([])
    assert set(KOREAN) <= set(DEFAULT_LABELS)


def test_figure_to_image_keeps_the_figure(blocks):
    fig = residual_chart(blocks)
    dpi = fig.get_dpi()
    assert figure_to_image(fig, dpi=50).size == (450, 200)
    assert fig.get_dpi() == dpi
    assert figure_to_image(fig).size == (900, 400)  # still usable: not closed


def test_no_pyplot_is_ever_imported(pyplot_probe):
    out, err = pyplot_probe.communicate(timeout=120)
    assert pyplot_probe.returncode == 0 and out.strip() == "ok", err
    assert "matplotlib.pyplot" not in charts.__dict__
