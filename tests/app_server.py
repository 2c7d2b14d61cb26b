"""The app launched in-process on a free port, with random weights, for API and browser tests."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

from bench.served_app import AppClient
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .support import random_registry

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running_app(
    arch: str = "resnet18", explorer: Explorer | None = None, build: dict | None = None, **launch_overrides
) -> Iterator[tuple[str, Explorer]]:
    """Yields (url, explorer); ``build`` goes to app.build_demo, the rest to demo.launch."""
    sys.path.insert(0, str(ROOT))
    import app

    explorer = explorer or Explorer(random_registry(), SessionStore())
    demo = app.build_demo(arch, explorer=explorer, **(build or {}))
    options = {**app.launch_kwargs(port=None), "quiet": True, **launch_overrides}
    _, url, _ = demo.launch(prevent_thread_lock=True, **options)
    try:
        yield url.rstrip("/"), explorer
    finally:
        demo.close()


class RestClient(AppClient):
    """Gradio's plain HTTP API (upload once, then POST /call/<name> and read its event stream):
    lighter than gradio_client, for tests that send hundreds of requests. The benchmarks' client,
    with a shorter wait, so a test that hangs fails instead."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=120)
