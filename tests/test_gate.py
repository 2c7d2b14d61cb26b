"""The model gate: one computation at a time, short requests go between the slices of long ones."""

from __future__ import annotations

import threading

import pytest

from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.gate import ModelGate
from resnet_viz.serve.sessions import SessionStore

from .support import random_registry


def _run(target) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_short_work_runs_one_at_a_time():
    gate, inside, most = ModelGate(), [0], [0]
    lock = threading.Lock()

    def work():
        with gate.short():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.01)
            with lock:
                inside[0] -= 1

    threads = [_run(work) for _ in range(6)]
    for t in threads:
        t.join()
    assert most[0] == 1


def test_a_short_request_waits_for_one_slice_not_the_whole_long_job():
    gate, log = ModelGate(), []
    slice_started, short_queued = threading.Event(), threading.Event()

    def long_job():
        with gate.long() as lease:
            for i in range(5):
                log.append(f"slice {i}")
                if i == 1:
                    slice_started.set()
                    short_queued.wait(5)  # the short request is now waiting at the gate
                    while gate._short_waiting == 0:
                        threading.Event().wait(0.001)
                lease.pause_for_short()
            assert lease.pauses == 1

    def short_job():
        slice_started.wait(5)
        short_queued.set()
        with gate.short():
            log.append("short")

    threads = [_run(long_job), _run(short_job)]
    for t in threads:
        t.join(10)
    assert log == ["slice 0", "slice 1", "short", "slice 2", "slice 3", "slice 4"]
    assert not gate.busy


def test_long_jobs_take_turns_and_a_pause_without_waiters_costs_nothing():
    gate, log = ModelGate(), []

    def long_job(name):
        with gate.long() as lease:
            for _ in range(3):
                log.append(name)
                lease.pause_for_short()
            assert lease.pauses == 0

    threads = [_run(lambda: long_job("a")), _run(lambda: long_job("b"))]
    for t in threads:
        t.join(10)
    assert log in (["a"] * 3 + ["b"] * 3, ["b"] * 3 + ["a"] * 3)


@pytest.mark.slow
def test_an_analysis_finishes_while_an_occlusion_runs(examples):
    """The real thing: a visitor's analysis arrives during another's occlusion and is done before it."""
    explorer = Explorer(random_registry(), SessionStore())
    slow = explorer.analyze(str(examples[0]), "resnet18", "slow-visitor")
    events, started = [], threading.Event()

    def progress(fraction: float) -> None:
        events.append(("occlusion", fraction))
        started.set()

    def occlusion():
        explorer.explain(slow, "occlusion", None, "C5", progress=progress)
        events.append(("occlusion", "done"))

    def analysis():
        started.wait(30)
        explorer.analyze(str(examples[1]), "resnet18", "quick-visitor")
        events.append(("analysis", "done"))

    threads = [_run(occlusion), _run(analysis)]
    for t in threads:
        t.join(120)
    analysed = events.index(("analysis", "done"))
    assert analysed < events.index(("occlusion", "done"))
    later_batches = [f for who, f in events[analysed:] if who == "occlusion" and f != "done"]
    assert len(later_batches) >= 2  # the occlusion was still mid-way: the analysis did not wait for it
    assert explorer.registry.get("resnet18").gate.busy is False


def test_listeners_hear_when_the_models_start_and_stop_computing():
    from resnet_viz.serve.gate import Activity

    activity, heard = Activity(), []
    activity.listeners.append(heard.append)
    a, b = ModelGate(activity), ModelGate(activity)
    with a.short():
        with b.short():  # a second model busy too: no new news
            pass
    assert heard == [True, False]
    with a.long() as lease:
        lease.pause_for_short()  # nobody waiting: it keeps the model, no news
    assert heard == [True, False, True, False] and activity.active == 0


def test_the_registry_reports_all_its_models_activity():
    registry = random_registry()
    heard = []
    registry.activity.listeners.append(heard.append)
    with registry.lease("resnet18"):
        assert heard == [True]
    assert heard == [True, False]
