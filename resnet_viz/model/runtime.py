"""How a loaded model is run: its device, its memory layout, its inputs, its arithmetic, private copies.

The memory layout (NCHW or channels-last) is the model's own, chosen when it is loaded (see
:mod:`resnet_viz.model.layout`): which one is faster depends on the CPU (channels-last was 10-20%
faster on one Intel Xeon, no faster on an AMD EPYC) and, on a GPU, on the dtype. The choice is
recorded in ``model.meta.runtime`` and every input is put in the same layout.

float32 on CUDA is torch's default, which the app leaves alone (it sets none of these switches):
convolutions may run on TF32 tensor cores (``torch.backends.cudnn.allow_tf32`` True: inputs
rounded to a 10-bit mantissa, which moves a random-weight ResNet-50's logits by 2e-3 to 2e-2 of
their norm, emulated on the CPU), matrix products may not (``torch.backends.cuda.matmul.allow_tf32``
False), and cuDNN's benchmark mode is off. :func:`cuda_math` reports them; :func:`exact_float32`
turns TF32 off for a parity check or a timing that says so.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from dataclasses import dataclass, field
from typing import Any, ContextManager, Iterator

import torch
from torch import Tensor, nn

from .preprocess import ImageSource, load_image, preprocess, working_side

__all__ = [
    "LAYOUTS",
    "MEMORY_FORMATS",
    "RuntimeInfo",
    "as_model_input",
    "autocast",
    "cuda_math",
    "dtype_name",
    "exact_float32",
    "image_input",
    "memory_format",
    "model_device",
    "private_copy",
    "runtime_json",
]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_DTYPE_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

LAYOUTS = ("auto", "nchw", "channels-last")  # what a user may ask for; "auto" measures
MEMORY_FORMATS = {"nchw": torch.contiguous_format, "channels-last": torch.channels_last}


@dataclass(frozen=True)
class RuntimeInfo:
    """How a model runs, decided once when it is loaded."""

    device: str  # e.g. "cpu", "cuda:0"
    layout: str  # "nchw" or "channels-last"
    threads: int  # torch's intra-op threads when the model was loaded
    dtype: str  # what inference computes in: "float32", or the autocast dtype "bfloat16"/"float16"
    chosen_by: str  # "measured", "measured earlier" (same arch/device/precision in this process) or "asked"
    forward_ms: dict[str, float] = field(default_factory=dict)  # layout -> median forward, when measured
    timed_batch: int = 1  # the batch of those forwards (1 on a CPU, more on a GPU: see layout.timing_batch)

    def to_json(self) -> dict[str, Any]:
        """What analyses report: the same for every load of a model on a device (no timings), so
        two loads' results can be compared as a whole; threads are torch's count now."""
        return {"device": self.device, "layout": self.layout, "threads": torch.get_num_threads(), "dtype": self.dtype}


def dtype_name(precision: str) -> str:
    return _DTYPE_NAMES[precision]


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _runtime(model: nn.Module) -> RuntimeInfo | None:
    return getattr(getattr(model, "meta", None), "runtime", None)


def memory_format(model: nn.Module) -> torch.memory_format:
    """The model's chosen layout; a model without a runtime record (not from load_model) is NCHW."""
    runtime = _runtime(model)
    return MEMORY_FORMATS[runtime.layout] if runtime is not None else torch.contiguous_format


def runtime_json(model: nn.Module) -> dict[str, Any]:
    """``analyze()``'s ``runtime`` entry: device, layout, threads, dtype."""
    runtime = _runtime(model)
    if runtime is not None:
        return runtime.to_json()
    precision = getattr(getattr(model, "meta", None), "precision", "fp32")
    threads = torch.get_num_threads()
    return {"device": str(model_device(model)), "layout": "nchw", "threads": threads, "dtype": dtype_name(precision)}


def as_model_input(model: nn.Module, batch: Tensor) -> Tensor:
    """A (B, 3, H, W) batch on the model's device, in the model's memory layout."""
    return batch.to(model_device(model)).contiguous(memory_format=memory_format(model))


def image_input(model: nn.Module, image: ImageSource | Tensor) -> Tensor:
    """One image, loaded and preprocessed with the model's transforms: (1, 3, 224, 224) ready to run.

    A (3, H, W) tensor is taken as already preprocessed (``AnalysisTensors.input``): the app keeps
    that instead of the uploaded file, which the web server may clean away meanwhile.
    """
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(f"a preprocessed image must be a (3, H, W) float tensor, got {tuple(image.shape)}")
        return as_model_input(model, image.unsqueeze(0))
    transforms = model.meta.transforms
    picture = load_image(image, short_side=working_side(transforms))  # decoded small, never kept at full size
    return as_model_input(model, preprocess(transforms, picture).unsqueeze(0))


def private_copy(model: nn.Module) -> nn.Module:
    """New module objects that share the model's parameter and buffer tensors (no copy of weights).

    Captum registers hooks on the modules it is given, and guided backprop overrides every ReLU's
    backward. Giving it a private copy (11 ms for ResNet-50, 35 ms for ResNet-152) leaves the
    shared model without a single hook, and two requests explaining at once cannot see each other.
    The copy shares ``model.meta`` too, so it keeps the model's layout and runtime record.
    """
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    if hasattr(model, "meta"):
        shared[id(model.meta)] = model.meta
    return copy.deepcopy(model, memo=shared)


def autocast(model: nn.Module) -> ContextManager:
    """Autocast in the model's opt-in inference precision on the model's device; a no-op for
    float32 models. load_model allows bf16/fp16 on CUDA only; following the model's device
    (rather than naming "cuda") lets the CPU tests run the same plumbing under CPU autocast."""
    precision = getattr(getattr(model, "meta", None), "precision", "fp32")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=model_device(model).type, dtype=_AUTOCAST_DTYPES[precision])


def cuda_math() -> dict[str, bool]:
    """The process's CUDA arithmetic switches as they are now (torch's defaults unless someone set them)."""
    return {
        "tf32_convolutions": bool(torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """float32 without TF32 on CUDA (convolutions and matrix products) inside the block, the
    switches as they were after it, also when the block raises. The switches are process-wide:
    for tests and benchmarks, never around one request of a server that runs others meanwhile."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = conv
        torch.backends.cuda.matmul.allow_tf32 = matmul
