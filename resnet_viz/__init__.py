"""resnet-viz: look inside a real, pretrained ResNet, stage by stage and block by block.

The package is grouped by job; each room's ``__init__`` says what it is for and which rooms it
may import (``tests/test_structure.py`` holds them to it):

- ``model``: the network, its weights and how it runs; ``probe``: measurements of one photo
  (analysis, gradient flow, lesions); ``explain``: attributions and feature visualisation;
  ``trust``: whether an attribution map can be trusted (sanity checks, faithfulness);
- ``draw``: pictures and charts; ``degradation``: plain vs residual networks trained side by side;
  ``exemplars``: the images that excite each channel most;
- ``serve``: what a server adds (shared models, sessions, the gate); ``ui``: the Gradio page;
  ``cli``: ``python -m resnet_viz``; ``i18n``: every word in English and Korean.

Imports from: model, probe, explain, trust, degradation, exemplars.
"""

from .degradation import (
    CifarResNet,
    DataError,
    DegradationConfig,
    DegradationResult,
    DegradationRunner,
    NetworkCurve,
    build_cifar_model,
    degradation_experiment,
)
from .exemplars import Exemplar, ExemplarIndex, IndexFileError, build_index, load_index
from .explain import METHODS, AttributionResult, ChannelVisualization, attribute, visualize_channel
from .model import (
    ARCHS,
    BasicBlock,
    BlockInfo,
    Bottleneck,
    ImageError,
    ModelMeta,
    ResNet,
    StageInfo,
    WeightsError,
    build_model,
    fetch_imagenet,
    load_image,
    load_model,
    preprocess,
    resolve_device,
    weights_sha256,
)
from .probe import (
    AnalysisReport,
    AnalysisTensors,
    GradientFlowResult,
    LesionResult,
    analyze,
    analyze_batch,
    architecture_table,
    architecture_totals,
    forward_taps,
    gradient_flow,
    hook_count,
    lesion,
    stage_geometry,
)
from .trust import (
    FaithfulnessResult,
    SanityResult,
    TrustReport,
    data_randomisation,
    faithfulness,
    sanity_check,
    trust_report,
)

__all__ = [
    "ARCHS",
    "METHODS",
    "AnalysisReport",
    "AnalysisTensors",
    "AttributionResult",
    "BasicBlock",
    "BlockInfo",
    "Bottleneck",
    "ChannelVisualization",
    "CifarResNet",
    "DataError",
    "DegradationConfig",
    "DegradationResult",
    "DegradationRunner",
    "Exemplar",
    "ExemplarIndex",
    "FaithfulnessResult",
    "GradientFlowResult",
    "ImageError",
    "IndexFileError",
    "LesionResult",
    "ModelMeta",
    "NetworkCurve",
    "ResNet",
    "SanityResult",
    "StageInfo",
    "TrustReport",
    "WeightsError",
    "analyze",
    "analyze_batch",
    "architecture_table",
    "architecture_totals",
    "attribute",
    "build_cifar_model",
    "build_index",
    "build_model",
    "data_randomisation",
    "degradation_experiment",
    "faithfulness",
    "fetch_imagenet",
    "forward_taps",
    "gradient_flow",
    "hook_count",
    "lesion",
    "load_image",
    "load_index",
    "load_model",
    "preprocess",
    "resolve_device",
    "sanity_check",
    "stage_geometry",
    "trust_report",
    "visualize_channel",
    "weights_sha256",
]
