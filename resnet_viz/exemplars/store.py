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

Loading checks everything before anything is used, and a file that fails raises
:class:`IndexFileError` with one sentence naming the problem: not an npz, too many entries or
too large inflated, an entry that is no plain numeric array or whose header claims more (or less)
than it holds (checked before anything is allocated), a missing key, a wrong dtype or shape, an
index out of range, an image name that is absolute or climbs out of its folder, a stage table
that is not its architecture's, and any thumbnail that is no PNG, is larger than the index's patch
size (read from its header, before Pillow sees it) or does not decode. Image names are only ever
returned as strings; nothing read from the file is opened as a path. Text is valid UTF-8: a file
name that was not (Python keeps its bytes as lone surrogates) is stored, and read, with those bytes
escaped visibly (``caf\\xe9.jpg``), so one odd name cannot break a JSON encoder downstream.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image

__all__ = ["FORMAT", "VERSION", "Exemplar", "ExemplarIndex", "IndexFileError", "load_index", "valid_text"]

FORMAT = "resnet-viz exemplar index"
VERSION = 1
MAX_UNCOMPRESSED = 8 << 30  # an npz that inflates beyond 8 GiB is not one of ours (zip bomb guard)
MAX_ENTRIES = 256  # ours has 5 per stage and 3 more
INPUT_SIZES = (32, 1024)  # crop sizes a ResNet index can have (C5 needs 32 px)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_HEADER = struct.Struct(">8sI4sII")  # the magic, then the IHDR chunk: length, b"IHDR", width, height
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def _escape_surrogate(match: re.Match) -> str:
    code = ord(match.group())
    # U+DC80..U+DCFF is how Python keeps a byte that is not UTF-8 in a file name (surrogateescape).
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def valid_text(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string made valid UTF-8:
    a lone surrogate becomes a visible escape (b"caf\\xe9.jpg", listed by Python as "caf\\udce9.jpg",
    becomes "caf\\\\xe9.jpg"). JSON encoders that insist on UTF-8 (orjson, Gradio's) refuse lone
    surrogates, and one file name would otherwise break every page that shows it."""
    if isinstance(value, str):
        return _SURROGATE.sub(_escape_surrogate, value)
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [valid_text(v) for v in value]
    return value


def _check_image_name(name: Any) -> bool:
    """A POSIX path relative to the folder that stays inside it. (Colons and backslashes are
    ordinary characters in POSIX file names, so they are allowed: the names are labels here.)"""
    if not isinstance(name, str) or not name or "\0" in name:
        return False
    return not PurePosixPath(name).is_absolute() and all(part not in ("", ".", "..") for part in name.split("/"))


def _check_unreadable(entry: Any) -> bool:
    return isinstance(entry, dict) and _check_image_name(entry.get("path")) and isinstance(entry.get("reason"), str)


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
        meta = valid_text(json.loads(raw.tobytes().decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(name, f"its meta entry is not valid JSON ({exc})") from None
    except RecursionError:
        raise _fail(name, "its meta entry is nested too deeply") from None
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
    if not INPUT_SIZES[0] <= meta["input_size"] <= INPUT_SIZES[1]:
        raise _fail(name, f"its input size {meta['input_size']} is not {INPUT_SIZES[0]}-{INPUT_SIZES[1]} px")
    if meta["patch_size"] < 1:
        raise _fail(name, f"its patch size is {meta['patch_size']}")
    bad = next((n for n in meta["images"] if not _check_image_name(n)), None)
    if bad is not None:
        raise _fail(name, f"an image name is not a relative path inside the folder ({bad!r:.80})")
    odd = next((u for u in meta["unreadable"] if not _check_unreadable(u)), None)
    if odd is not None:
        raise _fail(name, f"an entry of its unreadable files is malformed ({odd!r:.80})")
    _check_stage_table(meta, name)
    return meta


@lru_cache(maxsize=None)
def _stage_table(arch: str, input_size: int) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """``arch``'s C1..C5 as an index records them for ``input_size`` px crops: name, module,
    channels, stride and the map size (from a forward of the weightless meta-device model)."""
    from ..model import build_model

    with torch.device("meta"):
        model = build_model(arch).eval()
        maps = model.forward_stages(torch.zeros(1, 3, input_size, input_size))
    return tuple(
        (("name", s.name), ("module", s.module), ("channels", s.channels), ("stride", s.stride),
         ("height", int(maps[s.name].shape[-2])), ("width", int(maps[s.name].shape[-1])))
        for s in model.stages
    )  # fmt: skip


def _check_stage_table(meta: dict[str, Any], name: str) -> None:
    """The stage table must be the architecture's: the app shows any of the model's channels."""
    from ..model import ARCHS

    if meta["arch"] not in ARCHS:
        raise _fail(name, f"its architecture {meta['arch']!r:.40} is none of {', '.join(ARCHS)}")
    expected = [dict(row) for row in _stage_table(meta["arch"], meta["input_size"])]
    stages = meta["stages"]
    if len(stages) != len(expected) or not all(isinstance(stage, dict) for stage in stages):
        raise _fail(name, f"its stage table is not {meta['arch']}'s {', '.join(e['name'] for e in expected)}")
    for stage, want in zip(stages, expected):
        wrong = next((k for k in want if type(stage.get(k)) is not type(want[k]) or stage[k] != want[k]), None)
        if wrong is not None:
            got = stage.get(wrong)
            raise _fail(name, f"its stage {want['name']} has {wrong} {got!r:.40}; {meta['arch']} has {want[wrong]!r}")


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


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, name: str) -> np.ndarray:
    """One .npy entry, its header checked before anything is allocated: plain numbers (no objects,
    so never a pickle), and exactly as many bytes as its shape claims (a header may claim 9 TiB)."""
    with archive.open(info) as entry:
        try:
            version = np.lib.format.read_magic(entry)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version}")
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(entry)
            else:
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(entry)
        except (ValueError, EOFError):
            raise _fail(name, f"its entry {key!r} is not a numpy array") from None
        if dtype.kind not in "biuf":
            raise _fail(name, f"its entry {key!r} holds {dtype} values, not plain numbers")
        claimed, held = math.prod(shape) * dtype.itemsize, info.file_size - entry.tell()
        if claimed != held:
            why = f"its entry {key!r} claims {shape!r:.60} {dtype} ({claimed:,} bytes) but holds {held:,} bytes"
            raise _fail(name, why)
        data = entry.read(held)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_arrays(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every entry of the npz (numpy's np.load would allocate whatever a header claims)."""
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise _fail(name, f"it has {len(entries):,} entries")
        if sum(info.file_size for info in entries) > MAX_UNCOMPRESSED:
            raise _fail(name, "it inflates to more than 8 GiB")
        keys = {info.filename.removesuffix(".npy"): info for info in entries}
        if "meta" not in keys:
            raise _fail(name, "it has no meta entry")
        return {key: _read_entry(archive, info, key, name) for key, info in keys.items()}


def _patch_problem(number: int, png: bytes, limit: int) -> str | None:
    """Why thumbnail ``number`` cannot be shown, or None. Its size is read from the PNG header
    before Pillow sees it, so a header claiming a giant picture never reaches a decoder."""
    if len(png) < _PNG_HEADER.size:
        return f"patch {number} is not a PNG"
    magic, _, chunk, width, height = _PNG_HEADER.unpack_from(png)
    if magic != _PNG_MAGIC or chunk != b"IHDR":
        return f"patch {number} is not a PNG"
    if not (1 <= width <= limit and 1 <= height <= limit):
        return f"patch {number} is {width}x{height} pixels; this index's patches are at most {limit}x{limit}"
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as im:
            im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return f"patch {number} is not a readable PNG ({' '.join(str(exc).split())[:120]})"
    return None


def _check_patches(patches: list[bytes], limit: int, name: str) -> None:
    """Every thumbnail decoded once. (Threads do not help: for a 64 px PNG, Pillow's chunk parsing
    in Python costs more than the decoding that releases the GIL.)"""
    problem = next((p for p in (_patch_problem(i, png, limit) for i, png in enumerate(patches)) if p), None)
    if problem is not None:
        raise _fail(name, problem)


def load_index(path: str | os.PathLike) -> ExemplarIndex:
    """Read and check an index written by ``build_index``/``python -m resnet_viz index``."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise IndexFileError(f"exemplar index {str(path)!r} does not exist")
    try:
        arrays = _read_arrays(path, name)
    except IndexFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted entry; NotImplementedError: a compression zipfile cannot read
        raise _fail(name, f"it is not a numpy .npz file ({' '.join(str(exc).split())[:200]})") from None
    meta = _read_meta(arrays.pop("meta"), name)
    offsets, blob = arrays.pop("patch_offset", None), arrays.pop("patch_png", None)
    if offsets is None or blob is None or offsets.dtype != np.int64 or blob.dtype != np.uint8 or offsets.ndim != 1:
        raise _fail(name, "its patch table (patch_offset, patch_png) is missing or malformed")
    if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != blob.size or (np.diff(offsets) < 0).any():
        raise _fail(name, "its patch offsets do not tile the patch data")
    raw = blob.tobytes()
    patches = [raw[int(a) : int(b)] for a, b in zip(offsets[:-1], offsets[1:])]
    _check_arrays(arrays, meta, len(patches), name)
    # Patches are cut from the crop and never enlarged: no side exceeds the patch size or the crop.
    _check_patches(patches, min(meta["patch_size"], meta["input_size"]), name)
    return ExemplarIndex(meta, arrays, patches)
