"""resnet-viz: the Gradio explorer. This file parses the command line, composes the tabs (each
built and wired in its own module under ``resnet_viz/ui/``) and launches.

    python app.py [--arch resnet50] [--weights imagenet|random|PATH] [--device auto]
                  [--precision fp32|bf16|fp16] [--host 127.0.0.1] [--port 7860] [--share]
                  [--no-batching] [--session-ttl 1800] [--max-models 2] [--index INDEX.npz] [--log-level info]
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import gradio as gr

from resnet_viz import ARCHS, DegradationConfig, IndexFileError, load_index
from resnet_viz.model.runtime import LAYOUTS
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.registry import DEFAULT_MAX_MODELS, ModelRegistry
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui import api, architecture, attributions, files, lab, predictions, residual, stages
from resnet_viz.ui.file_keeper import FileKeeper
from resnet_viz.ui.hosted import HostedBlocks
from resnet_viz.ui.page import ASSETS, I18N, Page
from resnet_viz.ui.session_files import FileLimits
from resnet_viz.ui.session_queue import JobLimits

# Gradio's own English messages (upload limit, full queue, toast titles), rewritten for Korean browsers.
GRADIO_MESSAGES_JS = (Path(__file__).resolve().parent / "resnet_viz" / "ui" / "gradio_messages.js").read_text()

CSS = """
#banner { background: #fff4ce; border: 1px solid #e0b400; border-radius: 8px; padding: 4px 14px; }
#status { font-size: 0.9em; color: var(--body-text-color-subdued); }
/* Lines break between words, never inside one, in both languages: keep-all keeps a Korean word
   (eojeol) whole and is "normal" for English; Gradio's own break-word rules (table cells, toasts)
   are overridden, so a column or toast too narrow for a word grows instead of splitting it. */
body, body * { word-break: keep-all !important; overflow-wrap: normal !important; }
#grid img, #ladder img { object-fit: contain; }
/* The image toolbar floats over a picture's top right, where titled pictures keep their title:
   give it a row of its own above them. */
.toolbar-above .icon-button-wrapper.top-panel { position: static; display: flex; justify-content: flex-end; margin: 0 0 2px auto; width: fit-content; }
/* Exemplar captions wrap (at spaces and the zero-width spaces after a file name's separators)
   over the patch's full width instead of ending in an ellipsis. */
#exemplars .caption-label { white-space: normal; overflow: visible; text-overflow: clip; max-width: calc(100% - 8px); opacity: 0.85; }
/* gr.Label rounds to whole percents; the top-k labels carry their own (ui/predictions.py). */
.top-k dd, .top-k dl > .line { display: none; }
"""

LAUNCH_DEFAULTS: dict[str, Any] = dict(
    css=CSS,
    js=GRADIO_MESSAGES_JS,
    max_file_size="10mb",  # bytes; the pixel budget is resnet_viz.model.preprocess.MAX_PIXELS
    ssr_mode=False,  # Gradio 6.27-6.31: SSR + run history can leak a saved HF token (CVE-2026-134825)
    run_history=False,
    enable_monitoring=False,
    allowed_paths=[str(ASSETS)],  # besides Gradio's own cache, only the example photos are served
    state_session_capacity=100,  # Gradio keeps ~0.6 MB of page config per session: bound it
    show_error=False,  # only our gr.Error messages reach the browser, never a traceback
)


class ExplorerDemo(HostedBlocks):
    """The page, hosted safely (queued events only through the queue, a share of it per session,
    file references checked: see HostedBlocks); it also stops the degradation lab's training
    process when it closes, and its ``files`` (a FileKeeper) bound what each request may send and
    keep visitors' files on disk only while they are shown: its limits go in front of Gradio's
    routes at launch, and it sees every event's file inputs and outputs."""

    explorer: Explorer
    files: FileKeeper | None = None

    def launch(self, *args: Any, **kwargs: Any):
        if self.files is not None:
            kwargs = self.files.launch_kwargs(kwargs)
        return super().launch(*args, **kwargs)

    async def process_api(self, block_fn, inputs, state=None, request=None, iterator=None, session_hash=None, **kwargs):
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if self.files is not None:
            self.files.before(fn, inputs, session_hash, request)
        result = await super().process_api(fn, inputs, state, request, iterator, session_hash, **kwargs)
        if self.files is not None:
            self.files.after(fn, inputs, result, session_hash)
        return result

    def close(self, verbose: bool = True) -> None:
        super().close(verbose)
        self.explorer.close()
        if self.files is not None:
            self.files.close()


def build_demo(
    arch: str = "resnet50",
    weights: str = "imagenet",
    device: str = "auto",
    *,
    precision: str = "fp32",
    explorer: Explorer | None = None,
    queue_size: int = 32,
    delete_cache: tuple[int, int] = (600, 3600),
    degradation_config: DegradationConfig | None = None,
    job_limits: JobLimits | None = None,
    file_limits: FileLimits | None = None,
) -> ExplorerDemo:
    """The explorer page. Models load on first use; pass ``explorer`` to share or inspect one.

    ``queue_size`` bounds the requests waiting (more get "Queue is full! Please try again.");
    ``delete_cache`` = (every, older than) seconds for Gradio's temporary files;
    ``degradation_config``: the lab's live run (the controls' defaults and every other setting);
    ``job_limits``: what one session may have running or waiting in the queue;
    ``file_limits``: files and bytes per request and per session, and how long visitors' files stay.
    """
    explorer = explorer or Explorer(ModelRegistry(weights, device, precision))
    page = Page(explorer, arch, degradation_config=degradation_config)
    with ExplorerDemo(title="resnet-viz", analytics_enabled=False, delete_cache=delete_cache) as demo:
        page.header()
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                page.side_column()
                files.build(page)
            with gr.Column(scale=3):
                with gr.Tabs():
                    for tab in (predictions, stages, residual, attributions, lab, architecture):
                        tab.build(page)
        page.wire(demo)
        api.build(explorer, arch)
        demo.files = FileKeeper(demo, file_limits)
        demo.unload(demo.files.session_ended)
    demo.job_limits = job_limits or JobLimits()
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.explorer = explorer
    return demo


def launch_kwargs(host: str = "127.0.0.1", port: int | None = 7860, share: bool = False) -> dict[str, Any]:
    """What demo.launch() needs besides the demo: safe defaults, the address, the translations."""
    return dict(LAUNCH_DEFAULTS, server_name=host, server_port=port, share=share, i18n=I18N)


LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
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
    parser.add_argument(
        "--layout", default=os.environ.get("RESNET_VIZ_LAYOUT", "auto"), choices=list(LAYOUTS),
        help="memory layout of the models: auto (the faster of the two, timed when a model loads), nchw or channels-last",
    )
    parser.add_argument(
        "--max-models", type=_at_least_one, default=int(os.environ.get("RESNET_VIZ_MAX_MODELS", DEFAULT_MAX_MODELS)),
        metavar="N", help=f"architectures kept loaded at once; the least recently used unused one is unloaded (default: {DEFAULT_MAX_MODELS})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument(
        "--session-ttl", type=_positive_seconds, default=float(os.environ.get("RESNET_VIZ_SESSION_TTL", 1800)),
        metavar="SECONDS", help="forget a visitor's results after this many idle seconds (default: 1800)",
    )
    parser.add_argument(
        "--index", metavar="INDEX.npz", default=os.environ.get("RESNET_VIZ_INDEX"),
        help="an exemplar index (python -m resnet_viz index FOLDER --out INDEX.npz): shows each channel's top patches",
    )
    parser.add_argument(
        "--log-level", default=os.environ.get("RESNET_VIZ_LOG_LEVEL", "info").lower(), choices=list(LOG_LEVELS),
        help="how much the server logs (default info: one line per refused input, each model load and layout choice)",
    )
    parser.add_argument(
        "--batching", action=argparse.BooleanOptionalAction, default=True,
        help="run /analyze requests that arrive together in one batched forward (default: on)",
    )
    return parser.parse_args(argv)


def configure_logging(level: str) -> None:
    """Once, at start: the app's own loggers (resnet_viz.*) at ``level``, on stderr with a time."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("resnet_viz").setLevel(LOG_LEVELS[level])


def demo_from_args(args: argparse.Namespace) -> gr.Blocks:
    """The one demo this process serves, configured by the command line (or its defaults)."""
    registry = ModelRegistry(args.weights, args.device, args.precision, layout=args.layout, max_models=args.max_models)
    store = SessionStore(ttl_s=args.session_ttl)
    index = load_index(args.index) if args.index else None  # IndexFileError says what is wrong, in one line
    return build_demo(args.arch, explorer=Explorer(registry, store, batching=args.batching, index=index))


def __getattr__(name: str) -> Any:
    """``app.demo`` for `gradio app.py` (hot reload), built on first access only: importing this
    module (as the tests do) builds nothing, and running it as a script builds one demo."""
    if name == "demo":
        args = parse_args([])
        configure_logging(args.log_level)
        globals()["demo"] = demo_from_args(args)
        return globals()["demo"]
    raise AttributeError(name)


if __name__ == "__main__":
    args = parse_args()
    configure_logging(args.log_level)
    try:
        demo = demo_from_args(args)
    except IndexFileError as exc:
        raise SystemExit(f"app.py: error: {exc}") from None
    demo.explorer.registry.get(args.arch)  # load (on a Space: download) the weights now, not on the first visit
    demo.launch(**launch_kwargs(args.host, args.port, args.share))
