"""resnet-viz: look inside a real, pretrained ResNet, stage by stage and block by block."""

from .analysis import AnalysisTensors, analyze, analyze_batch
from .hooks import forward_taps, hook_count
from .model import ARCHS, BasicBlock, BlockInfo, Bottleneck, ResNet, StageInfo, build_model
from .preprocess import ImageError, load_image, preprocess
from .weights import ModelMeta, WeightsError, fetch_imagenet, load_model, resolve_device

__all__ = [
    "ARCHS",
    "AnalysisTensors",
    "BasicBlock",
    "BlockInfo",
    "Bottleneck",
    "ImageError",
    "ModelMeta",
    "ResNet",
    "StageInfo",
    "WeightsError",
    "analyze",
    "analyze_batch",
    "build_model",
    "fetch_imagenet",
    "forward_taps",
    "hook_count",
    "load_image",
    "load_model",
    "preprocess",
    "resolve_device",
]
