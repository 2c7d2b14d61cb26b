"""The attribution methods, one spec each: what the library, the CLI-like API and the app need to
know about a method, in one place instead of parallel tables.

``cost`` is "fast" for methods that run one forward and one backward (well under a second on a
CPU) and "slow" for those that evaluate many perturbed copies of the image; slow methods report
progress, can be cancelled and step aside for short requests between their batches.
:meth:`MethodSpec.evaluations` counts the images a method pushes through the network, which is
what its running time is proportional to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..i18n import UserError, tr

__all__ = ["METHOD_SPECS", "MethodSpec", "method_spec"]


@dataclass(frozen=True)
class MethodSpec:
    key: str
    needs_stage: bool  # explains a stage's activations (Grad-CAM family) rather than the pixels
    signed: bool  # the map has both signs (for/against the class) and is drawn centred at 0
    cost: str  # "fast" | "slow"
    single_pass: bool  # evaluates only the image itself, so its own forward can name the top-1
    backward: bool  # needs a backward pass per evaluation (for time estimates)
    options: Mapping[str, Any] = field(default_factory=dict)  # option -> default

    def name(self, lang: str = "en") -> str:
        """The one name used in menus and captions (the catalogue's ``method_<key>``)."""
        return tr(f"method_{self.key}", lang)

    def evaluations(self, options: Mapping[str, Any] | None = None, size: int = 224) -> int:
        """How many images this method evaluates for one explanation of a ``size`` px input."""
        opt = {**self.options, **(options or {})}
        if self.key == "integrated_gradients":
            return opt["steps"] + 2  # the path, then f(x) and f(baseline) for the convergence delta
        if self.key == "smoothgrad":
            return opt["samples"]
        if self.key == "occlusion":
            per_side = (size - opt["window"]) // opt["stride"] + 1
            return per_side * per_side + 1  # every window position, and the image itself
        return 2 if self.key == "guided_gradcam" else 1


METHOD_SPECS: dict[str, MethodSpec] = {
    spec.key: spec
    for spec in (
        MethodSpec("gradcam", needs_stage=True, signed=False, cost="fast", single_pass=True, backward=True),
        MethodSpec("gradcam_ladder", needs_stage=False, signed=False, cost="fast", single_pass=True, backward=True),
        MethodSpec("guided_gradcam", needs_stage=True, signed=True, cost="fast", single_pass=True, backward=True),
        MethodSpec("guided_backprop", needs_stage=False, signed=True, cost="fast", single_pass=True, backward=True),
        MethodSpec("saliency", needs_stage=False, signed=False, cost="fast", single_pass=True, backward=True),
        MethodSpec("integrated_gradients", needs_stage=False, signed=True, cost="slow", single_pass=False, backward=True,
              options={"steps": 32, "baseline": "black", "internal_batch_size": 8}),
        MethodSpec("smoothgrad", needs_stage=False, signed=False, cost="slow", single_pass=False, backward=True,
              options={"samples": 16, "noise_level": 0.15, "batch_size": 8, "seed": 0}),
        # 56 px windows every 28 px tile a 224 px crop exactly (7 x 7 positions, the grid of C5):
        # 50 evaluations instead of 170 for 32/16, in batches of 8 so short requests can cut in.
        MethodSpec("occlusion", needs_stage=False, signed=True, cost="slow", single_pass=False, backward=False,
              options={"window": 56, "stride": 28, "perturbations_per_eval": 8}),
    )
}


def method_spec(method: str) -> MethodSpec:
    try:
        return METHOD_SPECS[method]
    except (KeyError, TypeError):
        raise UserError("error_unknown_method", method=repr(method), choices=", ".join(METHOD_SPECS)) from None
