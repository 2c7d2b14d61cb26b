"""Training data for the degradation lab: the offline gratings, or CIFAR-10 through torchvision.

Both come as one :class:`TrainingData`: uint8 image tensors kept whole in memory (CIFAR-10 is
150 MB, the gratings 4 MB), per-channel mean and std, and the paper's augmentation done on whole
batches on the training device (He et al. 2016, section 4.2: pad 4 pixels on each side, take a
random 32x32 crop, flip horizontally with probability 1/2; test images are only normalised).
The offline 8x8 gratings get the crop scaled to their size (1-pixel padding) and no flip, which
would change their class.

CIFAR-10 is read by torchvision's own ``CIFAR10`` loader from ``<root>/cifar-10-batches-py``
(default root: ``$TORCH_HOME/datasets``), which ``python -m resnet_viz download --data cifar10``
fills from the official source. torchvision reads those batch files with ``pickle``; by default
it checks each file's MD5 against the official archive's first, so only the files published by
the dataset's authors are ever unpickled. ``verify=False`` skips that check (the tests use it on a
small fake folder): only use it on files you made or trust.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import Tensor

from . import gratings

__all__ = ["DATASETS", "DataError", "TrainingData", "check_cifar10", "cifar10_root", "fetch_cifar10", "load_data"]

log = logging.getLogger(__name__)

DATASETS = ("offline", "cifar10")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # the usual per-channel statistics of the training split
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class DataError(RuntimeError):
    """A data set that cannot be had; the message says what to do."""


@dataclass(frozen=True, eq=False)
class TrainingData:
    """A labelled train/test split in memory and how to turn index lists into batches."""

    name: str
    classes: tuple[str, ...]
    train_images: Tensor  # (N, 3, H, W) uint8
    train_labels: Tensor  # (N,) int64
    test_images: Tensor
    test_labels: Tensor
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad: int  # pixels of padding before the random crop
    description: str
    flip: bool = True  # random horizontal flips (only for classes a mirror image keeps)

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])

    def info(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "classes": list(self.classes),
            "image_size": self.image_size,
            "train_size": int(self.train_labels.numel()),
            "test_size": int(self.test_labels.numel()),
        }

    def to(self, device: torch.device) -> TrainingData:
        """The same data with its tensors on ``device`` (once per run, so batches are cut there)."""
        if self.train_images.device == device:
            return self
        moved = {k: getattr(self, k).to(device) for k in ("train_images", "train_labels", "test_images", "test_labels")}
        return TrainingData(**{**self.__dict__, **moved})

    def _normalize(self, images: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return (images.float() / 255 - mean) / std

    def test_batch(self, index: Tensor, train_split: bool = False) -> tuple[Tensor, Tensor]:
        """Normalised images and labels, no augmentation (for evaluation)."""
        images, labels = (self.train_images, self.train_labels) if train_split else (self.test_images, self.test_labels)
        index = index.to(images.device)
        return self._normalize(images[index]), labels[index]

    def train_batch(self, index: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Augmented training batch: pad, random crop back to size, random horizontal flip.

        The random numbers come from the CPU ``generator``, so a seed gives the same batches on
        every device.
        """
        index = index.to(self.train_images.device)
        x = self._normalize(self.train_images[index])  # (B, 3, H, W)
        b, _, h, w = x.shape
        p = self.pad
        if p:
            x = torch.nn.functional.pad(x, (p, p, p, p))  # zeros: the mean colour after normalising
            dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
            cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
            batch = torch.arange(b, device=x.device)[:, None, None, None]
            chans = torch.arange(3, device=x.device)[None, :, None, None]
            x = x[batch, chans, rows, cols]
        if self.flip:
            flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x.contiguous(), self.train_labels[index]


@lru_cache(maxsize=1)
def _offline() -> TrainingData:
    train_x, train_y = gratings.make_gratings(gratings.TRAIN_SIZE, gratings.TRAIN_SEED)
    test_x, test_y = gratings.make_gratings(gratings.TEST_SIZE, gratings.TEST_SEED)
    pixels = train_x.float().div(255)
    size = gratings.IMAGE_SIZE
    return TrainingData(
        name="offline",
        classes=gratings.CLASSES,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        mean=tuple(float(v) for v in pixels.mean(dim=(0, 2, 3))),  # type: ignore[arg-type]
        std=tuple(float(v) for v in pixels.std(dim=(0, 2, 3))),  # type: ignore[arg-type]
        pad=size // 8,  # the paper's 4 px at 32 px, scaled
        flip=False,  # a mirrored grating has another orientation, so another class
        description=f"oriented gratings in noise, {size}x{size}, ten orientation classes, generated from "
        "fixed seeds (resnet_viz.degradation.gratings)",
    )


def cifar10_root() -> Path:
    """Where CIFAR-10 is cached: ``$TORCH_HOME/datasets`` (next to torch's hub cache)."""
    return Path(torch.hub.get_dir()).parent / "datasets"


class _UnverifiedCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's loader without the MD5 check: the files need only exist (``verify=False``)."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root, self.base_folder)
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        path = Path(self.root, self.base_folder, self.meta["filename"])
        if not path.is_file():
            raise RuntimeError(f"Dataset metadata file {path} not found")
        with open(path, "rb") as f:  # a file the operator chose to trust; see the module docstring
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def _how_to(root: Path) -> str:
    return (
        f"run `python -m resnet_viz download --data cifar10` on a machine with internet (it caches into {root}), "
        "or use --data offline"
    )


def fetch_cifar10(root: str | os.PathLike | None = None) -> Path:
    """Download CIFAR-10 (170 MB, MD5-checked by torchvision) unless it is cached; its folder."""
    root = Path(root) if root is not None else cifar10_root()
    try:
        torchvision.datasets.CIFAR10(root, train=True, download=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"CIFAR-10 is not cached in {root} and downloading it failed ({reason}); {_how_to(root)}.") from exc
    return root / torchvision.datasets.CIFAR10.base_folder


def check_cifar10(root: str | os.PathLike | None = None) -> Path:
    """The CIFAR-10 folder if its files are cached (existence only, no reading: cheap enough for a
    request handler), else a :class:`DataError` saying what to do. The app asks before it starts a
    run, so a classroom server without internet says so at once instead of trying a download."""
    root = Path(root) if root is not None else cifar10_root()
    folder = root / torchvision.datasets.CIFAR10.base_folder
    names = [name for name, _ in torchvision.datasets.CIFAR10.train_list + torchvision.datasets.CIFAR10.test_list]
    if not all((folder / name).is_file() for name in names + [torchvision.datasets.CIFAR10.meta["filename"]]):
        raise DataError(f"CIFAR-10 is not cached in {folder}; {_how_to(root)}.")
    return folder


def _as_tensors(dataset: torchvision.datasets.CIFAR10) -> tuple[Tensor, Tensor]:
    images = torch.from_numpy(np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)))  # HWC -> (N, 3, 32, 32)
    return images, torch.tensor(dataset.targets, dtype=torch.int64)


def _cifar10(root: Path, download: bool, verify: bool) -> TrainingData:
    if download:
        fetch_cifar10(root)
    loader = torchvision.datasets.CIFAR10 if verify else _UnverifiedCIFAR10
    try:
        train, test = loader(root, train=True), loader(root, train=False)
    except RuntimeError as exc:
        folder = root / torchvision.datasets.CIFAR10.base_folder
        problem = "is not complete or fails its MD5 check" if folder.is_dir() else "is not cached"
        raise DataError(f"CIFAR-10 {problem} in {folder}; {_how_to(root)}.") from exc
    train_x, train_y = _as_tensors(train)
    test_x, test_y = _as_tensors(test)
    return TrainingData(
        name="cifar10",
        classes=tuple(train.classes),
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        pad=4,
        description="CIFAR-10 (Krizhevsky 2009), 32x32, the official 50,000 / 10,000 split",
    )


def load_data(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    verify: bool = True,
) -> TrainingData:
    """``"offline"``: the generated oriented gratings (made once per process, about a second).
    ``"cifar10"``: CIFAR-10 from ``root`` (default :func:`cifar10_root`), downloaded first if
    ``download``; a :class:`DataError` saying what to do when it is missing."""
    if name == "offline":
        return _offline()
    if name == "cifar10":
        return _cifar10(Path(root) if root is not None else cifar10_root(), download, verify)
    raise ValueError(f"unknown data {name!r}; choose one of {', '.join(DATASETS)}")
