"""The class benchmark (bench/bench_class.py, bench/classroom.py): its statistics, its criterion and
its answer checks without a server; and one small class against app.py (slow)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from bench import bench_class as bc
from bench import classroom as cr


def record(kind: str, seconds: float, ok: bool = True, mixed: bool = False, started: float = 0.0) -> cr.Record:
    return cr.Record(0, kind, kind, started, seconds, ok, mixed, "" if ok else "boom")


def test_short_p95_leaves_out_slow_and_failed_requests_and_those_before_since():
    records = [record("stage switch", s / 10) for s in range(1, 21)]  # 0.1 .. 2.0 s
    records += [record("slow", 60.0), record("Grad-CAM", 50.0, ok=False), record("page open", 9.0, started=-1.0)]
    assert bc.short_p95(records[:20]) == pytest.approx(1.9)  # nearest rank: the 19th of 20
    assert bc.short_p95(records) == pytest.approx(2.0)  # the page open (9 s) is the 21st: still not p95
    assert bc.short_p95(records, since=0.0) == pytest.approx(1.9)
    assert bc.short_p95([record("slow", 1.0)]) is None


def test_a_class_is_held_with_short_p95_at_most_3_s_and_no_failure_or_mixed_answer():
    fine = [record("upload/analyse", 3.0)] * 19 + [record("slow", 40.0)]
    assert bc.held(fine) == (True, "")
    assert bc.held(fine + [record("upload/analyse", 3.01)] * 2) == (False, "short p95 3.01 s > 3 s")
    assert bc.held(fine + [record("Grad-CAM", 0.2, ok=False)]) == (False, "1 failed")
    assert bc.held(fine + [record("Grad-CAM", 0.2, mixed=True)]) == (False, "1 mixed")
    assert bc.held([record("slow", 1.0)]) == (False, "no short request succeeded")


def test_the_ramp_stops_at_the_first_class_not_held():
    assert bc.ramp_order([20, 5, 10], 30) == [5, 10, 20, 30]
    assert bc.ramp_order([5, 10, 20, 30], 30) == [5, 10, 20, 30]
    assert bc.largest_held([(5, True), (10, True), (20, False), (30, True)]) == 10  # 30 held by luck: not counted
    assert bc.largest_held([(5, False), (30, False)]) == 0
    assert bc.largest_held([(30, True), (5, True)]) == 30


def test_serve_must_hold_80_percent_of_the_class_app_holds():
    assert bc.meets_share(16, 20) and not bc.meets_share(15, 20)
    assert bc.meets_share(0, 0) and bc.meets_share(10, 5)


def test_kind_rows_give_each_kind_its_percentiles_failures_mixed_and_rate():
    records = [record("Grad-CAM", s) for s in (0.1, 0.2, 0.3, 0.4)] + [record("Grad-CAM", 9, ok=False),
                                                                        record("Grad-CAM", 0.5, mixed=True)]
    (row,) = bc.kind_rows(records, seconds=10.0)
    assert row == {"request": "Grad-CAM", "n": 6, "p50 s": "0.30", "p95 s": "0.50", "failures": 1, "mixed": 1,
                   "per s": "0.50"}


def test_student_i_does_the_same_in_every_class_size_and_every_fifth_runs_a_slow_method():
    small, large = cr.plans(5, seed=3), cr.plans(30, seed=3)
    assert small == large[:5]
    assert [p.slow for p in large if p.slow] == ["occlusion", "feature vis"] * 3
    assert [p.student for p in large if p.slow] == [4, 9, 14, 19, 24, 29]
    assert all(0 <= p.arrival <= 10 and all(1 <= t <= 4 for t in p.thinks) for p in large)
    assert cr.plans(5, seed=4) != small


def test_the_burst_gives_five_students_a_slow_method_at_the_same_moment_and_the_others_none():
    burst = bc.burst_plans(12, seed=0, ramp_s=10.0)
    assert [p.slow for p in burst[:5]] == list(bc.BURST)
    assert all(p.burst_at == 10.0 and not p.short for p in burst[:5])
    assert all(p.slow is None and p.short and p.burst_at is None for p in burst[5:])


def test_printed_numbers_match_within_their_rounding():
    assert cr.shown_close("5.09", 5.0851) and cr.shown_close("5.09", 5.0949)
    assert not cr.shown_close("5.09", 5.0749)
    assert cr.shown_close("0.0538", 0.053812) and not cr.shown_close("0.0538", 0.0541)
    assert cr.close(0.0036402481, 0.0036402473) and not cr.close(0.003640, 0.003992)


# --- the answer checks: a result of another student's photo is "mixed" -------------------------------

def fake_config() -> dict:
    elem = ["predictions", "attribution-info", "grid-title", "stage-info", "channel-caption", "featvis-note"]
    components = [{"id": i, "type": "markdown", "props": {"elem_id": e, "value": None}} for i, e in enumerate(elem)]
    components += [{"id": 10, "type": "radio", "props": {"elem_id": "stage", "value": "C2"}},
                   {"id": 11, "type": "number", "props": {"elem_id": "channel", "value": 0}}]
    deps = [
        {"id": 0, "api_name": "on_load", "inputs": [10], "outputs": [0]},
        {"id": 1, "api_name": "on_photo", "inputs": [10], "outputs": [0]},
        {"id": 2, "api_name": "on_derived", "trigger_after": 1, "inputs": [], "outputs": [1]},
        {"id": 3, "api_name": "on_derived_1", "trigger_after": 0, "inputs": [], "outputs": [1]},
        {"id": 4, "api_name": "on_view", "inputs": [10], "outputs": [2, 3, 4]},
        {"id": 5, "api_name": "on_channel", "inputs": [10, 11], "outputs": [4, 5]},
        {"id": 6, "api_name": "on_arm", "inputs": [], "outputs": []},
        {"id": 7, "api_name": "on_compute", "trigger_after": 6, "inputs": [10, 11], "outputs": [5]},
    ]
    return {"components": components, "dependencies": deps}


def photo(label: str, probability: float, peak: float, zeros: float) -> cr.Photo:
    facts = cr.StageFacts(first=7, peaks=tuple([1.0] * 7 + [peak]), zeros=zeros)
    return cr.Photo(path=None, label=label, probability=probability, stages={"C3": facts}, ladder_c5=(0.01, 0.0538),
                    gradcam_c4=(0.0, 0.009))  # type: ignore[arg-type]


def test_page_events_are_found_by_name_and_chain():
    events = cr.PageEvents(fake_config())
    assert events.ids == {"load": 0, "load_derived": 3, "photo": 1, "photo_derived": 2, "view": 4, "channel": 5,
                          "compute": 7, "arm": 6}
    assert events.inputs("channel", channel=12) == ["C2", 12]


def test_an_answer_for_another_photo_does_not_match():
    events = cr.PageEvents(fake_config())
    mine, theirs = photo("snail", 0.003640, 5.09, 35.2), photo("snail", 0.003992, 4.21, 31.0)
    shown = ({"confidences": [{"label": "snail · 0.364%", "confidence": 0.0036400001}]},)
    assert cr._predictions_match(events, "photo", shown, mine) and not cr._predictions_match(events, "photo", shown, theirs)
    view = ("#### C3: ...", "**C3**: 128 channels x 28 x 28, stride 8, receptive field 99 px, 35% zeros after the ReLU",
            "**C3, channel 7** over the 224x224 crop (resnet18): yellow = strong activation, dark = none (largest value 5.09).")
    assert cr._view_match(events, "view", view, mine, "C3") and not cr._view_match(events, "view", view, theirs, "C3")
    derived = ("**Grad-CAM** at C5 for **snail** (p = 0.004) · resnet18 · raw range [0.0156, 0.0538] · 125 ms",)
    assert cr._derived_match(events, "photo_derived", derived, mine)
    cam = {"target": {"index": 113, "label": "snail", "probability": 0.0036400002}, "raw_range": [0.0, 0.009]}
    assert cr._attribution_match(cam, mine, mine.gradcam_c4) and not cr._attribution_match(cam, theirs, None)


# --- one small class against app.py -----------------------------------------------------------------

@pytest.mark.slow
def test_two_students_against_app_py_get_their_own_answers(tmp_path):
    from bench.served_app import ROOT, start_app, stop_app, wait_for

    photos, example = cr.make_photos(2, "resnet18", tmp_path)
    class_plans = cr.plans(2, seed=0, ramp_s=0.5, think_s=(0.1, 0.3))
    class_plans = [replace(class_plans[0], slow="feature vis"), replace(class_plans[1], slow="occlusion")]
    server, url = start_app(ROOT, arch="resnet18")
    try:
        wait_for(url)
        records, _ = cr.run_class(url, "resnet18", class_plans, photos, example, itertools.count(5).__next__, timeout=60)
    finally:
        stop_app(server)
    assert [r for r in records if not r.ok or r.mixed] == []
    assert sorted({r.kind for r in records}) == sorted(cr.KINDS)
    assert len(records) == 2 * 5 + 2 + 1  # open, upload, 2 switches, Grad-CAM each; a channel + feature vis; an occlusion
