"""The attribution methods, one object each: what a method is, what it costs and how it runs.

Everything the library, the command line and the app need to know about a method lives in its
entry of :data:`METHOD_SPECS`, so adding a method is adding one class and one entry (and its name,
``method_<key>``, to each catalogue in ``resnet_viz/i18n/``). Nothing outside this file compares
a method's name: callers ask the object (``needs_stage``, ``cost``, ``all_stages``...).

``cost`` is "fast" for methods that run one forward and one backward (well under a second on a
CPU) and "slow" for those that evaluate many perturbed copies of the image; slow methods report
progress, can be cancelled and step aside for short requests between their batches.
:meth:`Method.evaluations` counts the images a method pushes through the network, which is what
its running time is proportional to.

:meth:`Method.run` gets Captum's forward (``resnet_viz.explain.attribution``'s wrapper around a
private copy of the model), the preprocessed input and the checked options, and returns the raw
(H, W) map; :func:`resnet_viz.explain.attribution.attribute` normalises it and adds the target.
Captum is imported inside ``run``: ``import captum.attr`` takes a second that nothing else needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import torch
from torch import Tensor

from ..i18n import UserError, tr
from .baselines import BASELINES, baseline_input

__all__ = ["LAYER_STAGES", "METHOD_SPECS", "Method", "MethodSpec", "RawMap", "method_spec"]

LAYER_STAGES = ("C2", "C3", "C4", "C5")  # Grad-CAM needs a stage made of residual blocks


class RawMap(NamedTuple):
    """A method's (H, W) map before normalisation; IG adds (convergence delta, f(x) - f(baseline))."""

    map: Tensor
    completeness: tuple[float, float] | None = None


@dataclass(frozen=True)
class Method:
    key: str
    needs_stage: bool  # explains a stage's activations (Grad-CAM family) rather than the pixels
    signed: bool  # the map has both signs (for/against the class) and is drawn centred at 0
    cost: str  # "fast" | "slow"
    single_pass: bool  # evaluates only the image itself, so its own forward can name the top-1
    backward: bool  # needs a backward pass per evaluation (for time estimates)
    options: Mapping[str, Any] = field(default_factory=dict)  # option -> default
    input_gradient: bool = True  # needs the gradient at the input pixels (Grad-CAM stops at its stage)
    all_stages: bool = False  # one map per stage (C2..C5) instead of one map
    # Its gradient never goes below its stage, so a sanity check may run the unchanged lower part
    # of the network once and start each randomised step from there.
    stops_at_stage: bool = False

    def name(self, lang: str = "en") -> str:
        """The one name used in menus and captions (the catalogue's ``method_<key>``)."""
        return tr(f"method_{self.key}", lang)

    @property
    def comparable(self) -> bool:
        """One map per call: the trust metrics (sanity checks, faithfulness) can score it."""
        return not self.all_stages

    def evaluations(self, options: Mapping[str, Any] | None = None, size: int = 224) -> int:
        """How many images this method evaluates for one explanation of a ``size`` px input."""
        return 1

    def check(self, options: Mapping[str, Any]) -> None:
        """Refuse option values this method cannot use (beyond the shared positivity checks)."""

    def ladder_stage(self, stage: str) -> str | None:
        """The stage of the shared Grad-CAM ladder whose map is this method's top-1 map, if any."""
        return None

    def run(self, forward: torch.nn.Module, x: Tensor, stage: str, target: int | None, opt: Mapping[str, Any]) -> Any:
        """The raw map (:class:`RawMap`); ``target`` None: ``forward`` scores the top-1 itself."""
        raise NotImplementedError


MethodSpec = Method  # the name callers used when a method was a description only


def _stage_module(forward: torch.nn.Module, stage: str) -> torch.nn.Module:
    return forward.model.stage_modules()[stage]


class GradCam(Method):
    def ladder_stage(self, stage: str) -> str | None:
        return stage

    def run(self, forward, x, stage, target, opt):
        from captum.attr import LayerAttribution, LayerGradCam

        cam = LayerGradCam(forward, _stage_module(forward, stage)).attribute(x, target=target, relu_attributions=True)
        return RawMap(LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[0, 0])


class GradCamLadder(Method):
    """Grad-CAM at C2..C5 from ONE forward and ONE backward: Captum's layer-gradient utility takes
    all four stage modules at once, then the Grad-CAM weighting as in Captum's LayerGradCam."""

    def ladder_stage(self, stage: str) -> str | None:
        return LAYER_STAGES[-1]  # its headline map is C5's

    def run(self, forward, x, stage, target, opt) -> dict[str, Tensor]:
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


class GuidedGradCam(Method):
    def evaluations(self, options=None, size=224):
        return 2  # guided backprop and Grad-CAM each run the image once

    def run(self, forward, x, stage, target, opt):
        from captum.attr import GuidedGradCam as Captum

        attr = Captum(forward, _stage_module(forward, stage)).attribute(x, target=target, interpolate_mode="bilinear")
        return RawMap(attr[0].sum(dim=0))


class GuidedBackprop(Method):
    def run(self, forward, x, stage, target, opt):
        from captum.attr import GuidedBackprop as Captum

        return RawMap(Captum(forward).attribute(x, target=target)[0].sum(dim=0))


class Saliency(Method):
    def run(self, forward, x, stage, target, opt):
        from captum.attr import Saliency as Captum

        # |dy/dx|, the largest over colour channels (Simonyan et al. 2014).
        return RawMap(Captum(forward).attribute(x, target=target, abs=True)[0].amax(dim=0))


class IntegratedGradients(Method):
    def evaluations(self, options=None, size=224):
        return {**self.options, **(options or {})}["steps"] + 2  # the path, then f(x) and f(baseline) for the delta

    def check(self, options):
        if options["baseline"] not in BASELINES:
            raise UserError("error_baseline", baseline=repr(options["baseline"]), choices=", ".join(BASELINES))

    def run(self, forward, x, stage, target, opt):
        from captum.attr import IntegratedGradients as Captum

        attr, delta = Captum(forward).attribute(
            x,
            baselines=baseline_input(forward.model, x, opt["baseline"]),
            target=target,
            n_steps=opt["steps"],
            internal_batch_size=opt["internal_batch_size"],
            return_convergence_delta=True,
        )
        # Captum's delta = sum(attributions) - (f(x) - f(baseline)), so the difference follows.
        difference = float(attr.detach().sum()) - float(delta[0])
        return RawMap(attr[0].sum(dim=0), (float(delta[0]), difference))


class SmoothGrad(Method):
    def evaluations(self, options=None, size=224):
        return {**self.options, **(options or {})}["samples"]

    def run(self, forward, x, stage, target, opt):
        from captum.attr import NoiseTunnel
        from captum.attr import Saliency as CaptumSaliency

        stdev = opt["noise_level"] * float(x.detach().max() - x.detach().min())  # Smilkov et al.: 10-20% of the input range
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(opt["seed"])
            attr = NoiseTunnel(CaptumSaliency(forward)).attribute(
                x, nt_type="smoothgrad", nt_samples=opt["samples"], nt_samples_batch_size=opt["batch_size"],
                stdevs=stdev, target=target, abs=True,
            )
        return RawMap(attr[0].amax(dim=0))


class Occlusion(Method):
    def evaluations(self, options=None, size=224):
        opt = {**self.options, **(options or {})}
        per_side = (size - opt["window"]) // opt["stride"] + 1
        return per_side * per_side + 1  # every window position, and the image itself

    def run(self, forward, x, stage, target, opt):
        from captum.attr import Occlusion as Captum

        window, stride = opt["window"], opt["stride"]
        attr = Captum(forward).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=0.0,  # the dataset mean colour: 0 after normalisation
            target=target,
            perturbations_per_eval=opt["perturbations_per_eval"],
        )
        return RawMap(attr[0].mean(dim=0))


METHOD_SPECS: dict[str, Method] = {
    method.key: method
    for method in (
        GradCam("gradcam", needs_stage=True, signed=False, cost="fast", single_pass=True, backward=True,
                input_gradient=False, stops_at_stage=True),
        GradCamLadder("gradcam_ladder", needs_stage=False, signed=False, cost="fast", single_pass=True, backward=True,
                      input_gradient=False, all_stages=True),
        GuidedGradCam("guided_gradcam", needs_stage=True, signed=True, cost="fast", single_pass=True, backward=True),
        GuidedBackprop("guided_backprop", needs_stage=False, signed=True, cost="fast", single_pass=True, backward=True),
        Saliency("saliency", needs_stage=False, signed=False, cost="fast", single_pass=True, backward=True),
        IntegratedGradients("integrated_gradients", needs_stage=False, signed=True, cost="slow", single_pass=False,
                            backward=True, options={"steps": 32, "baseline": "black", "internal_batch_size": 8}),
        SmoothGrad("smoothgrad", needs_stage=False, signed=False, cost="slow", single_pass=False, backward=True,
                   options={"samples": 16, "noise_level": 0.15, "batch_size": 8, "seed": 0}),
        # 56 px windows every 28 px tile a 224 px crop exactly (7 x 7 positions, the grid of C5):
        # 50 evaluations instead of 170 for 32/16, in batches of 8 so short requests can cut in.
        Occlusion("occlusion", needs_stage=False, signed=True, cost="slow", single_pass=False, backward=False,
                  options={"window": 56, "stride": 28, "perturbations_per_eval": 8}),
    )
}


def method_spec(method: str) -> Method:
    try:
        return METHOD_SPECS[method]
    except (KeyError, TypeError):
        raise UserError("error_unknown_method", method=repr(method), choices=", ".join(METHOD_SPECS)) from None
