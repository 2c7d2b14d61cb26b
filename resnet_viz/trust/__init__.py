"""Can I trust this map? Sanity checks and faithfulness scores for attribution maps (issue 18).

- :func:`sanity_check`: Adebayo et al. 2018's cascading model randomisation test.
- :func:`faithfulness`: deletion and insertion curves (RISE), random and edge-map baselines, ROAD.
- :func:`trust_report`: both for several methods on one photo (the CLI, "compare all methods").
- :func:`data_randomisation`: the same method's maps on networks trained on true and on
  permuted labels (Adebayo et al.'s second test), with the trained lab networks of :mod:`.lab`.

Modules: ``similarity`` (Spearman, SSIM, chance surrogates), ``randomise`` (the cascade's steps on
a private copy), ``sanity``, ``faithfulness``, ``road`` and ``imputer`` (ROAD's noisy linear
imputer), ``report``, ``scenes`` and ``lab`` (the trained network), ``data_randomisation``.

A room of its own above ``explain``: it runs the attribution methods, and trains the degradation
lab's small ResNet on its gratings for a network whose maps mean something without ImageNet.

Imports from: model, probe, explain, draw, degradation.
"""

from .data_randomisation import DataRandomisationResult, data_randomisation, data_randomisation_test
from .faithfulness import Curve, FaithfulnessResult, faithfulness
from .lab import LabConfig, LabNetwork, load_lab_network, train_lab_network
from .report import MethodTrust, TrustReport, trust_report
from .road import RoadResult
from .sanity import SanityResult, sanity_check

__all__ = [
    "Curve",
    "DataRandomisationResult",
    "FaithfulnessResult",
    "LabConfig",
    "LabNetwork",
    "MethodTrust",
    "RoadResult",
    "SanityResult",
    "TrustReport",
    "data_randomisation",
    "data_randomisation_test",
    "faithfulness",
    "load_lab_network",
    "sanity_check",
    "train_lab_network",
    "trust_report",
]
