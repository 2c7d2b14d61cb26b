"""resnet-viz: look inside a real, pretrained ResNet, stage by stage and block by block."""

from .analysis import AnalysisTensors, analyze, analyze_batch
from .architecture import architecture_table, architecture_totals
from .attribution import METHODS, attribute
from .cifar import CifarResNet, build_cifar_model
from .degradation import DegradationConfig, DegradationResult, NetworkCurve, degradation_experiment
from .degradation_data import DataError
from .degradation_runner import DegradationRunner
from .exemplars import Exemplar, ExemplarIndex, IndexFileError, build_index, load_index
from .feature_vis import ChannelVisualization, visualize_channel
from .fingerprint import weights_sha256
from .gradient_flow import gradient_flow
from .hooks import forward_taps, hook_count
from .lesion import lesion
from .model import ARCHS, BasicBlock, BlockInfo, Bottleneck, ResNet, StageInfo, build_model
from .preprocess import ImageError, load_image, preprocess
from .receptive_field import stage_geometry
from .trust import (
    FaithfulnessResult,
    SanityResult,
    TrustReport,
    data_randomisation,
    faithfulness,
    sanity_check,
    trust_report,
)
from .weights import ModelMeta, WeightsError, fetch_imagenet, load_model, resolve_device

__all__ = [
    "ARCHS",
    "METHODS",
    "AnalysisTensors",
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
    "ImageError",
    "IndexFileError",
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
