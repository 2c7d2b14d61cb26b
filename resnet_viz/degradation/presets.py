"""The degradation lab's two runs, each a finding of its own, and the gradient ratio that explains the second.

- ``default``: the paper's Fig. 6 in shape. Every plain net trains, the deeper one ends with a
  higher training error, and the ResNets of the same depths end at or below the shallowest one.
  The app's live run (the :class:`~resnet_viz.degradation.DegradationConfig` defaults).
- ``deeper``: 56 layers, longer. Plain-56 barely learns the offline data (75-90% final training
  error on six fresh seeds; chance is 90%), while ResNet-56 with the very same initial weights
  trains to under 1%: a stronger failure than the paper's Fig. 6, where plain-56 trains on
  CIFAR-10, only to a higher error than plain-20. At initialisation the plain net's first layer
  gets a gradient 800-2,800 times its last layer's (plain-20: 5-12 times), which
  :func:`first_to_last_ratio` reads from a run's curves.

Both are selectable in the lab (``resnet_viz.ui.degradation``) and on the command line
(``python -m resnet_viz degradation --preset deeper``); ``bench/degradation_acceptance.py``
checks each one's claim on seeds that were not used to choose it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .experiment import DegradationConfig, NetworkCurve

__all__ = ["PRESETS", "Preset", "first_to_last_ratio", "preset_of"]


@dataclass(frozen=True)
class Preset:
    """A named run: its configuration; the words live in i18n under ``degr_preset_<key>``."""

    key: str
    config: DegradationConfig


PRESETS: dict[str, Preset] = {
    "default": Preset("default", DegradationConfig()),
    # plain-56 beside plain-20, 1,800 steps (1.2x the default's; about 1.75x its time): plain-56
    # stays at chance even at 2,400 steps (issue 20), while ResNet-56 trains from the same weights.
    "deeper": Preset("deeper", DegradationConfig(depths=(20, 56), steps=1800)),
}


def preset_of(config: DegradationConfig) -> str | None:
    """The key of the preset whose depths and steps ``config`` has (the controls' values), else None."""
    for key, preset in PRESETS.items():
        if (tuple(sorted(config.depths)), config.steps, config.data) == (
            tuple(sorted(preset.config.depths)), preset.config.steps, preset.config.data
        ):
            return key
    return None


def first_to_last_ratio(net: NetworkCurve) -> float:
    """|dL/dW| of the first layer over the last layer's at initialisation (NaN when not recorded)."""
    grads = net.layer_gradients
    if len(grads) < 2 or grads[-1] <= 0:
        return float("nan")
    return grads[0] / grads[-1]
