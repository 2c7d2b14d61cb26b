"""``python -m resnet_viz serve``: the explorer on Ray Serve (a local Ray, or a cluster's).

Prints one line, ``resnet-viz serving at http://HOST:PORT/``, once the page answers, and stops on
Ctrl-C or SIGTERM: ``serve.shutdown()``, then ``ray.shutdown()`` for a Ray this command started
(its GCS, raylet and workers end with it); on a cluster it joined, only this application is
deleted (the cluster, its Serve and other applications keep running).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from typing import Any

from .options import add_model_options, error, positive_int

__all__ = ["INSTALL_HINT", "add_serve_command"]

INSTALL_HINT = 'pip install -r requirements-scale.txt (Ray Serve: pip install "ray[serve,data]==2.60.0")'
APP_NAME = "resnet-viz"


def _require_serve() -> Any:
    try:
        import ray
        from ray import serve  # noqa: F401 - an extra of the ray package
    except ImportError:
        return None
    return ray


def _wait_for_page(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _serve_command(args: argparse.Namespace) -> int:
    ray = _require_serve()
    if ray is None:
        return error(f"serve needs Ray Serve, which is not installed; {INSTALL_HINT}", "serve")
    from ray import serve

    from ..serve.ray_app import ServeOptions, build_app, runtime_env
    from ..ui.ray_page import PageIngress

    joining = args.address is not None or bool(os.environ.get("RAY_ADDRESS"))
    ray.init(
        address=args.address, num_cpus=None if joining else args.ray_cpus, include_dashboard=False,
        log_to_driver=False, logging_level=logging.WARNING, runtime_env=runtime_env(),
    )
    started = not joining
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # after ray.init, which installs a SIGTERM handler of its own
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(proxy_location="Disabled")  # the page replica serves HTTP itself (see ui/ray_page.py)
        options = ServeOptions(
            arch=args.arch, weights=args.weights, device=args.device, precision=args.precision, layout=args.layout,
            max_models=args.max_models, host=args.host, port=args.port, index=args.index,
            model_replicas=args.model_replicas, slow_replicas=args.slow_replicas, max_queued=args.max_queued,
        )
        try:
            serve.run(build_app(options, PageIngress), name=APP_NAME, route_prefix=None)
        except Exception as exc:  # a replica that could not start: its own error's last line
            lines = [line for line in str(exc).splitlines() if line.strip()]
            return error(next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else repr(exc)),
                         "serve")
        url = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}/"
        if not _wait_for_page(url, 120):
            return error(f"the page did not answer at {url}", "serve")
        print(f"resnet-viz serving at http://{args.host}:{args.port}/", flush=True)
        while not stop.wait(1.0):
            pass
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        try:
            if started:
                serve.shutdown()
            else:  # a cluster we joined: its Serve and other applications keep running
                serve.delete(APP_NAME)
        finally:
            if started:
                ray.shutdown()
        print("resnet-viz stopped", file=sys.stderr, flush=True)


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("serve", help="the explorer on Ray Serve: model replicas, batching, a class at once")
    add_model_options(run, layout=True)
    run.add_argument("--address", metavar="auto|ADDR", help="join this Ray cluster (default: start a local one)")
    run.add_argument("--ray-cpus", type=positive_int, metavar="N", help="CPUs of the local Ray started (default: all)")
    run.add_argument("--model-replicas", type=positive_int, default=1, metavar="N", help="model replicas (default 1)")
    run.add_argument("--slow-replicas", type=positive_int, default=1, metavar="M",
                     help="replicas for slow methods, feature visualisation and the trust report (default 1)")
    run.add_argument("--max-models", type=positive_int, default=2, metavar="N", help="architectures each replica keeps loaded")
    run.add_argument("--max-queued", type=positive_int, default=64, metavar="N",
                     help="requests that may wait per deployment; more are told the class is busy (default 64)")
    run.add_argument("--host", default="127.0.0.1", help="address the page binds (default: this machine only)")
    run.add_argument("--port", type=positive_int, default=8000)
    run.add_argument("--index", metavar="INDEX.npz", help="an exemplar index, read by the page replica")
    run.set_defaults(handler=_serve_command)
