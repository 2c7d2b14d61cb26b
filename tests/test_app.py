"""The app launched in-process and driven through its named API endpoints with gradio_client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from gradio_client import Client, handle_file

from resnet_viz import analyze, attribute, gradient_flow, lesion

from .app_server import running_app
from .support import ROOT, random_model


@pytest.fixture(scope="module")
def server():
    with running_app("resnet18") as (url, explorer):
        yield url, explorer


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def _without_timing(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timing_ms"}


def test_only_the_named_endpoints_are_public(client):
    assert set(client.view_api(return_format="dict")["named_endpoints"]) == {
        "/analyze", "/attribute", "/gradient_flow", "/lesion"
    }


def test_analyze_endpoint_equals_the_library(client, examples):
    result = client.predict(handle_file(str(examples[0])), "resnet18", api_name="/analyze")
    direct = analyze(random_model("resnet18"), examples[0])
    assert _without_timing(result) == json.loads(json.dumps(_without_timing(direct)))


def test_attribute_endpoint(client, examples):
    result = client.predict(handle_file(str(examples[1])), "resnet18", "gradcam", "", "C4", api_name="/attribute")
    direct = attribute(random_model("resnet18"), examples[1], "gradcam", stage="C4")
    assert result["target"] == direct["target"] and result["stage"] == "C4"
    assert len(result["map"]) == 224 and len(result["map"][0]) == 224
    assert max(abs(a - b) for a, b in zip(result["map"][100], direct["map"][100].tolist())) < 1e-3


def test_gradient_flow_endpoint(client, examples):
    result = client.predict(handle_file(str(examples[2])), "resnet18", "281", api_name="/gradient_flow")
    direct = gradient_flow(random_model("resnet18"), examples[2], target=281)
    assert result["target"]["label"] == "tabby"
    assert _without_timing(result) == json.loads(json.dumps(_without_timing(direct)))


def test_lesion_endpoint(client, examples):
    sweep = client.predict(handle_file(str(examples[0])), "resnet18", "", api_name="/lesion")
    assert [r["name"] for r in sweep["blocks"]] == [b.name for b in random_model("resnet18").blocks()]
    scaled = client.predict(handle_file(str(examples[0])), "resnet18", '{"C4": 0.0}', api_name="/lesion")
    direct = lesion(random_model("resnet18"), examples[0], scales={"C4": 0.0})
    assert scaled["kl_divergence"] == pytest.approx(direct["kl_divergence"], rel=1e-6)


def test_bad_input_gets_a_clear_error_and_the_app_keeps_serving(client, examples, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("this is text")
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(bad)), "resnet18", api_name="/analyze")
    assert "This image cannot be analysed: not an image" in str(info.value)
    with pytest.raises(Exception, match="'magic' is not one of the choices: gradcam, gradcam_ladder, "):
        client.predict(handle_file(str(examples[0])), "resnet18", "magic", "", "C5", api_name="/attribute")
    with pytest.raises(Exception, match="Scales must be a JSON object such as"):
        client.predict(handle_file(str(examples[0])), "resnet18", "{C4: 0", api_name="/lesion")
    assert client.predict(handle_file(str(examples[0])), "resnet18", api_name="/analyze")["arch"] == "resnet18"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_files_are_served_only_from_the_cache_and_assets(server):
    url = server[0]
    status, body = _get(f"{url}/gradio_api/file={ROOT / 'assets' / 'chelsea.png'}")
    assert status == 200 and body[:4] == b"\x89PNG"
    for path in [ROOT / "app.py", "/etc/passwd", f"{ROOT / 'assets'}/../app.py", ROOT / "resnet_viz" / "model" / "resnet.py"]:
        status, body = _get(f"{url}/gradio_api/file={path}")
        assert status in (403, 404), (path, status)
        assert b"import" not in body and b"root:" not in body


def test_monitoring_is_off(server):
    assert _get(f"{server[0]}/monitoring")[0] in (403, 404)
    assert _get(f"{server[0]}/gradio_api/monitoring")[0] in (403, 404)


def test_inline_base64_images(server, examples):
    """API clients may send a data: URL instead of uploading; it is checked like an upload."""
    import base64

    from .app_server import RestClient

    rest = RestClient(server[0])
    encoded = base64.b64encode(examples[0].read_bytes()).decode()
    (result,) = rest.call("analyze", {"url": f"data:image/png;base64,{encoded}", "meta": {"_type": "gradio.FileData"}}, "resnet18")
    direct = analyze(random_model("resnet18"), examples[0])
    assert _without_timing(result) == json.loads(json.dumps(_without_timing(direct)))
    with pytest.raises(RuntimeError, match="The image data is not valid base64"):
        rest.call("analyze", {"url": "data:image/png;base64,@@@", "meta": {"_type": "gradio.FileData"}}, "resnet18")
    just_over = "A" * ((10 * 1024 + 20) * 1024 * 4 // 3)  # 10 MB + 20 kB: the request passes, the image does not
    with pytest.raises(RuntimeError, match="The image is larger than 10 MB"):
        rest.call("analyze", {"url": f"data:image/png;base64,{just_over}", "meta": {"_type": "gradio.FileData"}}, "resnet18")
    too_big = "A" * (11 * 1024 * 1024 * 4 // 3)  # the request itself is refused before it is read
    with pytest.raises(RuntimeError, match="HTTP 413: One request may carry at most 10 MB"):
        rest.call("analyze", {"url": f"data:image/png;base64,{too_big}", "meta": {"_type": "gradio.FileData"}}, "resnet18")
    rest.close()


def test_a_user_mistake_logs_one_line_not_a_traceback(server, examples, capfd, caplog):
    """A negative channel typed in the stage tab: one clear message, one log line, no traceback."""
    from .app_server import RestClient

    rest = RestClient(server[0])
    rest.session = "typo-visitor"
    load = rest.http.post("/gradio_api/call/on_load", json={"data": ["resnet18", "C2", "mean", 8, 0.5, "gradcam"], "session_hash": "typo-visitor"})
    assert load.status_code == 200
    with rest.http.stream("GET", f"/gradio_api/call/on_load/{load.json()['event_id']}") as stream:
        assert any(line.startswith("event: complete") for line in stream.iter_lines())
    capfd.readouterr()
    caplog.clear()
    with caplog.at_level("INFO", logger="resnet_viz.app"):
        # Refused by the event's validator before it queues (issue 17 §2: the pictures stay), with
        # the message for the channel input.
        started = rest.http.post("/gradio_api/call/on_channel", json={"data": ["C3", -1, 0.5], "session_hash": "typo-visitor"})
    assert started.status_code == 422 and "C3 has channels 0-127; -1 is not one of them." in started.text, started.text
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert [r.getMessage() for r in caplog.records] == ["check_channel: C3 has channels 0-127; -1 is not one of them."]
    rest.close()


def test_importing_the_app_builds_no_demo_and_running_it_builds_one():
    import importlib
    import sys

    sys.path.insert(0, str(ROOT))
    app = importlib.import_module("app")
    assert "demo" not in vars(app)  # tests and tools import it freely
    built = app.demo  # what `gradio app.py` asks for
    assert app.demo is built and vars(app)["demo"] is built
    del app.demo  # leave the module as other tests found it


@pytest.mark.slow
def test_running_the_script_builds_one_demo(monkeypatch):
    """`python app.py` used to build a module-level demo and then another: two explorers, two folders."""
    import runpy

    import gradio as gr

    from resnet_viz.serve import explorer as explorer_module

    built, launched = [], []
    original = explorer_module.Explorer.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(explorer_module.Explorer, "__init__", counting_init)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.append(kwargs))
    monkeypatch.setattr("sys.argv", ["app.py", "--arch", "resnet18", "--weights", "random", "--device", "cpu"])
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    assert len(built) == 1 and len(launched) == 1


@pytest.mark.slow
def test_the_app_loads_an_exemplar_index_or_says_why_not(tmp_path, tmp_path_factory, monkeypatch):
    import runpy
    import sys

    import gradio as gr

    from .index_folder import shared_index

    sys.path.insert(0, str(ROOT))
    import app

    path = tmp_path / "index.npz"
    shared_index(tmp_path_factory).save(path)
    demo = app.demo_from_args(app.parse_args(["--weights", "random", "--arch", "resnet18", "--index", str(path)]))
    assert demo.explorer.index.top("C3", 0)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an index")
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    monkeypatch.setattr("sys.argv", ["app.py", "--weights", "random", "--arch", "resnet18", "--index", str(broken)])
    with pytest.raises(SystemExit, match=r"app.py: error: .*broken.npz"):
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")


def test_logging_is_configured_once_at_start_with_a_level_flag(monkeypatch):
    import logging

    import app

    assert app.parse_args([]).log_level == "info"
    monkeypatch.setenv("RESNET_VIZ_LOG_LEVEL", "DEBUG")
    assert app.parse_args([]).log_level == "debug"
    with pytest.raises(SystemExit):
        app.parse_args(["--log-level", "loud"])
    logger = logging.getLogger("resnet_viz")
    monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
    app.configure_logging("warning")
    assert logging.getLogger("resnet_viz.app").getEffectiveLevel() == logging.WARNING
    app.configure_logging("debug")
    assert logging.getLogger("resnet_viz.serve.registry").getEffectiveLevel() == logging.DEBUG
