"""Measurements of one photo passing through the network, made with hooks that live for one call.

- ``analysis``: ``analyze()``: predictions, C1..C5, every block's F(x) next to its shortcut x;
- ``gradient_flow``: the gradient through the shortcuts vs the residual branches vs a plain twin;
- ``lesion``: each block's residual branch removed or scaled;
- ``results``: what they return, typed (``AnalysisReport``, ``GradientFlowResult``, ``LesionResult``),
  each with ``to_json()``;
- ``architecture``, ``receptive_field``: the paper's table and each stage's receptive field, computed
  from the modules; ``hooks``: forward taps; ``targets``: which class a measurement is about.

Imports from: model, i18n.
"""

from .analysis import AnalysisTensors, analyze, analyze_batch
from .architecture import architecture_table, architecture_totals
from .gradient_flow import gradient_flow
from .hooks import forward_taps, hook_count
from .lesion import lesion
from .receptive_field import stage_geometry
from .results import AnalysisReport, GradientFlowResult, LesionResult

__all__ = [
    "AnalysisReport",
    "AnalysisTensors",
    "GradientFlowResult",
    "LesionResult",
    "analyze",
    "analyze_batch",
    "architecture_table",
    "architecture_totals",
    "forward_taps",
    "gradient_flow",
    "hook_count",
    "lesion",
    "stage_geometry",
]
