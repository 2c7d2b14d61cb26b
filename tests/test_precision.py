"""What the GPU path does that a CPU can check: autocast runs the model's precision on the model's
own device (CPU autocast here, CUDA autocast there: the same code), the TF32 switch and the app
leaving CUDA's arithmetic at torch's defaults, inputs that follow the model to another device (the
"meta" device stands in for a GPU), and the source of the GPU tests' tolerances, measured again."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

import resnet_viz
from resnet_viz.model.runtime import as_model_input, autocast, cuda_math, exact_float32, image_input, private_copy

from .support import LOGIT_TOLERANCE, ROOT, random_model, relative_error

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
TORCH_DEFAULTS = {"tf32_convolutions": True, "tf32_matmul": False, "cudnn_benchmark": False}


def _with_precision(model, precision: str):
    """The model as load_model would give it with ``precision`` on a GPU, here on the CPU: a private
    copy (the shared model keeps its own meta) whose meta says bf16/fp16."""
    reduced = private_copy(model)
    runtime = dataclasses.replace(model.meta.runtime, dtype=str(DTYPES[precision]).removeprefix("torch."))
    reduced.meta = dataclasses.replace(model.meta, precision=precision, runtime=runtime)
    return reduced


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_the_models_precision_on_its_device(resnet18, examples, precision):
    reduced = _with_precision(resnet18, precision)
    x = image_input(reduced, examples[0])
    with torch.inference_mode():
        with autocast(resnet18):
            exact = resnet18(x)
        with autocast(reduced):
            logits = reduced(x)
    assert exact.dtype == torch.float32  # a float32 model: autocast is a no-op
    assert logits.dtype == DTYPES[precision]
    assert 0 < relative_error(logits, exact) <= LOGIT_TOLERANCE[precision]
    # The library's paths run under it: analyze() reports the dtype and its statistics stay finite
    # floats; attributions stay float32; the lesion sweep's growing batch works in the reduced dtype.
    report = resnet_viz.analyze(reduced, examples[0])
    assert report["runtime"]["dtype"] == reduced.meta.runtime.dtype
    assert all(isinstance(b["ratio"], float) and b["residual_rms"] > 0 for b in report["blocks"])
    assert resnet_viz.attribute(reduced, examples[0], "gradcam")["map"].dtype.name == "float32"
    sweep = resnet_viz.lesion(reduced, examples[0])
    assert len(sweep["blocks"]) == 8 and all(0 <= b["top1_probability"] <= 1 for b in sweep["blocks"])


def test_exact_float32_turns_tf32_off_and_restores_the_switches_even_after_an_error():
    saved = cuda_math()
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, True
        with pytest.raises(RuntimeError, match="inside"), exact_float32():
            assert cuda_math()["tf32_convolutions"] is False and cuda_math()["tf32_matmul"] is False
            raise RuntimeError("inside")
        assert cuda_math()["tf32_convolutions"] is True and cuda_math()["tf32_matmul"] is True
    finally:
        torch.backends.cudnn.allow_tf32 = saved["tf32_convolutions"]
        torch.backends.cuda.matmul.allow_tf32 = saved["tf32_matmul"]


@pytest.mark.slow
def test_the_app_leaves_cudas_arithmetic_at_torchs_defaults():
    # A fresh process: what the app's start does (parse, build the demo, load the model, analyse),
    # without launching. The GPU test's float32 tolerance is chosen for exactly these switches.
    code = f"""
import json
from resnet_viz.model.runtime import cuda_math
before = cuda_math()
import app
demo = app.demo_from_args(app.parse_args(["--arch", "resnet18", "--weights", "random", "--device", "cpu"]))
demo.explorer.registry.get("resnet18")
demo.explorer.analyze({str(ROOT / "assets" / "chelsea.png")!r}, "resnet18", "a-session")
print(json.dumps([before, cuda_math()]))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == after == TORCH_DEFAULTS


def test_inputs_follow_the_model_to_its_device_and_layout(examples):
    # "meta" stands in for a GPU: tensors there have a device, a shape and strides but no data.
    on_meta = copy.deepcopy(random_model("resnet18")).to("meta")
    batch = as_model_input(on_meta, torch.randn(2, 3, 224, 224))
    assert batch.device.type == "meta" and batch.is_contiguous(memory_format=torch.channels_last)
    photo = image_input(on_meta, examples[0])
    assert photo.device.type == "meta" and photo.shape == (1, 3, 224, 224)
    assert photo.is_contiguous(memory_format=torch.channels_last)
    assert on_meta(photo).shape == (1, 1000)  # the whole forward follows, with no data


def _tf32(t: torch.Tensor) -> torch.Tensor:
    """float32 rounded to TF32's 10-bit mantissa (to nearest, ties to even), kept in float32."""
    bits = t.contiguous().view(torch.int32)
    bits = (bits + 0x0FFF + ((bits >> 13) & 1)) & ~0x1FFF
    return bits.view(torch.float32)


@contextlib.contextmanager
def _emulated_tf32(model):
    """Every convolution of ``model`` (a copy of its own) computes on TF32-rounded inputs and weights."""
    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.weight.data = _tf32(module.weight.data)
            handles.append(module.register_forward_pre_hook(lambda m, args: (_tf32(args[0]),)))
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.slow
def test_the_gpu_tolerances_keep_room_over_the_same_arithmetic_emulated_here(resnet50, examples):
    """support.LOGIT_TOLERANCE's source, measured again: each bound is at least 2x the error of
    its arithmetic emulated on this CPU for the tests' random ResNet-50 on the four examples."""
    nchw = copy.deepcopy(resnet50).to(memory_format=torch.contiguous_format)
    tf32 = copy.deepcopy(resnet50)
    errors: dict[str, list[float]] = {"float32": [], "tf32": [], "bf16": [], "fp16": []}
    with torch.inference_mode(), _emulated_tf32(tf32):
        for path in examples:
            x = image_input(resnet50, path)
            exact = resnet50(x)
            errors["float32"].append(relative_error(nchw(x.contiguous()), exact))  # the sums in another order
            errors["tf32"].append(relative_error(tf32(x), exact))
            for precision, dtype in DTYPES.items():
                with torch.autocast("cpu", dtype=dtype):
                    errors[precision].append(relative_error(resnet50(x), exact))
    for kind, values in errors.items():
        assert 0 < max(values) <= LOGIT_TOLERANCE[kind] / 2, (kind, values)
    # And float32's bound sits below every TF32 error: a parity check with TF32 left on fails.
    assert LOGIT_TOLERANCE["float32"] < min(errors["tf32"])
