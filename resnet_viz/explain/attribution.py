"""Which pixels drove the decision: Captum attributions, one call per method.

Every method runs through Captum on a *private copy* of the model (new module objects sharing
the weights, see :func:`resnet_viz.model.runtime.private_copy`), so Captum's hooks and guided
backprop's ReLU overrides never touch the shared model and two requests can explain at once.
Each result carries a 224x224 map in [0, 1] ready for a heatmap: unsigned methods map 0 -> 0
and the maximum -> 1; signed methods map 0 -> 0.5 and the largest magnitude -> 0 or 1.

Captum is imported on first use: ``import captum.attr`` pulls in ``matplotlib.pyplot`` and
takes a second, which nothing else in the package needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from ..i18n import UserError
from ..model.preprocess import ImageSource
from ..model.resnet import ResNet
from ..model.runtime import image_input, private_copy
from ..probe.results import Result, TargetInfo, optional
from ..probe.targets import Target, resolve_target, target_info
from .baselines import BASELINES
from .methods import LAYER_STAGES, METHOD_SPECS, Method, method_spec

__all__ = ["METHODS", "LAYER_STAGES", "BASELINES", "AttributionResult", "attribute", "attribution_json", "channel_weights"]

Progress = Callable[[float], None]

# Method -> its options and their defaults (from resnet_viz.explain.methods). Any other option is an error.
METHODS: dict[str, dict[str, Any]] = {key: dict(spec.options) for key, spec in METHOD_SPECS.items()}


@dataclass(eq=False)
class AttributionResult(Result):
    """:func:`attribute`: the map in [0, 1] (224x224 float32; signed maps centre 0 at 0.5) and what
    it is about. The ladder fills ``maps`` and ``raw_ranges`` (C2..C5); Integrated Gradients fills
    ``output_difference`` (f(x) - f(baseline), which its attributions should sum to)."""

    method: str
    stage: str | list[str] | None  # the Grad-CAM family's stage; the ladder's stages; None for pixel methods
    map: np.ndarray
    raw_range: list[float]  # [min, max] before normalisation
    signed: bool
    convergence_delta: float | None  # Integrated Gradients only: sum of attributions - (f(x) - f(baseline))
    target: TargetInfo
    options: dict[str, Any]
    timing_ms: float
    maps: dict[str, np.ndarray] | None = optional()
    raw_ranges: dict[str, list[float]] | None = optional()
    output_difference: float | None = optional()

    # The JSON's order (as before results had types): the ladder's maps come before the headline map.
    _ORDER = ("method", "stage", "maps", "raw_ranges", "map", "raw_range", "signed", "convergence_delta",
              "output_difference", "target", "options", "timing_ms")

    def _keys(self) -> list[str]:
        present = set(super()._keys())
        return [key for key in self._ORDER if key in present]

    def to_json(self, decimals: int = 4) -> dict[str, Any]:
        """The result with its maps as nested lists, rounded to ``decimals``."""

        def as_lists(unit: np.ndarray) -> list[list[float]]:
            return np.round(unit.astype(np.float64), decimals).tolist()

        out = super().to_json()
        out["map"] = as_lists(self.map)
        if self.maps is not None:
            out["maps"] = {name: as_lists(unit) for name, unit in self.maps.items()}
        return out


class _Forward(torch.nn.Module):
    """The forward Captum calls: the model, plus three things Captum has no hook for.

    It keeps the first logits it computes (the unperturbed image's, for the target's
    probability), reports progress as rows evaluated out of ``total_rows``, and with
    ``pick_top1`` returns only the top-1 class's score: a single-pass method then learns its
    target in its own forward instead of paying for an extra one. It is a module holding the
    model, so guided backprop still finds every ReLU inside it.
    """

    def __init__(self, model: torch.nn.Module, progress: Progress | None, total_rows: int, pick_top1: bool) -> None:
        super().__init__()
        self.model = model
        self.progress, self.total_rows, self.pick_top1 = progress, max(total_rows, 1), pick_top1
        self.rows = 0
        self.first_logits: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model(x)
        if self.first_logits is None:
            self.first_logits = logits[0].detach().float().cpu()
        self.rows += x.shape[0]
        if self.progress is not None:
            self.progress(min(self.rows / self.total_rows, 1.0))
        if self.pick_top1:
            return logits.gather(1, logits.argmax(dim=1, keepdim=True))  # (B, 1): one score per image
        return logits


def _to_unit(attr: Tensor, signed: bool) -> tuple[np.ndarray, list[float]]:
    """(H, W) attribution -> float32 map in [0, 1] and its [min, max] before normalisation."""
    attr = attr.detach().float().cpu()
    lo, hi = attr.min().item(), attr.max().item()
    if signed:
        scale = max(abs(lo), abs(hi))
        unit = 0.5 + 0.5 * attr / scale if scale > 0 else torch.full_like(attr, 0.5)
    else:
        unit = attr / hi if hi > 0 else torch.zeros_like(attr)
    return unit.clamp(0, 1).numpy().astype(np.float32), [lo, hi]


def _check(spec: Method, stage: str, options: dict[str, Any]) -> dict[str, Any]:
    if spec.needs_stage and stage not in LAYER_STAGES:
        raise UserError("error_method_stage", stage=repr(stage), method=spec.key, choices=", ".join(LAYER_STAGES))
    unknown = set(options) - set(spec.options)
    if unknown:
        valid = ", ".join(spec.options) or "none"
        raise UserError("error_method_options", options=", ".join(sorted(unknown)), method=spec.key, valid=valid)
    merged = {**spec.options, **options}
    for name in ("steps", "samples", "window", "stride", "internal_batch_size", "batch_size", "perturbations_per_eval"):
        if name in merged and (not isinstance(merged[name], int) or merged[name] < 1):
            raise UserError("error_option_positive", name=name, value=repr(merged[name]))
    spec.check(merged)
    return merged


def attribute(
    model: ResNet,
    image: ImageSource,
    method: str,
    *,
    target: Target = None,
    stage: str = "C5",
    progress: Progress | None = None,
    **options: Any,
) -> AttributionResult:
    """Explain ``model``'s score for ``target`` (an index, a label, or None for the top-1) on ``image``.

    ``method`` is one of :data:`METHODS`; ``stage`` (C2..C5) is used by the Grad-CAM methods;
    ``progress(fraction)`` is called as IG, SmoothGrad and occlusion advance; ``options``
    override a method's defaults (e.g. ``steps=64, baseline="blur"`` for IG).
    """
    spec = method_spec(method)
    opt = _check(spec, stage, options)
    start = time.perf_counter()
    x = image_input(model, image)
    single_pass = spec.single_pass
    logits = None
    if not single_pass:  # perturbed copies are evaluated too: the clean image's logits come first
        with torch.inference_mode():
            logits = model(x)[0].float().cpu()
    index = None if target is None and single_pass else resolve_target(model, target, logits)
    rows = spec.evaluations(opt, size=x.shape[-1])
    forward = _Forward(private_copy(model), progress, rows, pick_top1=index is None)

    with torch.enable_grad():
        if spec.input_gradient:
            x = x.detach().requires_grad_()  # Grad-CAM's gradient stops at its stage: it needs none here
        if spec.all_stages:
            maps = spec.run(forward, x, stage, index, opt)
            units = {name: _to_unit(cam, signed=spec.signed) for name, cam in maps.items()}
            fields = dict(
                stage=list(LAYER_STAGES),
                maps={name: unit for name, (unit, _) in units.items()},
                raw_ranges={name: rng for name, (_, rng) in units.items()},
                map=units[LAYER_STAGES[-1]][0],
                raw_range=units[LAYER_STAGES[-1]][1],
                convergence_delta=None,
            )
        else:
            raw = spec.run(forward, x, stage, index, opt)
            unit, raw_range = _to_unit(raw.map, spec.signed)
            fields = dict(
                stage=stage if spec.needs_stage else None,
                map=unit,
                raw_range=raw_range,
                convergence_delta=raw.completeness[0] if raw.completeness else None,
                # f(x) - f(baseline) for the target
                output_difference=raw.completeness[1] if raw.completeness else None,
            )
    if single_pass:
        logits = forward.first_logits
        index = int(logits.argmax()) if index is None else index
    if progress is not None:
        progress(1.0)
    return AttributionResult(
        method=method,
        signed=spec.signed,
        target=target_info(model, logits, index),
        options={k: opt[k] for k in spec.options},
        timing_ms=1000 * (time.perf_counter() - start),
        **fields,
    )


def channel_weights(model: ResNet, image: ImageSource, target: Target = None) -> tuple[dict[str, Tensor], dict]:
    """Grad-CAM's channel weights (mean gradient over H, W) for every stage C1..C5 at once.

    One forward and one backward, through Captum's layer-gradient utility as in the ladder.
    Returns ({"C1": (C,), ...}, target info); the explorer ranks feature-map tiles by them.
    """
    from captum._utils.gradient import compute_layer_gradients_and_eval

    x = image_input(model, image)
    index = None if target is None else resolve_target(model, target, None)
    forward = _Forward(private_copy(model), None, 1, pick_top1=index is None)
    modules = forward.model.stage_modules()
    with torch.enable_grad():
        grads, _ = compute_layer_gradients_and_eval(forward, list(modules.values()), x, index)
    weights = {name: grad.mean(dim=(2, 3))[0].detach().float().cpu() for name, (grad,) in zip(modules, grads)}
    logits = forward.first_logits
    index = int(logits.argmax()) if index is None else index
    return weights, target_info(model, logits, index)


def attribution_json(result: AttributionResult, decimals: int = 4) -> dict[str, Any]:
    """:func:`attribute`'s result with its maps as nested lists (rounded), ready for JSON."""
    return result.to_json(decimals)
