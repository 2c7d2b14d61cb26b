"""A hostile client's view of the app: events joined by index on Gradio's queue (``POST
/gradio_api/queue/join``) and their results read from the session's event stream (``GET
/gradio_api/queue/data``), with whatever session id and language it chooses. Lighter than
gradio_client, and able to send what no Gradio client would."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

__all__ = ["QueueClient", "file_inputs", "default_data"]


class QueueClient:
    """One session's client. Results are read by one background reader of the session's event
    stream, as the browser does, so no completion is lost between two waits."""

    def __init__(self, url: str, session_hash: str, language: str = "en") -> None:
        self.session_hash = session_hash
        self.http = httpx.Client(base_url=url, timeout=120, headers={"Accept-Language": language})
        self._pending: set[str] = set()
        self._done: dict[str, dict] = {}
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def join(self, fn_index: int, data: list) -> httpx.Response:
        """Join the queue; 200 with {"event_id"} when accepted, else Gradio's or the app's refusal."""
        response = self.http.post(
            "/gradio_api/queue/join",
            json={"fn_index": fn_index, "data": data, "session_hash": self.session_hash, "trigger_id": None},
        )
        if response.status_code == 200:
            with self._changed:
                self._pending.add(response.json()["event_id"])
                if self._reader is None or not self._reader.is_alive():
                    self._reader = threading.Thread(target=self._read, daemon=True)
                    self._reader.start()
        return response

    def _read(self) -> None:
        while True:
            with self._changed:
                if not self._pending - set(self._done):
                    self._reader = None
                    return
            try:
                with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data:"):
                            message = json.loads(line[5:])
                            if message.get("msg") == "process_completed":
                                with self._changed:
                                    self._done[message["event_id"]] = message
                                    self._changed.notify_all()
            except (httpx.HTTPError, RuntimeError):  # RuntimeError: closed by close()
                if self.http.is_closed:
                    return
            time.sleep(0.05)  # the stream ended (all done, or not open yet): look again

    def results(self, event_ids: list[str], timeout: float = 120) -> dict[str, dict]:
        """event id -> the completed message ({"success", "output": {"data"} or {"error"}, ...})."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while set(event_ids) - set(self._done):
                left = deadline - time.monotonic()
                assert left > 0, f"no result for {set(event_ids) - set(self._done)} within {timeout} s"
                self._changed.wait(min(left, 1.0))
            return {e: self._done[e] for e in event_ids}

    def run(self, fn_index: int, data: list) -> dict:
        """Join and wait: the completed message. A refused join raises AssertionError with its text."""
        joined = self.join(fn_index, data)
        assert joined.status_code == 200, (joined.status_code, joined.text)
        event_id = joined.json()["event_id"]
        return self.results([event_id])[event_id]

    def close(self) -> None:
        self.http.close()


def _is_file_input(component: dict[str, Any]) -> bool:
    """A component whose value is a file reference (an image, a file, a gallery ...): its API
    schema has a ``path``."""
    return '"path"' in json.dumps(component.get("api_info") or {})


def file_inputs(config: dict) -> list[tuple[dict, list[int]]]:
    """Every queued event of the page with a file-typed input: (dependency, the input positions)."""
    components = {c["id"]: c for c in config["components"]}
    found = []
    for dep in config["dependencies"]:
        positions = [i for i, cid in enumerate(dep["inputs"]) if _is_file_input(components[cid])]
        if positions and dep.get("backend_fn", True):
            found.append((dep, positions))
    return found


def default_data(config: dict, dep: dict) -> list:
    """A plausible value for each input of ``dep``: the component's own default."""
    components = {c["id"]: c for c in config["components"]}
    data = []
    for cid in dep["inputs"]:
        component = components[cid]
        value = component.get("props", {}).get("value")
        data.append(None if component["type"] == "state" else value)
    return data
