"""Sessions after hours of uptime, and session ids a hostile client chooses (explorer level).

Time comes from a fake clock, so "three hours later" takes no time. The HTTP-level checks with
canary files in a sandboxed TMPDIR are in test_hostile_sessions.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_viz.i18n import tr
from resnet_viz.serve.downloads import DownloadFolders
from resnet_viz.serve.explorer import Explorer, UserError
from resnet_viz.serve.sessions import Analysis, Session, SessionStore, valid_session_id

HOSTILE_IDS = ["..", ".", "../../x", "/etc", "/tmp/resnet-viz-target", "~", "", "a/b", "a" * 65, "x\x00y", " id"]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _analysis(arch: str = "resnet18") -> Analysis:
    return Analysis(arch, {"predictions": []}, torch.zeros(3, 224, 224), None, {})


def test_sessions_expire_after_idle_time_not_after_uptime():
    clock = FakeClock()
    removed = []
    store = SessionStore(ttl_s=60, clock=clock)
    store.on_remove = removed.append
    store.put("a", Session(_analysis()))
    clock.now += 50
    assert store.get("a") is not None  # touched at +50
    clock.now += 50
    assert store.get("a") is not None  # 50 s idle < 60
    clock.now += 61
    assert store.get("a") is None and len(removed) == 1
    clock.now += 3 * 3600  # hours later, a new session lives its full TTL like the first one did
    store.put("b", Session(_analysis()))
    clock.now += 59
    assert store.get("b") is not None


def test_the_store_is_bounded_and_reports_what_leaves():
    removed = []
    store = SessionStore(max_sessions=2, clock=FakeClock())
    store.on_remove = removed.append
    sessions = [Session(_analysis()) for _ in range(4)]
    store.put("a", sessions[0])
    store.put("b", sessions[1])
    store.put("a", sessions[2])  # replaced: the old one leaves
    store.put("c", sessions[3])  # over the bound: the least recently used ("b") leaves
    store.drop("c")
    assert removed == [sessions[0], sessions[1], sessions[3]]
    assert len(store) == 1 and store.get("a") is sessions[2]


def test_gradio_session_ids_are_valid_and_hostile_ones_are_not():
    assert valid_session_id("k2x8d9q1zt")  # the browser: Math.random().toString(36).substring(2)
    assert valid_session_id(str(uuid.uuid4()))  # gradio_client
    assert valid_session_id("api")
    for bad in HOSTILE_IDS + [None, 7]:
        assert not valid_session_id(bad), bad


def test_a_visitor_after_the_ttl_still_gets_the_example(registry, examples):
    """The bug: the shared example copied its first visitor's old timestamp, so after the TTL each
    new visitor's session was expired the moment it was stored ("Analyse a photo first")."""
    clock = FakeClock()
    explorer = Explorer(registry, SessionStore(ttl_s=2, clock=clock))
    chelsea = str(next(p for p in examples if p.name == "chelsea.png"))
    first = explorer.analyze_example(chelsea, "resnet18", "visitor1")
    assert explorer.session("visitor1").report["predictions"]
    clock.now += 3  # the first visitor idles past the TTL
    with pytest.raises(UserError, match="Upload your photo again"):
        explorer.session("visitor1")  # their own session did expire, as it should, and they are told
    for hours in (1, 5, 48):
        clock.now += 3600 * hours
        later = explorer.analyze_example(chelsea, "resnet18", f"visitor-{hours}h")
        assert later.analysis is first.analysis  # the shared example, not analysed again
        assert explorer.session(f"visitor-{hours}h").report["predictions"] == first.report["predictions"]
        assert explorer.ladder(later)["target"]["index"] == first.report["predictions"][0]["index"]
    assert len(explorer.store) == 1  # the example itself is not a session that can expire


@pytest.mark.slow
def test_explanations_do_not_need_the_uploaded_file(registry, examples, tmp_path):
    """Gradio deletes old uploads (delete_cache); the session keeps the preprocessed input instead."""
    upload = tmp_path / "upload.png"
    upload.write_bytes(examples[0].read_bytes())
    explorer = Explorer(registry, SessionStore(clock=FakeClock()))
    session = explorer.analyze(str(upload), "resnet18", "visitor")
    upload.unlink()
    assert explorer.explain(session, "gradcam", None, "C5")["map"].shape == (224, 224)
    assert explorer.explain(session, "occlusion", None, "C5")["map"].shape == (224, 224)
    assert explorer.gradient_flow(session)["blocks"]


@pytest.mark.parametrize("session_id", HOSTILE_IDS)
def test_hostile_session_ids_get_nothing_written_or_deleted(registry, examples, tmp_path, session_id):
    root = tmp_path / "downloads"
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    explorer = Explorer(registry, SessionStore(clock=FakeClock()), downloads=DownloadFolders(root))
    with pytest.raises(UserError, match="session is not valid"):
        explorer.analyze(str(examples[0]), "resnet18", session_id)
    with pytest.raises(UserError, match="session is not valid"):
        explorer.analyze_example(str(examples[0]), "resnet18", session_id)
    with pytest.raises(UserError, match="Analyse a photo first"):
        explorer.session(session_id)
    explorer.forget(session_id)
    assert canary.read_text() == "still here"
    assert list(root.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["canary.txt", "downloads"]
    assert len(explorer.store) == 0


def test_a_download_lives_in_a_random_folder_named_by_the_server(registry, examples, tmp_path):
    explorer = Explorer(registry, SessionStore(clock=FakeClock()), downloads=DownloadFolders(tmp_path))
    session = explorer.analyze(str(examples[0]), "resnet18", "abc123")
    folder = explorer.downloads.folder(session)
    assert explorer.downloads.folder(session) == folder
    assert folder.parent == tmp_path.resolve() and len(folder.name) == 32
    assert "abc123" not in str(folder) and examples[0].stem not in str(folder)
    other = explorer.analyze(str(examples[0]), "resnet18", "def456")
    assert explorer.downloads.folder(other) != folder


@pytest.mark.slow
def test_gradios_cache_cleanup_leaves_the_page_working(registry, examples, tmp_path):
    """Gradio deletes its temporary files older than an hour (delete_cache): run that cleanup with
    age 0 and check the page still has its default photo, new visitors still get the example, and
    an older visitor can still explain their photo although its upload is gone."""
    import sys

    from gradio.route_utils import delete_files_created_by_app

    from .app_server import RestClient
    from .support import ROOT

    sys.path.insert(0, str(ROOT))
    import app

    explorer = Explorer(registry, SessionStore())
    demo = app.build_demo("resnet18", explorer=explorer)
    _, url, _ = demo.launch(prevent_thread_lock=True, **{**app.launch_kwargs(port=None), "quiet": True})
    try:
        rest = RestClient(url)
        own = tmp_path / "my-photo.png"  # not an example: Gradio keeps cached examples, by content
        Image.open(examples[2]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(own)
        photo = rest.upload(own)
        started = rest.http.post("/gradio_api/call/on_photo", json={
            "data": [photo, "resnet18", "C2", "mean", 8, 0.5, "gradcam"], "session_hash": "older"})
        with rest.http.stream("GET", f"/gradio_api/call/on_photo/{started.json()['event_id']}") as stream:
            assert any(line.startswith("event: complete") for line in stream.iter_lines())

        delete_files_created_by_app(demo, age=0)  # what runs every 10 minutes, as if an hour had passed
        assert not Path(photo["path"]).exists()  # the upload is gone, as Gradio intended
        config = rest.http.get("/config").json()
        (default,) = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "photo"]
        assert Path(default["path"]).is_file()  # the page's own photo is kept
        outputs = rest.call("on_load", "resnet18", "C2", "mean", 8, 0.5, "gradcam")
        assert "last analysis" in outputs[1]  # the status line, and the top-5 among the tabs' outputs
        assert any(isinstance(o, dict) and o.get("confidences") for o in outputs)
        assert explorer.explain(explorer.session("older"), "integrated_gradients", None, "C5")["map"].shape == (224, 224)
        rest.close()
    finally:
        demo.close()


def _own(nbytes: int = 0) -> Session:
    """A visitor's session around their own photo, holding ``nbytes`` of rendered pictures."""
    session = Session(_analysis())
    if nbytes:
        session.outputs.grid = Image.new("L", (nbytes, 1))
    return session


def _page_load() -> Session:
    """A session that only shows the shared example (what every page load makes)."""
    return Session(Analysis("resnet18", {"predictions": []}, torch.zeros(3, 224, 224), None, {}, shared=True))


def test_a_flood_of_page_loads_evicts_page_loads_not_a_visitor():
    clock = FakeClock()
    removed = []
    store = SessionStore(max_sessions=8, clock=clock)
    store.on_remove = removed.append
    visitor = _own()
    store.put("visitor", visitor)
    for i in range(70):  # the attack: 70 page loads with fresh ids
        clock.now += 0.1
        store.put(f"drive-by-{i}", _page_load())
    assert store.get("visitor") is visitor
    assert len(store) == 8 and len(removed) == 63 and visitor not in removed
    assert [store.get(f"drive-by-{i}") is not None for i in range(63, 70)] == [True] * 7  # the newest stay


def test_the_memory_budget_counts_what_each_session_holds_alone():
    shared = _page_load()
    ladder = shared.analysis.derived("ladder", lambda: {"maps": {"C5": np.zeros((224, 224), np.float32)}})
    shared.outputs.attribution = ladder  # shown as it is, as the Grad-CAM tab does for the top-1
    assert shared.nbytes < 10_000  # the example's tensors and results belong to nobody in particular
    own = _own(1_000_000)
    assert own.nbytes >= 1_000_000 + 3 * 224 * 224 * 4  # its picture and its own input tensor
    clock = FakeClock()
    store = SessionStore(max_bytes=3 * own.nbytes + 1000, clock=clock)
    sessions = [_own(1_000_000) for _ in range(5)]
    for i, session in enumerate(sessions):
        clock.now += 1
        store.put(f"visitor-{i}", session)
    # Over the budget, the least recently used own photos leave, one by one, until it fits.
    assert [store.get(f"visitor-{i}") is not None for i in range(5)] == [False, False, True, True, True]
    assert store.session_bytes() <= store.max_bytes


def test_idle_sessions_leave_first_then_page_loads_then_the_least_recently_used():
    clock = FakeClock()
    store = SessionStore(max_sessions=3, idle_s=60, clock=clock)
    store.put("stepped-away", _own())
    clock.now += 120  # idle for two minutes: first to go, though it has its own photo
    store.put("working", _own())
    clock.now += 1
    store.put("looking-at-the-example", _page_load())
    clock.now += 1
    store.put("newcomer", _own())
    assert store.get("stepped-away") is None and store.get("working") is not None
    clock.now += 1
    store.put("another", _own())  # no one idle now: the page load goes before any own photo
    assert store.get("looking-at-the-example") is None
    assert {k for k in ("working", "newcomer", "another") if store.get(k) is not None} == {"working", "newcomer", "another"}
    clock.now += 1
    store.put("yet-another", _own())  # only own photos left: the least recently used one goes
    assert store.get("working") is None


@pytest.mark.slow
def test_an_evicted_visitor_is_told_to_upload_again(registry, examples):
    clock = FakeClock()
    explorer = Explorer(registry, SessionStore(max_sessions=1, ttl_s=60, clock=clock))
    explorer.analyze(str(examples[0]), "resnet18", "first")
    explorer.analyze(str(examples[1]), "resnet18", "second")  # the store keeps one: "first" leaves
    for lang in ("en", "ko"):
        with pytest.raises(UserError) as cleared:
            explorer.session("first", lang)
        assert str(cleared.value) == tr("error_evicted", lang)
    assert "Upload your photo again" in tr("error_evicted", "en")
    clock.now += 61  # expired after the TTL: the same words
    with pytest.raises(UserError, match="Upload your photo again"):
        explorer.session("second")
    explorer.analyze(str(examples[0]), "resnet18", "first")  # back with a photo: a session again
    assert explorer.session("first").report["predictions"]
    explorer.forget("first")  # the tab closed: nothing to tell
    with pytest.raises(UserError, match="Analyse a photo first"):
        explorer.session("first")
    with pytest.raises(UserError, match="Analyse a photo first"):
        explorer.session("never-seen")


def test_the_evicted_ids_remembered_are_bounded():
    store = SessionStore(max_sessions=1, remember_evicted=10, clock=FakeClock())
    for i in range(100):
        store.put(f"s{i}", _own())
    assert len(store._evicted) == 10 and store.evicted("s98") and not store.evicted("s0")
