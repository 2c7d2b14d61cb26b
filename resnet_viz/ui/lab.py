"""The Residual-learning lab: gradient flow against a plain twin, block lesions, scaled branches,
and the degradation experiment trained live (its own module, :mod:`.degradation`)."""

from __future__ import annotations

import gradio as gr

from ..draw import charts
from ..i18n import tr
from ..model.resnet import stage_table
from ..serve.sessions import Session
from . import data_randomisation, degradation
from .inputs import SliderInput
from .page import HIDDEN, I18N, MODEL_QUEUE, Page, friendly, visitor
from .predictions import TOP_K_CLASS, probabilities
from .residual import labels

__all__ = ["build", "flow_subtitle"]


def flow_subtitle(session: Session, result, lang: str) -> str:
    """What the gradient-flow chart was computed for: its target, the architecture, the photo."""
    image = session.report["image"]
    return labels(lang)["gradient_subtitle"].format(
        label=result["target"]["label"], arch=session.arch, width=image["width"], height=image["height"]
    )


def build(page: Page) -> None:
    explorer = page.explorer
    branch_stages = [s.name for s in stage_table(page.arch)[1:]]  # the stages made of residual blocks
    with gr.Tab(I18N("tab_lab"), id="lab") as tab:
        gr.Markdown(I18N("lab_help"))
        flow_plot = gr.Plot(label=I18N("flow_plot_label"), show_label=False, format="png", elem_id="flow-plot")  # the chart has a title
        gr.Markdown(I18N("flow_twin_note"), elem_id="flow-twin-note")
        with gr.Row():
            lesion_button = gr.Button(I18N("lesion_button"), elem_id="lesion")
            lesion_note = gr.Markdown(elem_id="lesion-note")
        lesion_plot = gr.Plot(label=I18N("lesion_plot_label"), show_label=False, format="png", elem_id="lesion-plot")
        gr.Markdown(I18N("scales_help"))
        with gr.Row():
            scales = [SliderInput(0, 1, value=1, step=0.05, label=name, elem_id=f"scale-{name}") for name in branch_stages]
        with gr.Row():
            intact_top5 = gr.Label(num_top_classes=5, label=I18N("intact_top5_label"), elem_id="intact-top5", elem_classes=[TOP_K_CLASS])
            scaled_top5 = gr.Label(num_top_classes=5, label=I18N("scaled_top5_label"), elem_id="scaled-top5", elem_classes=[TOP_K_CLASS])
        scaled_kl = gr.Markdown(elem_id="scaled-kl")
        degradation.build(page, tab, page.degradation_config)
        data_randomisation.build(page)

    def reset(session: Session, lang: str):
        """Event A: the lesion sweep belongs to the old photo (cleared); the sliders start intact."""
        intact = probabilities(session.report)
        sliders = [gr.update(value=1) for _ in scales]  # one dict each: Gradio consumes them
        blocks = len(session.report["blocks"])
        return (None, tr("lesion_press", lang, blocks=blocks), None, *sliders, intact, intact,
                tr("lesion_kl", lang, kl=0.0))

    def flow(session: Session, lang: str):
        """Event B: gradient flow of the top-1 class, computed once per analysis."""
        result = explorer.gradient_flow(session)
        session.outputs.gradient_flow = result
        return charts.gradient_flow_chart(result["blocks"], labels(lang), flow_subtitle(session, result, lang))

    @friendly
    def on_lesion(request: gr.Request):
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        result = explorer.lesion_sweep(session)
        if not explorer.is_current(sid, session):
            return gr.skip(), gr.skip()
        session.outputs.lesion_sweep = result
        changed = sum(row["top1_changed"] for row in result["blocks"])
        note = tr("lesion_done", lang, blocks=len(result["blocks"]), changed=changed, ms=result["timing_ms"])
        return charts.lesion_chart(result["blocks"], labels(lang)), note

    @friendly
    def on_scales(request: gr.Request, *values: float):
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        result = explorer.scaled(session, dict(zip(branch_stages, values)))
        if not explorer.is_current(sid, session):
            return gr.skip(), gr.skip()
        session.outputs.scaled = result
        return probabilities(result), tr("lesion_kl", lang, kl=result["kl_divergence"])

    lesion_button.click(on_lesion, None, [lesion_plot, lesion_note], **MODEL_QUEUE, **HIDDEN)
    gr.on([s.input for s in scales], on_scales, scales, [scaled_top5, scaled_kl], trigger_mode="always_last",
          **MODEL_QUEUE, **HIDDEN)
    page.after_analysis(reset, [], [lesion_plot, lesion_note, flow_plot, *scales, intact_top5, scaled_top5, scaled_kl])
    page.after_analysis_model(flow, [], [flow_plot])
