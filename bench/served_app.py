"""The app as a visitor meets it: started as its own server process, called over plain HTTP.

Benchmarks that measure the running app start ``python app.py --weights random`` (the same
computation as ImageNet weights) with :func:`start_app` (or the Ray Serve deployment,
``python -m resnet_viz serve``, with :func:`start_serve`) and call it with :class:`AppClient`:
Gradio's REST API (upload once, then ``POST /gradio_api/call/<name>`` and read the event stream),
lighter than gradio_client, so a load test measures the app rather than the client.
:class:`QueueSession` joins events on Gradio's queue as one session of its choosing, as a page
(or a hostile script) does, to measure what one session's flood does to another's wait.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx

__all__ = ["PHOTOS", "ROOT", "AppClient", "QueueSession", "default_data", "free_port", "start_app", "start_serve", "stop_app",
           "stop_serve", "wait_for"]

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


READY = re.compile(r"resnet-viz serving at (http\S+)")


def start_serve(code: Path = ROOT, *options: str, arch: str = "resnet50", seconds: float = 300) -> tuple[subprocess.Popen, str]:
    """``python -m resnet_viz serve`` from the checkout at ``code`` on a free port, random weights,
    in a process group of its own: (process, url) once it printed ``resnet-viz serving at URL``.

    Its output is read by a thread (the last 40 lines are kept in ``process.tail`` for errors);
    RuntimeError, with that tail, if it exits or is not ready within ``seconds``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "resnet_viz", "serve", "--port", str(port), "--arch", arch, "--weights", "random", *options],
        cwd=code, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    tail: collections.deque[str] = collections.deque(maxlen=40)
    found: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        for line in server.stdout:
            tail.append(line.rstrip())
            match = READY.search(line)
            if match and not ready.is_set():
                found["url"] = match[1].replace("0.0.0.0", "127.0.0.1")
                ready.set()
        ready.set()  # the output ended: it exited

    threading.Thread(target=read, daemon=True).start()
    server.tail = tail  # type: ignore[attr-defined]
    if not ready.wait(seconds) or "url" not in found:
        stop_serve(server)
        raise RuntimeError(f"resnet_viz serve was not ready within {seconds:.0f} s:\n" + "\n".join(tail))
    url = found["url"] if found["url"].endswith("/") else found["url"] + "/"
    return server, url


def _group(pgid: int) -> list[int]:
    """The processes still in process group ``pgid`` (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def stop_serve(server: subprocess.Popen, seconds: float = 120) -> tuple[float, list[int]]:
    """SIGTERM, as Ctrl-C's cousin would; waits up to ``seconds``. Returns (seconds it took to
    exit, the processes of its group still alive once it had exited: orphans, which are then killed)."""
    began = time.perf_counter()
    server.terminate()
    try:
        server.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    took = time.perf_counter() - began
    time.sleep(1.0)
    left = _group(server.pid)
    if left:
        os.killpg(server.pid, signal.SIGKILL)  # only this server's own group, which this module started
    return took, left


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
