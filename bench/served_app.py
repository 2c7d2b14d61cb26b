"""The app as a visitor meets it: started as its own server process, called over plain HTTP.

Benchmarks that measure the running app start ``python app.py --weights random`` (the same
computation as ImageNet weights) with :func:`start_app` and call it with :class:`AppClient`:
Gradio's REST API (upload once, then ``POST /gradio_api/call/<name>`` and read the event stream),
lighter than gradio_client, so a load test measures the app rather than the client.
:class:`QueueSession` joins events on Gradio's queue as one session of its choosing, as a page
(or a hostile script) does, to measure what one session's flood does to another's wait.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

__all__ = ["PHOTOS", "ROOT", "AppClient", "QueueSession", "default_data", "free_port", "start_app", "stop_app", "wait_for"]

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = [ROOT / "assets" / name for name in ("coffee.png", "rocket.jpg", "astronaut.png", "chelsea.png")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 180) -> None:
    """Returns once the app answers at ``url``; raises RuntimeError after ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer at {url}")


def start_app(code: Path = ROOT, *options: str, arch: str = "resnet50") -> tuple[subprocess.Popen, str]:
    """``python app.py`` from the checkout at ``code`` on a free port, CPU, random weights: (process, url).

    The server's output goes nowhere; call :func:`wait_for` before the first request."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--arch", arch, "--weights", "random", "--device", "cpu", "--port", str(port),
         *options],
        cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}/"


def stop_app(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


class AppClient:
    """One visitor's connection to the app's named endpoints (``/analyze``, ``/attribute``, ...)."""

    def __init__(self, url: str, timeout: float = 300) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)

    def upload(self, path: str | Path) -> dict:
        """Sends the file once; returns the reference that endpoints take as an image."""
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


class QueueSession:
    """One session on Gradio's queue: events joined by index (``POST /gradio_api/queue/join``),
    results read from the session's event stream (``GET /gradio_api/queue/data``)."""

    def __init__(self, url: str, session_hash: str) -> None:
        self.session_hash = session_hash
        self.http = httpx.Client(base_url=url, timeout=300)

    def join(self, fn_index: int, data: list) -> httpx.Response:
        """200 with {"event_id"} when accepted, else Gradio's or the app's refusal."""
        return self.http.post("/gradio_api/queue/join", json={
            "fn_index": fn_index, "data": data, "session_hash": self.session_hash, "trigger_id": None})

    def wait(self, event_id: str, timeout: float = 900) -> dict:
        """The event's completed message; reads the session's stream until it comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        message = json.loads(line[5:])
                        if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                            return message
            time.sleep(0.05)  # the stream closed before our event completed: open it again
        raise TimeoutError(f"no result for {event_id} within {timeout} s")

    def close(self) -> None:
        self.http.close()


def default_data(config: dict, dependency: dict) -> list:
    """A plausible value for each input of an event (from the page's /config): the component's default."""
    components = {c["id"]: c for c in config["components"]}
    return [None if components[cid]["type"] == "state" else components[cid].get("props", {}).get("value")
            for cid in dependency["inputs"]]
