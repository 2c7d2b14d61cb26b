"""The Stage features tab: a grid of a stage's strongest channels, and one channel over the crop.

Everything here re-renders from the session's stage tensors without a forward pass, except the
"Grad-CAM weight" ranking, which needs the top-1 class's channel weights once per analysis.
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from ..draw import render
from ..i18n import UserError, tr
from ..model.resnet import ResNet, stage_table
from ..probe.architecture import architecture_table
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from . import channel_panel
from .inputs import ChoiceRadio, NumberInput, SliderInput, TileClick
from .page import HIDDEN, I18N, MODEL_QUEUE, TITLED, Page, friendly, value_check, visitor
from .residual import labels

__all__ = ["build", "grid_view", "channel_view", "GRID_COLUMNS", "GRID_TILE"]

GRID_COLUMNS, GRID_TILE = 8, 96
MAX_TILES = 64


def _receptive_fields(explorer: Explorer, arch: str) -> dict[str, int]:
    # architecture_table caches its rows per architecture (they do not depend on the weights)
    return {row["stage"]: row["receptive_field"] for row in architecture_table(explorer.registry.get(arch).model)}


def _stage_tensor(session: Session, stage: str, lang: str):
    tensor = session.stages.get(stage)
    if tensor is None:
        raise UserError("error_stage", lang, stage=stage, stages=", ".join(session.stages))
    return tensor


def grid_view(explorer: Explorer, session: Session, stage: str, ranking: str, tiles: int, lang: str):
    """(grid picture, its title, the stage's description); the channels shown go into the session."""
    tensor = _stage_tensor(session, stage, lang).float()
    count = max(1, min(int(tiles or 1), MAX_TILES, tensor.shape[0]))
    by_gradcam = ranking == "gradcam"
    weights = explorer.channel_weights(session)[stage] if by_gradcam else None
    channels = render.rank_channels(tensor, count, weights)
    grid = render.feature_grid(tensor, channels, columns=GRID_COLUMNS, tile=GRID_TILE)
    top1 = session.report["predictions"][0]["label"]
    title = tr("grid_title_gradcam" if by_gradcam else "grid_title_mean", lang, stage=stage, n=len(channels), label=top1, arch=session.arch)
    row = next(s for s in session.report["stages"] if s["name"] == stage)
    info = tr(
        "stage_info", lang, stage=stage, channels=row["channels"], height=row["height"], width=row["width"],
        stride=row["stride"], rf=_receptive_fields(explorer, session.arch)[stage], zeros=100 * row["zero_fraction"],
    )
    session.outputs.update(grid=grid, channels=channels, stage=stage, grid_title=title.lstrip("# ").replace("**", ""))
    return grid, title, info


def channel_view(session: Session, stage: str, channel: int | float | None, opacity: float, lang: str) -> tuple[Image.Image, str]:
    """One channel of a stage over the crop, and a caption that names it."""
    tensor = _stage_tensor(session, stage, lang)
    number = int(channel or 0)
    if not 0 <= number < tensor.shape[0]:
        raise UserError("error_channel", lang, stage=stage, last=tensor.shape[0] - 1, channel=number)
    alpha = min(max(float(opacity), 0.0), 1.0)
    words = labels(lang)
    title = words["title_channel"].format(stage=stage, channel=number, arch=session.arch)
    picture = render.channel_overlay(session.crop, tensor.float(), number, opacity=alpha, colorbar=True, title=title, labels=words)
    peak = float(tensor[number].float().max())
    caption = tr("channel_caption", lang, stage=stage, channel=number, arch=session.arch, peak=peak)
    session.outputs.update(channel=picture, channel_number=number)
    return picture, caption


def stage_openings(model: ResNet, lang: str) -> str:
    """Which kind of block opens each stage, read from the model's own block table: a convolution
    block in most, but an identity block in ResNet-18/34's C2 (its input already has 64 channels)."""
    first: dict[str, str] = {}
    for block in model.blocks():
        first.setdefault(block.stage, block.kind)
    groups: list[tuple[list[str], str]] = []  # consecutive stages that open alike: "C3, C4, C5"
    for stage, kind in first.items():
        if groups and groups[-1][1] == kind:
            groups[-1][0].append(stage)
        else:
            groups.append(([stage], kind))
    openings = "; ".join(tr(f"stage_opens_{kind}", lang, stage=", ".join(stages)) for stages, kind in groups)
    return tr("stage_blocks", lang, arch=model.arch, openings=openings)


def build(page: Page) -> None:
    explorer = page.explorer
    stages = [s.name for s in stage_table(page.arch)]
    with gr.Tab(I18N("tab_stages"), id="stages"):
        gr.Markdown(I18N("stages_help"))
        openings = gr.Markdown(elem_id="stage-openings")
        with gr.Row():
            stage = ChoiceRadio(stages, value=stages[1], label=I18N("stage_label"), elem_id="stage")
            ranking = ChoiceRadio(
                [(I18N("rank_mean"), "mean"), (I18N("rank_gradcam"), "gradcam")], value="mean", label=I18N("ranking_label"),
            )
            tiles = SliderInput(8, MAX_TILES, value=32, step=8, label=I18N("tiles_label"), elem_id="tiles")
        title = gr.Markdown(elem_id="grid-title")
        stage_info = gr.Markdown(elem_id="stage-info")
        # No label on the picture: Gradio draws it over the top-left corner, where tile numbers are.
        grid = gr.Image(show_label=False, format="png", interactive=False, elem_id="grid", buttons=["download"], **TITLED)
        gr.Markdown(I18N("grid_hint"))
        with gr.Row():
            channel = NumberInput(value=0, precision=0, label=I18N("channel_label"), info=I18N("channel_info"), elem_id="channel")
            opacity = SliderInput(0, 1, value=0.6, step=0.05, label=I18N("opacity_label"), elem_id="opacity")
        with gr.Row():
            with gr.Column():
                channel_picture = gr.Image(label=I18N("channel_view_label"), show_label=False, format="png",
                                           interactive=False, elem_id="channel-view", **TITLED)
                channel_caption = gr.Markdown(elem_id="channel-caption")
        panel = channel_panel.build(page, stage, channel)

    # Whatever shows a channel also shows what it responds to (feature visualisation, exemplars).
    channel_outputs = [channel_picture, channel_caption, *panel.outputs]
    grid_outputs = [grid, title, stage_info, channel, *channel_outputs]

    def show_channel(session: Session, stage_name: str, number, alpha: float, lang: str) -> tuple:
        picture, caption = channel_view(session, stage_name, number, alpha, lang)
        return (picture, caption, *panel.view(session, stage_name, int(number or 0), lang))

    def both(session: Session, lang: str, stage_name: str, rank: str, count: int, alpha: float):
        picture, heading, info = grid_view(explorer, session, stage_name, rank, count, lang)
        first = session.outputs.channels[0]
        return (picture, heading, info, first, *show_channel(session, stage_name, first, alpha, lang))

    @friendly
    def on_view(request: gr.Request, stage_name: str, rank: str, count: int, alpha: float):
        sid, lang = visitor(request)
        return both(explorer.session(sid, lang), lang, stage_name, rank, count, alpha)

    @friendly
    def on_grid_click(request: gr.Request, stage_name: str, alpha: float, evt: TileClick):
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        hit = None if evt.index is None else render.tile_at(evt.index, session.outputs.channels,
                                                            columns=GRID_COLUMNS, tile=GRID_TILE)
        if hit is None:
            return [gr.skip()] * (1 + len(channel_outputs))
        return (hit, *show_channel(session, stage_name, hit, alpha, lang))

    @friendly
    def on_channel(request: gr.Request, stage_name: str, number: float | None, alpha: float):
        sid, lang = visitor(request)
        return show_channel(explorer.session(sid, lang), stage_name, number, alpha, lang)

    @friendly
    def on_opacity(request: gr.Request, stage_name: str, number: float | None, alpha: float):
        sid, lang = visitor(request)
        return channel_view(explorer.session(sid, lang), stage_name, number, alpha, lang)

    view_inputs = [stage, ranking, tiles, opacity]
    # Keyboard and mouse both fire `input`; `always_last` drops the in-between positions of a drag.
    gr.on([stage.input, ranking.input, tiles.input], on_view, view_inputs, grid_outputs,
          trigger_mode="always_last", **MODEL_QUEUE, **HIDDEN)
    grid.select(on_grid_click, [stage, opacity], [channel, *channel_outputs], **HIDDEN)
    # A channel the stage does not have is said under the channel box; the pictures stay as they were.
    bad_channel = value_check(channel_panel.channel_check(explorer), at=1, count=3)
    channel.submit(on_channel, [stage, channel, opacity], channel_outputs, validator=bad_channel, **HIDDEN)
    opacity.input(on_opacity, [stage, channel, opacity], [channel_picture, channel_caption], trigger_mode="always_last",
                  validator=bad_channel, **HIDDEN)
    page.after_analysis(both, view_inputs, grid_outputs)
    page.after_analysis(lambda session, lang: stage_openings(explorer.registry.get(session.arch).model, lang), [], [openings])
