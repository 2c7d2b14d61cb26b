"""Shared fixtures: random-weight models (built once per session), a registry per module, example
photos, no network. What tests share besides fixtures lives in support.py, which tests import."""

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

from resnet_viz.model.resnet import ResNet

from .support import ASSETS, EXAMPLES, TEST_LAYOUT, random_model, random_registry  # noqa: F401 (TEST_LAYOUT: tests of other branches import it from here)


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


@pytest.fixture(scope="module")
def registry():
    """A model registry as the app builds one, shared by one test module (see support.random_registry)."""
    return random_registry()


# The real-browser tests' fixtures.
from .browser import browser, browser_app  # noqa: E402, F401
