"""What each control of the explorer does, as plain functions of plain values.

``app.py`` only lays out components and wires them to these methods (adding the session id and
the browser's language from the request), so every tab can be tested by calling the methods
directly. Methods that run the network are marked "model": they lease the model from the
registry, which serves one computation at a time per model. The others re-render what a
session already holds, without a forward pass.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any, Callable

import torch
from PIL import Image

from . import charts, render
from .analysis import analyze
from .architecture import architecture_table, architecture_totals
from .attribution import METHODS, attribution_json, channel_weights
from .attribution import attribute as run_attribution
from .batching import AnalyzeBatcher
from .downloads import DownloadFolders
from .gradient_flow import gradient_flow
from .i18n import chart_labels, tr
from .lesion import lesion
from .preprocess import ImageError, load_image
from .registry import ModelRegistry
from .sessions import Analysis, Session, SessionStore, valid_session_id

__all__ = ["Explorer", "UserError", "METHOD_NAMES"]

METHOD_NAMES = {
    "gradcam": "Grad-CAM",
    "gradcam_ladder": "Grad-CAM ladder C2-C5",
    "guided_gradcam": "Guided Grad-CAM",
    "guided_backprop": "Guided backprop",
    "saliency": "Saliency",
    "integrated_gradients": "Integrated Gradients",
    "smoothgrad": "SmoothGrad",
    "occlusion": "Occlusion",
}
assert set(METHOD_NAMES) == set(METHODS)

GRID_COLUMNS, GRID_TILE = 8, 96


class UserError(ValueError):
    """Something the visitor can fix; the app shows the message as it is."""


def _probabilities(predictions: list[dict]) -> dict[str, float]:
    return {p["label"]: p["probability"] for p in predictions}


class Explorer:
    def __init__(
        self,
        registry: ModelRegistry,
        store: SessionStore | None = None,
        batching: bool = True,
        downloads: DownloadFolders | None = None,
    ) -> None:
        self.registry = registry
        self.store = store if store is not None else SessionStore()
        # /analyze requests that arrive while the model is busy share one forward (see batching.py).
        self.batcher = AnalyzeBatcher(registry.lease) if batching else None
        # One folder per session that asked for a zip, under a random name; removed with the session.
        self.downloads = downloads if downloads is not None else DownloadFolders()
        self.store.on_remove = self.downloads.remove
        # The example every visitor sees first, analysed once per arch. It lives here, not in the
        # store: each visitor gets a fresh Session around it, so no TTL ever reaches the shared one.
        self._examples: dict[tuple[str, str], Analysis] = {}

    # --- helpers -----------------------------------------------------------------------------

    def session(self, session_id: str, lang: str = "en") -> Session:
        session = self.store.get(session_id) if valid_session_id(session_id) else None
        if session is None:
            raise UserError(tr("error_first", lang))
        return session

    def _keep(self, session_id: str, analysis: Analysis, lang: str) -> Session:
        """A new session around ``analysis`` for this visitor; refused for ids no client makes."""
        if not valid_session_id(session_id):
            raise UserError(tr("error_session", lang))
        session = Session(analysis)
        self.store.put(session_id, session)
        return session

    def _weights_name(self, arch: str, lang: str) -> str:
        loaded = self.registry.get(arch)
        name = loaded.model.meta.weights
        return tr(f"weights_{name}", lang) if name in ("imagenet", "random") else name

    def status(self, arch: str, lang: str, ms: float | None = None) -> str:
        model = self.registry.get(arch).model
        device = str(next(model.parameters()).device)
        values = {"arch": arch, "weights": self._weights_name(arch, lang), "device": device}
        if ms is None:
            return tr("status_idle", lang, **values)
        return f"{time.strftime('%H:%M:%S')} · " + tr("status", lang, ms=ms, **values)

    def banner(self, arch: str, lang: str) -> str:
        """The warning shown at the top when random weights stand in for ImageNet ones ("" if none)."""
        loaded = self.registry.get(arch)
        if loaded.fallback is None:
            return ""
        return tr("banner_random", lang, arch=arch, cache=loaded.cache_dir)

    # --- model: analysis ---------------------------------------------------------------------

    def _analysis(self, image: str | None, arch: str, lang: str) -> Analysis:
        """Model. One forward pass; the result keeps its stage tensors for re-rendering."""
        if not image:
            raise UserError(tr("error_first", lang))
        try:
            picture = load_image(image)  # decoded before taking the model, which others may be waiting for
        except ImageError as exc:  # in the visitor's language
            raise UserError(tr("error_image", lang, reason=exc.reason)) from None
        with self.registry.lease(arch) as model:
            report, tensors = analyze(model, picture, top_k=5, return_tensors=True)
        return Analysis(
            arch=arch,
            report=report,
            input=tensors.input,
            crop=tensors.crop,
            stages={name: t.to(torch.float16) for name, t in tensors.stages.items()},
        )

    def analyze(self, image: str | None, arch: str, session_id: str, lang: str = "en") -> Session:
        """Model. Analyse the visitor's photo; their session keeps the result for re-rendering."""
        if not valid_session_id(session_id):  # refused before any work
            raise UserError(tr("error_session", lang))
        return self._keep(session_id, self._analysis(image, arch, lang), lang)

    def analyze_example(self, image: str, arch: str, session_id: str, lang: str = "en") -> Session:
        """Model (once per arch). The example every visitor sees first, analysed once and shared."""
        if not valid_session_id(session_id):
            raise UserError(tr("error_session", lang))
        key = (arch, str(image))
        if key not in self._examples:
            self._examples[key] = self._analysis(image, arch, lang)
        return self._keep(session_id, self._examples[key], lang)

    def ensure_channel_weights(self, session_id: str, lang: str = "en") -> None:
        """Model. Grad-CAM channel weights of every stage for the top-1 class, once per analysis."""
        session = self.session(session_id, lang)
        if not session.channel_weights:
            with self.registry.lease(session.arch) as model:
                weights, _ = channel_weights(model, session.analysis.input)
            session.channel_weights.update(weights)

    # --- no model: re-rendering --------------------------------------------------------------

    def predictions(self, session_id: str, lang: str = "en") -> tuple[dict[str, float], Image.Image]:
        session = self.session(session_id, lang)
        return _probabilities(session.report["predictions"]), session.crop

    def stage_view(
        self, session_id: str, stage: str, ranking: str, tiles: int, lang: str = "en"
    ) -> tuple[Image.Image, str, list[int]]:
        """The grid of a stage's strongest channels, its description, and the channels shown."""
        session = self.session(session_id, lang)
        tensor = session.stages[stage].float()
        weights = session.channel_weights.get(stage) if ranking == "gradcam" else None
        channels = render.rank_channels(tensor, int(tiles), weights)
        grid = render.feature_grid(tensor, channels, columns=GRID_COLUMNS, tile=GRID_TILE)
        session.outputs["grid"] = grid
        return grid, self.stage_info(session, stage, lang), channels

    def stage_info(self, session: Session, stage: str, lang: str) -> str:
        row = next(s for s in session.report["stages"] if s["name"] == stage)
        table = {r["stage"]: r for r in architecture_table(self.registry.get(session.arch).model)}
        return tr(
            "stage_info", lang, stage=stage, channels=row["channels"], height=row["height"], width=row["width"],
            stride=row["stride"], rf=table[stage]["receptive_field"], zeros=100 * row["zero_fraction"],
        )

    def channel_at(self, channels: list[int], xy: tuple[int, int]) -> int | None:
        """Which channel a click at pixel (x, y) of the grid hit."""
        return render.tile_at(tuple(int(v) for v in xy), channels, columns=GRID_COLUMNS, tile=GRID_TILE)

    def channel_view(self, session_id: str, stage: str, channel: int, opacity: float, lang: str = "en") -> Image.Image:
        session = self.session(session_id, lang)
        tensor = session.stages[stage]
        if not 0 <= int(channel) < tensor.shape[0]:
            raise UserError(tr("error_channel", lang, stage=stage, last=tensor.shape[0] - 1, channel=int(channel)))
        picture = render.channel_overlay(session.crop, tensor.float(), int(channel), opacity=float(opacity))
        session.outputs["channel"] = picture
        return picture

    def residual_figure(self, session_id: str, lang: str = "en"):
        session = self.session(session_id, lang)
        return charts.residual_chart(session.report["blocks"], _chart_labels(lang))

    def architecture(self, arch: str, lang: str = "en") -> dict[str, list]:
        rows = architecture_table(self.registry.get(arch).model)
        total = architecture_totals(rows)
        total["stage"] = tr("total", lang)
        keys = [
            ("stage", "col_stage"), ("layer", "col_layer"), ("output_size", "col_output"), ("blocks", "col_blocks"),
            ("block", "col_block"), ("channels", "col_channels"), ("params", "col_params"),
            ("gflops", "col_gflops"), ("receptive_field", "col_rf"),
        ]

        def cell(row: dict, key: str) -> Any:
            value = row[key]
            if key == "params" and value is not None:
                return f"{value:,}"
            if key == "gflops":
                return f"{value:.3f}"
            return "" if value is None else value

        return {"headers": [tr(k, lang) for _, k in keys], "data": [[cell(r, k) for k, _ in keys] for r in rows + [total]]}

    # --- model: explanations -----------------------------------------------------------------

    def explain(
        self,
        session_id: str,
        method: str,
        target: int | str | None,
        stage: str,
        lang: str = "en",
        progress: Callable[[float], None] | None = None,
    ) -> tuple[Image.Image, Image.Image | None, str]:
        """Model. The heatmap over the crop, the Grad-CAM ladder (for that method), and a caption."""
        session = self.session(session_id, lang)
        picture = session.analysis.input
        with self.registry.lease(session.arch) as model:
            result = _user_errors(
                run_attribution, model, picture, method, target=_target(target), stage=stage, progress=progress
            )
        cmap = "RdBu_r" if result["signed"] else "jet"
        heatmap = render.overlay(session.crop, result["map"], opacity=0.55, cmap=cmap, lo=0.0, hi=1.0)
        ladder = None
        if method == "gradcam_ladder":
            panels = [render.overlay(session.crop, m, opacity=0.55, lo=0.0, hi=1.0) for m in result["maps"].values()]
            ladder = render.side_by_side(panels, list(result["maps"]))
        info = tr(
            "attribution_info", lang, method=METHOD_NAMES[method], label=result["target"]["label"],
            probability=result["target"]["probability"], lo=result["raw_range"][0], hi=result["raw_range"][1],
            ms=result["timing_ms"],
        )
        if result["convergence_delta"] is not None:
            info += tr("attribution_delta", lang, delta=result["convergence_delta"], difference=result["output_difference"])
        session.outputs.update(heatmap=heatmap, ladder=ladder, attribution=attribution_json(result))
        return heatmap, ladder, info

    # --- model: the residual-learning lab ----------------------------------------------------

    def gradient_flow_figure(self, session_id: str, lang: str = "en"):
        """Model. Gradient flow vs the plain twin, as a chart."""
        return self._lab_figure(session_id, lang, gradient_flow, "gradient_flow", charts.gradient_flow_chart)

    def lesion_figure(self, session_id: str, lang: str = "en"):
        """Model. The lesion sweep, as a chart."""
        return self._lab_figure(session_id, lang, lesion, "lesion_sweep", charts.lesion_chart)

    def _lab_figure(self, session_id: str, lang: str, measure: Callable, name: str, draw: Callable):
        session = self.session(session_id, lang)
        picture = session.analysis.input
        with self.registry.lease(session.arch) as model:
            result = measure(model, picture)
        session.outputs[name] = result  # for the download
        return draw(result["blocks"], _chart_labels(lang))

    def scaled_predictions(self, session_id: str, scales: dict[str, float], lang: str = "en") -> tuple[dict, str]:
        """Model. Top-5 with each stage's residual branches scaled, and the KL from the intact net."""
        session = self.session(session_id, lang)
        picture = session.analysis.input
        with self.registry.lease(session.arch) as model:
            result = _user_errors(lesion, model, picture, scales=scales)
        return _probabilities(result["predictions"]), tr("lesion_kl", lang, kl=result["kl_divergence"])

    # --- model: JSON endpoints for scripts and classrooms ------------------------------------

    def _run(self, fn: Callable, image: str | None, arch: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(model, image, ...)`` with the model leased, bad input turned into a UserError."""
        if not image:
            raise UserError("No image was given.")
        picture = _user_errors(load_image, image)  # decoded before taking the model
        with self.registry.lease(arch) as model:
            return _user_errors(fn, model, picture, *args, **kwargs)

    def json_analyze(self, image: str | None, arch: str) -> dict[str, Any]:
        """Model. :func:`resnet_viz.analyze`'s JSON (batched with concurrent requests)."""
        if self.batcher is None or not image:
            return self._run(analyze, image, arch)
        self.registry.get(arch)  # an unknown arch fails here, alone
        return _user_errors(self.batcher.analyze, image, arch)

    def json_attribute(self, image: str | None, arch: str, method: str, target: str | int | None, stage: str) -> dict:
        """Model. :func:`resnet_viz.attribute`'s dict, maps as nested lists."""
        result = self._run(run_attribution, image, arch, method, target=_target(target), stage=stage or "C5")
        return attribution_json(result)

    def json_gradient_flow(self, image: str | None, arch: str, target: str | int | None) -> dict[str, Any]:
        """Model. :func:`resnet_viz.gradient_flow`'s dict."""
        return self._run(gradient_flow, image, arch, _target(target))

    def json_lesion(self, image: str | None, arch: str, scales: str | dict | None) -> dict[str, Any]:
        """Model. :func:`resnet_viz.lesion`'s dict: the sweep, or top-5 with ``scales`` (JSON text or dict)."""
        if isinstance(scales, str):
            try:
                scales = json.loads(scales) if scales.strip() else None
            except json.JSONDecodeError as exc:
                raise UserError(f"scales must be JSON such as {{\"C4\": 0.5}}: {exc}") from None
        return self._run(lesion, image, arch, scales=scales or None)

    # --- downloads and cleanup ---------------------------------------------------------------

    def download(self, session_id: str, lang: str = "en") -> str:
        """A zip of the session's analysis JSON and every picture shown so far."""
        session = self.session(session_id, lang)
        # The folder's name is the server's random token and the file's name is the arch (checked
        # against ARCHS when analysed): nothing the client sent becomes part of the path.
        path = self.downloads.folder(session) / f"resnet-viz-{session.arch}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("analysis.json", json.dumps(session.report, indent=2))
            pictures = {"crop": session.crop, **{k: v for k, v in session.outputs.items() if isinstance(v, Image.Image)}}
            for name, picture in pictures.items():
                archive.writestr(f"{name}.png", _png(picture))
            for name, value in session.outputs.items():
                if isinstance(value, dict):
                    archive.writestr(f"{name}.json", json.dumps(value, indent=2))
        return str(path)

    def forget(self, session_id: str) -> None:
        """The tab closed: drop the session's tensors and its download folder (if it has one)."""
        if valid_session_id(session_id):
            self.store.drop(session_id)  # the store hands the session to downloads.remove


def _chart_labels(lang: str):
    """Chart words in ``lang``; English where no installed font can draw Hangul."""
    return chart_labels(lang, charts.hangul_font() is not None)


def _target(value: str | int | None) -> str | int | None:
    """A target from a form or an API call: empty means the top-1, digits an index, else a label."""
    if value is None or isinstance(value, int):
        return value
    value = str(value).strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value


def _user_errors(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; a bad image or a bad choice becomes a :class:`UserError` with the same message."""
    try:
        return fn(*args, **kwargs)
    except ImageError as exc:
        raise UserError(f"This image cannot be analysed: {exc.reason}") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
