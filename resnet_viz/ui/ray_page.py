"""The page replica of the Ray Serve deployment: the app's own page (``app.build_demo``), with a
:class:`~resnet_viz.serve.ray_app.RemoteExplorer` whose model work runs on the model and slow
replicas.

The replica runs Gradio's own server (``demo.launch``) on the configured host and port, exactly as
``python app.py`` does, rather than behind Serve's HTTP proxy: everything ``launch`` sets up (the
upload limits in front of Gradio's routes, SSR and run history off, the translations, the queue's
share per session) stays one code path, and there is one page replica anyway (Gradio's sessions
live in its process). It is placed on the head node (``node:__internal_head__``), so the page's
address is the head's; Serve restarts the replica if it dies or Gradio's server stops answering.

``app_builder`` is the import path a Serve config names (``deploy/serve_config.yaml``).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import urllib.request
from typing import Any

import torch

from ..exemplars import load_index
from ..serve.ray_app import RemoteExplorer, ServeOptions, build_app
from ..serve.registry import ModelRegistry
from ..serve.sessions import SessionStore

__all__ = ["PageIngress", "app_builder"]

log = logging.getLogger(__name__)


class PageIngress:
    """One replica: the Gradio page and the visitors' sessions."""

    def __init__(self, model_handle: Any, slow_handle: Any, options: dict[str, Any]) -> None:
        opts = ServeOptions(**options)
        torch.set_num_threads(1)  # the page's own model copy only preprocesses and names things
        page = importlib.import_module(opts.page)
        # The page's copy of each model (CPU, float32): for the photo's preprocessing, block and stage
        # names, and the weights hash every replica is checked against; never for model work.
        registry = ModelRegistry(opts.weights, "cpu", "fp32", layout=opts.layout, max_models=opts.max_models)
        index = load_index(opts.index) if opts.index else None
        self.explorer = RemoteExplorer(registry, model_handle, slow_handle, store=SessionStore(ttl_s=opts.session_ttl),
                                       index=index)
        self.demo = page.build_demo(opts.arch, explorer=self.explorer)
        # Blocking calls on handles must not run on the replica's event loop: a thread waits for them.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(self.explorer.wait_ready, opts.arch).result()  # raises WeightsMismatchError
        self.demo.launch(prevent_thread_lock=True, quiet=True, **page.launch_kwargs(opts.host, opts.port))
        self.url = f"http://{opts.host}:{opts.port}/"
        log.info("resnet-viz page at %s", self.url)

    def check_health(self) -> None:
        """Serve's health check: the page's own server still answers (else Serve restarts this replica)."""
        with urllib.request.urlopen(self.url.replace("0.0.0.0", "127.0.0.1"), timeout=10):
            pass

    def address(self) -> str:
        return self.url

    async def __call__(self, request: Any) -> str:
        return self.url  # Serve's proxy, where enabled, only points to the page

    def __del__(self) -> None:
        demo = getattr(self, "demo", None)
        if demo is not None:
            demo.close()


def app_builder(args: dict[str, Any]) -> Any:
    """The application for a Serve config: ``args`` are :class:`ServeOptions` fields."""
    return build_app(ServeOptions(**args), PageIngress)


def __getattr__(name: str) -> Any:
    """``resnet_viz.ui.ray_page:app``, the application with the default options, for ``serve build``
    (built on first access only: importing this module builds nothing)."""
    if name == "app":
        return app_builder({})
    raise AttributeError(name)
