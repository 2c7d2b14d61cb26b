"""resnet-viz: look inside a real, pretrained ResNet, stage by stage and block by block."""

from .degradation.data import DataError
from .degradation.experiment import DegradationConfig, DegradationResult, NetworkCurve, degradation_experiment
from .degradation.networks import CifarResNet, build_cifar_model
from .degradation.runner import DegradationRunner
from .exemplars import Exemplar, ExemplarIndex, IndexFileError, build_index, load_index
from .explain.attribution import METHODS, attribute
from .explain.feature_vis import ChannelVisualization, visualize_channel
from .model.fingerprint import weights_sha256
from .model.preprocess import ImageError, load_image, preprocess
from .model.resnet import ARCHS, BasicBlock, BlockInfo, Bottleneck, ResNet, StageInfo, build_model
from .model.weights import ModelMeta, WeightsError, fetch_imagenet, load_model, resolve_device
from .probe.analysis import AnalysisTensors, analyze, analyze_batch
from .probe.architecture import architecture_table, architecture_totals
from .probe.gradient_flow import gradient_flow
from .probe.hooks import forward_taps, hook_count
from .probe.lesion import lesion
from .probe.receptive_field import stage_geometry

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
    "ImageError",
    "IndexFileError",
    "ModelMeta",
    "NetworkCurve",
    "ResNet",
    "StageInfo",
    "WeightsError",
    "analyze",
    "analyze_batch",
    "architecture_table",
    "architecture_totals",
    "attribute",
    "build_cifar_model",
    "build_index",
    "build_model",
    "degradation_experiment",
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
    "stage_geometry",
    "visualize_channel",
    "weights_sha256",
]
