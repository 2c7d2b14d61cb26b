"""The images of a folder: found by walking it, decoded exactly as ``analyze()`` decodes one.

Files are picked by extension, then proven to be images by decoding them; a file that fails is
recorded with the reason (and the folder's other images are still indexed). Names are kept
relative to the folder, in POSIX form, so an index never holds an absolute path of the machine
that built it. Hidden files and folders (a leading dot: ``.git``, macOS's ``._photo.jpg``
resource forks) are not visited. Symlinked folders are not followed (no cycles); symlinked files
are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchvision.transforms._presets import ImageClassification

from ..model.preprocess import ImageError, crop_image, limit_aspect, load_image, preprocess, working_side

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderScan",
    "Failure",
    "scan_folder",
    "decode",
    "crop_of",
    "FolderImages",
    "Batch",
    "collate",
]

# What Pillow decodes out of the box, by the suffixes those files carry.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"}
)


@dataclass(frozen=True)
class Failure:
    """A file (or folder) that could not be read, relative to the indexed folder, and why."""

    path: str
    reason: str


@dataclass
class FolderScan:
    root: Path
    images: list[str]  # POSIX paths relative to root, sorted: the image index is the position here
    unreadable: list[Failure] = field(default_factory=list)  # folders the walk could not list


def scan_folder(folder: str | os.PathLike) -> FolderScan:
    """Every file under ``folder`` (recursively) whose suffix names an image format, sorted."""
    root = Path(folder)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise FileNotFoundError(f"image folder {str(folder)!r} {what}")
    root = root.resolve()
    images: list[str] = []
    unreadable: list[Failure] = []

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        unreadable.append(Failure(_relative(where, root), f"folder cannot be listed ({exc.strerror or exc})"))

    for directory, subdirs, files in os.walk(root, onerror=on_error, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            images.append(_relative(Path(directory) / name, root))
    if any(failure.path == "." for failure in unreadable):
        raise PermissionError(f"image folder {str(folder)!r} cannot be listed ({unreadable[0].reason})")
    images.sort()
    return FolderScan(root, images, unreadable)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else "."


def decode(root: Path, name: str, transforms: nn.Module) -> tuple[Tensor | None, str | None]:
    """(the (3, 224, 224) network input, None) or (None, the reason the file is unreadable)."""
    try:
        return preprocess(transforms, load_image(root / name, short_side=working_side(transforms))), None
    except ImageError as exc:
        return None, exc.reason
    except (OSError, ValueError, RuntimeError) as exc:  # a transform choking on a pathological image
        return None, " ".join(f"{type(exc).__name__}: {exc}".split())


def crop_of(root: Path, name: str, transforms: nn.Module) -> Image.Image | None:
    """The RGB crop the network saw for one image (for cutting patches), or None if unreadable.

    For torchvision's ``ImageClassification`` (every ResNet weight's transforms) the crop is its
    resize and centre crop run on the PIL image, the uint8 picture that ``pil_to_tensor`` and the
    normalisation then turn into the input: equal to ``crop_image`` of the input, without the
    float tensors, whose tiny multi-threaded ops stall for milliseconds when the cores are busy.
    """
    try:
        image = load_image(root / name, short_side=working_side(transforms))
        if not isinstance(transforms, ImageClassification):
            return crop_image(transforms, preprocess(transforms, image))
        resized = TF.resize(
            limit_aspect(image), transforms.resize_size, interpolation=transforms.interpolation,
            antialias=transforms.antialias,
        )  # fmt: skip
        return TF.center_crop(resized, transforms.crop_size)
    except (ImageError, OSError, ValueError, RuntimeError):
        return None


class FolderImages(Dataset):
    """Item i: (i, network input or None, failure reason or None). Runs in DataLoader workers."""

    def __init__(self, root: Path, names: list[str], transforms: nn.Module) -> None:
        self.root, self.names, self.transforms = root, names, transforms

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> tuple[int, Tensor | None, str | None]:
        pixels, reason = decode(self.root, self.names[i], self.transforms)
        return i, pixels, reason


@dataclass
class Batch:
    indices: Tensor  # (B,) int64 image indices of the decoded images
    pixels: Tensor  # (B, 3, H, W) their network inputs
    failed: list[tuple[int, str]]  # (image index, reason) of the batch's unreadable files
    count: int  # decoded + failed

    def pin_memory(self) -> Batch:  # called by the DataLoader's pin-memory thread for CUDA models
        return Batch(self.indices.pin_memory(), self.pixels.pin_memory(), self.failed, self.count)


def collate(items: list[tuple[int, Tensor | None, str | None]]) -> Batch:
    """Stack the decoded images of a batch; set the failures aside (runs in the worker)."""
    good = [(i, pixels) for i, pixels, _ in items if pixels is not None]
    failed = [(i, reason) for i, pixels, reason in items if pixels is None]
    indices = torch.tensor([i for i, _ in good], dtype=torch.int64)
    pixels = torch.stack([p for _, p in good]) if good else torch.empty(0, 3, 0, 0)
    return Batch(indices, pixels, failed, len(items))
