"""What a request may send and what visitors leave on disk, against the running app over raw HTTP,
with limits small enough to hit (FileLimits is injectable)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui.session_files import FileLimits

from .support import ROOT, random_registry

KB = 1000
LIMITS = FileLimits(bytes_per_request=40 * KB, bytes_per_session=150 * KB, unclaimed_s=60.0, unclaimed_bytes=10**6,
                    grace_s=0.0)


def _png(seed: int, side: int = 100) -> bytes:
    """A valid PNG of about 30 kB (noise does not compress)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def served():
    sys.path.insert(0, str(ROOT))
    import app

    explorer = Explorer(random_registry(), SessionStore())
    demo = app.build_demo("resnet18", explorer=explorer, file_limits=LIMITS)
    _, url, _ = demo.launch(prevent_thread_lock=True, **{**app.launch_kwargs(port=None), "quiet": True})
    http = httpx.Client(base_url=url.rstrip("/"), timeout=120)
    try:
        yield http, demo
    finally:
        http.close()
        demo.close()


def _files_on_disk() -> set[Path]:
    root = Path(os.environ["GRADIO_TEMP_DIR"])
    return {p for p in root.rglob("*") if p.is_file()}


def _upload(http: httpx.Client, *files: tuple[str, bytes], headers: dict | None = None) -> httpx.Response:
    return http.post("/gradio_api/upload", files=[("files", f) for f in files], headers=headers or {})


def _fn_index(demo, name: str) -> int:
    return next(i for i, fn in demo.fns.items() if fn.fn is not None and fn.fn.__name__ == name)


def _api_index(demo, api_name: str) -> int:
    return next(i for i, fn in demo.fns.items() if fn.api_name == api_name)


def _defaults(demo, blocks) -> list:
    values = {c["id"]: c["props"].get("value") for c in demo.config["components"]}
    return [values.get(block._id) for block in blocks]


def _event(http: httpx.Client, session: str, fn_index: int, data: list, headers: dict | None = None) -> dict:
    """Join the queue as the page does and read the event's end: {"success", "output"}."""
    joined = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                       "event_data": None, "trigger_id": None}, headers=headers or {})
    assert joined.status_code == 200, joined.text
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


def _file(path: str, name: str = "photo.png") -> dict:
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _paths(value) -> list[str]:
    if isinstance(value, dict):
        return ([value["path"]] if isinstance(value.get("path"), str) else []) + [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    return []


# --- per request ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "text"), [("en", "at most 1 file"), ("ko", "파일을 최대 1개까지")])
def test_two_files_in_one_request_are_refused_and_nothing_is_left(served, lang, text):
    http, _ = served
    before = _files_on_disk()
    response = _upload(http, ("a.png", _png(1, 60)), ("b.png", _png(2, 60)), headers={"accept-language": lang})
    assert response.status_code == 413 and text in response.text
    assert _files_on_disk() == before


def test_a_request_over_the_byte_limit_is_refused_as_declared_and_as_streamed(served):
    http, _ = served
    before = _files_on_disk()
    big = _png(3, 150)  # about 68 kB, over the 40 kB limit
    declared = _upload(http, ("big.png", big))
    assert declared.status_code == 413 and "at most" in declared.text
    # The same body without a Content-Length (chunked): counted as it streams, cut at the limit.
    request = http.build_request("POST", "/gradio_api/upload", files=[("files", ("big.png", big))])
    body, content_type = request.read(), request.headers["content-type"]

    def chunks():
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    streamed = http.post("/gradio_api/upload", content=chunks(), headers={"content-type": content_type})
    assert streamed.status_code == 413 and "at most" in streamed.text
    assert _files_on_disk() == before
    # A JSON body is bounded too (a photo inline as base64 may be 4/3 of the request limit).
    flood = http.post("/gradio_api/queue/join", content=b"[" + b"0," * 100_000 + b"0]",  # 200 kB
                      headers={"content-type": "application/json"})
    assert flood.status_code == 413


def test_one_photo_is_accepted_and_deleted_when_no_event_uses_it(served, monkeypatch):
    http, demo = served
    monkeypatch.setattr(demo.files.ledger, "limits", dataclasses.replace(LIMITS, unclaimed_s=0.5))
    response = _upload(http, ("one.png", _png(4)))
    assert response.status_code == 200
    (path,) = response.json()
    assert Path(path).is_file()
    time.sleep(0.6)
    demo.files.ledger.sweep()
    assert not Path(path).exists()


# --- per session ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "text"), [("en", "one visit may upload"), ("ko", "한 번 방문에 올릴 수 있는")])
def test_a_session_may_upload_so_much_and_no_more(served, lang, text):
    http, demo = served
    analyze = _api_index(demo, "analyze")
    session = f"budget-{lang}"
    uploads, answers = [], []
    for i in range(6):  # 6 different photos of about 30 kB, each used as soon as it is uploaded
        (path,) = _upload(http, (f"p{i}.png", _png(10 + i + (100 if lang == "ko" else 0)))).json()
        uploads.append(path)
        answers.append(_event(http, session, analyze, [_file(path), "resnet18"], {"accept-language": lang}))
    done = [a["success"] for a in answers]
    assert done[0] and done[1] and done[2] and done[3]  # 4 x 30 kB: within the 150 kB
    assert not done[-1] and text in answers[-1]["output"]["error"]
    assert demo.files.ledger.session_bytes(session) <= LIMITS.bytes_per_session
    again = _event(http, session, analyze, [_file(uploads[3]), "resnet18"])  # the photo it holds: counted once
    assert again["success"]
    demo.files.ledger.sweep()
    assert not Path(uploads[0]).exists()  # replaced by the next photo: deleted (grace_s 0 here)


def test_a_sessions_files_go_when_its_tab_closes_and_outputs_do_not_pile_up(served):
    http, demo = served
    session = "closing-tab"
    on_photo, on_opacity = _fn_index(demo, "on_photo"), _fn_index(demo, "on_opacity")
    photo_fn, opacity_fn = demo.fns[on_photo], demo.fns[on_opacity]
    heartbeat = http.stream("GET", f"/gradio_api/heartbeat/{session}")
    heartbeat.__enter__()  # the page's heartbeat: its end is the tab closing
    try:
        (upload,) = _upload(http, ("mine.png", _png(40))).json()
        inputs = _defaults(demo, photo_fn.inputs)
        inputs[0], inputs[1] = _file(upload), "resnet18"
        shown = _event(http, session, on_photo, inputs)
        assert shown["success"], shown
        outputs = _paths(shown["output"]["data"])
        assert outputs and all(Path(p).is_file() for p in outputs)
        held = demo.files.ledger.held(session)
        assert str(Path(upload).resolve()) in held
        stage, channel, _ = _defaults(demo, opacity_fn.inputs)
        counts = []
        for step in range(30):  # 30 opacity changes: each a new picture, the previous one deleted
            changed = _event(http, session, on_opacity, [stage, channel, round(0.05 + step * 0.03, 2)])
            assert changed["success"], changed
            demo.files.ledger.sweep()
            counts.append(len(_files_on_disk()))
        assert max(counts) - min(counts) <= 1, counts
        assert len(demo.files.ledger.held(session)) == len(held)
    finally:
        heartbeat.__exit__(None, None, None)
    deadline = time.monotonic() + 30
    while demo.files.ledger.held(session) and time.monotonic() < deadline:  # Gradio runs the unload event
        time.sleep(0.1)
    demo.files.ledger.sweep()
    assert not demo.files.ledger.held(session)
    assert not Path(upload).exists()
    assert not [p for p in outputs if Path(p).exists() and str(Path(p).resolve()) not in demo.files._kept()]
