"""The exemplar index as a file: one ``.npz`` (numpy's zip of arrays), never a pickle.

Layout (format "resnet-viz exemplar index", version 1):

- ``meta``: UTF-8 JSON as a uint8 array: arch, weights name, weights SHA-256 (and what it covers,
  see :mod:`resnet_viz.model.fingerprint`), the preprocessing, top_k, the stage table with each stage's
  map size and receptive field, the image list (POSIX paths relative to the indexed folder), the
  unreadable files with reasons, the patch size, engine and build time.
- per stage S: ``S.score`` (C, k) float32, ``S.image`` (C, k) int32 (-1 = unused slot),
  ``S.position`` (C, k, 2) int16 (row, col in the stage map), ``S.box`` (C, k, 4) int16
  (x0, y0, x1, y1 in the 224 crop, x1/y1 exclusive), ``S.patch`` (C, k) int32 (-1 = none).
- ``patch_png`` uint8: the PNG thumbnails end to end; ``patch_offset`` int64 (P + 1,): where
  each one starts and ends.

Loading checks everything before anything is used: a file that is not an npz, lacks a key, has a
wrong dtype or shape, an index out of range or an image name that is absolute or climbs out of its
folder raises :class:`IndexFileError` with one sentence. Image names are only ever returned as
strings; nothing read from the file is opened as a path. Thumbnails are decoded as PNG only.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["FORMAT", "VERSION", "Exemplar", "ExemplarIndex", "IndexFileError", "load_index"]

FORMAT = "resnet-viz exemplar index"
VERSION = 1
MAX_UNCOMPRESSED = 8 << 30  # an npz that inflates beyond 8 GiB is not one of ours (zip bomb guard)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class IndexFileError(ValueError):
    """The file is not a readable exemplar index; the message says which file and why."""


@dataclass(frozen=True)
class Exemplar:
    """One of a channel's top images: where it is, how strongly it excites the channel, where."""

    rank: int  # 1 = the highest score
    image: str  # POSIX path relative to the indexed folder (a label, never opened by the index)
    image_index: int  # position in ExemplarIndex.images
    score: float  # the channel's maximum over the stage map
    position: tuple[int, int]  # (row, col) of that maximum in the stage map
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) of its receptive field in the 224 crop
    patch: Image.Image | None  # the box's pixels, longer side <= the index's patch size

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "image": self.image,
            "score": self.score,
            "position": list(self.position),
            "box": list(self.box),
        }


def _fail(name: str, why: str) -> IndexFileError:
    return IndexFileError(f"{name} is not a usable resnet-viz exemplar index: {why}")


def _check_image_name(name: Any) -> bool:
    """A POSIX path relative to the folder that stays inside it. (Colons and backslashes are
    ordinary characters in POSIX file names, so they are allowed: the names are labels here.)"""
    if not isinstance(name, str) or not name or "\0" in name:
        return False
    return not PurePosixPath(name).is_absolute() and all(part not in ("", ".", "..") for part in name.split("/"))


class ExemplarIndex:
    """A built or loaded index: ``top(stage, channel)`` lists a channel's exemplars, best first."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], patches: list[bytes]) -> None:
        self.meta = meta
        self._arrays = arrays
        self._patches = patches

    # --- what it was built with ----------------------------------------------------------------
    @property
    def arch(self) -> str:
        return self.meta["arch"]

    @property
    def weights(self) -> str:
        return self.meta["weights"]

    @property
    def weights_sha256(self) -> str:
        return self.meta["weights_sha256"]

    @property
    def top_k(self) -> int:
        return self.meta["top_k"]

    @property
    def stages(self) -> list[str]:
        return [s["name"] for s in self.meta["stages"]]

    @property
    def images(self) -> list[str]:
        return list(self.meta["images"])

    @property
    def unreadable(self) -> list[dict[str, str]]:
        return [dict(item) for item in self.meta["unreadable"]]

    @property
    def patch_count(self) -> int:
        return len(self._patches)

    @property
    def patch_bytes(self) -> int:
        return sum(len(p) for p in self._patches)

    def channels(self, stage: str) -> int:
        return self._stage(stage)["channels"]

    def mismatch(self, model) -> str | None:
        """None if ``model`` has the arch and weights this index was built with, else why not."""
        from ..model.fingerprint import hash_scope, weights_sha256

        if model.meta.arch != self.arch:
            return f"the index was built with {self.arch}, the model is {model.meta.arch}"
        if hash_scope(model) != self.meta["weights_hash_covers"] or weights_sha256(model) != self.weights_sha256:
            short = self.weights_sha256[:12]
            return f"the index was built with other {self.arch} weights ({self.weights}, sha256 {short})"
        return None

    # --- reading ---------------------------------------------------------------------------------
    def _stage(self, stage: str) -> dict[str, Any]:
        for info in self.meta["stages"]:
            if info["name"] == stage:
                return info
        raise ValueError(f"unknown stage {stage!r}; this index has {', '.join(self.stages)}")

    def patch(self, number: int) -> Image.Image | None:
        """Patch ``number`` of the table as an RGB image (None for -1: no thumbnail)."""
        if number < 0:
            return None
        try:
            with Image.open(io.BytesIO(self._patches[number]), formats=["PNG"]) as im:
                if max(im.size) > self.meta["patch_size"]:  # checked from the header, before decoding
                    raise IndexFileError(
                        f"patch {number} is {im.size[0]}x{im.size[1]}, larger than the index's patch size"
                    )
                im.load()
                return im.convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, IndexFileError):
                raise
            raise IndexFileError(f"patch {number} of the index is not a readable PNG ({exc})") from None

    def top(self, stage: str, channel: int) -> list[Exemplar]:
        """The channel's exemplars, best first (at most top_k; fewer if the folder had fewer images)."""
        info = self._stage(stage)
        if (
            isinstance(channel, bool)
            or not isinstance(channel, (int, np.integer))
            or not 0 <= channel < info["channels"]
        ):
            raise ValueError(f"channel {channel!r} is out of range for {stage}: 0..{info['channels'] - 1}")
        a = {key: self._arrays[f"{stage}.{key}"][channel] for key in ("score", "image", "position", "box", "patch")}
        names = self.meta["images"]
        return [
            Exemplar(
                rank=rank,
                image=names[int(a["image"][j])],
                image_index=int(a["image"][j]),
                score=float(a["score"][j]),
                position=(int(a["position"][j][0]), int(a["position"][j][1])),
                box=tuple(int(v) for v in a["box"][j]),
                patch=self.patch(int(a["patch"][j])),
            )
            for rank, j in enumerate((j for j in range(a["image"].shape[0]) if a["image"][j] >= 0), start=1)
        ]

    # --- writing ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to ``path`` (atomically: a temporary file renamed into place)."""
        path = Path(path)
        arrays = dict(self._arrays)
        arrays["meta"] = np.frombuffer(json.dumps(self.meta, ensure_ascii=True).encode(), dtype=np.uint8)
        lengths = np.array([len(p) for p in self._patches], dtype=np.int64)
        arrays["patch_offset"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        arrays["patch_png"] = np.frombuffer(b"".join(self._patches), dtype=np.uint8)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # a file object: numpy appends no ".npz" to the name
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


def _read_meta(raw: np.ndarray, name: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _fail(name, "its meta entry is not UTF-8 JSON bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(name, f"its meta entry is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(name, f"its meta does not say format {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise _fail(name, f"it is version {meta.get('version')!r}; this resnet-viz reads version {VERSION}")
    expected = {
        "arch": str, "weights": str, "weights_sha256": str, "weights_hash_covers": str, "top_k": int,
        "stages": list, "images": list, "unreadable": list, "input_size": int, "preprocessing": dict, "patch_size": int,
    }  # fmt: skip
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise _fail(name, f"its meta field {key!r} is missing or not a {kind.__name__}")
    if meta["top_k"] < 1:
        raise _fail(name, f"top_k is {meta['top_k']}")
    bad = next((n for n in meta["images"] if not _check_image_name(n)), None)
    if bad is not None or any(
        not isinstance(u, dict) or not _check_image_name(u.get("path")) for u in meta["unreadable"]
    ):
        raise _fail(name, f"an image name is not a relative path inside the folder ({bad!r})")
    names = set()
    for stage in meta["stages"]:
        ok = isinstance(stage, dict) and isinstance(stage.get("name"), str) and stage["name"] not in names
        ok = ok and all(isinstance(stage.get(k), int) and stage[k] > 0 for k in ("channels", "height", "width"))
        if not ok:
            raise _fail(name, f"a stage entry is malformed ({stage!r:.80})")
        names.add(stage["name"])
    return meta


def _check_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], patches: int, name: str) -> None:
    k, n_images, size = meta["top_k"], len(meta["images"]), meta["input_size"]
    for stage in meta["stages"]:
        s, c = stage["name"], stage["channels"]
        spec = {
            "score": (np.float32, (c, k)), "image": (np.int32, (c, k)), "position": (np.int16, (c, k, 2)),
            "box": (np.int16, (c, k, 4)), "patch": (np.int32, (c, k)),
        }  # fmt: skip
        for key, (dtype, shape) in spec.items():
            a = arrays.get(f"{s}.{key}")
            if a is None or a.dtype != dtype or a.shape != shape:
                got = "missing" if a is None else f"{a.dtype} {a.shape}"
                raise _fail(name, f"entry {s}.{key} should be {np.dtype(dtype)} {shape}, it is {got}")
        image, used = arrays[f"{s}.image"], arrays[f"{s}.image"] >= 0
        if image.min(initial=0) < -1 or image.max(initial=-1) >= n_images:
            raise _fail(name, f"{s} refers to an image outside its list of {n_images}")
        if not np.isfinite(arrays[f"{s}.score"][used]).all():
            raise _fail(name, f"{s} has a score that is not a finite number")
        pos, box = arrays[f"{s}.position"][used], arrays[f"{s}.box"][used]
        if ((pos < 0) | (pos >= [stage["height"], stage["width"]])).any():
            raise _fail(name, f"{s} has a position outside its {stage['height']}x{stage['width']} map")
        if ((box < 0) | (box > size)).any() or (box[:, 2] <= box[:, 0]).any() or (box[:, 3] <= box[:, 1]).any():
            raise _fail(name, f"{s} has a patch box outside the {size}x{size} crop")
        patch = arrays[f"{s}.patch"]
        if patch.min(initial=0) < -1 or patch.max(initial=-1) >= patches:
            raise _fail(name, f"{s} refers to a patch outside its table of {patches}")


def load_index(path: str | os.PathLike) -> ExemplarIndex:
    """Read and check an index written by ``build_index``/``python -m resnet_viz index``."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise IndexFileError(f"exemplar index {str(path)!r} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNCOMPRESSED:
                raise _fail(name, "it inflates to more than 8 GiB")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except IndexFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise _fail(name, f"it is not a numpy .npz file ({' '.join(str(exc).split())[:200]})") from None
    if "meta" not in arrays:
        raise _fail(name, "it has no meta entry")
    odd = next((key for key, value in arrays.items() if not isinstance(value, np.ndarray)), None)
    if odd is not None:  # numpy hands back raw bytes for a member that is not an .npy array
        raise _fail(name, f"its entry {odd!r} is not a numpy array")
    meta = _read_meta(arrays.pop("meta"), name)
    offsets, blob = arrays.pop("patch_offset", None), arrays.pop("patch_png", None)
    if offsets is None or blob is None or offsets.dtype != np.int64 or blob.dtype != np.uint8 or offsets.ndim != 1:
        raise _fail(name, "its patch table (patch_offset, patch_png) is missing or malformed")
    if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != blob.size or (np.diff(offsets) < 0).any():
        raise _fail(name, "its patch offsets do not tile the patch data")
    raw = blob.tobytes()
    patches = [raw[int(a) : int(b)] for a, b in zip(offsets[:-1], offsets[1:])]
    if any(not p.startswith(_PNG_MAGIC) for p in patches):
        raise _fail(name, "a patch is not a PNG")
    _check_arrays(arrays, meta, len(patches), name)
    return ExemplarIndex(meta, arrays, patches)
