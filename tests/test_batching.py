"""The micro-batcher: concurrent analyses share a forward, errors stay with their own request."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager

import pytest

from resnet_viz import ImageError, analyze
from resnet_viz.serve.batching import AnalyzeBatcher

from .support import random_model


def _lease_counting(calls: list):
    @contextmanager
    def lease(arch):
        calls.append(arch)
        yield random_model(arch)

    return lease


def _wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _strip(report: dict) -> str:
    return json.dumps({k: v for k, v in report.items() if k != "timing_ms"})


@pytest.mark.slow
def test_a_lone_request_runs_alone_and_equals_analyze(examples):
    batcher = AnalyzeBatcher(_lease_counting([]))
    report = batcher.analyze(examples[0], "resnet18")
    assert list(batcher.batch_sizes) == [1]
    assert _strip(report) == _strip(analyze(random_model("resnet18"), examples[0]))


@pytest.mark.slow
def test_requests_that_wait_share_one_forward(examples, tmp_path):
    calls: list = []
    gate = threading.Event()
    base = _lease_counting(calls)

    @contextmanager
    def slow_lease(arch):
        gate.wait(10)  # the first batch holds the model until everyone is queued
        with base(arch) as model:
            yield model

    batcher = AnalyzeBatcher(slow_lease, max_batch=8)
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    results, errors = {}, {}

    def request(key, path, arch):
        try:
            results[key] = batcher.analyze(path, arch)
        except Exception as exc:  # noqa: BLE001 - collected for the asserts
            errors[key] = exc

    jobs = [("first", examples[0], "resnet18")]
    jobs += [(f"r18-{i}", examples[i % len(examples)], "resnet18") for i in range(5)]
    jobs += [("r50", examples[1], "resnet50"), ("bad", bad, "resnet18")]
    threads = [threading.Thread(target=request, args=job) for job in jobs]
    threads[0].start()
    _wait_until(lambda: batcher._running)  # the first request holds the model
    for t in threads[1:]:
        t.start()
    _wait_until(lambda: len(batcher._waiting) == 6)  # 5 x resnet18 + resnet50 (the bad file never queues)
    gate.set()
    for t in threads:
        t.join(30)
    assert set(errors) == {"bad"} and isinstance(errors["bad"], ImageError)
    assert sorted(batcher.batch_sizes) == [1, 1, 5]  # the first alone, then 5 x resnet18 together, then resnet50
    assert calls == ["resnet18", "resnet18", "resnet50"]
    for key, path, arch in jobs:
        if key != "bad":
            alone = analyze(random_model(arch), path)
            assert results[key]["arch"] == arch
            assert [p["index"] for p in results[key]["predictions"]] == [p["index"] for p in alone["predictions"]]
            assert results[key]["image"] == alone["image"]


def test_a_failing_batch_fails_its_own_requests_only(examples):
    @contextmanager
    def broken(arch):
        raise RuntimeError("the model is gone")
        yield  # pragma: no cover

    batcher = AnalyzeBatcher(broken)
    with pytest.raises(RuntimeError, match="the model is gone"):
        batcher.analyze(examples[0], "resnet18")
    assert not batcher._running and not batcher._waiting


@pytest.mark.slow
def test_the_batch_history_is_bounded(examples):
    """A server runs for days: the record of batch sizes must not grow by one entry per batch."""
    batcher = AnalyzeBatcher(_lease_counting([]), history=3)
    for _ in range(5):
        batcher.analyze(examples[0], "resnet18")
    assert list(batcher.batch_sizes) == [1, 1, 1]
