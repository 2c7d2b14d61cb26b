"""The download: one zip with everything the visitor has seen for the current photo, each file
readable on its own, and a README (English and Korean) saying what each file shows."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import gradio as gr
from PIL import Image

from ..draw import charts, render
from ..explain.attribution import attribution_json
from ..i18n import tr
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from .architecture import table as architecture_table
from .lab import flow_subtitle
from .page import HIDDEN, I18N, Page, friendly, visitor
from .residual import labels

__all__ = ["build", "write_bundle"]

def hidden_empty() -> dict:
    """A file box with no file is not shown at all (a fresh dict each time: Gradio consumes updates)."""
    return gr.update(value=None, visible=False)

# file name -> README key describing it; listed in this order when present.
_FILES = [
    ("analysis.json", "file_analysis"),
    ("crop.png", "file_crop"),
    ("grid.png", "file_grid"),
    ("channel.png", "file_channel"),
    ("heatmap.png", "file_heatmap"),
    ("attribution.json", "file_attribution"),
    ("ladder.png", "file_ladder"),
    ("residual_chart.png", "file_residual_chart"),
    ("gradient_flow.png", "file_gradient_flow_chart"),
    ("gradient_flow.json", "file_gradient_flow"),
    ("lesion_sweep.png", "file_lesion_chart"),
    ("lesion_sweep.json", "file_lesion"),
    ("scaled.json", "file_scaled"),
    ("architecture.csv", "file_architecture"),
]


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _chart_png(figure) -> bytes:
    return _png(charts.figure_to_image(figure))


def _csv(table: dict[str, list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table["headers"])
    writer.writerows(table["data"])
    return out.getvalue()


def _readme(session: Session, files: list[str], weights: str) -> str:
    """What the zip holds, for which photo, arch, weights and stage: English, then Korean."""
    image = session.report["image"]
    facts = {
        "arch": session.arch, "weights": weights, "width": image["width"], "height": image["height"],
        "stage": session.outputs.stage, "channel": session.outputs.channel_number,
        "label": session.report["predictions"][0]["label"],
    }
    parts = []
    for lang in ("en", "ko"):
        lines = [tr("readme_title", lang, **facts), ""]
        lines += [f"- {name}: {tr(key, lang, **facts)}" for name, key in _FILES if name in files]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_bundle(explorer: Explorer, session: Session, path: Path, lang: str) -> Path:
    """The zip at ``path`` (a server-chosen name) with everything shown for this session."""
    model = explorer.registry.get(session.arch).model
    text = labels(lang)
    out = session.outputs
    entries: dict[str, bytes | str] = {
        "analysis.json": json.dumps(session.report.to_json(), indent=2),
        "crop.png": _png(session.crop),
        "residual_chart.png": _chart_png(charts.residual_chart(session.report["blocks"], text)),
        "architecture.csv": _csv(architecture_table(model, lang)),
    }
    if isinstance(out.grid, Image.Image):  # on the page its title is a heading; in the zip, a band
        entries["grid.png"] = _png(render.annotate(out.grid, title=out.grid_title))
    for key, picture in (("channel", out.channel), ("heatmap", out.heatmap), ("ladder", out.ladder)):
        if isinstance(picture, Image.Image):  # these carry their title and colour bar already
            entries[f"{key}.png"] = _png(picture)
    if out.attribution is not None:  # kept as arrays (nested lists cost ~8 MB a session)
        entries["attribution.json"] = json.dumps(attribution_json(out.attribution), indent=2)
    if out.gradient_flow is not None:
        entries["gradient_flow.json"] = json.dumps(out.gradient_flow.to_json(), indent=2)
        subtitle = flow_subtitle(session, out.gradient_flow, lang)
        entries["gradient_flow.png"] = _chart_png(charts.gradient_flow_chart(out.gradient_flow.blocks, text, subtitle))
    if out.lesion_sweep is not None:
        entries["lesion_sweep.json"] = json.dumps(out.lesion_sweep.to_json(), indent=2)
        entries["lesion_sweep.png"] = _chart_png(charts.lesion_chart(out.lesion_sweep.blocks, text))
    if out.trust is not None:
        entries["trust.json"] = json.dumps(out.trust.to_json(), indent=2)
    if out.compare is not None:
        entries["trust_all_methods.json"] = json.dumps(out.compare, indent=2)
    if out.data_randomisation is not None:
        entries["data_randomisation.json"] = json.dumps(out.data_randomisation, indent=2)
    if out.scaled is not None:
        scaled = {k: v for k, v in out.scaled.to_json().items() if k != "timing_ms"}
        entries["scaled.json"] = json.dumps(scaled, indent=2)
    entries["README.txt"] = _readme(session, list(entries), model.meta.weights)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def build(page: Page) -> None:
    """The download button and its file box, in the left column."""
    explorer = page.explorer
    button = gr.Button(I18N("download_button"), size="sm", elem_id="download")
    file = gr.File(label=I18N("download_label"), visible=False, interactive=False, elem_id="download-file")

    @friendly
    def on_download(request: gr.Request):
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        # The folder's name is the server's random token and the file's the arch (checked against
        # ARCHS when analysed): nothing the client sent becomes part of the path.
        path = explorer.downloads.folder(session) / f"resnet-viz-{session.arch}.zip"
        return gr.update(value=str(write_bundle(explorer, session, path, lang)), visible=True)

    def hide(session: Session, lang: str):
        return hidden_empty()  # the old zip belongs to the old photo

    button.click(on_download, None, file, **HIDDEN)
    page.after_analysis(hide, [], [file], empty=[hidden_empty])  # no empty box lingers without a photo
