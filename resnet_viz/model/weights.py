"""Where a model's numbers come from: torchvision's ImageNet checkpoints, a seeded random
initialisation, or a checkpoint file of the user's.

Every failure is a :class:`WeightsError` whose message is one sentence saying what is wrong and
what to do about it. Checkpoints are only ever read with ``weights_only=True`` or safetensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from .cpu import configure_threads
from .layout import ForwardTimer, choose_layout
from .resnet import ARCHS, ResNet, build_model
from .runtime import LAYOUTS, RuntimeInfo, dtype_name, model_device

__all__ = [
    "ImageNetFile",
    "ModelMeta",
    "WeightsError",
    "fetch_imagenet",
    "imagenet_file",
    "imagenet_weights",
    "load_checkpoint",
    "load_model",
    "load_state_dict_checked",
    "resolve_device",
    "PRECISIONS",
]

log = logging.getLogger(__name__)

RANDOM_SEED = 0  # `weights="random"` is this seed's initialisation, identical on every run


class WeightsError(RuntimeError):
    """The weights asked for cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelMeta:
    """What the UI and reports need to know about a loaded model besides its modules."""

    arch: str
    weights: str  # "imagenet", "random" or the checkpoint's file name
    categories: tuple[str, ...]  # class index -> label, from torchvision's weights meta
    transforms: nn.Module  # the weights' own preprocessing (resize, centre crop, normalise)
    precision: str = "fp32"  # "bf16"/"fp16": inference under CUDA autocast (see runtime.autocast)
    runtime: RuntimeInfo | None = None  # device, memory layout, threads, dtype: set by load_model


@dataclass(frozen=True)
class ImageNetFile:
    """One checkpoint of torchvision's, and where torch's hub cache keeps it."""

    arch: str
    url: str
    path: Path
    sha256_prefix: str  # the hex digits after the dash in the file name


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")


def imagenet_weights(arch: str) -> torchvision.models.WeightsEnum:
    """torchvision's DEFAULT weights for ``arch``: V1 for resnet18/34, V2 for resnet50/101/152."""
    _check_arch(arch)
    return torchvision.models.get_model_weights(arch).DEFAULT


def imagenet_file(arch: str) -> ImageNetFile:
    url = imagenet_weights(arch).url
    name = url.rsplit("/", 1)[-1]  # e.g. resnet50-11ad3fa6.pth
    prefix = name.rsplit("-", 1)[-1].split(".", 1)[0]
    return ImageNetFile(arch, url, Path(torch.hub.get_dir()) / "checkpoints" / name, prefix)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(file: ImageNetFile, progress: bool) -> None:
    """Download to a temporary name, check the hash, then move into place."""
    file.path.parent.mkdir(parents=True, exist_ok=True)
    # download_url_to_file writes to a temp file beside dst and checks the hash before renaming.
    torch.hub.download_url_to_file(file.url, str(file.path), hash_prefix=file.sha256_prefix, progress=progress)


def fetch_imagenet(arch: str, *, progress: bool = True, file: ImageNetFile | None = None) -> Path:
    """The verified path of ``arch``'s ImageNet checkpoint, downloading it if missing or corrupt.

    torch.hub only checks the hash when it downloads; a cached file is checked here too, so a
    truncated or tampered file is never loaded.
    """
    file = file or imagenet_file(arch)
    how_to = (
        f"run `python -m resnet_viz download --arch {arch}` on a machine with internet and copy "
        f"{file.path.name} into {file.path.parent}, or pass a checkpoint path (--weights PATH) or weights='random'"
    )
    problem = None
    if file.path.exists():
        actual = _sha256(file.path)
        if actual.startswith(file.sha256_prefix):
            return file.path
        problem = (
            f"the cached file {file.path} is corrupt (its SHA-256 starts with {actual[:8]}, "
            f"not {file.sha256_prefix})"
        )
        log.warning("%s; downloading it again", problem)
    try:
        _download(file, progress)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:  # no network, HTTP error, hash mismatch
        reason = getattr(exc, "reason", None) or exc
        if problem is None:
            problem = f"ImageNet weights for {arch} are not cached at {file.path}"
        raise WeightsError(f"{problem} and downloading {file.url} failed ({reason}); {how_to}.") from exc
    return file.path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """A state dict from a .pth/.pt (``weights_only=True``) or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist; pass the path of a .pth, .pt or .safetensors "
            "checkpoint, or use weights='imagenet' or 'random'."
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors have no common base class
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path.name} is not a readable checkpoint or is corrupt ({first_line[:200]}); "
            "pass a state dict saved with torch.save or safetensors."
        ) from exc
    # Training scripts often wrap the state dict; accept the two common wrappers, nothing fancier.
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and set(state) == {wrapper} and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} does not hold a state dict of tensors; pass a torchvision-keyed state dict.")
    return dict(state)


def _guess_arch(state: Mapping[str, Tensor]) -> str | None:
    """The arch whose keys and shapes match ``state`` exactly, found on the meta device (no memory)."""
    with torch.device("meta"):
        for arch in ARCHS:
            ref = build_model(arch).state_dict()
            if set(ref) == set(state) and all(ref[k].shape == state[k].shape for k in ref):
                return arch
    return None


def load_state_dict_checked(model: ResNet, state: Mapping[str, Tensor], source: str) -> None:
    """Copy ``state`` into ``model`` after checking every key and shape, naming the first mismatch."""
    expected = model.state_dict()
    mismatch = None
    for key, ref in expected.items():
        if key not in state:
            mismatch = f"key {key!r} is missing"
        elif state[key].shape != ref.shape:
            mismatch = (
                f"key {key!r} has shape {tuple(state[key].shape)} in the file "
                f"but {tuple(ref.shape)} in {model.arch}"
            )
        if mismatch:
            break
    if mismatch is None:
        extra = [k for k in state if k not in expected]
        if extra:
            mismatch = f"key {extra[0]!r} is not part of {model.arch}"
    if mismatch:
        guess = _guess_arch(state)
        hint = f"it looks like a {guess} checkpoint, so use --arch {guess}" if guess else "is it a checkpoint for another arch?"
        raise WeightsError(f"{source} does not fit {model.arch}: {mismatch}; {hint}.")
    model.load_state_dict(state, strict=True)


def _natural_noise(generator: torch.Generator, batch: int = 8, size: int = 160) -> Tensor:
    """Seeded noise with a photo-like 1/f spectrum: octaves of upsampled noise, coarse ones strongest."""
    noise = torch.zeros(batch, 3, size, size)
    for cells in (2, 5, 10, 20, 40, 80, 160):
        octave = torch.randn(batch, 3, cells, cells, generator=generator)
        noise += F.interpolate(octave, size=(size, size), mode="bilinear") * (size / cells) ** 0.5
    return noise / noise.std()


def _calibrate_batchnorm(model: ResNet) -> None:
    """Set BN running statistics from one seeded batch of photo-like noise.

    With torchvision's init and BN at mean 0 / variance 1, an untrained ResNet-152's activations
    grow about 3x per block (logits ~1e7). Measuring the statistics once, as training would,
    keeps every stage at a sane scale on real photos (white noise would not: its statistics are
    far from a photo's), so random-weight demos and tests behave like a real network.

    It runs on one thread: parallel reductions (the noise's resampling and std, BN's statistics)
    sum in an order that depends on the thread count, and the seeded weights must be one set of
    weights bit for bit on every machine (their sha256 keys caches and indexes).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        noise = _natural_noise(torch.Generator().manual_seed(RANDOM_SEED))
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
        model.train()
        with torch.no_grad():
            model(noise)
        for bn in bns:
            bn.momentum = 0.1
        model.eval()
    finally:
        torch.set_num_threads(threads)


def _random_model(arch: str) -> ResNet:
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
        torch.manual_seed(RANDOM_SEED)
        model = build_model(arch)
    _calibrate_batchnorm(model)
    return model


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" picks cuda, then mps, then cpu."""
    if str(device) != "auto":
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise WeightsError(f"device {str(device)!r} was asked for but CUDA is not available; use --device cpu or auto.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


PRECISIONS = ("fp32", "bf16", "fp16")


def load_model(
    arch: str = "resnet50",
    weights: str | os.PathLike = "imagenet",
    device: str | torch.device = "auto",
    *,
    precision: str = "fp32",
    layout: str = "auto",
    progress: bool = True,
    layout_timer: ForwardTimer | None = None,
) -> ResNet:
    """A ready-to-probe model in eval mode, with ``model.meta`` (labels, preprocessing).

    ``weights``: "imagenet" (torchvision's DEFAULT checkpoint, from torch's hub cache or
    downloaded there), "random" (seeded, identical on every run) or a checkpoint path.
    Parameters are frozen (``requires_grad=False``): attributions need input gradients only.
    ``precision`` "bf16" or "fp16" (CUDA only) runs inference under autocast; attributions
    always use float32.

    ``layout``: "auto" times a few forwards in NCHW and in channels-last memory on the device and
    keeps the faster (see :mod:`resnet_viz.model.layout`; ``layout_timer`` fakes the clock in tests);
    "nchw" or "channels-last" skips the measurement. The first load in a process also sets torch's
    CPU threads to the CPUs the process may use (see :mod:`resnet_viz.model.cpu`). What was chosen is
    ``model.meta.runtime``.
    """
    _check_arch(arch)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    target = resolve_device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and target.type != "cuda":
        raise ValueError(f"precision {precision} needs a CUDA device, and this model runs on {target.type}; use fp32.")
    reference = imagenet_weights(arch)
    if weights == "random":
        model, name = _random_model(arch), "random"
    else:
        if weights == "imagenet":
            path, name = fetch_imagenet(arch, progress=progress), "imagenet"
        else:
            path = Path(weights)
            name = path.name
        state = load_checkpoint(path)
        model = build_model(arch)
        load_state_dict_checked(model, state, name if weights != "imagenet" else path.name)
    model.meta = ModelMeta(
        arch=arch,
        weights=name,
        categories=tuple(reference.meta["categories"]),
        transforms=reference.transforms(),
        precision=precision,
    )
    model.requires_grad_(False)
    threads = configure_threads()  # before timing anything: the thread count changes the timings
    model = model.eval().to(target)
    model, choice = choose_layout(model, layout, key=(arch, str(target), precision), timer=layout_timer)
    model.meta = dataclasses.replace(
        model.meta,
        runtime=RuntimeInfo(
            device=str(model_device(model)),
            layout=choice.layout,
            threads=threads,
            dtype=dtype_name(precision),
            chosen_by=choice.chosen_by,
            forward_ms=choice.forward_ms,
            timed_batch=choice.batch,
        ),
    )
    return model
