"""Exemplar index files that are odd or hostile: a folder with a file name that is not UTF-8, and
crafted files (corrupt, oversized or giant-claiming thumbnails, a stage table that is not the
model's, entries whose header claims 9 TiB or holds objects, too many entries, deep JSON).
Loading refuses each with one line that names the file and the problem; the page never fails to
load because of what an index holds."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

from resnet_viz import build_index, load_index
from resnet_viz.exemplars import IndexFileError
from resnet_viz.exemplars.store import MAX_ENTRIES
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .app_server import RestClient, running_app
from .index_folder import rewrite_index
from .support import ASSETS, ROOT, random_model, random_registry

NOT_UTF8 = b"caf\xe9.jpg"  # Latin-1 "café": Python lists it as "caf\udce9.jpg"
SHOWN = "caf\\xe9.jpg"  # ... and the index stores it visibly escaped, as valid UTF-8


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("odd-names")
    Image.open(ASSETS / "chelsea.png").convert("RGB").save(os.path.join(os.fsencode(root), NOT_UTF8), format="JPEG")
    Image.open(ASSETS / "rocket.jpg").convert("RGB").save(root / "rocket.png")
    (root / "broken\udcff.png").write_bytes(b"not a picture")  # an unreadable one, named oddly too
    return root


@pytest.fixture(scope="module")
def saved(folder, tmp_path_factory) -> Path:
    index = build_index(random_model("resnet18"), folder, top_k=2, batch_size=2, workers=0)
    return index.save(tmp_path_factory.mktemp("index") / "odd.npz")


def test_a_file_name_that_is_not_utf8_is_stored_escaped_and_shown(saved):
    index = load_index(saved)
    assert SHOWN in index.images and [u["path"] for u in index.unreadable] == ["broken\\xff.png"]
    orjson.dumps(index.meta)  # valid UTF-8 throughout: orjson refuses a lone surrogate
    shown = {e.image for channel in range(8) for e in index.top("C3", channel)}
    assert SHOWN in shown


def test_an_index_written_before_the_escaping_still_loads(saved, tmp_path):
    """Older builds wrote the surrogate itself (json.dumps keeps it as a \\udce9 escape)."""

    def unescape(arrays, meta):
        meta["images"] = [name.replace(SHOWN, "caf\udce9.jpg") for name in meta["images"]]

    index = load_index(rewrite_index(saved, tmp_path / "old.npz", unescape))
    assert SHOWN in index.images
    orjson.dumps(index.meta)


def test_the_page_loads_with_such_an_index(saved):
    """The name used to reach the exemplar gallery's caption, which Gradio's JSON encoder refused:
    every page load failed."""
    explorer = Explorer(random_registry(), SessionStore(), index=load_index(saved))
    with running_app("resnet18", explorer=explorer) as (url, _):
        rest = RestClient(url)
        try:
            shown = rest.call("on_load", "resnet18", "C3", "mean", 8, 0.6, "gradcam")  # the page's first event
        finally:
            rest.close()
    # In a caption of the exemplar gallery (which may break after . / _ -: zero-width spaces, invisible).
    assert any(SHOWN in text.replace("\u200b", "") for text in _strings(shown))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [text for item in value for text in _strings(item)] if isinstance(value, list) else []


# --- crafted files -------------------------------------------------------------------------------


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def _png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose header says width x height (RGB, 8 bit); ``idat`` replaces its pixel data."""
    if idat is None:
        out = io.BytesIO()
        Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
        return out.getvalue()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _with_patch(png: bytes):
    """A change that replaces the first thumbnail by ``png``."""

    def change(arrays, meta):
        blob, offsets = arrays["patch_png"].tobytes(), arrays["patch_offset"]
        first = int(offsets[1])
        arrays["patch_png"] = np.frombuffer(png + blob[first:], dtype=np.uint8)
        arrays["patch_offset"] = np.concatenate([[0], offsets[1:] - first + len(png)]).astype(np.int64)

    return change


def _claiming_9_tib() -> bytes:
    """An .npy header that says 9 TiB of float32 follow (nothing is allocated to write it)."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": ((9 << 40) // 4,)})
    return out.getvalue()


def _stage(name: str, **values):
    def change(arrays, meta):
        next(s for s in meta["stages"] if s["name"] == name).update(values)

    return change


CRAFTED = {
    "corrupt_patch": (_with_patch(_png(20, 20, idat=zlib.compress(b"\x00" * 10)[:-3] + b"junk")),
                      "patch 0 is not a readable PNG"),
    "oversized_patch": (_with_patch(_png(100, 80)), "patch 0 is 100x80 pixels; this index's patches are at most 64x64"),
    "bomb_patch": (_with_patch(_png(100_000, 100_000, idat=b"")), "patch 0 is 100000x100000 pixels"),
    "stage_channels": (_stage("C3", channels=3), "its stage C3 has channels 3; resnet18 has 128"),
    "stage_map": (_stage("C4", height=99), "its stage C4 has height 99; resnet18 has 14"),
    "stage_float": (_stage("C2", channels=64.0), "its stage C2 has channels 64.0; resnet18 has 64"),
    "stage_missing": (lambda a, m: m["stages"].pop(), "its stage table is not resnet18's C1, C2, C3, C4, C5"),
    "arch": (lambda a, m: m.update(arch="resnet9000"), "its architecture 'resnet9000' is none of resnet18"),
    "input_size": (lambda a, m: m.update(input_size=10**9), "its input size 1000000000 is not 32-1024 px"),
    "reason": (lambda a, m: m["unreadable"][0].update(reason=["x"]), "an entry of its unreadable files is malformed"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_contents_are_refused_in_one_line(saved, tmp_path, case):
    change, message = CRAFTED[case]
    path = rewrite_index(saved, tmp_path / f"{case}.npz", change)
    with pytest.raises(IndexFileError) as info:
        load_index(path)
    text = str(info.value)
    assert message in text and path.name in text and "\n" not in text


def test_entries_are_checked_from_their_header_before_anything_is_allocated(saved, tmp_path):
    entries = _entries(saved)
    score = entries["C2.score.npy"]
    body = score[len(score) - 64 * 2 * 4 :]  # what the entry really holds: 64 channels x k = 2, float32
    nested = b"[" * 100_000 + b"]" * 100_000
    cases = {
        "claims_9_tib": (
            {"C2.score.npy": _claiming_9_tib() + body},
            "its entry 'C2.score' claims (2473901162496,) float32 (9,895,604,649,984 bytes) but holds 512 bytes",
        ),
        "objects": (
            {"C2.score.npy": _npy(np.array([object()] * 3, dtype=object))}, "its entry 'C2.score' holds object values"
        ),
        "not_npy": ({"C2.score.npy": b"PK\x03\x04 not an array"}, "its entry 'C2.score' is not a numpy array"),
        "deep_meta": ({"meta.npy": _npy(np.frombuffer(nested, dtype=np.uint8))}, "its meta entry is nested too deeply"),
        "many": (
            {f"x{i}.npy": _npy(np.zeros(1)) for i in range(MAX_ENTRIES)}, f"it has {MAX_ENTRIES + len(entries):,} entries"
        ),
    }  # fmt: skip
    for case, (changed, message) in cases.items():
        path = _write(tmp_path / f"{case}.npz", {**entries, **changed})
        with pytest.raises(IndexFileError) as info:
            load_index(path)
        text = str(info.value)
        assert message in text and path.name in text and "\n" not in text, case


@pytest.mark.slow
def test_the_app_refuses_a_hostile_index_in_one_line(saved, tmp_path):
    """``python app.py --index`` names the problem in one line and exits (it used to be a MemoryError
    and a 20-line traceback)."""
    path = _write(tmp_path / "claims.npz", {**_entries(saved), "C2.score.npy": _claiming_9_tib()})
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--weights", "random", "--index", str(path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "RESNET_VIZ_ARCH": "resnet18"},
    )  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr.startswith("app.py: error: claims.npz is not a usable resnet-viz exemplar index")
