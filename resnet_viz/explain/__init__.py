"""Which pixels drove a decision, and what a channel responds to.

- ``methods``: one entry per attribution method (stage, signed, cost; its name in the catalogue);
- ``attribution``: ``attribute()``: Captum's methods on a private copy of the model;
- ``feature_vis``: ``visualize_channel()``: the image a channel responds to most (Olah et al. 2017).

Imports from: model, probe, i18n.
"""

from .attribution import METHODS, AttributionResult, attribute
from .feature_vis import ChannelVisualization, visualize_channel

__all__ = ["METHODS", "AttributionResult", "ChannelVisualization", "attribute", "visualize_channel"]
