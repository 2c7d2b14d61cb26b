"""resnet-viz: look inside a real, pretrained ResNet, stage by stage and block by block."""

from .analysis import AnalysisTensors, analyze, analyze_batch
from .architecture import architecture_table, architecture_totals
from .attribution import METHODS, attribute
from .exemplars import Exemplar, ExemplarIndex, IndexFileError, build_index, load_index
from .fingerprint import weights_sha256
from .feature_vis import ChannelVisualization, visualize_channel
from .gradient_flow import gradient_flow
from .hooks import forward_taps, hook_count
from .lesion import lesion
from .model import ARCHS, BasicBlock, BlockInfo, Bottleneck, ResNet, StageInfo, build_model
from .preprocess import ImageError, load_image, preprocess
from .receptive_field import stage_geometry
from .weights import ModelMeta, WeightsError, fetch_imagenet, load_model, resolve_device

__all__ = [
    "ARCHS",
    "METHODS",
    "AnalysisTensors",
    "BasicBlock",
    "BlockInfo",
    "ChannelVisualization",
    "Bottleneck",
    "Exemplar",
    "ExemplarIndex",
    "ImageError",
    "IndexFileError",
    "ModelMeta",
    "ResNet",
    "StageInfo",
    "WeightsError",
    "analyze",
    "analyze_batch",
    "architecture_table",
    "architecture_totals",
    "attribute",
    "build_index",
    "build_model",
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
    "weights_sha256",
    "visualize_channel",
]
