"""Shared fixtures: random-weight models (built once per session), example photos, no network."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

# Gradio reads its cache folder when it is imported: give the tests their own, so they neither
# litter /tmp/gradio nor count other programs' files when they check that temp files are cleaned.
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="resnet-viz-tests-gradio-"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Feature visualisations are cached on disk across runs: the tests get an empty cache of their own.
os.environ["RESNET_VIZ_CACHE"] = tempfile.mkdtemp(prefix="resnet-viz-tests-cache-")

import pytest
import torch

import resnet_viz
from resnet_viz.model.resnet import ResNet

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
EXAMPLES = sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


# The shared test models skip load_model's layout measurement: it costs start-up time, and on a
# busy machine it may pick either layout, whose results differ in the last bits of a float.
# Apps and CLI runs that tests compare with these models are given the same layout.
TEST_LAYOUT = "channels-last"

_models: dict[str, ResNet] = {}


def random_model(arch: str) -> ResNet:
    """One shared, read-only random-weight model per arch, as the app shares its models."""
    if arch not in _models:
        _models[arch] = resnet_viz.load_model(arch, weights="random", device="cpu", layout=TEST_LAYOUT)
    return _models[arch]


@pytest.fixture(scope="session")
def resnet18() -> ResNet:
    return random_model("resnet18")


@pytest.fixture(scope="session")
def resnet50() -> ResNet:
    return random_model("resnet50")


@pytest.fixture(scope="session")
def examples() -> list[Path]:
    assert EXAMPLES, f"no example photos in {ASSETS}"
    return EXAMPLES


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of tiny networks or tiny images (``pytestmark = pytest.mark.usefixtures(...)``):
    one thread runs their many small ops faster than two, above all on a busy 2-core machine
    (measured for the CIFAR nets: 1 s with one thread, 38 s with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection and DNS lookup fails, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache of the test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


# The real-browser tests' fixtures (imported last: that module needs ROOT from this one).
from .browser import browser, browser_app  # noqa: E402, F401
