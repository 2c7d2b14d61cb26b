"""Turning whatever a user uploads into the tensor the network expects.

Images are opened once, checked against a pixel budget before any pixel is decoded, reduced to
their first frame, turned upright (EXIF orientation) and converted to 8-bit RGB in a way that
keeps their look (alpha composited on a fixed background, 16-bit scaled rather than clipped).
Then exactly the weights' own torchvision transforms run. Anything unreadable raises
:class:`ImageError` with one sentence that names the image and the reason.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor, nn

__all__ = ["ImageError", "ImageSource", "MAX_PIXELS", "BACKGROUND", "load_image", "to_rgb", "preprocess", "denormalize", "crop_image", "limit_aspect"]

# 50 megapixels: more than any phone photo, far below Pillow's own 179 MP decompression-bomb error,
# and small enough that decoding one cannot exhaust a classroom laptop's memory (~150 MB as RGB).
MAX_PIXELS = 50_000_000
BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white, as browsers show them

ImageSource = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]


class ImageError(ValueError):
    """The input is not an image we can analyse; the message says which and why, in one line."""

    def __init__(self, name: str, reason: str, code: str = "unreadable", **details: int) -> None:
        self.name = name
        self.reason = " ".join(reason.split())  # one line, whatever Pillow's message held
        # What went wrong, as a key with its numbers, so the app can say it in the visitor's language.
        self.code, self.details = code, details
        super().__init__(f"{name}: {self.reason}")

    def __reduce__(self):  # keep it picklable despite the constructor's arguments
        return _image_error, (self.name, self.reason, self.code, self.details)


def _image_error(name: str, reason: str, code: str, details: dict[str, int]) -> ImageError:
    return ImageError(name, reason, code, **details)


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return "the image"


def _open(source: ImageSource, name: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, name)
    if isinstance(source, bytes):
        if not source:
            raise ImageError(name, "the file is empty (0 bytes)", "empty")
        fp: io.BytesIO | str = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(name, "no such file", "missing")
        if path.stat().st_size == 0:
            raise ImageError(name, "the file is empty (0 bytes)", "empty")
        fp = str(path)
    try:
        return Image.open(fp)  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"too many pixels for a safe decode ({exc})", "bomb") from None
    except UnidentifiedImageError:
        raise ImageError(name, "not an image, or not a format Pillow can read", "not_image") from None
    except OSError as exc:
        raise ImageError(name, f"cannot be read ({exc})", "unreadable") from None


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise ImageError(name, f"an array of shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)", "bad_array")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def _sixteen_bit_to_l(im: Image.Image) -> Image.Image:
    """I;16 / I / F greyscale to 8 bits by scaling, where a naive convert would clip to white."""
    array = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I;16"):
        top = 65535.0
    else:  # 32-bit int or float: no fixed range, so stretch what is there
        lo = float(array.min(initial=0.0))
        array = array - lo
        top = float(array.max(initial=0.0)) or 1.0
    return Image.fromarray(np.round(array * (255.0 / top)).clip(0, 255).astype(np.uint8), "L")


def to_rgb(im: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Any Pillow mode to 8-bit RGB that looks like the original."""
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _sixteen_bit_to_l(im)
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An upright 8-bit RGB image from a path, bytes, PIL image or array; the first frame only."""
    name = _describe(source)
    im = _open(source, name)
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            name,
            f"{width}x{height} = {width * height:,} pixels, more than the {max_pixels:,}-pixel limit; downscale it first",
            "too_many_pixels", width=width, height=height, limit=max_pixels,
        )
    if width == 0 or height == 0:
        raise ImageError(name, f"the image has no pixels ({width}x{height})", "no_pixels", width=width, height=height)
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animations and multi-page files: the first frame
        im.load()  # decode now, so truncation shows up here and not deep inside a transform
        try:
            # Transpose only when the tag asks for it: exif_transpose copies the image even when it
            # has nothing to do, and the app loads a photo once more inside analyze().
            upright = ImageOps.exif_transpose(im) if im.getexif().get(0x0112, 1) != 1 else im
        except Exception:  # a broken EXIF block should not cost the user their analysis
            upright = im
        rgb = to_rgb(upright)
        return rgb.copy() if rgb is im else rgb  # never hand back the object we close or were given
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"too many pixels for a safe decode ({exc})", "bomb") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # what Pillow raises for damaged data
        raise ImageError(name, f"truncated or corrupt ({exc})", "corrupt") from None
    finally:
        if not isinstance(source, Image.Image):
            im.close()


# torchvision resizes the short side to 232 (or 256) pixels, so a 2 x 40,000,000 strip would become
# 232 x 4.6e9 pixels. The centre crop keeps about one short side's worth of the long side, so a
# strip is first cut to the middle MAX_ASPECT short sides: the crop is the same, the resize cheap.
MAX_ASPECT = 200  # worst case resized: 232 x 46,400 pixels


def limit_aspect(image: Image.Image) -> Image.Image:
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if long <= short * MAX_ASPECT:
        return image
    keep = short * MAX_ASPECT
    start = (long - keep) // 2
    box = (start, 0, start + keep, height) if width > height else (0, start, width, start + keep)
    return image.crop(box)


def preprocess(transforms: nn.Module, image: Image.Image) -> Tensor:
    """The weights' own transforms (resize, centre crop, normalise): (3, 224, 224) float32."""
    return transforms(limit_aspect(image))


def denormalize(transforms: nn.Module, x: Tensor) -> Tensor:
    """A normalised (..., 3, H, W) input back in pixel space, [0, 1]: the transforms' inverse."""
    mean = torch.tensor(transforms.mean, dtype=x.dtype, device=x.device)[:, None, None]
    std = torch.tensor(transforms.std, dtype=x.dtype, device=x.device)[:, None, None]
    return (x * std + mean).clamp(0, 1)


def crop_image(transforms: nn.Module, x: Tensor) -> Image.Image:
    """The normalised (3, H, W) input tensor back as the RGB crop the network saw."""
    pixels = (denormalize(transforms, x) * 255).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy(), "RGB")
