"""Safe defaults of the app: local binding, no share link, no SSR/run history/analytics/monitoring."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import resnet_viz

from .app_server import running_app
from .support import ROOT


@pytest.fixture(scope="module")
def app_module():
    sys.path.insert(0, str(ROOT))
    import app

    return app


def test_command_line_defaults(app_module):
    args = app_module.parse_args([])
    assert (args.host, args.port, args.share, args.precision, args.batching) == ("127.0.0.1", 7860, False, "fp32", True)
    assert app_module.parse_args(["--share", "--host", "0.0.0.0"]).share is True
    assert args.layout == "auto"


def test_the_app_layout_flag_reaches_the_models(app_module, monkeypatch):
    args = app_module.parse_args(["--weights", "random", "--arch", "resnet18", "--device", "cpu", "--layout", "nchw"])
    registry = app_module.demo_from_args(args).explorer.registry
    assert registry.layout == "nchw"
    with pytest.raises(SystemExit):  # argparse's one-line message for a layout it does not know
        app_module.parse_args(["--layout", "../../etc"])


def test_launch_defaults(app_module):
    kwargs = app_module.launch_kwargs()
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["share"] is False
    assert kwargs["ssr_mode"] is False and kwargs["run_history"] is False
    assert kwargs["enable_monitoring"] is False and kwargs["show_error"] is False
    assert kwargs["max_file_size"] == "10mb"
    assert kwargs["allowed_paths"] == [str(ROOT / "assets")]


def test_the_launched_app_has_them(app_module):
    demo = app_module.build_demo("resnet18", "random", "cpu")
    assert demo.analytics_enabled is False
    with running_app("resnet18") as (url, _):
        assert url.startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_app_help_runs():
    done = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--precision" in done.stdout and "--no-batching" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_reduced_precision_needs_cuda():
    with pytest.raises(ValueError, match="precision bf16 needs a CUDA device, and this model runs on cpu; use fp32"):
        resnet_viz.load_model("resnet18", "random", "cpu", precision="bf16")
    with pytest.raises(ValueError, match="unknown precision 'int8'; choose one of fp32, bf16, fp16"):
        resnet_viz.load_model("resnet18", "random", "cpu", precision="int8")


@pytest.mark.slow
def test_the_app_starts_without_weights_or_network_and_says_so(tmp_path):
    """`python app.py` with ImageNet weights neither cached nor downloadable: it serves random
    weights and the page's banner says so, instead of crashing at start-up."""
    import socket
    import time
    import urllib.request

    from .app_server import RestClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "TORCH_HOME": str(tmp_path / "torch"),  # nothing cached
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",  # and no way out
        "NO_PROXY": "127.0.0.1,localhost",
    }
    server = subprocess.Popen(
        [sys.executable, "app.py", "--arch", "resnet18", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the app did not start"
                time.sleep(0.5)
        rest = RestClient(url)
        banner = rest.call("on_load", "resnet18", "C2", "mean", 8, 0.5, "gradcam")[0]
        assert banner["visible"] is True
        assert banner["value"].startswith("**Random weights: the predictions are meaningless.**")
        assert "python -m resnet_viz download --arch resnet18" in banner["value"]
        (report,) = rest.call("analyze", rest.upload(ROOT / "assets" / "chelsea.png"), "resnet18")
        assert report["weights"] == "random"
        rest.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
