"""The residual-learning lab's data randomisation test (Adebayo et al. 2018): the lab network
trained on true labels and on shuffled ones, each method's maps on both, side by side, and how
alike they are against chance. The shipped pair is compared in seconds; a new pair trains live in
a few minutes (one per server), as a slow run with progress and Cancel."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from ..draw import trust_charts
from ..explain.methods import method_spec
from ..i18n import tr
from ..serve.cancel import Cancelled
from ..serve.explorer import Explorer
from ..serve.trust_lab import LabResults
from ..trust.lab import TEST_SEED
from ..trust.sanity import VERDICT_KEYS, magnitude
from ..trust.scenes import CLASSES, make_scenes
from .page import I18N, TITLED, Page, friendly, visitor
from .residual import labels

__all__ = ["build", "lab_views", "SHOWN_SCENES"]

SHOWN_SCENES = 4  # rows of the picture (the numbers use all 16 scenes)
COLUMNS = ("datarand_col_method", "datarand_col_spearman", "datarand_col_chance", "datarand_col_ssim", "datarand_col_verdict")


def _scene_pictures(n: int) -> tuple[list[Image.Image], list[str]]:
    """The first ``n`` test scenes the comparison used (the same seed), and their classes."""
    images, classes, _ = make_scenes(n, TEST_SEED)
    pictures = [Image.fromarray(np.ascontiguousarray(img.permute(1, 2, 0).numpy())) for img in images]
    return pictures, [CLASSES[int(c)].replace(" deg", "°") for c in classes]


def lab_views(results: LabResults, lang: str, live: bool) -> tuple[str, dict, Image.Image]:
    """(what was compared and how well each network learned, the table, the picture) in ``lang``."""
    rows = []
    for name, result in results.items():
        band = result.chance["spearman_abs"]
        rows.append([method_spec(name).name(lang), round(float(np.mean(result.spearman_abs)), 2), round(band["high"], 2),
                     round(float(np.mean(result.ssim)), 2), tr(VERDICT_KEYS[result.verdict], lang)])
    first = next(iter(results.values()))
    true_net, permuted_net = first.networks["true"], first.networks["permuted"]
    note = tr(
        "datarand_networks", lang,
        which=tr("datarand_live" if live else "datarand_shipped", lang),
        true_test=100 * true_net["test_accuracy"], memorised=100 * permuted_net["train_accuracy"],
        scenes=permuted_net["config"]["train_size"], permuted_test=100 * permuted_net["test_accuracy"],
        n=len(first.spearman_abs),
    )
    if live:  # the shipped pair's own times were taken on a busy machine with longer schedules
        note += " " + tr("datarand_trained_in", lang, seconds=true_net["seconds"] + permuted_net["seconds"])
    scenes, classes = _scene_pictures(SHOWN_SCENES)
    maps = {}  # drawn as the table compares them: signed maps by their size, |map|
    for name, r in results.items():
        signed = method_spec(name).signed
        maps[method_spec(name).name(lang)] = tuple([magnitude(m, signed) for m in side[:SHOWN_SCENES]]
                                                   for side in (r.maps_true, r.maps_permuted))
    picture = trust_charts.data_randomisation_grid(scenes, classes, maps, labels=labels(lang))
    return note, {"headers": [tr(key, lang) for key in COLUMNS], "data": rows}, picture


def build(page: Page) -> None:
    """The section (in the current layout context, inside the lab tab) and its buttons."""
    explorer: Explorer = page.explorer
    gr.Markdown(I18N("datarand_heading"))
    gr.Markdown(I18N("datarand_help"))
    with gr.Row():
        shipped = gr.Button(I18N("datarand_shipped_button"), elem_id="datarand-shipped", scale=3)
        live = gr.Button(I18N("datarand_live_button"), elem_id="datarand-live", scale=3)
        cancel = gr.Button(I18N("cancel_button"), variant="secondary", size="sm", elem_id="datarand-cancel", scale=1)
    gr.Markdown(I18N("datarand_live_note"), elem_id="datarand-live-note")
    note = gr.Markdown(elem_id="datarand-note")
    table = gr.Dataframe(interactive=False, wrap=True, datatype=["str", "number", "number", "number", "str"],
                         show_label=False, elem_id="datarand-table")
    picture = gr.Image(show_label=False, format="png", interactive=False, elem_id="datarand-grid", **TITLED)

    def runner(trained_live: bool):
        @friendly
        def run(request: gr.Request, progress=gr.Progress()):  # noqa: B008
            sid, lang = visitor(request)
            session = explorer.session(sid, lang)
            desc = tr("datarand_progress_live" if trained_live else "datarand_progress", lang)
            progress(0, desc=desc)
            try:
                results = explorer.data_randomisation_test(session, trained_live, lang=lang,
                                                           progress=lambda f: progress(f, desc=desc))
            except Cancelled:
                return tr("datarand_cancelled", lang), gr.skip(), gr.skip()
            session.outputs.data_randomisation = {name: r.to_json() for name, r in results.items()}
            return lab_views(results, lang, trained_live)

        return run

    page.slow_run(shipped, cancel, runner(False), [], [note, table, picture], progress_on=[note])
    page.slow_run(live, cancel, runner(True), [], [note, table, picture], progress_on=[note])
