"""The lab's Degradation section without a browser: recorded curves on open, one run per server,
curves streaming, status lines in English and Korean, the run held while a model computes, Cancel."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from gradio.components.plot import PlotData

from resnet_viz import DegradationConfig
from resnet_viz.serve.degradation_lab import RECORDED, DegradationLab
from resnet_viz.serve.explorer import UserError
from resnet_viz.serve.gate import Activity, ModelGate
from resnet_viz.ui.degradation import DegradationSection

from .support import random_registry

# Tiny but real: the offline data, plain-8/14 and ResNet-8/14, a point every 2 steps.
TINY = DegradationConfig(depths=(8, 14), steps=40, batch_size=8, log_every=2, eval_every=10, eval_size=20,
                         final_train_size=20)


def _skipped(value) -> bool:
    """gr.skip() is an empty update dict."""
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def _stopped(timer) -> bool:
    return getattr(timer, "active", None) is False


@pytest.fixture(scope="module")
def lab():
    # forkserver: the module's runs fork from one server that imported torch once (the app spawns).
    held = DegradationLab(Activity(), context="forkserver")
    yield held
    held.close()


@pytest.fixture()
def section(lab):
    yield DegradationSection(lab, TINY)
    lab.cancel(lab._owner or "")


def _until(lab: DegradationLab, condition, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = lab.snapshot()
        if snap is not None and condition(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"timed out; last state {snap.state if snap else None!r}")


def test_the_recorded_curves_with_how_they_were_made_on_open():
    meta = json.loads(RECORDED.read_text())["recorded"]  # the committed file, read independently
    section = DegradationSection(DegradationLab(Activity()), DegradationConfig())
    plot, status, timer, key = section.open("en", None)
    assert isinstance(plot, PlotData) and plot.type == "matplotlib" and _stopped(timer)
    assert f"`{meta['command']}`" in status and meta["machine"] in status and meta["date"] in status
    assert status.startswith("Recorded curves:") and "Press **Start**" in status
    ko = section.open("ko", None)[1]
    assert ko.startswith("기록된 곡선:") and meta["date"] in ko and "**시작**" in ko
    # A visitor who has it is not sent it again, and another visitor gets the chart drawn once.
    assert _skipped(section.open("en", key)[0])
    assert section.open("en", None)[0] is plot and section.plots.drawn == 2  # en and ko
    assert section.lab._runner is None  # opening the page starts no process


def test_without_a_recorded_file_the_page_says_so(tmp_path):
    section = DegradationSection(DegradationLab(recorded=tmp_path / "missing.json"), TINY)
    plot, status, _, _ = section.open("en", None)
    assert plot is None and status.startswith("No recorded curves (FileNotFoundError") and "Press **Start**" in status


@pytest.mark.slow
def test_one_run_per_server_streams_its_curves_to_every_visitor(section, lab):
    plot, status, note, timer, key = section.start("alice", "en", [8, 14], "offline", 40)
    assert note == "Started: 4 networks, 40 steps each, on the offline data." and timer.active
    assert "Live run: **starting" in status and "step 0 of 40" in status
    # A second visitor: refused, told so, and shown the running run (not the recorded curves).
    _, bob_status, bob_note, bob_timer, _ = section.start("bob", "ko", [8], "offline", 40)
    assert bob_note.startswith("다른 방문자가 시작한 학습이 이미 진행 중입니다") and bob_timer.active
    assert bob_status.startswith("실시간 학습: **") and "40 스텝 중" in bob_status
    assert lab.config().depths == (8, 14) and lab.owner_is("alice")  # still alice's run
    # Carol's page was open on the recorded curves before the run began: her slow timer brings it.
    carol_plot, carol_status, carol_timer, _ = section.watch("en", ("recorded", "en"))
    assert "Live run: **" in carol_status and carol_timer.active  # her fast timer takes over
    plots, keys = [], {key}
    while True:  # the page's timer
        plot, status, timer, key = section.tick("en", key)
        if not _skipped(plot):
            assert isinstance(plot, PlotData)
            plots.append(plot)
            if not _stopped(timer):  # a page that already shows the run gets nothing from its slow timer
                assert all(_skipped(v) for v in section.watch("en", key))
        keys.add(key)
        if _stopped(timer):
            break
        time.sleep(0.2)
    assert len(plots) >= 2  # the curves grew while it ran, not only at the end
    assert status.startswith("Live run: **finished** · step 40 of 40 · ") and status.endswith(" s")
    ko = section.status(lab.snapshot(), "ko")
    assert ko.startswith("실시간 학습: **완료** · 40 스텝 중 40 · ") and ko.endswith("초")
    # A visitor arriving now sees the last run's curves, with the timer off.
    plot, status, timer, _ = section.open("en", None)
    assert isinstance(plot, PlotData) and "finished" in status and _stopped(timer)
    assert all(_skipped(v) for v in section.watch("en", ("recorded", "en")))  # no run active: the slow timer is silent


def test_the_run_is_held_while_a_model_computes_and_cancel_stops_it(section, lab):
    gate = ModelGate(lab_activity := Activity())
    lab_activity.listeners.append(lab.on_activity)
    section.start("alice", "en", [8], "offline", 10_000)
    snap = _until(lab, lambda s: s.state == "running" and s.result is not None and s.result.step >= 4)
    pauses = lab.pauses
    with gate.short():  # an analysis: the run stops between two rounds and stays there
        assert lab.snapshot().paused
        time.sleep(0.6)  # the round in flight ends
        held = lab.snapshot().result.step
        time.sleep(1.0)
        snap = lab.snapshot()
        assert snap.result.step == held and "paused while the app's models compute" in section.status(snap, "en")
        assert "앱의 모델이 계산하는 동안 잠시 멈춤" in section.status(snap, "ko")
    assert lab.pauses == pauses + 1 and not lab.snapshot().paused
    _until(lab, lambda s: s.result.step > held, timeout=30)  # resumed
    assert f"held {lab.pauses} times so far" in section.status(lab.snapshot(), "en")
    assert section.cancel("bob", "en") == "Only the visitor who started this run can cancel it."
    assert lab.snapshot().active
    assert section.cancel("alice", "ko") == "취소했습니다."
    snap = lab.snapshot()
    assert snap.state == "cancelled" and not snap.active
    assert section.status(snap, "en").startswith("Live run: **cancelled** · step ")
    with gate.short():  # a cancelled run ignores the app's activity
        assert not lab.snapshot().paused
    assert section.cancel("alice", "en") == "No run is going."
    lab_activity.listeners.remove(lab.on_activity)


def test_a_run_started_while_a_model_computes_starts_held(lab, section):
    activity = Activity()
    activity.listeners.append(lab.on_activity)
    gate = ModelGate(activity)
    with gate.short():
        assert section.lab.start(TINY, owner="carol")
        assert lab.snapshot().paused
    assert not lab.snapshot().paused
    activity.listeners.remove(lab.on_activity)
    assert lab.snapshot().active and lab.cancel("carol")


@pytest.mark.parametrize(
    ("depths", "data", "steps", "message"),
    [
        ([], "offline", 40, "Choose at least one depth (one of 8, 14, 20, 32, 44, 56)."),
        ([20, 21], "offline", 40, "Depth 21 is not offered here; choose from 8, 14, 20, 32, 44, 56."),
        ([True], "offline", 40, "Depth True is not offered here"),
        ([20], "imagenet", 40, "Unknown data 'imagenet'; choose offline or cifar10."),
        ([20], "offline", 5, "Steps must be a whole number from 10 to 64000, got 5."),
        ([20], "offline", 12.5, "Steps must be a whole number from 10 to 64000, got 12.5."),
        ([20], "offline", None, "Steps must be a whole number from 10 to 64000, got None."),
    ],
)
def test_bad_controls_get_one_message_naming_the_value(depths, data, steps, message):
    section = DegradationSection(DegradationLab(), TINY)
    with pytest.raises(UserError) as caught:
        section.start("alice", "en", depths, data, steps)
    assert str(caught.value).startswith(message)
    assert section.lab._runner is None  # nothing was started


def test_cifar10_not_downloaded_says_what_to_do_before_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache on every machine
    section = DegradationSection(DegradationLab(), TINY)
    with pytest.raises(UserError) as caught:
        section.start("alice", "en", [20], "cifar10", 100)
    text = str(caught.value)
    assert text == (
        "CIFAR-10 is not on this server. Run `python -m resnet_viz download --data cifar10` on a machine with "
        "internet, or choose the offline data."
    )
    assert str(tmp_path) not in text  # the page never shows a visitor the server's folders
    with pytest.raises(UserError, match="이 서버에 CIFAR-10이 없습니다"):
        section.start("alice", "ko", [20], "cifar10", 100)
    assert section.lab._runner is None


def test_building_the_app_starts_nothing_and_closing_it_stops_the_run():
    import sys

    from .support import ROOT

    sys.path.insert(0, str(ROOT))
    import app
    from resnet_viz.serve.explorer import Explorer

    registry = random_registry()
    explorer = Explorer(registry, degradation=DegradationLab(registry.activity, context="forkserver"))
    demo = app.build_demo("resnet18", explorer=explorer, degradation_config=TINY)
    assert explorer.degradation._runner is None and explorer.degradation.on_activity in registry.activity.listeners
    assert explorer.degradation.start(dataclasses.replace(TINY, depths=(8,), steps=100_000), "x")
    demo.close()  # never launched: Gradio's part is a no-op, the run still stops
    assert explorer.degradation.snapshot().state == "cancelled"
