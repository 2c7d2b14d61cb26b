"""Feature visualisations kept on disk, across visitors and restarts, under names the server makes.

A visualisation costs seconds to minutes and depends only on the weights and its settings, so the
app computes each one once. The file name is the SHA-256 of (weights hash, arch, stage, channel,
settings, recipe version): nothing a visitor sends is ever part of a path, and a cache built with
other weights is simply never hit. Files are written to a temporary name and renamed, so a reader
never sees half a picture, and a damaged file counts as missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from PIL import Image
from torch import nn

from ..model.fingerprint import weights_sha256

__all__ = ["FeatureVisCache", "default_cache_dir", "model_fingerprint"]

log = logging.getLogger(__name__)

RECIPE_VERSION = 1  # bump when resnet_viz.explain.feature_vis changes what a given seed produces

_fingerprints: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()
_fingerprints_lock = threading.Lock()


def model_fingerprint(model: nn.Module) -> str:
    """The model's weights hash, computed once per loaded model (it reads every weight)."""
    with _fingerprints_lock:
        if model not in _fingerprints:
            _fingerprints[model] = weights_sha256(model)
        return _fingerprints[model]


def default_cache_dir() -> Path:
    """``$RESNET_VIZ_CACHE/feature-vis``, else ``$XDG_CACHE_HOME`` or ``~/.cache`` + resnet-viz/feature-vis."""
    base = os.environ.get("RESNET_VIZ_CACHE")
    if base:
        return Path(base) / "feature-vis"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "resnet-viz" / "feature-vis"


class FeatureVisCache:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    @staticmethod
    def key(model: nn.Module, stage: str, channel: int, settings: dict[str, Any]) -> str:
        """The server's name for one visualisation: a hash, never the visitor's words."""
        identity = {
            "weights": model_fingerprint(model),
            "arch": model.meta.arch,
            "stage": str(stage),
            "channel": int(channel),
            "settings": {k: settings[k] for k in sorted(settings)},
            "recipe": RECIPE_VERSION,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> tuple[Image.Image, dict[str, Any]] | None:
        picture, meta = self.root / f"{key}.png", self.root / f"{key}.json"
        if not (picture.is_file() and meta.is_file()):
            return None
        try:
            with Image.open(picture) as im:
                image = im.convert("RGB")
            return image, json.loads(meta.read_text())
        except (OSError, ValueError) as exc:  # damaged: compute it again
            log.warning("ignoring a damaged cached visualisation %s: %s", picture.name, exc)
            return None

    def put(self, key: str, image: Image.Image, meta: dict[str, Any]) -> None:
        """Store atomically; a cache that cannot be written (read-only disk) only costs recomputing."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for suffix, write in ((".png", lambda f: image.save(f, format="PNG")), (".json", lambda f: f.write(json.dumps(meta).encode()))):
                fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".partial-", suffix=suffix)
                try:
                    with os.fdopen(fd, "wb") as f:
                        write(f)
                    os.replace(temporary, self.root / f"{key}{suffix}")
                except BaseException:
                    Path(temporary).unlink(missing_ok=True)
                    raise
        except OSError as exc:
            log.warning("cannot cache a feature visualisation in %s: %s", self.root, exc)
