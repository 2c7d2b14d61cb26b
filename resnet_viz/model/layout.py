"""Which memory layout runs a model fastest on this device: measured when the model is loaded.

channels-last was 10-20% faster than NCHW for ResNet forwards on one 2-core Intel Xeon and no
faster on an AMD EPYC; on a GPU it pays with tensor-core dtypes and not always in float32. So
``layout="auto"`` times a few batch-1 forwards of both layouts at the model's input size on the
device it will run on and keeps the faster one. The two candidates run in turn, round after
round, so a slow spell of a shared machine hits both alike; each first forward (where oneDNN or
cuDNN builds its kernels) is left out, and each layout's median counts. Two timed rounds suffice
when one layout wins every sample; otherwise a third decides.

On a GPU the two are timed at a larger batch (:data:`GPU_TIMING_BATCH`): there a batch-1 forward
is mostly kernel launches, alike in both layouts, so a batch-1 choice would follow the noise.

A decision is kept for the process, per (arch, device, precision): loading the same model again
reuses it instead of measuring again, and gets the same layout, so two loads give the same
numbers.
"""

from __future__ import annotations

import copy
import logging
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from .runtime import LAYOUTS, MEMORY_FORMATS, autocast

__all__ = ["GPU_TIMING_BATCH", "ForwardTimer", "LayoutChoice", "choose_layout", "forward_timer", "timing_batch"]

log = logging.getLogger(__name__)

WARMUP = 1  # untimed forwards per layout: the first one builds kernels and allocates, so is slower
RUNS = 3  # timed forwards per layout at most; the median decides
DECISIVE_RUNS = 2  # ... but after this many, a layout faster in every sample wins at once
# A ResNet-50 forward launches about 175 kernels (53 convolutions, 53 BNs, 49 ReLUs, 16 additions,
# the pools and the head), a few microseconds each, for 4 GFLOPs of arithmetic: at batch 1 a GPU
# spends its time launching them, the same in either layout, and the layouts' timings differ by
# noise. At 32 images the arithmetic weighs more (32 is also the exemplar index's batch; the app's
# own batches reach 8). An estimate, not a measurement: no GPU has been lent to this project yet;
# python -m bench.bench_gpu shows, batch by batch, whether the layouts differ beyond their spread.
GPU_TIMING_BATCH = 32

ForwardTimer = Callable[[nn.Module, Tensor], float]  # seconds one forward of the model on the batch took


@dataclass(frozen=True)
class LayoutChoice:
    layout: str  # "nchw" or "channels-last"
    chosen_by: str  # "asked", "measured" or "measured earlier"
    forward_ms: dict[str, float]  # layout -> median forward in ms; empty when asked for
    batch: int = 1  # the batch those forwards ran


_decisions: dict[tuple[str, str, str], LayoutChoice] = {}
_decisions_lock = threading.Lock()


def _synchronizer(device: torch.device) -> Callable[[], None]:
    """Kernels on a GPU run asynchronously: a forward's time is only known after a sync."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


def forward_timer(device: torch.device) -> ForwardTimer:
    """Times one forward on ``device`` by the wall clock, waiting for the device before and after."""
    sync = _synchronizer(device)

    def timed(model: nn.Module, batch: Tensor) -> float:
        sync()
        start = time.perf_counter()
        model(batch)
        sync()
        return time.perf_counter() - start

    return timed


def timing_batch(device: torch.device) -> int:
    """How many images each timed forward carries: 1 on a CPU (the app's requests), more on a GPU."""
    return GPU_TIMING_BATCH if device.type in ("cuda", "mps") else 1


def _input_size(model: nn.Module) -> int:
    """The side of the square input the model's transforms produce (224 for torchvision's ResNets)."""
    crop = getattr(getattr(getattr(model, "meta", None), "transforms", None), "crop_size", None)
    return int(crop[0]) if crop else 224


def _decisive(a: list[float], b: list[float]) -> bool:
    """Every sample of one layout is faster than every sample of the other."""
    return max(a) < min(b) or max(b) < min(a)


def _measure(
    model: nn.Module, device: torch.device, timer: ForwardTimer, warmup: int, runs: int, batch: int
) -> tuple[nn.Module, dict[str, float]]:
    """Both layouts timed in turn; returns the faster model and each layout's median in ms."""
    candidates = {"nchw": model, "channels-last": copy.deepcopy(model).to(memory_format=torch.channels_last)}
    size = _input_size(model)
    noise = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    inputs = {name: noise.contiguous(memory_format=MEMORY_FORMATS[name]) for name in candidates}
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    with torch.inference_mode(), autocast(model):
        for round_ in range(warmup + runs):
            for name, candidate in candidates.items():
                seconds = timer(candidate, inputs[name])
                if round_ >= warmup:
                    samples[name].append(seconds)
            if len(samples["nchw"]) >= DECISIVE_RUNS and _decisive(*samples.values()):
                break  # a third round could not change the median's verdict; save its time
    forward_ms = {name: 1000 * statistics.median(s) for name, s in samples.items()}
    fastest = min(forward_ms, key=forward_ms.__getitem__)  # a tie keeps NCHW, the first
    return candidates[fastest], forward_ms


def choose_layout(
    model: nn.Module,
    layout: str = "auto",
    *,
    key: tuple[str, str, str] | None = None,
    timer: ForwardTimer | None = None,
    warmup: int = WARMUP,
    runs: int = RUNS,
    batch: int | None = None,
) -> tuple[nn.Module, LayoutChoice]:
    """The model in the layout asked for, or with ``layout="auto"`` the faster one on its device.

    ``model`` is in NCHW on its device, in eval mode. The returned module may be a converted copy.
    ``key`` (arch, device, precision) reuses this process's earlier decision for the same model;
    a caller's own ``timer`` always measures and leaves those decisions alone (tests use it to
    fake timings). ``batch`` is the images per timed forward, by default :func:`timing_batch`
    of the model's device. Only a measurement is logged (INFO), once.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout != "auto":
        return model.to(memory_format=MEMORY_FORMATS[layout]), LayoutChoice(layout, "asked", {})
    if runs < 1 or warmup < 0:
        raise ValueError(f"layout measurement needs runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    device = next(model.parameters()).device
    batch = timing_batch(device) if batch is None else batch
    remember = timer is None and key is not None
    if remember:
        with _decisions_lock:
            earlier = _decisions.get(key)
        if earlier is not None:
            log.debug("%s: %s, as measured earlier in this process", key, earlier.layout)
            chosen = model.to(memory_format=MEMORY_FORMATS[earlier.layout])
            return chosen, LayoutChoice(earlier.layout, "measured earlier", earlier.forward_ms, earlier.batch)
    start = time.perf_counter()
    chosen, forward_ms = _measure(model, device, timer or forward_timer(device), warmup, runs, batch)
    layout = "channels-last" if chosen is not model else "nchw"
    log.info(
        "memory layout for %s on %s: %s (batch-%d forward, median: NCHW %.1f ms, channels-last %.1f ms; "
        "measuring took %.2f s)",
        key[0] if key else type(model).__name__, device, layout, batch,
        forward_ms["nchw"], forward_ms["channels-last"], time.perf_counter() - start,
    )
    choice = LayoutChoice(layout, "measured", forward_ms, batch)
    if remember:
        with _decisions_lock:
            first = _decisions.setdefault(key, choice)
        if first is not choice:  # another thread measured the same model meanwhile: agree with it
            chosen = chosen.to(memory_format=MEMORY_FORMATS[first.layout])
            choice = LayoutChoice(first.layout, "measured earlier", first.forward_ms, first.batch)
    return chosen, choice
