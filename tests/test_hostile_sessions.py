"""Session ids chosen by an attacker, over HTTP, with canary files in a sandboxed TMPDIR.

The bug this guards against: ``GET /gradio_api/heartbeat/%2E%2E``, closed after one line, ran the
unload handler with the session id ``..``, which removed the parent of the download folder (the
server's temp directory); a client whose session hash was an absolute path made the server create
that directory and write a zip into it. Here every heartbeat, every page event and every named
endpoint is sent with hostile session ids; nothing outside the app's own folders may be created or
deleted, and the app keeps serving.
"""

from __future__ import annotations

import http.client
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .app_server import RestClient, running_app
from .support import ROOT, random_registry


class RecordingExplorer(Explorer):
    """The app's explorer, noting which session ids the unload handler was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.forgotten: list[str] = []

    def forget(self, session_id: str) -> None:
        self.forgotten.append(session_id)
        super().forget(session_id)


def _tree(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    """Every file and folder under ``root`` (outside ``skip``), with the content of files."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        found[str(path.relative_to(root))] = path.read_text() if path.is_file() else "<dir>"
    return found


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """tmp/ is the server's TMPDIR; canaries sit in it and beside it."""
    top = tmp_path_factory.mktemp("hostile")
    tmp = top / "tmp"
    for path in (top / "canary.txt", tmp / "canary.txt", tmp / "other-app" / "data.txt", tmp / "x" / "keep.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"canary {path.name}")
    return top


@pytest.fixture(scope="module")
def app(sandbox):
    saved = tempfile.tempdir
    tempfile.tempdir = str(sandbox / "tmp")  # what TMPDIR=<sandbox>/tmp does, in this process
    try:
        explorer = RecordingExplorer(random_registry(), SessionStore())
        assert explorer.downloads.root.parent == (sandbox / "tmp").resolve()
        with running_app("resnet18", explorer=explorer) as (url, _):
            yield url, explorer
    finally:
        tempfile.tempdir = saved


def _heartbeat(url: str, session_path: str) -> None:
    """Open the heartbeat stream with a raw (not normalised) path, read one line, hang up."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", f"/gradio_api/heartbeat/{session_path}")
    response = connection.getresponse()
    if response.status == 200:
        response.readline()
    connection.close()


def _defaults(url: str, rest: RestClient, photo: dict) -> list[tuple[str, list]]:
    """(api name, a plausible payload) for every event of the page and every named endpoint."""
    config = rest.http.get("/config").json()
    components = {c["id"]: c for c in config["components"]}
    calls = []
    for dep in config["dependencies"]:
        if dep.get("api_visibility") == "private" or not dep.get("api_name"):
            continue
        data = []
        for component_id in dep["inputs"]:
            component = components[component_id]
            kind, value = component["type"], component.get("props", {}).get("value")
            if kind == "image" or (isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData"):
                value = photo
            elif kind == "state":
                value = None
            elif kind == "dataset":
                value = 0
            data.append(value)
        calls.append((dep["api_name"], data))
    return calls


HOSTILE = ["..", ".", "../../x", "~"]


@pytest.mark.slow
def test_hostile_session_ids_touch_nothing_outside_the_apps_folders(app, sandbox):
    url, explorer = app
    own = (explorer.downloads.root, Path(tempfile.gettempdir()) / "gradio")
    before = _tree(sandbox, own)
    absolute = sandbox / "absolute-target"
    rest = RestClient(url)
    photo = rest.upload(ROOT / "assets" / "chelsea.png")

    for raw in ("%2E%2E", "%2E", "~", "..%2F..%2Fx", "%2Ftmp"):
        _heartbeat(url, raw)
    calls = _defaults(url, rest, photo)
    assert {"on_load", "on_download", "analyze", "attribute", "gradient_flow", "lesion"} <= {n for n, _ in calls}
    for session_id in HOSTILE + ["../../x/y", str(absolute), str(sandbox / "tmp")]:
        for name, data in calls:
            response = rest.http.post(f"/gradio_api/call/{name}", json={"data": data, "session_hash": session_id})
            if response.status_code == 200:  # then read its result, error or not, so it has run
                with rest.http.stream("GET", f"/gradio_api/call/{name}/{response.json()['event_id']}") as stream:
                    for line in stream.iter_lines():
                        if line.startswith("event:") and line.split(":", 1)[1].strip() in ("complete", "error"):
                            break

    deadline = time.monotonic() + 10  # unload handlers run in the background after the hang-up
    while not {"..", "."} <= set(explorer.forgotten) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {"..", ".", "~"} <= set(explorer.forgotten), explorer.forgotten  # the attack did reach forget()

    assert _tree(sandbox, own) == before  # nothing created, changed or deleted outside the app's folders
    assert not absolute.exists()
    assert list(explorer.downloads.root.iterdir()) == []  # no hostile id got a download folder
    assert explorer.downloads.root.is_dir()
    # ... and the app still serves a normal visitor.
    (report,) = rest.call("analyze", photo, "resnet18")
    assert report["predictions"]
    rest.close()
