"""The app launched in-process on a free port, with random weights, for API and browser tests."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Iterator

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


class RestClient:
    """Gradio's plain HTTP API (upload once, then POST /call/<name> and read its event stream):
    lighter than gradio_client, for tests that send hundreds of requests."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=120)

    def upload(self, path: str | Path) -> dict:
        with open(path, "rb") as f:
            (remote,) = self.http.post("/gradio_api/upload", files={"files": (Path(path).name, f)}).json()
        return {"path": remote, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}

    def call(self, endpoint: str, *data) -> list:
        """The endpoint's outputs; a failed call raises RuntimeError with the app's message."""
        started = self.http.post(f"/gradio_api/call/{endpoint}", json={"data": list(data)})
        if started.status_code != 200:
            raise RuntimeError(f"HTTP {started.status_code}: {started.text}")
        event, payload = None, None
        with self.http.stream("GET", f"/gradio_api/call/{endpoint}/{started.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = line.split(":", 1)[1].strip()
                    break
        if event != "complete":
            detail = json.loads(payload) if payload else None
            raise RuntimeError(detail.get("error") if isinstance(detail, dict) else f"event {event}: {detail}")
        return json.loads(payload)

    def close(self) -> None:
        self.http.close()
