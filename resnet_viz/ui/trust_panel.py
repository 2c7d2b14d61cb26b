"""The attributions tab's "Can I trust this map?" part: on request, the map's randomisation test
and its deletion and insertion curves, computed as a slow method (progress, Cancel, short
requests go between its batches), shown as a badge, the randomisation strip and two charts; and
"Compare all methods on this photo", the same check for every method as one sortable table with
the random and edge baselines as rows."""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr
from PIL import Image

from ..draw import trust_charts
from ..draw.charts import figure_to_image
from ..explain.methods import method_spec
from ..i18n import tr
from ..serve.cancel import Cancelled
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from ..trust.report import TrustReport
from ..trust.sanity import VERDICT_KEYS, VERDICTS
from .page import I18N, TITLED, Page, friendly, value_check, visitor
from .residual import labels

__all__ = ["build", "compare_table", "trust_views"]

# The library's verdicts (resnet_viz.trust.sanity.VERDICTS) -> the badge's catalogue key.
BADGES = dict(zip(VERDICTS, ("trust_depends", "trust_barely", "trust_partly")))


def trust_views(session: Session, report: TrustReport, lang: str, random_weights: bool) -> tuple[str, Image.Image, Image.Image, Image.Image]:
    """(badge and scores, randomisation strip, similarity chart, deletion/insertion chart) of the
    one method in ``report``, every word in ``lang``."""
    (name, checked), = report.methods.items()
    spec = method_spec(name)
    words = labels(lang)
    sanity, faith = checked.randomisation, checked.faithfulness
    band = sanity.chance["spearman_abs"]
    badge = tr(BADGES[sanity.verdict], lang, method=spec.name(lang))
    base = report.baselines
    scores = tr(
        "trust_scores", lang, label=report.target["label"], deletion=faith.deletion.auc, insertion=faith.insertion.auc,
        random_deletion=base["random"]["deletion"].auc, edge_deletion=base["edge"]["deletion"].auc,
        random_insertion=base["random"]["insertion"].auc, edge_insertion=base["edge"]["insertion"].auc,
        road=faith.road.score if faith.road is not None else float("nan"),
        seconds=report.timing_ms["total"] / 1000,
    )
    text = badge + "\n\n" + scores + ("\n\n" + tr("trust_random_weights", lang) if random_weights else "")
    title = f"{spec.name(lang)} · {report.target['label']} · {session.arch}"
    strip = trust_charts.randomisation_strip(session.crop, sanity.original, sanity.maps, sanity.steps,
                                             signed=sanity.signed, title=title, labels=words)
    similarity = figure_to_image(trust_charts.similarity_chart(
        sanity.steps, sanity.spearman_abs, sanity.ssim, (band["low"], band["high"]), labels=words))
    curves = figure_to_image(trust_charts.faithfulness_chart(
        faith.deletion.curve, faith.insertion.curve,
        {kind: {k: c.curve for k, c in curves.items()} for kind, curves in base.items()},
        aucs={"deletion": faith.deletion.auc, "insertion": faith.insertion.auc}, labels=words))
    return text, strip, similarity, curves


COMPARE_COLUMNS = ("trust_col_method", "trust_col_verdict", "trust_col_deletion", "trust_col_insertion", "trust_col_road")
BASELINE_ROWS = {"random": "trust_row_random", "edge": "trust_row_edge"}


def compare_table(report: TrustReport, lang: str) -> dict[str, Any]:
    """The "Compare all methods" table in ``lang``: a row per method (randomisation verdict,
    deletion AUC, insertion AUC, ROAD), then one per baseline (no network behind them: no verdict,
    no ROAD). Numbers stay numbers, so the header menu's sort orders them as numbers."""
    rows = []
    for row in report.table():
        name = row["method"]
        if name.startswith("baseline: "):
            shown = tr(BASELINE_ROWS[name.removeprefix("baseline: ")], lang)
        else:
            shown = method_spec(name).name(lang)
        verdict = tr(VERDICT_KEYS[row["verdict"]], lang) if row["verdict"] else "—"
        numbers = [None if row[k] is None else round(float(row[k]), 3) for k in ("deletion_auc", "insertion_auc", "road")]
        rows.append([shown, verdict, *numbers])
    return {"headers": [tr(key, lang) for key in COMPARE_COLUMNS], "data": rows}


def _heading_and_buttons(key: str, start_id: str, cancel_id: str) -> tuple[gr.Button, gr.Button]:
    """A part's heading and help (catalogue keys ``<key>_heading``, ``<key>_help``) and its start
    (``<key>_button``) and Cancel buttons."""
    gr.Markdown(I18N(f"{key}_heading"))
    gr.Markdown(I18N(f"{key}_help"))
    with gr.Row():
        start = gr.Button(I18N(f"{key}_button"), elem_id=start_id, scale=4)
        cancel = gr.Button(I18N("cancel_button"), variant="secondary", size="sm", elem_id=cancel_id, scale=1)
    return start, cancel


def build(page: Page, method: gr.components.Component, target: gr.components.Component,
          read_target: Callable[[Any, str], tuple[int | None, str]], check_target: Callable[..., None]) -> None:
    """The part's components (in the current layout context) and its buttons; ``read_target`` and
    ``check_target(request, method, target)`` are the tab's own, so a class name is read and
    refused the same way."""
    explorer: Explorer = page.explorer
    check, cancel = _heading_and_buttons("trust", "trust-button", "trust-cancel")
    badge = gr.Markdown(elem_id="trust-badge")
    strip = gr.Image(show_label=False, format="png", interactive=False, elem_id="trust-strip", **TITLED)
    with gr.Row():
        similarity = gr.Image(show_label=False, format="png", interactive=False, elem_id="trust-similarity", **TITLED)
        curves = gr.Image(show_label=False, format="png", interactive=False, elem_id="trust-curves", **TITLED)

    @friendly
    def on_check(request: gr.Request, method_name: str, target_value: str, progress=gr.Progress()):  # noqa: B008
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        spec = method_spec(method_name)
        index, _ = read_target(target_value, lang)
        progress(0, desc=tr("trust_waiting", lang))
        try:
            report = explorer.trust(session, method_name, index,
                                    progress=lambda f: progress(f, desc=tr("trust_progress", lang)))
        except Cancelled:
            return tr("trust_cancelled", lang, method=spec.name(lang)), gr.skip(), gr.skip(), gr.skip()
        if not explorer.is_current(sid, session):  # a new photo or arch is on screen
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        weights = explorer.registry.get(session.arch).model.meta.weights
        views = trust_views(session, report, lang, random_weights=weights == "random")
        session.outputs.trust = report
        return views

    def cleared(session: Session, lang: str):
        """A new photo: the old check belongs to the old photo."""
        session.outputs.trust = None
        return "", None, None, None

    page.slow_run(check, cancel, on_check, [method, target], [badge, strip, similarity, curves],
                  validator=value_check(check_target, at=1, count=2), progress_on=[badge])
    page.after_analysis(cleared, [], [badge, strip, similarity, curves])
    _build_compare(page, target, read_target, check_target)


def _build_compare(page: Page, target: gr.components.Component,
                   read_target: Callable[[Any, str], tuple[int | None, str]], check_target: Callable[..., None]) -> None:
    """"Compare all methods on this photo": every method's check for the chosen class, one table."""
    explorer: Explorer = page.explorer
    start, cancel = _heading_and_buttons("trust_compare", "trust-compare-button", "trust-compare-cancel")
    note = gr.Markdown(elem_id="trust-compare-note")
    # Numbers in their columns (the header menu's sort treats them as numbers); the headers come with the values.
    table = gr.Dataframe(interactive=False, wrap=True, datatype=["str", "str", "number", "number", "number"],
                         column_widths=["24%", "25%", "17%", "17%", "17%"], show_label=False,
                         elem_id="trust-compare-table")

    @friendly
    def on_compare(request: gr.Request, target_value: str, progress=gr.Progress()):  # noqa: B008
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        index, _ = read_target(target_value, lang)
        methods = [method_spec(m).name(lang) for m in explorer.compare_methods]

        def report_progress(fraction: float) -> None:
            k = min(int(fraction * len(methods)), len(methods) - 1)  # trust_report's parts: two per method
            progress(fraction, desc=tr("trust_compare_progress", lang, method=methods[k], k=k + 1, n=len(methods)))

        progress(0, desc=tr("trust_waiting", lang))
        try:
            report = explorer.compare_all(session, index, progress=report_progress)
        except Cancelled:
            return tr("trust_compare_cancelled", lang), gr.skip()
        if not explorer.is_current(sid, session):  # a new photo or arch is on screen
            return gr.skip(), gr.skip()
        session.outputs.compare = report.to_json()
        random_weights = explorer.registry.get(session.arch).model.meta.weights == "random"
        done = tr("trust_compare_done", lang, label=report.target["label"], arch=session.arch,
                  seconds=report.timing_ms["total"] / 1000)
        return done + ("\n\n" + tr("trust_random_weights", lang) if random_weights else ""), compare_table(report, lang)

    def cleared(session: Session, lang: str):
        """A new photo: the table belongs to the old one; say how long a comparison would take."""
        session.outputs.compare = None
        seconds = explorer.expected_compare_seconds(session)
        return tr("trust_compare_expected", lang, n=len(explorer.compare_methods), seconds=max(1.0, seconds)), None

    page.slow_run(start, cancel, on_compare, [target], [note, table], validator=value_check(lambda request, value: check_target(request, "", value), at=0, count=1),
                  progress_on=[note])
    page.after_analysis(cleared, [], [note, table])
