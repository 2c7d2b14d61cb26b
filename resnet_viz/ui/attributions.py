"""The Attributions tab: which pixels drove the score of a class, by one of the Captum methods.

A new photo shows Grad-CAM for its top-1 class at once (and the C2-C5 ladder), from results
computed once per analysis. Slow methods (Integrated Gradients, SmoothGrad, occlusion) say how
long they will take before they start, show progress, can be cancelled, and give the model to
other visitors' short requests between their batches.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import torchvision
from PIL import Image

from ..draw import render
from ..explain.methods import METHOD_SPECS, method_spec
from ..i18n import UserError, tr
from ..model.resnet import stage_table
from ..probe.targets import TargetError, find_target, suggestions
from ..serve.cancel import Cancelled
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from . import trust_panel
from .inputs import MAX_TEXT, ChoiceDropdown, ChoiceRadio, TypedText
from .page import HIDDEN, I18N, TITLED, Page, friendly, value_check, visitor
from .residual import labels

__all__ = [
    "build", "target_choices", "typed_choices", "read_target", "resolve_target_text", "check_target", "heatmap_view",
    "expected_line", "delta_words", "explained_views",
]


def _categories() -> list[str]:
    return torchvision.models.ResNet50_Weights.DEFAULT.meta["categories"]  # the same 1000 for every arch


def target_choices(top1: Any, predictions: list[dict] | None = None) -> list[tuple[Any, str]]:
    """The target menu: ``top1`` (the default), this image's top-5, then every other class."""
    top = [(f"{p['rank']}. {p['label']} ({p['probability']:.1%})", str(p["index"])) for p in predictions or []]
    listed = {value for _, value in top}
    rest = [(label, str(i)) for i, label in enumerate(_categories()) if str(i) not in listed]
    return [(top1, "")] + top + rest


def read_target(value: str | int | None, lang: str) -> tuple[int | None, str]:
    """(the class a menu choice or typed text means: None for "" (the top-1), else an index; a
    notice naming the class chosen when the text was not exactly a label, else ""). Text that
    names no class is a UserError listing labels close to it."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None, ""
    categories = _categories()
    try:
        match = find_target(categories, text)
    except TargetError as exc:
        candidates = ", ".join(exc.candidates)
        raise UserError(f"error_target_{exc.code}", lang, query=exc.query, candidates=candidates) from None
    notice = "" if match.exact else tr("target_chosen", lang, query=text, label=categories[match.index])
    return match.index, notice


def resolve_target_text(value: str | int | None, lang: str) -> int | None:
    """The class a menu choice or typed text means: "" is the top-1 (None), else an index."""
    return read_target(value, lang)[0]


def check_target(request: gr.Request, method: str, target: str | None, *_: object) -> None:
    """For :func:`resnet_viz.ui.page.value_check`: a target text that names no class is a UserError."""
    read_target(target, visitor(request)[1])


def typed_choices(menu: list[tuple[Any, str]], typed: Any) -> list[tuple[Any, str]]:
    """The target menu while ``typed`` is being typed: Gradio's menu only lists labels that contain
    the typed text, so "tabby cat" would list nothing; the classes it may mean come first, each
    labelled "typed text → class" (which contains it), then the menu as it was. Text that some
    label contains is left to the menu."""
    text = typed.strip() if isinstance(typed, str) and len(typed) <= MAX_TEXT else ""
    categories = _categories()
    found = suggestions(categories, text) if text else []
    if any(text.lower() in label.lower() for label in categories):
        return menu  # the menu lists what contains the text itself: "tabby" is not offered twice
    return [(f"{text} → {categories[i]}", str(i)) for i in found] + menu


def delta_words(result: dict[str, Any], lang: str) -> str:
    """IG's completeness error in words: how much of f(x) - f(baseline) the map fails to account for."""
    delta, difference = result["convergence_delta"], result["output_difference"]
    share = abs(delta) / abs(difference) if difference else float("inf")
    verdict = "small" if share < 0.05 else "moderate" if share < 0.2 else "large"
    return tr(f"ig_delta_{verdict}", lang, share=100 * share, delta=delta, difference=difference)


def heatmap_view(session: Session, result: dict[str, Any], stage: str | None, lang: str) -> tuple[Image.Image, str]:
    """The map over the crop (with its colour bar and a title) and a caption naming method, stage,
    target class and architecture."""
    method = result["method"]
    spec = METHOD_SPECS[method]
    unit = result["maps"][stage] if stage and "maps" in result else result["map"]
    words = labels(lang)
    target = result["target"]
    facts = {"method": spec.name(lang), "stage": stage, "label": target["label"], "arch": session.arch}
    title = words["title_attribution" if stage else "title_attribution_no_stage"].format(**facts)
    picture = render.heatmap_picture(session.crop, unit, signed=spec.signed, title=title, labels=words)
    where = tr("at_stage", lang, stage=stage) if (spec.needs_stage or "maps" in result) and stage else ""
    raw = result["raw_ranges"][stage] if stage and "raw_ranges" in result else result["raw_range"]
    caption = tr(
        "attribution_info", lang, method=spec.name(lang), where=where, label=target["label"],
        probability=target["probability"], arch=session.arch, lo=raw[0], hi=raw[1], ms=result["timing_ms"],
    )
    caption += " · " + tr("colours_signed" if spec.signed else "colours_unsigned", lang)
    if result.get("convergence_delta") is not None:
        caption += " · " + delta_words(result, lang)
    return picture, caption


def ladder_view(session: Session, result: dict[str, Any], lang: str) -> Image.Image:
    """Grad-CAM at C2..C5, 2 x 2, one colour bar, titled with target and architecture."""
    words = labels(lang)
    title = words["title_ladder"].format(label=result["target"]["label"], arch=session.arch)
    return render.gradcam_ladder(session.crop, result["maps"], title=title, labels=words)


def expected_line(explorer: Explorer, session: Session | None, method: str, lang: str) -> str:
    spec = method_spec(method)
    if spec.cost == "fast":
        return tr("expected_fast", lang, method=spec.name(lang))
    if session is None:
        return tr("expected_slow_unknown", lang, method=spec.name(lang), n=spec.evaluations())
    seconds = explorer.expected_seconds(session, method)
    return tr("expected_slow", lang, method=spec.name(lang), n=spec.evaluations(), seconds=max(1.0, seconds))


def explained_views(explorer: Explorer, session: Session, result: dict[str, Any], spec: Any, stage: str,
                    target: int | None, lang: str) -> tuple[Image.Image, Image.Image, str]:
    """(heatmap, ladder, caption) of a finished explanation. The ladder always shows the heatmap's
    target: its own maps when the method made them, else Grad-CAM's C2-C5 for the same class
    (the shared top-1 ladder when no class was typed), never the ladder of an earlier target."""
    shown_stage = stage if spec.needs_stage else ("C5" if "maps" in result else None)
    picture, caption = heatmap_view(session, result, shown_stage, lang)
    ladder_result = result if "maps" in result else explorer.explain(session, "gradcam_ladder", target)
    steps = ladder_view(session, ladder_result, lang)
    session.outputs.update(heatmap=picture, attribution=result, ladder=steps)  # arrays; JSON only when zipped
    return picture, steps, caption


def build(page: Page) -> None:
    explorer = page.explorer
    gradcam_stages = [s.name for s in stage_table(page.arch)[1:]]  # Grad-CAM needs stages of residual blocks
    with gr.Tab(I18N("tab_attributions"), id="attributions"):
        gr.Markdown(I18N("attributions_help"))
        with gr.Row():
            method = ChoiceDropdown([(I18N(f"method_{k}"), k) for k in METHOD_SPECS], value="gradcam", label=I18N("method_label"), elem_id="method")
            target = ChoiceDropdown(
                target_choices(I18N("top1")), value="", label=I18N("target_label"), info=I18N("target_info"),
                filterable=True, allow_custom_value=True, elem_id="target",
            )
            stage = ChoiceRadio(gradcam_stages, value=gradcam_stages[-1], label=I18N("attr_stage_label"), elem_id="attr-stage")
        expected = gr.Markdown(elem_id="expected")
        with gr.Row():
            explain_button = gr.Button(I18N("explain_button"), variant="primary", elem_id="explain", scale=4)
            cancel_button = gr.Button(I18N("cancel_button"), variant="secondary", size="sm", elem_id="cancel", scale=1)
        with gr.Row():
            # Shown at their own size (no label drawn over them): each picture carries its title and colour bar.
            heatmap = gr.Image(label=I18N("heatmap_label"), show_label=False, format="png", interactive=False, elem_id="heatmap", **TITLED)
            ladder = gr.Image(label=I18N("ladder_label"), show_label=False, format="png", interactive=False, elem_id="ladder", **TITLED)
        info = gr.Markdown(elem_id="attribution-info")
        trust_panel.build(page, method, target, read_target, check_target)

    def cleared(session: Session, lang: str, method_name: str):
        """Event A: the new photo's target menu; the old maps are gone until event B draws new ones."""
        menu = gr.update(choices=target_choices(tr("top1", lang), session.report["predictions"]), value="")
        return menu, None, None, tr("computing", lang), expected_line(explorer, session, method_name, lang)

    def top1_views(session: Session, lang: str, method_name: str, stage_name: str):
        """Event B: Grad-CAM of the top-1 (and the ladder) from the shared ladder; other fast methods
        computed; slow ones wait for their button."""
        spec = method_spec(method_name)
        ladder_result = explorer.ladder(session)
        steps = ladder_view(session, ladder_result, lang)
        session.outputs.ladder = steps
        where = spec.ladder_stage(stage_name)
        if where is not None:  # Grad-CAM of the top-1 is one of the ladder's maps
            picture, caption = heatmap_view(session, {**ladder_result, "method": method_name}, where, lang)
            session.outputs.update(heatmap=picture, attribution=ladder_result)  # the shared result: no copy per visitor
            return picture, steps, caption
        if spec.cost == "fast":
            result = explorer.explain(session, method_name, None, stage_name)
            picture, caption = heatmap_view(session, result, stage_name if spec.needs_stage else None, lang)
            session.outputs.update(heatmap=picture, attribution=result)  # arrays; JSON only when zipped
            return picture, steps, caption
        return None, steps, tr("press_explain", lang, method=spec.name(lang))

    @friendly
    def on_method(request: gr.Request, method_name: str):
        sid, lang = visitor(request)
        spec = method_spec(method_name)
        return gr.update(interactive=spec.needs_stage), expected_line(explorer, explorer.current(sid), method_name, lang)

    def base_menu(session: Session | None, lang: str) -> list[tuple[Any, str]]:
        return target_choices(tr("top1", lang), session.report["predictions"] if session is not None else None)

    @friendly
    def on_explain(request: gr.Request, method_name: str, target_value: str, stage_name: str, progress=gr.Progress()):  # noqa: B008 (Gradio's idiom)
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        spec = method_spec(method_name)
        index, notice = read_target(target_value, lang)
        asked = session.ask("explain")
        if spec.cost == "slow":
            progress(0, desc=tr("slow_waiting", lang, method=spec.name(lang)))
        try:
            result = explorer.explain(
                session, method_name, index, stage_name, progress=lambda f: progress(f, desc=spec.name(lang))
            )
        except Cancelled:
            if not session.is_latest("explain", asked):
                return gr.skip(), gr.skip(), gr.skip()
            return gr.skip(), gr.skip(), tr("cancelled", lang, method=spec.name(lang))
        # A newer photo or arch is on screen, or a newer Explain was pressed: this one is stale.
        if not explorer.is_current(sid, session) or not session.is_latest("explain", asked):
            return gr.skip(), gr.skip(), gr.skip()
        picture, steps, caption = explained_views(explorer, session, result, spec, stage_name, index, lang)
        return picture, steps, (notice + " " + caption) if notice else caption

    @friendly
    def on_typing(request: gr.Request, evt: TypedText):
        sid, lang = visitor(request)
        return gr.update(choices=typed_choices(base_menu(explorer.current(sid), lang), evt.text))

    method.input(on_method, method, [stage, expected], **HIDDEN)
    # A class name that names no class is said under the target box; the maps stay as they were.
    page.slow_run(explain_button, cancel_button, on_explain, [method, target, stage], [heatmap, ladder, info],
                  validator=value_check(check_target, at=1, count=3))
    target.key_up(on_typing, None, target, queue=False, show_progress="hidden", trigger_mode="always_last", **HIDDEN)
    page.after_analysis(cleared, [method], [target, heatmap, ladder, info, expected])
    page.after_analysis_model(top1_views, [method, stage], [heatmap, ladder, info])
