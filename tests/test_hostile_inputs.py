"""Hostile and unusual images through the CLI, the Python API and the running app: each is
analysed correctly or rejected with one clear message, and the next request is still answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from resnet_viz import ImageError, analyze

from .app_server import RestClient, running_app
from .odd_images import hostile, unusual
from .support import ROOT, TEST_LAYOUT, random_model

REJECTED = {  # file -> the reason its message must give
    "empty.jpg": "the file is empty (0 bytes)",
    "truncated.jpg": "truncated or corrupt",
    "text.png": "not an image",
    "random.bin": "not an image",
    "bomb.png": "too many pixels",
}
UPRIGHT_SIZES = {"exif_rotated.jpg": (20, 40), "one_pixel.png": (1, 1), "strip_3000x20.png": (3000, 20)}


@pytest.fixture(scope="module")
def files(tmp_path_factory, examples):
    folder = tmp_path_factory.mktemp("odd")
    jpeg = next(p for p in examples if p.suffix == ".jpg")
    return unusual(folder), hostile(folder, jpeg)


@pytest.fixture(scope="module")
def reference(files):
    """What the Python API says about every analysable file (resnet18, random weights)."""
    return {name: analyze(random_model("resnet18"), path) for name, path in files[0].items()}


def _same(a: dict, b: dict) -> bool:
    strip = lambda d: json.dumps({k: v for k, v in d.items() if k not in ("timing_ms", "file")})  # noqa: E731
    return strip(a) == strip(b)


@pytest.mark.slow
def test_python_api(files, reference):
    analysable, rejected = files
    assert set(REJECTED) == set(rejected)
    for name, report in reference.items():
        assert report["image"]["width"] > 0 and len(report["predictions"]) == 5, name
    for name, size in UPRIGHT_SIZES.items():
        assert (reference[name]["image"]["width"], reference[name]["image"]["height"]) == size
    for name, path in rejected.items():
        with pytest.raises(ImageError) as info:
            analyze(random_model("resnet18"), path)
        assert info.value.reason.startswith(REJECTED[name]) or REJECTED[name] in info.value.reason, name
        assert "\n" not in str(info.value)


@pytest.mark.slow
def test_cli(files, reference, tmp_path):
    analysable, rejected = files
    paths = [str(p) for p in analysable.values()] + [str(p) for p in rejected.values()]
    out = tmp_path / "all.json"
    done = subprocess.run(
        [sys.executable, "-m", "resnet_viz", "analyze", *paths, "--arch", "resnet18", "--weights", "random",
         "--layout", TEST_LAYOUT, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert len(errors) == len(rejected)
    for name, path in rejected.items():
        assert any(line.startswith(f"python -m resnet_viz: error: {path}: ") and REJECTED[name] in line for line in errors)
    reports = {Path(r["file"]).name: r for r in json.loads(out.read_text())}
    assert set(reports) == set(analysable)
    for name, report in reports.items():
        assert _same(report, reference[name]), name


@pytest.fixture(scope="module")
def app():
    with running_app("resnet18") as (url, explorer):
        client = RestClient(url)
        yield url, client
        client.close()


@pytest.mark.slow
def test_running_app(app, files, reference, examples):
    _, client = app
    analysable, rejected = files
    for name, path in analysable.items():
        (result,) = client.call("analyze", client.upload(path), "resnet18")
        assert _same(result, reference[name]), name
    for name, path in rejected.items():
        with pytest.raises(RuntimeError) as info:
            client.call("analyze", client.upload(path), "resnet18")
        assert str(info.value).startswith("This image cannot be analysed: ") and REJECTED[name] in str(info.value)
        # ... and the next visitor is served as usual.
        (after,) = client.call("analyze", client.upload(examples[0]), "resnet18")
        assert after["arch"] == "resnet18"
    # The page's own upload handler says the same, in the visitor's language.
    with pytest.raises(RuntimeError, match="This image cannot be analysed: not an image"):
        client.call("on_photo", client.upload(rejected["text.png"]), "resnet18", "C2", "mean", 16, 0.5, "gradcam")


def _cache_files() -> dict[Path, int]:
    root = Path(os.environ["GRADIO_TEMP_DIR"])
    return {p: p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_an_upload_over_the_size_limit_is_refused(app, tmp_path, examples):
    url, client = app
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(11 * 1024 * 1024))  # 11 MB, over max_file_size=10mb
    before = _cache_files()
    with open(big, "rb") as f:
        response = httpx.post(f"{url}/gradio_api/upload", files={"files": ("huge.png", f)}, timeout=120)
    assert response.status_code == 413  # refused from its Content-Length, before a byte is written
    assert "One request may carry at most 10 MB" in response.text
    after = _cache_files()
    assert not [p for p, size in after.items() if size > 10 * 1024 * 1024]
    assert len(set(after) - set(before)) <= 1  # at most Gradio's own temporary file
    (result,) = client.call("analyze", client.upload(examples[0]), "resnet18")
    assert result["arch"] == "resnet18"
