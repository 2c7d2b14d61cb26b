"""The network and what it takes to run it.

- ``resnet``: ResNet-18..152 from the seed's identity and convolution blocks, with torchvision's
  parameter names, and the C1..C5 stage table beside it;
- ``weights``: ImageNet checkpoints (cached, hash-checked), seeded random weights, ``load_model``;
  ``fingerprint``: which weights a file was built with;
- ``preprocess``: an image file or array to the network's input (pixel budget, EXIF, modes);
- ``runtime``, ``layout``, ``cpu``: device, dtype, memory layout and thread count of a loaded model.

Imports from: i18n.
"""

from .fingerprint import weights_sha256
from .preprocess import ImageError, load_image, preprocess
from .resnet import ARCHS, BasicBlock, BlockInfo, Bottleneck, ResNet, StageInfo, build_model
from .weights import ModelMeta, WeightsError, fetch_imagenet, load_model, resolve_device

__all__ = [
    "ARCHS",
    "BasicBlock",
    "BlockInfo",
    "Bottleneck",
    "ImageError",
    "ModelMeta",
    "ResNet",
    "StageInfo",
    "WeightsError",
    "build_model",
    "fetch_imagenet",
    "load_image",
    "load_model",
    "preprocess",
    "resolve_device",
    "weights_sha256",
]
