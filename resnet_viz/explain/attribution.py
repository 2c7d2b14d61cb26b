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
from typing import Any, Callable

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import Tensor

from ..i18n import UserError
from ..model.preprocess import ImageSource, denormalize
from ..model.resnet import ResNet
from ..model.runtime import as_model_input, image_input, private_copy
from ..probe.targets import Target, resolve_target, target_info
from .methods import METHOD_SPECS, method_spec

__all__ = ["METHODS", "LAYER_STAGES", "BASELINES", "attribute", "attribution_json", "channel_weights"]

Progress = Callable[[float], None]

# Method -> its options and their defaults (from resnet_viz.explain.methods). Any other option is an error.
METHODS: dict[str, dict[str, Any]] = {key: dict(spec.options) for key, spec in METHOD_SPECS.items()}
LAYER_STAGES = ("C2", "C3", "C4", "C5")  # Grad-CAM needs a stage made of residual blocks
BASELINES = ("black", "blur", "noise")


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


def _baseline(model: ResNet, x: Tensor, kind: str) -> Tensor:
    """IG's reference input: a black picture, a heavily blurred copy, or seeded uniform noise."""
    transforms = model.meta.transforms
    if kind == "black":
        pixels = torch.zeros_like(x)
    elif kind == "blur":
        pixels = TF.gaussian_blur(denormalize(transforms, x), kernel_size=[51, 51], sigma=[16.0, 16.0])
    elif kind == "noise":
        pixels = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    else:
        raise UserError("error_baseline", baseline=repr(kind), choices=", ".join(BASELINES))
    return as_model_input(model, TF.normalize(pixels, transforms.mean, transforms.std))


def _check(method: str, stage: str, options: dict[str, Any]) -> dict[str, Any]:
    spec = method_spec(method)
    if spec.needs_stage and stage not in LAYER_STAGES:
        raise UserError("error_method_stage", stage=repr(stage), method=method, choices=", ".join(LAYER_STAGES))
    unknown = set(options) - set(METHODS[method])
    if unknown:
        valid = ", ".join(METHODS[method]) or "none"
        raise UserError("error_method_options", options=", ".join(sorted(unknown)), method=method, valid=valid)
    merged = {**METHODS[method], **options}
    if method == "integrated_gradients" and merged["baseline"] not in BASELINES:
        raise UserError("error_baseline", baseline=repr(merged["baseline"]), choices=", ".join(BASELINES))
    for name in ("steps", "samples", "window", "stride", "internal_batch_size", "batch_size", "perturbations_per_eval"):
        if name in merged and (not isinstance(merged[name], int) or merged[name] < 1):
            raise UserError("error_option_positive", name=name, value=repr(merged[name]))
    return merged


def _gradcam_ladder(forward: _Forward, x: Tensor, target: int | None) -> dict[str, Tensor]:
    """Grad-CAM at C2..C5 from ONE forward and ONE backward: Captum's layer-gradient utility takes
    all four stage modules at once, then the Grad-CAM weighting as in Captum's LayerGradCam."""
    from captum._utils.gradient import compute_layer_gradients_and_eval
    from captum.attr import LayerAttribution

    modules = forward.model.stage_modules()
    layers = [modules[name] for name in LAYER_STAGES]
    grads, evals = compute_layer_gradients_and_eval(forward, layers, x, target)
    maps = {}
    for name, (grad,), (act,) in zip(LAYER_STAGES, grads, evals):
        weights = grad.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1): alpha_c = mean of dy/dA over H, W
        cam = torch.relu((weights * act).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        maps[name] = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[0, 0]
    return maps


def _run(forward: _Forward, x: Tensor, method: str, stage: str, target: int | None, opt: dict):
    """-> (attribution (H, W), signed, IG's (convergence delta, f(x) - f(baseline)) or None).

    ``target`` is None when ``forward`` picks the top-1 score itself."""
    from captum.attr import (
        GuidedBackprop,
        GuidedGradCam,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    layer = forward.model.stage_modules()[stage] if METHOD_SPECS[method].needs_stage else None
    if method == "gradcam":
        cam = LayerGradCam(forward, layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[0, 0], False, None
    if method == "guided_gradcam":
        attr = GuidedGradCam(forward, layer).attribute(x, target=target, interpolate_mode="bilinear")
        return attr[0].sum(dim=0), True, None
    if method == "guided_backprop":
        return GuidedBackprop(forward).attribute(x, target=target)[0].sum(dim=0), True, None
    if method == "saliency":
        # |dy/dx|, the largest over colour channels (Simonyan et al. 2014).
        return Saliency(forward).attribute(x, target=target, abs=True)[0].amax(dim=0), False, None
    if method == "integrated_gradients":
        baseline = _baseline(forward.model, x, opt["baseline"])
        attr, delta = IntegratedGradients(forward).attribute(
            x,
            baselines=baseline,
            target=target,
            n_steps=opt["steps"],
            internal_batch_size=opt["internal_batch_size"],
            return_convergence_delta=True,
        )
        # Captum's delta = sum(attributions) - (f(x) - f(baseline)), so the difference follows.
        difference = float(attr.detach().sum()) - float(delta[0])
        return attr[0].sum(dim=0), True, (float(delta[0]), difference)
    if method == "smoothgrad":
        stdev = opt["noise_level"] * float(x.detach().max() - x.detach().min())  # Smilkov et al.: 10-20% of the input range
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(opt["seed"])
            attr = NoiseTunnel(Saliency(forward)).attribute(
                x, nt_type="smoothgrad", nt_samples=opt["samples"], nt_samples_batch_size=opt["batch_size"],
                stdevs=stdev, target=target, abs=True,
            )
        return attr[0].amax(dim=0), False, None
    if method == "occlusion":
        window, stride = opt["window"], opt["stride"]
        attr = Occlusion(forward).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=0.0,  # the dataset mean colour: 0 after normalisation
            target=target,
            perturbations_per_eval=opt["perturbations_per_eval"],
        )
        return attr[0].mean(dim=0), True, None
    raise AssertionError(method)  # _check rejected it already


def attribute(
    model: ResNet,
    image: ImageSource,
    method: str,
    *,
    target: Target = None,
    stage: str = "C5",
    progress: Progress | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Explain ``model``'s score for ``target`` (an index, a label, or None for the top-1) on ``image``.

    ``method`` is one of :data:`METHODS`; ``stage`` (C2..C5) is used by the Grad-CAM methods;
    ``progress(fraction)`` is called as IG, SmoothGrad and occlusion advance; ``options``
    override a method's defaults (e.g. ``steps=64, baseline="blur"`` for IG).
    """
    opt = _check(method, stage, options)
    spec = METHOD_SPECS[method]
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
        if method == "gradcam_ladder":
            maps = _gradcam_ladder(forward, x, index)
            units = {name: _to_unit(cam, signed=False) for name, cam in maps.items()}
            result = {
                "method": method,
                "stage": list(LAYER_STAGES),
                "maps": {name: unit for name, (unit, _) in units.items()},
                "raw_ranges": {name: rng for name, (_, rng) in units.items()},
                "map": units["C5"][0],
                "raw_range": units["C5"][1],
                "signed": False,
                "convergence_delta": None,
            }
        else:
            if method != "gradcam":
                x = x.detach().requires_grad_()  # these need input gradients; Grad-CAM does not
            attr, signed, completeness = _run(forward, x, method, stage, index, opt)
            unit, raw_range = _to_unit(attr, signed)
            result = {
                "method": method,
                "stage": stage if spec.needs_stage else None,
                "map": unit,
                "raw_range": raw_range,
                "signed": signed,
                "convergence_delta": completeness[0] if completeness else None,
            }
            if completeness:
                result["output_difference"] = completeness[1]  # f(x) - f(baseline) for the target
    if single_pass:
        logits = forward.first_logits
        index = int(logits.argmax()) if index is None else index
    if progress is not None:
        progress(1.0)
    result["target"] = target_info(model, logits, index)
    result["options"] = {k: opt[k] for k in METHODS[method]}
    result["timing_ms"] = 1000 * (time.perf_counter() - start)
    return result


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


def attribution_json(result: dict[str, Any], decimals: int = 4) -> dict[str, Any]:
    """:func:`attribute`'s result with its maps as nested lists (rounded), ready for JSON."""

    def as_lists(unit: np.ndarray) -> list[list[float]]:
        return np.round(unit.astype(np.float64), decimals).tolist()

    out = dict(result)
    out["map"] = as_lists(result["map"])
    if "maps" in result:
        out["maps"] = {name: as_lists(unit) for name, unit in result["maps"].items()}
    return out
