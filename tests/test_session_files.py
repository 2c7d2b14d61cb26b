"""The ledger of visitors' files, on its own: a fake clock, a folder of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_viz.ui.session_files import FileLimits, SessionBudgetExceeded, SessionFiles


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def root(tmp_path) -> Path:
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache"


def _file(root: Path, name: str, size: int = 1000) -> str:
    folder = root / f"hash-{name}"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    return str(path)


def _ledger(root: Path, clock: Clock, **limits) -> SessionFiles:
    return SessionFiles([root], FileLimits(**{"grace_s": 10.0, **limits}), clock=clock)


def test_a_replaced_output_goes_after_the_grace_and_a_shared_one_stays(root):
    clock = Clock()
    ledger = _ledger(root, clock)
    first, second, shared = _file(root, "a.png"), _file(root, "b.png"), _file(root, "example.png")
    ledger.hold("s1", {"out:1": [first], "out:2": [shared]})
    ledger.hold("s2", {"out:2": [shared]})
    ledger.hold("s1", {"out:1": [second]})  # a new opacity: the old picture is let go
    ledger.end("s1")
    clock.now += 9
    assert ledger.sweep() == 0  # a browser may still be fetching it
    clock.now += 2
    assert ledger.sweep() == 2 and not Path(first).exists() and not Path(second).exists()
    assert not Path(first).parent.exists()  # Gradio's per-file folder goes with it
    assert Path(shared).exists()  # s2 still shows it
    ledger.end("s2")
    clock.now += 11
    ledger.sweep()
    assert not Path(shared).exists()


def test_only_files_it_saw_arrive_inside_the_folder_are_ever_deleted(root, tmp_path):
    clock = Clock()
    deleted = []
    ledger = SessionFiles([root], FileLimits(grace_s=0.0), clock=clock, protected=lambda: {str(Path(kept).resolve())},
                          on_delete=deleted.append)
    outside = tmp_path / "server-file.jpg"
    outside.write_bytes(b"secret")
    kept = _file(root, "default.png")  # a component's own (an example)
    someone = _file(root, "never-announced.png")  # in the folder, but no upload or output named it
    ledger.hold("hostile", {"in:1": [str(outside), someone, "../../etc/passwd", "\x00"], "out:2": [kept]})
    ledger.end("hostile")
    ledger.sweep()
    assert outside.exists() and Path(someone).exists() and Path(kept).exists()
    assert deleted == []  # nothing was deleted, so nothing to tell Gradio


def test_an_unclaimed_upload_expires_and_the_oldest_go_first_past_the_budget(root):
    clock = Clock()
    ledger = _ledger(root, clock, unclaimed_s=60.0, unclaimed_bytes=2500)
    old, middle, new = (_file(root, f"{n}.png") for n in ("old", "middle", "new"))
    ledger.uploaded([old])
    clock.now += 1
    ledger.uploaded([middle])
    clock.now += 1
    ledger.uploaded([new])
    ledger.sweep()  # 3,000 bytes waiting: the oldest goes
    assert not Path(old).exists() and Path(middle).exists() and Path(new).exists()
    ledger.hold("s", {"in:1": [middle]})  # used: claimed, no longer waiting
    clock.now += 60
    ledger.sweep()
    assert Path(middle).exists() and not Path(new).exists()


def test_a_session_budget_counts_each_upload_once(root):
    ledger = _ledger(root, Clock(), bytes_per_session=2500)
    a, b, c = (_file(root, f"{n}.png") for n in "abc")
    ledger.uploaded([a, b, c])
    for path in (a, b):
        ledger.admit("s", {"in:1": [path]})
        ledger.hold("s", {"in:1": [path]})
    ledger.admit("s", {"in:1": [b]})  # the same photo again (an architecture change): free
    with pytest.raises(SessionBudgetExceeded) as refused:
        ledger.admit("s", {"in:1": [c]})
    assert (refused.value.used, refused.value.limit) == (3000, 2500)
    ledger.admit("other", {"in:1": [c]})  # another session has a budget of its own


def test_idle_sessions_end_and_the_total_is_bounded(root):
    clock = Clock()
    ledger = _ledger(root, clock, grace_s=0.0, session_idle_s=600.0, total_bytes=2500, max_sessions=10)
    files = [_file(root, f"{i}.png") for i in range(3)]
    for i, path in enumerate(files):
        ledger.hold(f"s{i}", {"out:1": [path]})
        clock.now += 1
    ledger.sweep()  # 3,000 bytes held: the least recently active session's go first
    assert not Path(files[0]).exists() and Path(files[1]).exists() and Path(files[2]).exists()
    ledger.hold("s2", {"out:1": [files[2]]})  # s2 is still active
    clock.now += 599
    ledger.sweep()
    assert not Path(files[1]).exists() and Path(files[2]).exists()  # s1 idle for 600 s: ended


def test_limits_are_checked():
    with pytest.raises(ValueError, match="files_per_request"):
        FileLimits(files_per_request=0)
    with pytest.raises(ValueError, match="grace_s"):
        FileLimits(grace_s=float("nan"))
