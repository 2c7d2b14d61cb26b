"""The Architecture tab: the paper's table (He et al. 2016, Table 1) computed from the loaded model."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gradio as gr

from ..i18n import tr
from ..model.resnet import ResNet
from ..probe.architecture import architecture_table, architecture_totals
from ..serve.sessions import Session
from .page import I18N, Page

__all__ = ["build", "table"]

COLUMNS = [
    ("stage", "col_stage"), ("layer", "col_layer"), ("output_size", "col_output"), ("blocks", "col_blocks"),
    ("block", "col_block"), ("channels", "col_channels"), ("params", "col_params"),
    ("gflops", "col_gflops"), ("receptive_field", "col_rf"),
]


def _cell(row: dict[str, Any], key: str) -> Any:
    value = row[key]
    if key == "params" and value is not None:
        return f"{value:,}"
    if key == "gflops":
        return f"{value:.3f}"
    return "" if value is None else value


def table(model: ResNet, lang: str) -> dict[str, list]:
    """Headers in ``lang`` and one row per stage, the head and the total."""
    rows = architecture_table(model)
    total = architecture_totals(rows)
    total["stage"] = tr("total", lang)
    return {"headers": [tr(k, lang) for _, k in COLUMNS], "data": [[_cell(r, k) for k, _ in COLUMNS] for r in rows + [total]]}


def build(page: Page) -> None:
    with gr.Tab(I18N("tab_architecture"), id="architecture"):
        gr.Markdown(I18N("architecture_help"))
        shown = gr.Dataframe(
            interactive=False, wrap=True, elem_id="architecture",
            # Each column is at least as wide as its longest word in both languages at 1400 px
            # (tests/test_browser_words.py): a word never splits, so a narrower one would spill over.
            column_widths=["8%", "9%", "10%", "8%", "24%", "10%", "12%", "8%", "11%"],
        )

    @lru_cache(maxsize=32)
    def cached(arch: str, lang: str) -> dict[str, list]:  # the table walks the whole model: once per arch
        return table(page.explorer.registry.get(arch).model, lang)

    def show(session: Session, lang: str):
        return cached(session.arch, lang)

    page.after_analysis(show, [], [shown])
