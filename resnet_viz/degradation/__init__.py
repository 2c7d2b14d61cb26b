"""The degradation experiment: plain networks and ResNets of the same depths trained side by side.

- ``networks``: the paper's CIFAR ResNets and their plain twins, from the model's own blocks;
- ``gratings``, ``data``: the offline gratings and CIFAR-10;
- ``experiment``: ``degradation_experiment()``; ``runner``: the same in its own process;
- ``chart``: the training-error curves.

Imports from: model, draw, i18n.
"""

from .data import DataError
from .experiment import DegradationConfig, DegradationResult, NetworkCurve, degradation_experiment
from .networks import CifarResNet, build_cifar_model
from .runner import DegradationRunner

__all__ = [
    "CifarResNet",
    "DataError",
    "DegradationConfig",
    "DegradationResult",
    "DegradationRunner",
    "NetworkCurve",
    "build_cifar_model",
    "degradation_experiment",
]
