"""The Residual vs shortcut tab: |F(x)| next to |x| for every block, as a chart and a table."""

from __future__ import annotations

import math
from typing import Any, Sequence

import gradio as gr

from ..draw import charts
from ..draw.block_names import seed_names
from ..i18n import chart_labels, tr
from ..serve.sessions import Session
from .page import I18N, Page

__all__ = ["build", "block_table", "labels"]


def labels(lang: str):
    """Chart words in ``lang``; English where no installed font can draw Hangul."""
    return chart_labels(lang, charts.hangul_font() is not None)


def column_texts(values: Sequence[float], significant: int = 3, most: int = 4) -> list[str]:
    """One number of decimals for a whole column (never 0.93 above 0.877): enough for the column's
    median to show ``significant`` digits, at most ``most``."""
    finite = sorted(abs(v) for v in values if math.isfinite(v) and v != 0)
    median = finite[len(finite) // 2] if finite else 1.0
    decimals = min(most, max(0, significant - 1 - math.floor(math.log10(median))))
    return [f"{v:.{decimals}f}" for v in values]


def block_table(blocks: Sequence[dict[str, Any]], lang: str) -> dict[str, list]:
    """Seed name, torchvision name, kind and the three numbers, one row per block."""
    headers = [tr(k, lang) for k in ("col_block_seed", "col_block_torchvision", "col_kind", "col_residual", "col_shortcut", "col_ratio")]
    numbers = [column_texts([b[key] for b in blocks]) for key in ("residual_rms", "shortcut_rms", "ratio")]
    rows = [
        [seed, b["name"], tr(f"kind_{b['kind']}", lang), *(column[i] for column in numbers)]
        for i, (seed, b) in enumerate(zip(seed_names(blocks), blocks))
    ]
    return {"headers": headers, "data": rows}


def build(page: Page) -> None:
    with gr.Tab(I18N("tab_residual"), id="residual"):
        gr.Markdown(I18N("residual_help"))
        plot = gr.Plot(label=I18N("residual_plot_label"), show_label=False, format="png", elem_id="residual-plot")  # the chart has a title
        table = gr.Dataframe(interactive=False, wrap=False, elem_id="blocks", label=I18N("blocks_label"), max_height=360)

    def show(session: Session, lang: str):
        blocks = session.report["blocks"]
        return charts.residual_chart(blocks, labels(lang)), block_table(blocks, lang)

    page.after_analysis(show, [], [plot, table])
