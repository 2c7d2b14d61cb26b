"""The degradation lab's run never outlives the app, costs what a class can wait for, and ends when
its starter's page has gone."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from resnet_viz.degradation import DegradationConfig
from resnet_viz.serve.degradation_lab import HEARTBEAT_TIMEOUT_S, MAX_LAYER_STEPS, DegradationLab, run_cost
from resnet_viz.serve.explorer import UserError
from resnet_viz.serve.gate import Activity
from resnet_viz.ui.degradation import DegradationSection

from .support import ROOT, until_snapshot

TINY = DegradationConfig(depths=(8, 14), steps=40, batch_size=8, log_every=2, eval_every=10, eval_size=20,
                         final_train_size=20)
LONG = dataclasses.replace(TINY, depths=(8,), steps=100_000)  # 200,000 layer-steps: within the budget


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: only its exit status is left for its parent to collect)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "paused", "context"),
    [(signal.SIGKILL, False, "spawn"), (signal.SIGKILL, True, "spawn"), (signal.SIGTERM, False, "spawn"),
     (signal.SIGKILL, True, "forkserver")],
    ids=["killed", "killed-while-paused", "terminated", "forkserver-killed-while-paused"],
)
@pytest.mark.slow
def test_the_run_and_its_helper_die_with_the_app(sig, paused, context):
    args = [sys.executable, "-m", "tests.lab_parent", "--context", context] + (["--paused"] if paused else [])
    parent = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = []
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read()
        started = json.loads(line)
        pids = [started["child"], *started["helpers"]]
        assert started["helpers"], "multiprocessing's helper (resource tracker, fork server) should be running"
        assert all(_alive(pid) for pid in pids)
        os.kill(parent.pid, sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "outlived the app"
    finally:
        for pid in [parent.pid, *pids]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # only processes this test started
        parent.wait(timeout=30)


# --- the budget ---------------------------------------------------------------------------------


def test_the_budget_fits_the_default_run_and_refuses_hours():
    assert run_cost(DegradationConfig()) <= MAX_LAYER_STEPS  # the section's default run starts
    four = DegradationConfig(depths=(20, 32, 44, 56))
    assert run_cost(dataclasses.replace(four, steps=2_368)) <= MAX_LAYER_STEPS
    assert run_cost(dataclasses.replace(four, steps=64_000)) > 25 * MAX_LAYER_STEPS  # the paper's: hours
    cifar = dataclasses.replace(DegradationConfig(), data="cifar10")
    assert run_cost(cifar) == 8 * run_cost(DegradationConfig())  # 32 x 32 images cost more a step


@pytest.mark.parametrize(("lang", "words"), [("en", ["minutes", "at most 181 at these depths"]), ("ko", ["분", "최대 181 스텝"])])
def test_a_run_over_the_budget_is_refused_with_a_translated_message(lang, words):
    lab = DegradationLab(max_cost=1_000)  # TINY: (8 + 14 layers) x batch 8/32 = 5.5 layer-steps a step
    section = DegradationSection(lab, TINY)
    with pytest.raises(UserError) as refused:
        section.start("alice", lang, [8, 14], "offline", 200)  # 1,100 layer-steps
    assert all(word in str(refused.value) for word in words), str(refused.value)
    assert lab.snapshot() is None  # nothing was started: no process
    lab.close()


# --- the starter's heartbeat --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clocked():
    clock = FakeClock()
    # forkserver: this module's runs fork from one server that imported torch once.
    lab = DegradationLab(Activity(), context="forkserver", clock=clock, heartbeat_timeout_s=60.0)
    yield lab, clock
    lab.close()


def test_a_run_whose_starter_left_is_ended_and_the_others_are_told_why(clocked):
    lab, clock = clocked
    section = DegradationSection(lab, TINY)
    assert HEARTBEAT_TIMEOUT_S == 60.0
    assert lab.start(LONG, owner="alice")
    until_snapshot(lab, lambda s: s.state == "running", timeout=120.0)
    clock.now += 50
    lab.heartbeat("bob")  # another visitor's page: not the starter's
    lab.heartbeat("alice")
    clock.now += 50  # 100 s since the start, 50 since alice's page last ticked
    assert lab.check_starter() is False and lab.snapshot().active
    clock.now += 11  # 61 s of silence from alice's page
    lab.check_starter()  # (the lab's own watchdog may have got there first)
    snap = until_snapshot(lab, lambda s: not s.active, timeout=30)
    assert snap.state == "cancelled" and lab.ended_reason(snap.run_id) == "starter_left"
    assert "sent no sign of life for 60 s" in section.status(snap, "en")
    assert "60초 동안 아무 신호가 없어" in section.status(snap, "ko")
    assert lab.start(TINY, owner="bob")  # the lab is free again
    assert lab.ended_reason(lab.snapshot().run_id) is None
    lab.cancel("bob")


def test_a_run_ended_before_its_first_point_says_why_too(clocked):
    lab, clock = clocked
    section = DegradationSection(lab, TINY)
    assert lab.start(LONG, owner="alice")
    clock.now += 61  # still importing torch, or already training: either way, no page is left
    lab.check_starter()
    snap = until_snapshot(lab, lambda s: not s.active, timeout=30)
    assert lab.ended_reason(snap.run_id) == "starter_left"
    assert "sent no sign of life" in section.status(snap, "en")


def test_the_page_timers_are_the_starters_heartbeat(clocked):
    """The section's timer and page-load events, as Gradio calls them, count as heartbeats."""
    import gradio as gr

    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.registry import ModelRegistry
    from resnet_viz.ui import degradation
    from resnet_viz.ui.page import Page

    lab, clock = clocked
    explorer = Explorer(ModelRegistry("random", "cpu"), degradation=lab)
    with gr.Blocks() as demo:
        with gr.Tab() as tab:
            degradation.build(Page(explorer, "resnet18"), tab, TINY)
    handlers = {fn.fn.__name__: fn.fn for fn in demo.fns.values() if fn.fn is not None}
    request = SimpleNamespace(session_hash="alice", headers={})
    assert lab.start(LONG, owner="alice")
    for name in ("on_tick", "on_watch", "on_open"):
        clock.now += 59
        handlers[name](request, None)
        assert lab.check_starter() is False, name
    clock.now += 61
    assert lab.check_starter() is True
    until_snapshot(lab, lambda s: not s.active, timeout=30)
