"""Turning whatever a user uploads into the tensor the network expects.

Images are opened once, checked against a pixel budget before any pixel is decoded, reduced to
their first frame, turned upright (EXIF orientation) and converted to 8-bit RGB in a way that
keeps their look (alpha composited on a fixed background, 16-bit scaled rather than clipped).
Then exactly the weights' own torchvision transforms run. Anything unreadable raises
:class:`ImageError` with one sentence that names the image and the reason.

Memory: a caller that only needs the network's input passes ``short_side`` (the transforms'
resize size, :func:`working_side`), and a large image never exists at full size beyond its decode
buffer: a JPEG is decoded at 1/2, 1/4 or 1/8 scale by the decoder itself (``draft``), any other
format is decoded once and shrunk strip by strip (box ``reduce``, exact), then resized to the short
side the transforms would resize it to. At most :data:`DECODE_SLOTS` decodes run at once, so the
decode buffers of a burst of uploads are bounded too (a decode is CPU work: more at once would not
finish sooner on a small machine).
"""

from __future__ import annotations

import io
import math
import os
import threading
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor, nn

from ..i18n import UserError, tr

__all__ = [
    "ImageError", "ImageSource", "MAX_PIXELS", "BACKGROUND", "load_image", "to_rgb", "preprocess", "denormalize",
    "crop_image", "limit_aspect", "working_side", "original_size",
]

# Pixels decoded at most: 16 megapixels (4,000 x 4,000; a 12 MP phone photo or a 5K screenshot
# fits). The network sees 224 x 224, so more only costs memory: Pillow holds 4 bytes per pixel
# for RGB, so one decode buffer is at most 64 MB. A JPEG asked for a small image is decoded at up
# to 1/8 scale (its decoded pixels count), so 48 MP and larger phone JPEGs still open.
MAX_PIXELS = 16_000_000
BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white, as browsers show them
# A large image is box-reduced by an integer factor to at least REDUCING_GAP x the short side
# wanted, then resized the rest of the way (Pillow's thumbnail() does the same with its default gap).
REDUCING_GAP = 2.0
DECODE_SLOTS = 2  # large decodes at once in this process; others wait their turn
_decodes = threading.BoundedSemaphore(DECODE_SLOTS)
_STRIP_PIXELS = 1_000_000  # source pixels converted at once while shrinking
# The size of the file as uploaded (upright), kept on a shrunk image for reports.
ORIGINAL_SIZE = "resnet_viz.original_size"
# EXIF orientation -> the transpose that turns the picture upright (as ImageOps.exif_transpose).
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_QUARTER_TURNS = (Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90)

ImageSource = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]


class ImageError(UserError):
    """The input is not an image we can analyse; the message says which and why, in one line.

    ``str()`` names the image and Pillow's reason (the CLI prints it); the app says
    ``text(lang)`` ("This image cannot be analysed: ...") in the visitor's language.
    """

    def __init__(self, name: str, reason: str, code: str = "unreadable", **details: int) -> None:
        self.name = name
        self.reason = " ".join(reason.split())  # one line, whatever Pillow's message held
        # What went wrong, as a key with its numbers, so the app can say it in the visitor's language.
        self.code, self.details = code, details
        super().__init__("error_image", reason=_Reason(self))

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"

    def __reduce__(self):  # keep it picklable despite the constructor's arguments
        return _image_error, (self.name, self.reason, self.code, self.details)


class _Reason:
    """Why an image was refused, in a language: English keeps Pillow's own detail."""

    def __init__(self, error: ImageError) -> None:
        self.error = error

    def text(self, lang: str) -> str:
        error = self.error
        return error.reason if lang == "en" else tr(f"image_reason_{error.code}", lang, **error.details)


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


def _grey_range(im: Image.Image) -> tuple[float, float]:
    """(lowest, span) that maps a 16-bit or 32-bit greyscale image onto 0..255."""
    if im.mode.startswith("I;16"):
        return 0.0, 65535.0
    # 32-bit int or float: no fixed range, so stretch what is there (from 0, or below it)
    lo, hi = (float(v) for v in im.getextrema())
    lo = min(lo, 0.0) if math.isfinite(lo) else 0.0
    span = hi - lo if math.isfinite(hi) else 0.0
    return lo, span if span > 0 else 1.0


def _sixteen_bit_to_l(im: Image.Image, grey_range: tuple[float, float] | None = None) -> Image.Image:
    """I;16 / I / F greyscale to 8 bits by scaling, where a naive convert would clip to white.
    ``grey_range`` is the whole image's when ``im`` is one strip of it."""
    lo, span = grey_range or _grey_range(im)
    array = np.nan_to_num(np.asarray(im).astype(np.float32) - np.float32(lo), nan=0.0, posinf=span, neginf=0.0)
    return Image.fromarray(np.round(array * np.float32(255.0 / span)).clip(0, 255).astype(np.uint8), "L")


def to_rgb(
    im: Image.Image, background: tuple[int, int, int] = BACKGROUND, *, grey_range: tuple[float, float] | None = None
) -> Image.Image:
    """Any Pillow mode to 8-bit RGB that looks like the original (``grey_range``: see _sixteen_bit_to_l)."""
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _sixteen_bit_to_l(im, grey_range)
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS, short_side: int | None = None) -> Image.Image:
    """An upright 8-bit RGB image from a path, bytes, PIL image or array; the first frame only.

    ``short_side``: the caller needs no more than this (the transforms' resize size, see
    :func:`working_side`); a larger image comes back resized so its short side is exactly this,
    as the transforms would resize it, and :func:`original_size` still gives its size as uploaded.
    """
    name = _describe(source)
    with _decodes:  # the decode buffer below is the only full-size copy: bound how many exist at once
        im = _open(source, name)
        try:
            # Only a file we opened may be drafted: a caller's own PIL image is never changed.
            return _decode(im, name, max_pixels, short_side, draft=not isinstance(source, Image.Image))
        finally:
            if not isinstance(source, Image.Image):
                im.close()


def _decode(im: Image.Image, name: str, max_pixels: int, short_side: int | None, *, draft: bool) -> Image.Image:
    width, height = im.size
    original = im.info.get(ORIGINAL_SIZE, (width, height))  # a picture this module shrank keeps its size
    if width == 0 or height == 0:
        raise ImageError(name, f"the image has no pixels ({width}x{height})", "no_pixels", width=width, height=height)
    if short_side is not None and draft:
        _draft(im, short_side)  # JPEG: the decoder itself scales by 1/2, 1/4 or 1/8; others: nothing
    if im.size[0] * im.size[1] > max_pixels:
        raise ImageError(
            name,
            f"{width}x{height} = {width * height:,} pixels, more than the {max_pixels:,}-pixel limit; downscale it first",
            "too_many_pixels", width=width, height=height, limit=max_pixels,
        )
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animations and multi-page files: the first frame
        im.load()  # decode now, so truncation shows up here and not deep inside a transform
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block should not cost the user their analysis
            orientation = 1
        small = _shrink(im, short_side) if short_side is not None else to_rgb(im)
        # Transpose only when the tag asks for it (a transpose is a copy).
        method = _TURNS.get(orientation) if isinstance(orientation, int) else None
        upright = small.transpose(method) if method is not None else small
        result = upright.copy() if upright is im else upright  # never hand back the object we close or were given
        if method in _QUARTER_TURNS:
            original = original[::-1]
        # Pixels and the size as uploaded, nothing else: an EXIF block left here would turn the
        # picture a second time if it were loaded again.
        result.info = {ORIGINAL_SIZE: tuple(original)}
        return result
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(name, f"too many pixels for a safe decode ({exc})", "bomb") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # what Pillow raises for damaged data
        raise ImageError(name, f"truncated or corrupt ({exc})", "corrupt") from None


def _draft(im: Image.Image, short_side: int) -> None:
    """Ask a JPEG decoder for the smallest power-of-two reduction that keeps REDUCING_GAP x short_side."""
    want = REDUCING_GAP * short_side
    scale = min(im.size) / want
    if scale >= 2:
        im.draft(None, (max(1, int(im.size[0] / scale)), max(1, int(im.size[1] / scale))))


def resized_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """torchvision's Resize(short_side) output size for an image of ``size`` (width, height)."""
    width, height = size
    short, long = min(width, height), max(width, height)
    new_long = int(short_side * long / short)
    return (short_side, new_long) if width <= height else (new_long, short_side)


def _shrink(im: Image.Image, short_side: int) -> Image.Image:
    """8-bit RGB with its short side ``short_side`` (as the transforms' bilinear resize makes it),
    never converting more than a strip of the decoded image at once; smaller images only convert."""
    width, height = im.size
    if min(width, height) <= short_side:
        return to_rgb(im)
    factor = int(min(width, height) // (REDUCING_GAP * short_side))
    reduced = _reduce_in_strips(im, factor) if factor >= 2 else to_rgb(im)
    return reduced.resize(resized_size((width, height), short_side), Image.Resampling.BILINEAR)


def _reduce_in_strips(im: Image.Image, factor: int) -> Image.Image:
    """to_rgb(im).reduce(factor), pixel for pixel, from strips of whole factor-row bands."""
    width, height = im.size
    grey = _grey_range(im) if im.mode in ("I", "F") or im.mode.startswith("I;16") else None
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, _STRIP_PIXELS // (width * factor))
    for top in range(0, height, rows):
        strip = to_rgb(im.crop((0, top, width, min(height, top + rows))), grey_range=grey)
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def original_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the picture as uploaded, upright: a shrunk picture remembers it."""
    size = image.info.get(ORIGINAL_SIZE)
    return (int(size[0]), int(size[1])) if size is not None else image.size


def working_side(transforms: nn.Module) -> int | None:
    """The short side the transforms resize to (torchvision's classification presets), or None."""
    size = getattr(transforms, "resize_size", None)
    if isinstance(size, (list, tuple)) and len(size) == 1 and isinstance(size[0], int) and size[0] > 0:
        return size[0]
    return None


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
