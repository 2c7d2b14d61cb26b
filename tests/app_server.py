"""The app launched in-process on a free port, with random weights, for API and browser tests."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from resnet_viz.explorer import Explorer
from resnet_viz.registry import ModelRegistry
from resnet_viz.sessions import SessionStore

from .conftest import ROOT


@contextlib.contextmanager
def running_app(arch: str = "resnet18", **launch_overrides) -> Iterator[tuple[str, Explorer]]:
    sys.path.insert(0, str(ROOT))
    import app

    explorer = Explorer(ModelRegistry("random", "cpu"), SessionStore())
    demo = app.build_demo(arch, explorer=explorer)
    options = {**app.launch_kwargs(port=None), "quiet": True, **launch_overrides}
    _, url, _ = demo.launch(prevent_thread_lock=True, **options)
    try:
        yield url.rstrip("/"), explorer
    finally:
        demo.close()
