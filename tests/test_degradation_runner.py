"""DegradationRunner: a run in its own process, streamed, one at a time, paused, cancelled, failed."""

from __future__ import annotations

import time

import pytest
import torch

from resnet_viz import DegradationRunner

# Tiny but real: the offline data, two 8-layer networks, a point every 2 steps.
TINY = dict(depths=(8,), steps=40, batch_size=8, log_every=2, eval_every=10, eval_size=20, final_train_size=20)
LONG = {**TINY, "steps": 100_000}


def _until(runner: DegradationRunner, condition, timeout: float = 120.0):
    """Poll snapshots (as the app's timer does) until ``condition(snapshot)``; all snapshots seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = runner.snapshot()
        seen.append(snap)
        if condition(snap):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"timed out; last state {seen[-1].state!r}, error {seen[-1].error!r}")


@pytest.fixture(scope="module")
def runner():
    # forkserver: the module's runs fork from one server that imported torch once.
    held = DegradationRunner(threads=1, context="forkserver")
    yield held
    held.close()


@pytest.mark.slow
def test_a_spawned_run_streams_partial_results_and_finishes():
    runner = DegradationRunner(threads=1)  # the default "spawn" context
    assert runner.snapshot().state == "idle" and runner.snapshot().result is None
    assert runner.start(TINY) is True
    seen = _until(runner, lambda s: not s.active)
    final = seen[-1]
    assert final.state == "finished", final.error
    assert final.fraction == 1.0 and final.result.finished and final.result.step == 40
    assert [n.name for n in final.result.networks] == ["plain-8", "ResNet-8"]
    points = sorted({s.result.points for s in seen if s.result is not None})
    assert len(points) >= 3 and points[-1] == 20  # partial results arrived while it ran
    assert final.to_json()["result"]["config"]["steps"] == 40


@pytest.mark.slow
def test_one_run_at_a_time_and_cancel(runner):
    assert runner.start(LONG) is True
    first = runner.snapshot().run_id
    assert runner.start(TINY) is False  # the second visitor sees the running one
    _until(runner, lambda s: s.state == "running" and s.result is not None and s.result.points >= 2)
    tic = time.monotonic()
    assert runner.cancel() is True
    assert time.monotonic() - tic < 3.0  # stopped at the next round, not terminated after the timeout
    snap = runner.snapshot()
    assert snap.state == "cancelled" and not snap.active and snap.result.points >= 2
    assert runner.cancel() is False  # nothing left to cancel
    assert runner.start(TINY) is True and runner.snapshot().run_id == first + 1
    assert runner.wait(120).state == "finished"


@pytest.mark.slow
def test_cancel_while_starting_terminates_at_once(runner):
    assert runner.start(LONG) is True
    assert runner.snapshot().state == "starting"
    assert runner.cancel() is True
    assert runner.snapshot().state == "cancelled"


@pytest.mark.slow
def test_pause_holds_the_run_and_resume_continues(runner):
    assert runner.start(LONG) is True
    _until(runner, lambda s: s.state == "running" and s.result is not None and s.result.points >= 1)
    runner.pause()
    time.sleep(1.0)  # the round in flight ends, its point may still arrive
    held = runner.snapshot()
    time.sleep(1.5)
    still = runner.snapshot()
    assert still.paused and still.state == "running"
    assert still.result.step == held.result.step
    runner.resume()
    _until(runner, lambda s: s.result.step > held.result.step, timeout=30)
    assert not runner.snapshot().paused
    runner.cancel()


def test_a_paused_run_can_be_cancelled(runner):
    assert runner.start(LONG) is True
    _until(runner, lambda s: s.state == "running" and s.result is not None)
    runner.pause()
    assert runner.cancel() is True and runner.snapshot().state == "cancelled"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA to fail")
def test_a_failing_run_reports_its_error():
    runner = DegradationRunner(device="cuda", context="forkserver")
    assert runner.start(TINY) is True
    snap = runner.wait(120)
    assert snap.state == "failed" and snap.error.startswith("ValueError: ") and "CUDA is not available" in snap.error


def test_bad_config_is_refused_in_the_caller(runner):
    with pytest.raises(ValueError, match="depth 21"):
        runner.start({**TINY, "depths": (20, 21)})
    with pytest.raises(TypeError):
        runner.start({**TINY, "colour": "red"})
    with pytest.raises(ValueError, match="threads"):
        DegradationRunner(threads=0)
    with pytest.raises(ValueError, match="'fork'"):
        DegradationRunner(context="fork")
