"""resnet-viz: the Gradio explorer. This file only builds and wires the UI; the logic lives in
``resnet_viz`` (see ``resnet_viz/explorer.py`` for what each control does).

    python app.py [--arch resnet50] [--weights imagenet|random|PATH] [--device auto]
                  [--precision fp32|bf16|fp16] [--host 127.0.0.1] [--port 7860] [--share] [--no-batching]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from resnet_viz import ARCHS
from resnet_viz.explorer import METHOD_NAMES, Explorer, UserError
from resnet_viz.i18n import STRINGS, language, tr
from resnet_viz.photo_input import PhotoInput
from resnet_viz.registry import ModelRegistry
from resnet_viz.sessions import SessionStore

log = logging.getLogger("resnet_viz.app")
ASSETS = Path(__file__).resolve().parent / "assets"
EXAMPLES = [str(ASSETS / name) for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png")]
STAGES = ["C1", "C2", "C3", "C4", "C5"]
MODEL = "model"  # every listener that runs the network shares this queue: one computation at a time
I18N = gr.I18n(**STRINGS)

CSS = """
#banner { background: #fff4ce; border: 1px solid #e0b400; border-radius: 8px; padding: 4px 14px; }
#status { font-size: 0.9em; color: var(--body-text-color-subdued); }
"""

LAUNCH_DEFAULTS: dict[str, Any] = dict(
    css=CSS,
    max_file_size="10mb",  # bytes; the pixel budget is resnet_viz.preprocess.MAX_PIXELS
    ssr_mode=False,  # Gradio 6.27-6.31: SSR + run history can leak a saved HF token (CVE-2026-134825)
    run_history=False,
    enable_monitoring=False,
    allowed_paths=[str(ASSETS)],  # besides Gradio's own cache, only the example photos are served
    state_session_capacity=100,  # Gradio keeps ~0.6 MB of page config per session: bound it
    show_error=False,  # only our gr.Error messages reach the browser, never a traceback
)


def _visitor(request: gr.Request | None) -> tuple[str, str]:
    """(session id, language) of the request; scripts without a session share "api"."""
    if request is None:
        return "api", "en"
    return request.session_hash or "api", language(request.headers.get("accept-language"))


def _friendly(fn: Callable) -> Callable:
    """Show a UserError as a gr.Error with its message (and one log line, not a traceback: it is
    the visitor's input, not a bug); anything else stays a server error with its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            log.info("%s: %s", fn.__name__, exc)
            raise gr.Error(str(exc), print_exception=False) from None

    return wrapper


def build_demo(
    arch: str = "resnet50",
    weights: str = "imagenet",
    device: str = "auto",
    *,
    precision: str = "fp32",
    explorer: Explorer | None = None,
    queue_size: int = 32,
    delete_cache: tuple[int, int] = (600, 3600),
) -> gr.Blocks:
    """The explorer page. Models load on first use; pass ``explorer`` to share or inspect one.

    ``queue_size`` bounds the requests waiting (more get "Queue is full! Please try again.");
    ``delete_cache`` = (every, older than) seconds for Gradio's temporary files.
    """
    explorer = explorer or Explorer(ModelRegistry(weights, device, precision))
    i18n = I18N

    with gr.Blocks(title="resnet-viz", analytics_enabled=False, delete_cache=delete_cache) as demo:
        banner = gr.Markdown(visible=False, elem_id="banner")
        gr.Markdown(i18n("title"))
        gr.Markdown(i18n("subtitle"))
        channels_shown = gr.State([])  # no TTL: Gradio bounds states per session (state_session_capacity)

        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                image = PhotoInput(
                    value=EXAMPLES[0], label=i18n("image_label"), type="filepath",
                    sources=["upload", "webcam", "clipboard"], height=300, elem_id="photo",
                )
                gr.Examples([[p] for p in EXAMPLES], inputs=image, label=i18n("examples_label"))
                arch_choice = gr.Dropdown(list(ARCHS), value=arch, label=i18n("arch_label"), info=i18n("arch_info"))
                status = gr.Markdown(elem_id="status")
                download_button = gr.Button(i18n("download_button"), size="sm")
                download_file = gr.File(label=i18n("download_label"), visible=False, interactive=False)

            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab(i18n("tab_predictions"), id="predictions"):
                        with gr.Row():
                            predictions = gr.Label(num_top_classes=5, label=i18n("predictions_label"), elem_id="predictions")
                            crop = gr.Image(label=i18n("crop_label"), format="png", interactive=False, height=260)
                        gr.Markdown(i18n("predictions_help"))

                    with gr.Tab(i18n("tab_stages"), id="stages"):
                        gr.Markdown(i18n("stages_help"))
                        with gr.Row():
                            stage = gr.Radio(STAGES, value="C2", label=i18n("stage_label"))
                            ranking = gr.Radio(
                                [(i18n("rank_mean"), "mean"), (i18n("rank_gradcam"), "gradcam")],
                                value="mean", label=i18n("ranking_label"),
                            )
                            tiles = gr.Slider(8, 64, value=32, step=8, label=i18n("tiles_label"))
                        stage_info = gr.Markdown(elem_id="stage-info")
                        grid = gr.Image(label=i18n("grid_label"), format="png", interactive=False, elem_id="grid")
                        with gr.Row():
                            channel = gr.Number(value=0, precision=0, label=i18n("channel_label"))  # range checked by the explorer, in the visitor's language
                            opacity = gr.Slider(0, 1, value=0.6, step=0.05, label=i18n("opacity_label"))
                        channel_picture = gr.Image(label=i18n("channel_view_label"), format="png", interactive=False, height=340)

                    with gr.Tab(i18n("tab_residual"), id="residual"):
                        gr.Markdown(i18n("residual_help"))
                        residual_plot = gr.Plot(label=i18n("residual_plot_label"), elem_id="residual-plot")

                    with gr.Tab(i18n("tab_attributions"), id="attributions"):
                        gr.Markdown(i18n("attributions_help"))
                        with gr.Row():
                            method = gr.Dropdown([(v, k) for k, v in METHOD_NAMES.items()], value="gradcam", label=i18n("method_label"))
                            target = gr.Dropdown(
                                target_choices(i18n("top1")), value="", label=i18n("target_label"), filterable=True,
                                elem_id="target",
                            )
                            attr_stage = gr.Radio(STAGES[1:], value="C5", label=i18n("attr_stage_label"))
                        explain_button = gr.Button(i18n("explain_button"), variant="primary")
                        with gr.Row():
                            heatmap = gr.Image(label=i18n("heatmap_label"), format="png", interactive=False, height=300, elem_id="heatmap")
                            ladder = gr.Image(label=i18n("ladder_label"), format="png", interactive=False, height=300)
                        attribution_info = gr.Markdown(elem_id="attribution-info")

                    with gr.Tab(i18n("tab_lab"), id="lab"):
                        gr.Markdown(i18n("lab_help"))
                        with gr.Row():
                            flow_button = gr.Button(i18n("flow_button"))
                            lesion_button = gr.Button(i18n("lesion_button"))
                        flow_plot = gr.Plot(label=i18n("flow_plot_label"))
                        lesion_plot = gr.Plot(label=i18n("lesion_plot_label"))
                        gr.Markdown(i18n("scales_help"))
                        with gr.Row():
                            scales = [gr.Slider(0, 1, value=1, step=0.05, label=f"C{i}") for i in range(2, 6)]
                        with gr.Row():
                            scaled_top5 = gr.Label(num_top_classes=5, label=i18n("scaled_top5_label"))
                            scaled_kl = gr.Markdown()

                    with gr.Tab(i18n("tab_architecture"), id="architecture"):
                        gr.Markdown(i18n("architecture_help"))
                        architecture = gr.Dataframe(
                            interactive=False, wrap=True, elem_id="architecture",
                            column_widths=["7%", "9%", "8%", "6%", "30%", "8%", "12%", "8%", "12%"],
                        )

        # --- handlers: adapters from components to explorer methods ----------------------------

        def stage_outputs(sid: str, lang: str, stage_name: str, rank: str, count: int, alpha: float):
            picture, info, shown = explorer.stage_view(sid, stage_name, rank, count, lang)
            first = shown[0]
            return picture, info, shown, first, explorer.channel_view(sid, stage_name, first, alpha, lang)

        def analysis_outputs(session, sid, lang, arch_name, stage_name, rank, count, alpha):
            if rank == "gradcam":
                explorer.ensure_channel_weights(sid, lang)
            probabilities, seen = explorer.predictions(sid, lang)
            note = explorer.banner(arch_name, lang)
            return (
                gr.update(value=note, visible=bool(note)),
                probabilities,
                seen,
                *stage_outputs(sid, lang, stage_name, rank, count, alpha),
                explorer.status(arch_name, lang, session.report["timing_ms"]["total"]),
                # Updates are plain JSON to API clients: the label is translated here, not by gr.I18n.
                gr.update(choices=target_choices(tr("top1", lang), session.report["predictions"]), value=""),
            )

        @_friendly
        def on_analyze(path, arch_name, stage_name, rank, count, alpha, request: gr.Request):
            sid, lang = _visitor(request)
            if not path:
                return [gr.skip()] * len(analysis_targets)
            session = explorer.analyze(path, arch_name, sid, lang)
            return analysis_outputs(session, sid, lang, arch_name, stage_name, rank, count, alpha)

        @_friendly
        def on_load(arch_name, stage_name, rank, count, alpha, request: gr.Request):
            sid, lang = _visitor(request)
            session = explorer.analyze_example(EXAMPLES[0], arch_name, sid, lang)
            return analysis_outputs(session, sid, lang, arch_name, stage_name, rank, count, alpha)

        @_friendly
        def on_stage(stage_name, rank, count, alpha, request: gr.Request):
            sid, lang = _visitor(request)
            return stage_outputs(sid, lang, stage_name, rank, count, alpha)

        @_friendly
        def on_ranking(rank, request: gr.Request):
            sid, lang = _visitor(request)
            if rank == "gradcam":
                explorer.ensure_channel_weights(sid, lang)

        @_friendly
        def on_grid_click(shown, stage_name, alpha, evt: gr.SelectData, request: gr.Request):
            sid, lang = _visitor(request)
            hit = explorer.channel_at(shown, evt.index)
            if hit is None:
                return gr.skip(), gr.skip()
            return hit, explorer.channel_view(sid, stage_name, hit, alpha, lang)

        @_friendly
        def on_channel(stage_name, number, alpha, request: gr.Request):
            sid, lang = _visitor(request)
            return explorer.channel_view(sid, stage_name, int(number or 0), alpha, lang)

        @_friendly
        def on_residual(request: gr.Request):
            return explorer.residual_figure(*_visitor(request))

        @_friendly
        def on_architecture(arch_name, request: gr.Request):
            return explorer.architecture(arch_name, _visitor(request)[1])

        @_friendly
        def on_explain(method_name, target_index, stage_name, request: gr.Request, progress=gr.Progress()):
            sid, lang = _visitor(request)
            picture, steps, info = explorer.explain(sid, method_name, target_index, stage_name, lang, progress=progress)
            return picture, gr.update(value=steps, visible=steps is not None), info

        @_friendly
        def on_flow(request: gr.Request):
            return explorer.gradient_flow_figure(*_visitor(request))

        @_friendly
        def on_lesion(request: gr.Request):
            return explorer.lesion_figure(*_visitor(request))

        @_friendly
        def on_scales(c2, c3, c4, c5, request: gr.Request):
            sid, lang = _visitor(request)
            return explorer.scaled_predictions(sid, {"C2": c2, "C3": c3, "C4": c4, "C5": c5}, lang)

        @_friendly
        def on_download(request: gr.Request):
            return gr.update(value=explorer.download(*_visitor(request)), visible=True)

        def on_unload(request: gr.Request):
            explorer.forget(_visitor(request)[0])

        # --- wiring ---------------------------------------------------------------------------

        view_inputs = [stage, ranking, tiles, opacity]
        stage_targets = [grid, stage_info, channels_shown, channel, channel_picture]
        analysis_targets = [banner, predictions, crop, *stage_targets, status, target]
        # The page's own events: left out of the API docs (scripts use the named endpoints below), yet
        # callable, as they are from any browser anyway; the soak test drives sessions through them.
        hidden = {"api_visibility": "undocumented"}

        for trigger in (image.change, arch_choice.change):
            trigger(on_analyze, [image, arch_choice, *view_inputs], analysis_targets, concurrency_id=MODEL, **hidden).success(
                on_residual, None, residual_plot, **hidden
            )
        demo.load(on_load, [arch_choice, *view_inputs], analysis_targets, concurrency_id=MODEL, **hidden).success(
            on_residual, None, residual_plot, **hidden
        )
        gr.on([demo.load, arch_choice.change], on_architecture, arch_choice, architecture, **hidden)
        gr.on([stage.change, tiles.release], on_stage, view_inputs, stage_targets, **hidden)
        ranking.change(on_ranking, ranking, None, concurrency_id=MODEL, **hidden).success(
            on_stage, view_inputs, stage_targets, **hidden
        )
        grid.select(on_grid_click, [channels_shown, stage, opacity], [channel, channel_picture], **hidden)
        gr.on([channel.submit, opacity.release], on_channel, [stage, channel, opacity], channel_picture, **hidden)
        explain_button.click(
            on_explain, [method, target, attr_stage], [heatmap, ladder, attribution_info], concurrency_id=MODEL, **hidden
        )
        flow_button.click(on_flow, None, flow_plot, concurrency_id=MODEL, **hidden)
        lesion_button.click(on_lesion, None, lesion_plot, concurrency_id=MODEL, **hidden)
        for slider in scales:
            slider.release(on_scales, scales, [scaled_top5, scaled_kl], concurrency_id=MODEL, **hidden)
        download_button.click(on_download, None, download_file, **hidden)
        demo.unload(on_unload)

        # --- named API endpoints for scripts and classrooms (gradio_client) ---------------------
        with gr.Row(visible=False):
            api_image = PhotoInput(type="filepath")
            api_arch = gr.Dropdown(list(ARCHS), value=arch)
            api_method = gr.Dropdown(list(METHOD_NAMES), value="gradcam")
            api_target = gr.Textbox()
            api_stage = gr.Textbox(value="C5")
            api_scales = gr.Textbox()
            api_result = gr.JSON()
            api_trigger = gr.Button()
        endpoints = {
            "analyze": (explorer.json_analyze, [api_image, api_arch]),
            "attribute": (explorer.json_attribute, [api_image, api_arch, api_method, api_target, api_stage]),
            "gradient_flow": (explorer.json_gradient_flow, [api_image, api_arch, api_target]),
            "lesion": (explorer.json_lesion, [api_image, api_arch, api_scales]),
        }
        for name, (fn, inputs) in endpoints.items():
            # /analyze requests may run side by side: the explorer batches them into one forward.
            queue = {"concurrency_id": "analyze", "concurrency_limit": 8} if name == "analyze" else {"concurrency_id": MODEL}
            api_trigger.click(_friendly(fn), inputs, api_result, api_name=name, **queue)

    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.explorer = explorer
    return demo


@functools.lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's weights meta (no model needed)."""
    import torchvision

    return tuple(torchvision.models.ResNet50_Weights.DEFAULT.meta["categories"])


def target_choices(top1: Any, predictions: list[dict] | None = None) -> list[tuple[Any, str]]:
    """The target menu: ``top1`` (the default: whatever the image's top-1 is), this image's top-5,
    then every other class."""
    top = [(f"{p['rank']}. {p['label']} ({p['probability']:.1%})", str(p["index"])) for p in predictions or []]
    listed = {value for _, value in top}
    rest = [(label, str(i)) for i, label in enumerate(imagenet_categories()) if str(i) not in listed]
    return [(top1, "")] + top + rest


def launch_kwargs(host: str = "127.0.0.1", port: int | None = 7860, share: bool = False) -> dict[str, Any]:
    """What demo.launch() needs besides the demo: safe defaults, the address, the translations."""
    return dict(LAUNCH_DEFAULTS, server_name=host, server_port=port, share=share, i18n=I18N)


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The resnet-viz explorer (Gradio).")
    parser.add_argument("--arch", default=os.environ.get("RESNET_VIZ_ARCH", "resnet50"), choices=list(ARCHS))
    parser.add_argument("--weights", default=os.environ.get("RESNET_VIZ_WEIGHTS", "imagenet"), help="imagenet, random or a checkpoint path")
    parser.add_argument("--device", default=os.environ.get("RESNET_VIZ_DEVICE", "auto"))
    parser.add_argument(
        "--precision", default=os.environ.get("RESNET_VIZ_PRECISION", "fp32"), choices=["fp32", "bf16", "fp16"],
        help="inference under CUDA autocast (GPU only; attributions stay float32)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument(
        "--session-ttl", type=_positive_seconds, default=float(os.environ.get("RESNET_VIZ_SESSION_TTL", 1800)),
        metavar="SECONDS", help="forget a visitor's results after this many idle seconds (default: 1800)",
    )
    parser.add_argument(
        "--batching", action=argparse.BooleanOptionalAction, default=True,
        help="run /analyze requests that arrive together in one batched forward (default: on)",
    )
    return parser.parse_args(argv)


def demo_from_args(args: argparse.Namespace) -> gr.Blocks:
    """The one demo this process serves, configured by the command line (or its defaults)."""
    registry = ModelRegistry(args.weights, args.device, args.precision)
    store = SessionStore(ttl_s=args.session_ttl)
    return build_demo(args.arch, explorer=Explorer(registry, store, batching=args.batching))


def __getattr__(name: str) -> Any:
    """``app.demo`` for `gradio app.py` (hot reload), built on first access only: importing this
    module (as the tests do) builds nothing, and running it as a script builds one demo."""
    if name == "demo":
        globals()["demo"] = demo_from_args(parse_args([]))
        return globals()["demo"]
    raise AttributeError(name)


if __name__ == "__main__":
    args = parse_args()
    demo = demo_from_args(args)
    demo.explorer.registry.get(args.arch)  # load (on a Space: download) the weights now, not on the first visit
    demo.launch(**launch_kwargs(args.host, args.port, args.share))
