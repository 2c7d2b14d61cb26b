"""The lab's Degradation section without a browser: recorded curves on open, one run per server,
curves streaming, status lines in English and Korean, the run held while a model computes, Cancel."""

from __future__ import annotations

import dataclasses
import json
import time

import gradio as gr
import pytest
from gradio.components.plot import PlotData

from resnet_viz import DegradationConfig
from resnet_viz.degradation.presets import PRESETS
from resnet_viz.degradation.runner import RunSnapshot
from resnet_viz.i18n import UserError
from resnet_viz.serve.degradation_lab import RECORDED, DegradationLab
from resnet_viz.serve.gate import Activity, ModelGate
from resnet_viz.ui.degradation import DegradationSection, chart_words

from .support import random_registry, until_snapshot

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


def _recorded_errors(meta_payload: dict) -> str:
    return ", ".join(f"{n['name']} {100 * n['final_train_error']:.1f}%" for n in meta_payload["networks"])


def test_the_recorded_curves_with_how_they_were_made_on_open():
    payload = json.loads(RECORDED.read_text())  # the committed file, read independently
    meta = payload["recorded"]
    section = DegradationSection(DegradationLab(Activity()), DegradationConfig())
    plot, grads, status, timer, key = section.open("en", None)
    assert isinstance(plot, PlotData) and plot.type == "matplotlib" and _stopped(timer)
    assert isinstance(grads, PlotData)  # the gradients at initialisation, beside the curves
    assert f"`{meta['command']}`" in status and meta["machine"] in status and meta["date"] in status
    assert status.startswith("Recorded curves (Default run):") and "Press **Start**" in status
    assert f"final training error: {_recorded_errors(payload)}." in status
    assert "Live run" not in status
    ko = section.open("ko", None)[2]
    assert ko.startswith("기록된 곡선 (기본 실험):") and meta["date"] in ko and "**시작**" in ko
    assert f"최종 학습 오차: {_recorded_errors(payload)}." in ko
    # A visitor who has them is not sent them again, and another visitor gets the charts drawn once.
    assert _skipped(section.open("en", key)[0]) and _skipped(section.open("en", key)[1])
    again = section.open("en", None)
    assert again[0] is plot and again[1] is grads and section.plots.drawn == 4  # two charts, en and ko
    assert section.lab._runner is None  # opening the page starts no process


def test_without_a_recorded_file_the_page_says_so(tmp_path):
    section = DegradationSection(DegradationLab(recorded=tmp_path / "missing.json"), TINY)
    plot, grads, status, _, _ = section.open("en", None)
    assert plot is None and grads is None
    assert status.startswith("No recorded curves (FileNotFoundError") and "Press **Start**" in status


@pytest.mark.slow
def test_one_run_per_server_streams_its_curves_to_every_visitor(section, lab):
    recorded_key = section.open("en", None)[4]
    plot, grads, status, note, timer, key = section.start("alice", "en", [8, 14], "offline", 40, recorded_key)
    assert note == "Started: 4 networks, 40 steps each, on the offline data." and timer.active
    assert "Live run: **starting" in status and "step 0 of 40" in status
    # From the click on, the chart is the new run's, saying so (not the recorded curves).
    assert key[0] == ("run", lab.snapshot().run_id, 0, "starting", "en") and isinstance(plot, PlotData)
    # A second visitor: refused, told so, and shown the running run (not the recorded curves).
    _, _, bob_status, bob_note, bob_timer, bob_key = section.start("bob", "ko", [8], "offline", 40)
    assert bob_note.startswith("다른 방문자가 시작한 학습이 이미 진행 중입니다") and bob_timer.active
    assert bob_status.startswith("실시간 학습: **") and "40 스텝 중" in bob_status
    assert lab.config().depths == (8, 14) and lab.owner_is("alice")  # still alice's run
    assert section.cancel("bob", "ko") == "이 학습은 시작한 방문자만 취소할 수 있습니다."
    # Carol's page was open on the recorded curves before the run began: her slow timer brings it.
    _, _, carol_status, carol_timer, _ = section.watch("en", recorded_key)
    assert "Live run: **" in carol_status and carol_timer.active  # her fast timer takes over
    plots, keys = [], {key}
    while True:  # alice's page's timer
        plot, grads, status, note, timer, key = section.tick("en", key)
        if not _skipped(plot):
            assert isinstance(plot, PlotData)
            plots.append(plot)
            if not _stopped(timer):  # a page that already shows the run gets nothing from its slow timer
                assert all(_skipped(v) for v in section.watch("en", key))
        keys.add(key)
        if _stopped(timer):
            break
        assert _skipped(note)  # a note stays while the run goes
        time.sleep(0.2)
    assert len(plots) >= 2  # the curves grew while it ran, not only at the end
    assert note == ""  # the run ended: the note of the click that started it goes
    final = lab.snapshot().result
    errors = ", ".join(f"{n.name} {100 * n.final_train_error:.1f}%" for n in final.networks)
    assert status.startswith("Live run: **finished** · step 40 of 40 · ")
    assert status.endswith(f" s · final training error: {errors}")
    ko = section.status(lab.snapshot(), "ko")
    assert ko.startswith("실시간 학습: **완료** · 40 스텝 중 40 · ") and ko.endswith(f"초 · 최종 학습 오차: {errors}")
    # Bob's "only the starter can cancel" goes when his page's timer sees the end.
    assert section.tick("ko", bob_key)[3] == ""
    # A visitor arriving now sees the last run's curves, with the timer off.
    plot, grads, status, timer, _ = section.open("en", None)
    assert isinstance(plot, PlotData) and "finished" in status and _stopped(timer)
    assert all(_skipped(v) for v in section.watch("en", recorded_key))  # no run active: the slow timer is silent
    # ... and a page that chose a preset since shows that preset's recorded curves, labelled as such.
    chosen = section.choose_preset("default", "en", key)
    assert chosen[:3] == (list(PRESETS["default"].config.depths), "offline", PRESETS["default"].config.steps)
    assert chosen[6].startswith("Recorded curves (Default run):") and chosen[7][0] == ("recorded", "default", "en")
    assert section.open("en", chosen[7])[2].startswith("Recorded curves (Default run):")  # kept on the next open


def _snapshot(state: str, result=None) -> RunSnapshot:
    return RunSnapshot(state=state, result=result, fraction=0.0, paused=False, run_id=3, started=time.time() - 5,
                       updated=time.time(), error="DataError: no data" if state == "failed" else None)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_never_live_over_recorded_curves_and_never_recorded_curves_once_a_run_starts(lang):
    section = DegradationSection(DegradationLab(), TINY)
    live, recorded = ("Live run", "Recorded curves") if lang == "en" else ("실시간 학습", "기록된 곡선")
    # Starting (no point yet): an empty live chart that says so, and a status that agrees.
    shown = section.shown(_snapshot("starting"), lang)
    assert shown.source == "live" and shown.result.points == 0 and shown.message == chart_words(lang)["starting"]
    assert section.status(_snapshot("starting"), lang).startswith(live)
    # Failed before its first point: the same empty live chart saying it failed, the error in the status.
    shown = section.shown(_snapshot("failed"), lang)
    assert shown.source == "live" and shown.message == chart_words(lang)["failed"]
    status = section.status(_snapshot("failed"), lang)
    assert status.startswith(live) and status.endswith("DataError: no data") and recorded not in status
    # Cancelled before its first point: the recorded curves, and no "live" in the status.
    shown = section.shown(_snapshot("cancelled"), lang)
    assert shown.source == "recorded"
    status = section.status(_snapshot("cancelled"), lang)
    assert recorded in status and live not in status


def test_a_preset_fills_the_controls_and_shows_its_finding_and_recorded_run(tmp_path):
    missing = tmp_path / "missing.json"
    section = DegradationSection(DegradationLab(recorded={"default": RECORDED, "deeper": missing}), DegradationConfig())
    deeper = PRESETS["deeper"].config
    depths, data, steps, finding, plot, grads, status, key = section.choose_preset("deeper", "en", None)
    assert (depths, data, steps) == (list(deeper.depths), deeper.data, deeper.steps)
    assert "stronger failure" in finding and "Fig. 6" in finding
    assert "더 강한 실패" in section.choose_preset("deeper", "ko", None)[3]
    assert plot is None and status.startswith("No recorded curves (FileNotFoundError") and key[0][:2] == ("recorded", "deeper")
    depths, _, steps, finding, plot, _, status, key = section.choose_preset("default", "en", key)
    assert (depths, steps) == (list(DegradationConfig().depths), DegradationConfig().steps)
    assert isinstance(plot, PlotData) and status.startswith("Recorded curves (Default run):")
    with pytest.raises(UserError, match="Unknown run 'deepest'; choose one of default, deeper"):
        section.choose_preset("deepest", "en", None)


def test_the_run_is_held_while_a_model_computes_and_cancel_stops_it(section, lab):
    gate = ModelGate(lab_activity := Activity())
    lab_activity.listeners.append(lab.on_activity)
    section.start("alice", "en", [8], "offline", 10_000)
    snap = until_snapshot(lab, lambda s: s.state == "running" and s.result is not None and s.result.step >= 4,
                          timeout=90.0)
    pauses = lab.pauses
    with gate.short():  # an analysis: the run stops between two rounds and stays there
        assert lab.snapshot().paused
        time.sleep(0.6)  # the round in flight ends
        held = lab.snapshot().result.step
        time.sleep(1.0)
        snap = lab.snapshot()
        assert snap.result.step == held and "paused while the app's models compute" in section.status(snap, "en")
        assert section.choose_preset("deeper", "en", None)[4:] == (gr.skip(),) * 4  # the run's curves stay
        assert "앱의 모델이 계산하는 동안 잠시 멈춤" in section.status(snap, "ko")
    assert lab.pauses == pauses + 1 and not lab.snapshot().paused
    until_snapshot(lab, lambda s: s.result.step > held, timeout=30)  # resumed
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


def test_controls_set_by_hand_select_the_preset_they_match_or_none():
    section = DegradationSection(DegradationLab(), DegradationConfig())
    deeper = PRESETS["deeper"].config
    key, finding = section.controls_changed(list(deeper.depths), "offline", deeper.steps, "en")
    assert key == "deeper" and "stronger failure" in finding
    assert section.controls_changed([20, 32], "offline", 1000, "en") == (None, "")
    assert section.controls_changed([], "offline", 1000, "ko") == (None, "")  # half-made: no error yet
    default = DegradationConfig()
    assert section.controls_changed([str(d) for d in default.depths], "offline", default.steps, "ko")[0] == "default"


def test_a_korean_page_names_the_data_in_korean(section):
    # Issue 17: "offline" appeared in English on a Korean page; the note names the data in the page's language.
    note = section.start("minsu", "ko", [8], "offline", 20, None)[3]
    section.cancel("minsu", "ko")
    assert "오프라인 격자 무늬" in note and "offline" not in note
