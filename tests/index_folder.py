"""A small, nested image folder for the exemplar-index tests, made from the example photos.

Six readable images (PNG, JPEG with an upper-case suffix, WebP; flips and crops so no two are
alike) in nested folders, three files with image suffixes that are not readable images, and files
the walk must not even look at (a text file, a hidden file, a hidden folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from resnet_viz import build_index

from .support import ASSETS, random_model

READABLE = [
    "astronaut.png",
    "cats/chelsea_flipped.JPG",
    "cats/deeper/chelsea.png",
    "coffee_crop.webp",
    "rocket.jpg",
    "z/rocket_mirror.png",
]
UNREADABLE = {
    "broken.jpg": "not an image, or not a format Pillow can read",
    "cats/empty.png": "the file is empty (0 bytes)",
    "z/truncated.png": "truncated or corrupt",
}


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("cats/deeper", "z", ".git"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    astronaut = Image.open(ASSETS / "astronaut.png").convert("RGB")
    chelsea = Image.open(ASSETS / "chelsea.png").convert("RGB")
    coffee = Image.open(ASSETS / "coffee.png").convert("RGB")
    rocket = Image.open(ASSETS / "rocket.jpg").convert("RGB")
    astronaut.save(root / "astronaut.png")
    ImageOps.mirror(chelsea).save(root / "cats/chelsea_flipped.JPG", format="JPEG", quality=92)
    chelsea.save(root / "cats/deeper/chelsea.png")
    coffee.crop((100, 50, 500, 350)).save(root / "coffee_crop.webp", format="WEBP", lossless=True)
    rocket.save(root / "rocket.jpg", quality=92)
    ImageOps.flip(rocket).save(root / "z/rocket_mirror.png")
    (root / "broken.jpg").write_text("this is not a picture")
    (root / "cats/empty.png").write_bytes(b"")
    whole = (root / "astronaut.png").read_bytes()
    (root / "z/truncated.png").write_bytes(whole[: len(whole) // 3])
    (root / "notes.txt").write_text("not an image, not looked at")
    astronaut.save(root / ".hidden.png")
    astronaut.save(root / ".git/inside.png")
    return root


_shared: dict[str, object] = {}


def shared_folder(tmp_path_factory) -> Path:
    """One folder per test session (both exemplar test modules use it)."""
    if "folder" not in _shared:
        _shared["folder"] = make_folder(tmp_path_factory.mktemp("photos"))
    return _shared["folder"]


def shared_index(tmp_path_factory):
    """The local engine's index of the shared folder, built once per session: ResNet-18 random
    weights, k = 9 > 6 images (every image is in every channel's list), batches of 4, decoded in
    one worker process."""
    if "index" not in _shared:
        folder = shared_folder(tmp_path_factory)
        _shared["index"] = build_index(random_model("resnet18"), folder, top_k=9, batch_size=4, workers=1)
    return _shared["index"]


def rewrite_index(source: Path, target: Path, change: Callable[[dict, dict], None]) -> Path:
    """The index at ``source`` with ``change(arrays, meta)`` applied, written to ``target``."""
    with np.load(source, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(arrays, meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    return target

