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
from resnet_viz.draw import charts
from resnet_viz.draw.charts import (
    DEFAULT_LABELS,
    block_names,
    block_table,
    figure_to_image,
    gradient_flow_chart,
    hangul_font,
    lesion_chart,
    residual_chart,
    seed_names,
)
from resnet_viz.i18n import chart_labels

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
import resnet_viz.draw.charts as charts, resnet_viz.draw.render as render
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
    width, height = fig.get_size_inches()
    assert image.shape == (round(height * 50), 450, 3) and width == 9.0
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
    assert isinstance(fig, Figure) and fig.get_size_inches()[0] == 9.0 and 4.0 <= fig.get_size_inches()[1] <= 5.0
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
    # The seed's block names: stage + 1-based index in the stage, all eight fit at this depth.
    seed = ["C2.1", "C2.2", "C3.1", "C3.2", "C4.1", "C4.2", "C5.1", "C5.2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == seed
    # The ratio = 1 line, drawn on the ratio axis and labelled in words.
    (one,) = by_gid(twin.get_lines(), "ratio-one")
    assert list(one.get_ydata()) == [1.0, 1.0]
    (label,) = by_gid(twin.texts, "ratio-one-label")
    assert label.get_text() == DEFAULT_LABELS["ratio_one"] == "|F(x)| = |x|"
    (note,) = by_gid(fig.texts, "note")
    assert note.get_text().replace("\n", " ") == DEFAULT_LABELS["residual_note"]
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
    (note,) = by_gid(fig.texts, "floor-note")  # under the chart, not over the floored points
    assert "1.0e-31" in note.get_text()
    assert by_gid(fig.texts, "note")[0].get_text().replace("\n", " ") == DEFAULT_LABELS["gradient_note"]
    assert len(by_gid(ax.get_lines(), "stage-boundary")) == 3
    is_drawn(fig)


def test_gradient_flow_chart_without_zeros_has_no_note(blocks):
    rows = [{**row, "grad_shortcut_rms": 1.0, "grad_residual_rms": 1.0} for row in synthetic_rows(blocks)]
    fig = gradient_flow_chart(rows)
    assert by_gid(fig.texts, "floor-note") == [] and len(by_gid(fig.texts, "note")) == 1


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
    assert by_gid(fig.texts, "note")[0].get_text().replace("\n", " ") == DEFAULT_LABELS["lesion_note"]
    is_drawn(fig)


@pytest.mark.slow
@no_glyph_warnings
def test_korean_labels_render(blocks):
    rows = synthetic_rows(blocks)
    for fig in (residual_chart(blocks, KOREAN), gradient_flow_chart(rows, KOREAN), lesion_chart(rows, KOREAN)):
        assert fig.axes[0].get_title() in KOREAN.values()
        is_drawn(fig)
    assert "에 표시" in by_gid(gradient_flow_chart(rows, KOREAN).texts, "floor-note")[0].get_text()


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
            assert all(t.get_fontfamily() == wanted for t in fig.texts + fig.axes[1].texts)
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
    width, height = fig.get_size_inches()
    assert figure_to_image(fig, dpi=50).size == (450, round(height * 50))
    assert fig.get_dpi() == dpi
    assert figure_to_image(fig).size == (900, round(height * 100))  # still usable: not closed


# --- block names, ticks and overlaps at every depth ---------------------------------------

RESNET152_LAYERS = (3, 8, 36, 3)  # He et al. 2016, Table 1


def deep_rows(layers=RESNET152_LAYERS) -> list[dict]:
    """Rows shaped like analyze()'s blocks for a network with ``layers`` blocks per stage, values
    varied so the series cross the whole plot (the hardest case for labels)."""
    rows = []
    for k, count in enumerate(layers):
        for i in range(count):
            j = len(rows)
            rows.append(
                {
                    "name": f"layer{k + 1}.{i}",
                    "stage": f"C{k + 2}",
                    "kind": "convolution" if i == 0 else "identity",
                    "residual_rms": 1.0 + 0.5 * np.sin(j / 3),
                    "shortcut_rms": 1.0 + j / 10,
                    "ratio": 0.2 + 1.1 * abs(np.cos(j / 5)),
                    "grad_output_rms": 1.0,
                    "grad_shortcut_rms": 10.0 ** (-j / 10),
                    "grad_residual_rms": 0.0 if j == 7 else 10.0 ** (-j / 8),
                    "grad_input_rms": 10.0 ** (-j / 12),
                    "plain_grad_input_rms": 10.0 ** (-j / 3),
                    "kl_divergence": 0.05 * (1 + np.sin(j)),
                    "intact_class_probability": 0.5 + 0.4 * np.cos(j / 4),
                    "top1_changed": j % 9 == 0,
                }
            )
    return rows


def test_seed_names_come_from_the_rows_stages_and_order(blocks):
    assert seed_names(blocks) == ["C2.1", "C2.2", "C3.1", "C3.2", "C4.1", "C4.2", "C5.1", "C5.2"]
    rows = deep_rows()
    names = seed_names(rows)
    assert len(names) == 50 and names[:4] == ["C2.1", "C2.2", "C2.3", "C3.1"] and names[-4:] == ["C4.36"] + [
        f"C5.{i}" for i in (1, 2, 3)
    ]
    # torchvision's layer<k>.<i> is stage C<k+1>, block i+1: an independent check of every name.
    for seed, row in zip(names, rows):
        k, i = row["name"][len("layer") :].split(".")
        assert seed == f"C{int(k) + 1}.{int(i) + 1}"
    assert block_names(blocks)[2] == ("C3.1", "layer2.0", "convolution")
    table = block_table(blocks)
    assert table["headers"] == ["block", "torchvision name", "kind"]
    assert table["data"][0] == ["C2.1", "layer1.0", "identity block"]
    korean = block_table(blocks, chart_labels("ko", True))
    assert korean["headers"][0] == "블록" and korean["data"][2][2] == "convolution block (투영 지름길)"
    with pytest.raises(ValueError, match="row 0"):
        seed_names([{"name": "layer1.0"}])


def _extents(fig: Figure) -> list[tuple[str, object]]:
    """Every word on the figure with its window extent (after a draw)."""
    renderer = fig.canvas.get_renderer()
    boxes = []
    for i, axis in enumerate(fig.axes):
        low, high = sorted(axis.get_ylim())
        ticks = [*zip(axis.get_yticks(), axis.get_yticklabels())]
        ticks += zip(axis.get_yticks(minor=True), axis.get_yticklabels(minor=True))
        for at, tick in ticks:
            if low <= at <= high and tick.get_visible() and tick.get_text():  # ticks beyond the limits are not drawn
                boxes.append((f"ytick{i}:{tick.get_text()}", tick.get_window_extent(renderer)))
        if axis.yaxis.label.get_text():
            boxes.append((f"ylabel{i}", axis.yaxis.label.get_window_extent(renderer)))
        for text in axis.texts:
            boxes.append((f"{text.get_gid()}:{text.get_text()}", text.get_window_extent(renderer)))
    ax = fig.axes[0]
    for tick in ax.get_xticklabels():
        if tick.get_visible() and tick.get_text():
            boxes.append((f"xtick:{tick.get_text()}", tick.get_window_extent(renderer)))
    boxes.append(("title", ax.title.get_window_extent(renderer)))
    boxes.append(("xlabel", ax.xaxis.label.get_window_extent(renderer)))
    boxes += [("legend", legend.get_window_extent(renderer)) for legend in fig.legends]
    boxes += [(f"{t.get_gid()}", t.get_window_extent(renderer)) for t in fig.texts]
    return boxes


@no_glyph_warnings
@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("chart", [residual_chart, gradient_flow_chart, lesion_chart])
def test_no_word_covers_another_at_resnet152_depth(chart, lang):
    """50 blocks: thinned names that do not touch, every stage's first block named, a minor tick
    per block; no two texts (ticks, stage names, title, legend, notes) overlap; stage names sit
    above the data, inside the figure."""
    fig = chart(deep_rows(), chart_labels(lang, hangul_font() is not None))
    figure_to_image(fig)  # draws at the figure's own dpi: the layout the extents are read from
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert {"C2.1", "C3.1", "C4.1", "C5.1"} <= set(ticks) and 8 <= len(ticks) < 50
    assert set(ticks) <= set(seed_names(deep_rows()))
    assert sorted({*ax.get_xticks(), *ax.get_xticks(minor=True)}) == list(range(50))  # a tick per block
    boxes = _extents(fig)
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            (name_a, box_a), (name_b, box_b) = boxes[a], boxes[b]
            assert not box_a.overlaps(box_b), f"{name_a} overlaps {name_b}"
    frame = ax.get_window_extent()
    figure = fig.bbox
    for name, box in boxes:
        assert figure.x0 <= box.x0 and box.x1 <= figure.x1 and figure.y0 <= box.y0 and box.y1 <= figure.y1, name
        if name.startswith("stage-name"):
            assert box.y0 >= frame.y1  # above the axes: never over a data point
    assert sum(name.startswith("stage-name") for name, _ in boxes) == 4


@pytest.mark.slow
def test_the_ratio_label_sits_on_no_data():
    rows = deep_rows()
    fig = residual_chart(rows)
    figure_to_image(fig)
    ax, twin = fig.axes
    (label,) = by_gid(twin.texts, "ratio-one-label")
    box = label.get_window_extent(fig.canvas.get_renderer())
    for axis in (ax, twin):
        for line in axis.get_lines():
            if str(line.get_gid()).startswith("series:"):
                x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
                t = np.linspace(0, len(x) - 1, 20 * len(x))  # along the drawn polyline, not only its points
                along = np.column_stack([np.interp(t, range(len(x)), x), np.interp(t, range(len(y)), y)])
                px, py = axis.transData.transform(along).T
                inside = (px >= box.x0) & (px <= box.x1) & (py >= box.y0) & (py <= box.y1)
                assert not inside.any(), line.get_gid()
    one = twin.transData.transform((0, 1.0))[1]
    assert min(abs(box.y0 - one), abs(box.y1 - one)) < 5  # beside the line it names


def test_no_pyplot_is_ever_imported(pyplot_probe):
    out, err = pyplot_probe.communicate(timeout=120)
    assert pyplot_probe.returncode == 0 and out.strip() == "ok", err
    assert "matplotlib.pyplot" not in charts.__dict__


def test_gradient_flow_chart_names_its_photo_target_and_arch(blocks):
    """A downloaded chart says what it was computed for (issue 17 §5), inside the figure."""
    subtitle = "target: tabby · resnet18 · photo 451 × 300 px"
    fig = gradient_flow_chart(synthetic_rows(blocks), subtitle=subtitle)
    (ax,) = fig.axes
    assert ax.get_title().split("\n") == [DEFAULT_LABELS["gradient_title"], subtitle]
    is_drawn(fig)
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.y1 <= fig.bbox.y1 and box.x0 >= 0 and box.x1 <= fig.bbox.x1  # not cut off
