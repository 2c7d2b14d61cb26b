"""Feature visualisation by optimisation: the picture a channel responds to most.

The recipe is the one of Olah, Mordvintsev and Schubert, "Feature Visualization", Distill, 2017
(https://distill.pub/2017/feature-visualization/), as packaged by Lucid and its PyTorch port
Lucent. Starting from faint noise, Adam changes an image so that one channel's mean activation
at one stage output grows, and three things keep the result a picture rather than adversarial
high-frequency noise:

- **Fourier-space parameterisation.** The optimised variable is the image's 2-D spectrum, scaled
  by 1/frequency, so the image changes with a natural photo's spectrum (large-scale structure
  first) instead of drifting into the high-frequency patterns that plain pixel gradients favour.
- **Decorrelated colour.** The spectrum lives in a decorrelated colour space, mapped to RGB by
  the square root of ImageNet's colour covariance (Lucid's matrix), then squashed by a sigmoid.
- **Transformation robustness.** Each step sees the image randomly shifted, scaled and rotated,
  so what survives are features the channel detects wherever they are.

Differences from Lucid, all to keep the network's input exactly ``size`` pixels (so a step costs
one forward and backward at that size, see ``bench/bench_feature_vis.py``): Lucid pads by 12 px
and jitters twice (8, then 4 px) before and after its scale and rotation; here the shift, scale
and rotation are one affine resample (``F.affine_grid`` + ``F.grid_sample``) with a shift of up
to ``jitter`` pixels, and the view shows mid-grey where it leaves the image, as Lucid's padding
does. Randomness comes from one seeded ``torch.Generator``: the same seed gives the same image.

torch-lucent 0.1.8 itself installs and runs with torch 2.14.1 (it pulls kornia 0.4.1, pytest,
coveralls, ipython and scikit-learn in as run-time dependencies), but it registers a forward hook
on every module of the model and never removes it, always runs the whole network, and draws its
randomness from numpy's global generator; hence this module.

Only the network up to the requested stage runs, through the model's own phases
(``forward_stem``, then the stage modules named in ``model.stages``); the shared model is never
changed (no hook, no mode or ``requires_grad`` change): gradients flow to the image only.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ..i18n import UserError
from ..model.resnet import ResNet
from ..model.runtime import as_model_input, model_device

__all__ = ["Recipe", "StepInfo", "ChannelVisualization", "ChannelOptimizer", "stage_forward", "visualize_channel"]

Progress = Callable[[float], None]

# Lucid's `color_correlation_svd_sqrt`: the square root of ImageNet's RGB covariance. Normalised
# so its largest column has norm 1, as Lucid does, it maps decorrelated colour to RGB.
_COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MATRIX = _COLOR_CORRELATION_SQRT / _COLOR_CORRELATION_SQRT.norm(dim=0).max()
# Lucid divides the inverse FFT by 4 ("reduces saturation"): the start is then close to mid-grey.
_FFT_DAMPING = 4.0


@dataclass(frozen=True)
class Recipe:
    """The optimisation's constants; the defaults are Lucid's where Lucid has one."""

    lr: float = 0.05  # Adam's learning rate (Lucid's render_vis default)
    init_sd: float = 0.01  # standard deviation of the random starting spectrum (Lucid)
    decay_power: float = 1.0  # the spectrum is scaled by 1 / frequency ** decay_power (Lucid)
    jitter: int = 8  # largest shift, in pixels along each axis (Lucid's larger jitter)
    scales: tuple[float, ...] = tuple(1 + (i - 5) / 50 for i in range(11))  # 0.90 .. 1.10 (Lucid)
    angles: tuple[float, ...] = tuple(float(a) for a in range(-10, 11)) + (0.0,) * 5  # degrees (Lucid)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class StepInfo:
    """What ``on_step`` receives after each step. ``preview()`` renders the image as it is now
    (cheap: no network), and is only valid inside the callback: the next step changes it."""

    step: int  # steps done so far, 1..steps
    steps: int
    objective: float  # the channel's mean activation in this step's forward
    preview: Callable[[], Image.Image] = field(repr=False)


@dataclass(frozen=True)
class ChannelVisualization:
    """One channel's feature visualisation and how it was made."""

    arch: str
    weights: str
    stage: str
    channel: int
    size: int
    steps: int
    seed: int
    image: Image.Image  # RGB, size x size
    # The channel's mean activation in each step's forward, before that step's update:
    # objective[0] is the starting noise's, objective[-1] the image's after steps - 1 updates.
    objective: list[float]
    final_activation: float  # the channel's mean activation on `image` itself (no transform)
    timing_ms: dict[str, float]  # total (wall), compute (without callbacks), per_step
    device: str
    recipe: Recipe = Recipe()

    def to_json(self) -> dict[str, Any]:
        """Everything but the image, as JSON-ready values."""
        out = {k: v for k, v in asdict(self).items() if k not in ("image", "recipe")}
        out["recipe"] = self.recipe.to_json()
        return out


def _stage_index(model: ResNet, stage: str) -> int:
    names = [s.name for s in model.stages]
    if not isinstance(stage, str) or stage not in names:
        raise UserError("error_unknown_stage", stage=repr(stage), choices=", ".join(names))
    return names.index(stage)


def stage_forward(model: ResNet, stage: str) -> Callable[[Tensor], Tensor]:
    """``x -> the stage's output``, running only the network up to that stage.

    The first row of ``model.stages`` is the stem's output (``model.forward_stem``); each later
    row's module runs on the previous row's output, as in ``model.forward_stages``.
    """
    index = _stage_index(model, stage)
    modules = [model.get_submodule(s.module) for s in model.stages[1 : index + 1]]

    def forward(x: Tensor) -> Tensor:
        x = model.forward_stem(x)
        for module in modules:
            x = module(x)
        return x

    return forward


def _check_channel(model: ResNet, stage: str, channel: int) -> None:
    count = model.stages[_stage_index(model, stage)].channels
    if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < count:
        raise UserError(
            "error_channel_range", channel=repr(channel), stage=stage, arch=getattr(model, "arch", "this model"), count=count, last=count - 1
        )


def _normalisation(model: ResNet) -> tuple[Tensor, Tensor]:
    """The weights' transforms' mean and std as (1, 3, 1, 1) tensors on the model's device."""
    meta = getattr(model, "meta", None)
    if meta is None:
        raise ValueError("the model has no .meta (its weights' preprocessing); load it with resnet_viz.load_model")
    device = model_device(model)
    mean = torch.tensor(meta.transforms.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(meta.transforms.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return mean, std


class FourierImage:
    """An RGB image in [0, 1] parameterised by a 1/f-scaled, colour-decorrelated spectrum."""

    def __init__(self, size: int, recipe: Recipe, generator: torch.Generator, device: torch.device) -> None:
        self.size = size
        fy = torch.fft.fftfreq(size)[:, None]  # (H, 1) cycles per pixel
        fx = torch.fft.rfftfreq(size)[None, :]  # (1, W // 2 + 1)
        freqs = (fx * fx + fy * fy).sqrt()
        # 1/f, with the DC term treated as the lowest non-zero frequency (Lucid's max(f, 1/size)),
        # and Lucid's damping folded in: one multiplication per step instead of two.
        scale = 1.0 / freqs.clamp(min=1.0 / size) ** recipe.decay_power / _FFT_DAMPING
        self.scale = scale.to(device)
        # Drawn on the CPU generator whatever the device, so a seed means one image everywhere.
        init = torch.randn(1, 3, size, size // 2 + 1, 2, generator=generator) * recipe.init_sd
        self.spectrum = init.to(device).requires_grad_()  # (1, 3, H, W//2+1, real/imag)
        # Halved: sigmoid(y) = (1 + tanh(y / 2)) / 2, and the signed image is tanh(y / 2).
        self.color_half = (0.5 * COLOR_MATRIX).to(device)

    def signed(self) -> Tensor:
        """The image as 2 rgb - 1: (1, 3, size, size) in [-1, 1], 0 for mid-grey.

        Working with the signed image saves the step three element-wise passes (and their
        backward): no "- 0.5" before the resample, and the 1/2 folds into the normalisation.
        """
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho")  # (1, 3, H, W)
        # Colour: out_d = sum_c M[d, c] in_c (Lucid's `matmul(t, M.T)`), one (3, 3) x (3, H W) product.
        rgb_logits_half = (self.color_half @ decorrelated.view(3, -1)).view(1, 3, self.size, self.size)
        return torch.tanh(rgb_logits_half)  # = 2 sigmoid(M x) - 1

    def rgb(self) -> Tensor:
        """(1, 3, size, size) in [0, 1]: Lucid's sigmoid(M x)."""
        return 0.5 + 0.5 * self.signed()


def _random_view(signed: Tensor, recipe: Recipe, generator: torch.Generator) -> Tensor:
    """A signed image shifted, scaled and rotated at random in one resample; 0 (mid-grey) outside it."""
    size = signed.shape[-1]
    pick = lambda n: int(torch.randint(n, (1,), generator=generator))  # noqa: E731
    scale = recipe.scales[pick(len(recipe.scales))]
    angle = math.radians(recipe.angles[pick(len(recipe.angles))])
    dx, dy = (pick(2 * recipe.jitter + 1) - recipe.jitter for _ in range(2))
    # affine_grid maps output coordinates to input ones, in [-1, 1] units (2 / size per pixel):
    # rotating by `angle` and zooming by `scale` samples the input at R(-angle) / scale.
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[[cos, sin, -2.0 * dx / size], [-sin, cos, -2.0 * dy / size]]], device=signed.device)
    grid = F.affine_grid(theta, list(signed.shape), align_corners=False)
    # grid_sample fills with zeros outside: mid-grey in a signed image, as Lucid's 0.5 padding.
    return F.grid_sample(signed, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _to_pil(rgb: Tensor) -> Image.Image:
    pixels = (rgb[0].detach() * 255).round().clamp(0, 255).to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")


class ChannelOptimizer:
    """One visualisation in progress: :meth:`step` runs one Adam step and returns the objective.

    :func:`visualize_channel` drives it; the benchmark times its steps.
    """

    def __init__(self, model: ResNet, stage: str, channel: int, *, size: int, seed: int, recipe: Recipe) -> None:
        _check_channel(model, stage, channel)
        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise ValueError(f"size {size!r} is too small; use at least 16 pixels")
        if model.training:
            # BatchNorm in training mode would update the shared model's running statistics.
            raise ValueError("the model is in training mode; visualise channels of a model in eval mode")
        self.model, self.channel, self.recipe = model, channel, recipe
        self.forward = stage_forward(model, stage)
        mean, std = _normalisation(model)
        # normalise((1 + s) / 2) = s * 0.5 / std + (0.5 - mean) / std: one fused op on a signed image.
        self.half_inv_std, self.offset = 0.5 / std, (0.5 - mean) / std
        self.generator = torch.Generator().manual_seed(seed)
        self.image = FourierImage(size, recipe, self.generator, model_device(model))
        # Fused Adam is one kernel per step instead of about eight (same update rule).
        fused = model_device(model).type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam([self.image.spectrum], lr=recipe.lr, fused=fused)

    def random_view(self) -> Tensor:
        """The image as this step sees it: shifted, scaled and rotated at random (signed)."""
        return _random_view(self.image.signed(), self.recipe, self.generator)

    def network_input(self, signed: Tensor) -> Tensor:
        """A signed image (2 rgb - 1), normalised, on the model's device and in its layout."""
        return as_model_input(self.model, torch.addcmul(self.offset, signed, self.half_inv_std))

    def activation(self, x: Tensor) -> Tensor:
        """The channel's mean activation for a network input."""
        return self.forward(x)[:, self.channel].mean()  # forward: (1, C, h, w)

    def step(self) -> float:
        with torch.enable_grad():
            self.optimizer.zero_grad(set_to_none=True)
            activation = self.activation(self.network_input(self.random_view()))
            (-activation).backward()  # ascend the activation; the weights need no gradient
            self.optimizer.step()
        return float(activation.detach())

    def current_image(self) -> Image.Image:
        with torch.no_grad():
            return _to_pil(self.image.rgb())

    def activation_of(self, picture: Image.Image) -> float:
        """The channel's mean activation on ``picture`` as it is (no random view)."""
        with torch.no_grad():
            rgb = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)  # (H, W, 3)
            rgb = rgb.permute(2, 0, 1).unsqueeze(0).to(self.offset.device)
            return float(self.activation(self.network_input(2 * rgb - 1)))


def visualize_channel(
    model: ResNet,
    stage: str,
    channel: int,
    *,
    size: int = 128,
    steps: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    recipe: Recipe = Recipe(),
) -> ChannelVisualization:
    """The ``size`` x ``size`` image that ``stage``'s ``channel`` responds to most, after ``steps``
    Adam steps from seeded noise (Olah et al. 2017). Same seed, same image.

    ``stage`` is a name from ``model.stages`` ("C1".."C5"), ``channel`` an index below that
    stage's channel count; anything else raises ValueError naming the bad value.
    After each step ``on_step(StepInfo)`` (live objective and a preview) and then
    ``progress(fraction)`` are called. Either may block, or raise to cancel: the exception
    propagates, and the shared model is left untouched (this function never changes it).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps {steps!r} must be a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed {seed!r} must be a non-negative integer")
    start = time.perf_counter()
    run = ChannelOptimizer(model, stage, channel, size=size, seed=seed, recipe=recipe)
    objective: list[float] = []
    waiting = 0.0  # seconds spent inside the callbacks, left out of the compute time
    loop_start = time.perf_counter()
    try:
        for i in range(steps):
            objective.append(run.step())
            if on_step is None and progress is None:
                continue
            wait_start = time.perf_counter()
            if on_step is not None:
                on_step(StepInfo(i + 1, steps, objective[-1], run.current_image))
            if progress is not None:
                progress((i + 1) / steps)
            waiting += time.perf_counter() - wait_start
        loop_s = time.perf_counter() - loop_start - waiting
        image = run.current_image()
        final = run.activation_of(image)
    finally:
        # Nothing was put on the model; drop the graph and optimiser state at once, not at GC.
        run.optimizer.state.clear()
        run.image.spectrum.grad = None
    total_s = time.perf_counter() - start
    meta = model.meta
    return ChannelVisualization(
        arch=meta.arch,
        weights=meta.weights,
        stage=stage,
        channel=channel,
        size=size,
        steps=steps,
        seed=seed,
        image=image,
        objective=objective,
        final_activation=final,
        timing_ms={
            "total": 1000 * total_s,
            "compute": 1000 * (total_s - waiting),
            "per_step": 1000 * loop_s / steps,
        },
        device=str(model_device(model)),
        recipe=recipe,
    )
