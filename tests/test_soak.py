"""Soak: 300 sequential requests through the running app leave no growth in memory, hooks,
sessions or temporary files. The measured figures are printed (pytest -s) for the README."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from resnet_viz import hook_count
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .app_server import RestClient, running_app
from .support import random_registry

pytestmark = [pytest.mark.soak, pytest.mark.slow]

REQUESTS, WARM_UP = 300, 30  # memory is compared from the end of the warm-up on
MAX_SESSIONS, SESSION_TTL_S = 16, 2
DELETE_CACHE = (1, 2)  # every second, delete Gradio's temporary files older than 2 s
KINDS = ("analyze", "page", "analyze", "attribute", "analyze", "lesion")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _cache_files() -> int:
    return sum(1 for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file())


def test_soak(examples, tmp_path):
    # Photo-sized uploads (320 px), so the minute goes to the app, not to moving big PNGs around.
    photos = []
    for path in examples:
        small = tmp_path / f"{path.stem}.jpg"
        with Image.open(path) as im:
            im.convert("RGB").resize((320, 240)).save(small, quality=90)
        photos.append(small)
    explorer = Explorer(random_registry(), SessionStore(max_sessions=MAX_SESSIONS, ttl_s=SESSION_TTL_S))
    with running_app("resnet18", explorer=explorer, build={"delete_cache": DELETE_CACHE}) as (url, _):
        rest = RestClient(url)

        def request(i: int) -> None:
            upload = rest.upload(photos[i % len(photos)])
            kind = KINDS[i % len(KINDS)]
            if kind == "analyze":
                (result,) = rest.call("analyze", upload, "resnet18")
                assert result["arch"] == "resnet18"
            elif kind == "page":  # a page visit: analysis, grid and channel kept in a new session
                outputs = rest.call("on_photo", upload, "resnet18", "C2", "mean", 8, 0.5, "gradcam")
                assert any(isinstance(o, dict) and o.get("confidences") for o in outputs)  # the top-5 among them
            elif kind == "attribute":
                (result,) = rest.call("attribute", upload, "resnet18", "gradcam", "", "C5")
                assert len(result["map"]) == 224
            else:
                (result,) = rest.call("lesion", upload, "resnet18", '{"C4": 0.5}')
                assert result["scales"]

        began = time.perf_counter()
        for i in range(WARM_UP):
            request(i)
        gc.collect()
        rss_start, files_start = _rss_mb(), _cache_files()
        most_sessions = 0
        for i in range(WARM_UP, REQUESTS):
            request(i)
            most_sessions = max(most_sessions, len(explorer.store))
        elapsed = time.perf_counter() - began
        gc.collect()
        rss_end, files_end = _rss_mb(), _cache_files()
        time.sleep(SESSION_TTL_S + DELETE_CACHE[0] + 1)
        sessions_after, files_after = len(explorer.store), _cache_files()
        rest.close()

    model = explorer.registry.get("resnet18").model
    print(
        f"\nsoak: {REQUESTS} requests in {elapsed:.1f} s; resident memory {rss_start:.0f} -> {rss_end:.0f} MB "
        f"(+{rss_end - rss_start:.1f} MB); sessions at most {most_sessions}, {sessions_after} after "
        f"{SESSION_TTL_S} s idle; Gradio temp files {files_start} -> {files_end}, {files_after} after cleanup; "
        f"hooks on the model: {hook_count(model)}"
    )
    assert rss_end - rss_start <= 150
    assert hook_count(model) == 0
    assert most_sessions <= MAX_SESSIONS and sessions_after == 0
    assert files_after <= files_start + 10  # cleaned: not one file per request
