"""Odd and hostile image files, generated on the fly (no binaries in the repository).

``unusual(tmp)`` -> files that must be analysed; ``hostile(tmp)`` -> files that must be rejected
with one clear message. Both map a short name to a path.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b""))
    return path


def exif_rotated_jpeg(path: Path) -> Path:
    """40 wide x 20 high, left half red; EXIF orientation 6 says: show it rotated 90 degrees clockwise."""
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, quality=95, exif=exif)
    return path


def unusual(tmp: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}

    def save(name: str, im: Image.Image, **kwargs) -> None:
        files[name] = tmp / name
        im.save(files[name], **kwargs)

    save("one_pixel.png", Image.new("RGB", (1, 1), (200, 30, 30)))
    save("strip_3000x20.png", Image.new("RGB", (3000, 20), (30, 200, 30)))
    save("cmyk.jpg", Image.new("CMYK", (64, 48), (255, 0, 0, 0)))  # pure cyan ink
    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    save("grey16.png", Image.fromarray(ramp))
    save("grey.png", Image.new("L", (50, 40), 128))
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (0, 0, 20, 40))
    save("palette_transparent.png", palette, transparency=0)  # index 0 (red) is transparent
    save("la.png", Image.new("LA", (30, 30), (0, 0)))  # black, fully transparent
    rgba = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 15, 30))
    save("rgba.png", rgba)
    files["exif_rotated.jpg"] = exif_rotated_jpeg(tmp / "exif_rotated.jpg")
    frames = [Image.new("RGB", (32, 32), c) for c in (RED, BLUE, GREEN)]
    save("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    pages = [Image.new("RGB", (32, 32), c) for c in (GREEN, RED)]
    save("multipage.tiff", pages[0], save_all=True, append_images=pages[1:])
    save("photo.webp", Image.new("RGB", (64, 64), (10, 120, 240)), quality=90)
    return files


def hostile(tmp: Path, jpeg_source: Path) -> dict[str, Path]:
    files = {
        "empty.jpg": tmp / "empty.jpg",
        "truncated.jpg": tmp / "truncated.jpg",
        "text.png": tmp / "text.png",
        "random.bin": tmp / "random.bin",
        "bomb.png": bomb_png(tmp / "bomb.png"),
    }
    files["empty.jpg"].write_bytes(b"")
    data = jpeg_source.read_bytes()
    files["truncated.jpg"].write_bytes(data[: len(data) // 3])
    files["text.png"].write_text("this is a text file, not a picture\n")
    files["random.bin"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return files
