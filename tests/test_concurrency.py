"""Concurrent users: nothing mixed between requests, a full queue answers "busy" instead of hanging."""

from __future__ import annotations

import json
import threading
import time

import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageOps

from resnet_viz import hook_count

from .app_server import RestClient, running_app

CLIENTS = 8


@pytest.fixture(scope="module")
def eight_images(tmp_path_factory, examples):
    """Eight different pictures: the four examples and their mirror images."""
    folder = tmp_path_factory.mktemp("eight")
    paths = list(examples[:4])
    for path in examples[:4]:
        mirrored = folder / f"mirrored-{path.stem}.png"
        ImageOps.mirror(Image.open(path).convert("RGB")).save(mirrored)
        paths.append(mirrored)
    assert len(paths) == CLIENTS
    return paths


def _close(a, b, rel: float = 1e-5) -> bool:
    """Equal JSON, floats up to ``rel``: batched convolutions sum in another order (see batching.py)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a if k != "timing_ms")
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b), 1e-6)
    return a == b


def _strip(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != "timing_ms"})


@pytest.mark.slow
def test_eight_clients_at_once_get_their_own_results(eight_images):
    with running_app("resnet18") as (url, explorer):
        setup = RestClient(url)
        uploads = [setup.upload(p) for p in eight_images]
        alone = {}
        for i, upload in enumerate(uploads):
            (alone[("analyze", i)],) = setup.call("analyze", upload, "resnet18")
            (alone[("attribute", i)],) = setup.call("attribute", upload, "resnet18", "gradcam", "", "C4")
        explorer.batcher.batch_sizes.clear()

        start = threading.Barrier(2 * CLIENTS)
        results, errors = {}, []

        def client(kind: str, i: int) -> None:
            rest = RestClient(url)
            try:
                start.wait()
                if kind == "analyze":
                    (results[(kind, i)],) = rest.call("analyze", uploads[i], "resnet18")
                else:
                    (results[(kind, i)],) = rest.call("attribute", uploads[i], "resnet18", "gradcam", "", "C4")
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                rest.close()

        threads = [threading.Thread(target=client, args=(k, i)) for i in range(CLIENTS) for k in ("analyze", "attribute")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors
        assert set(results) == set(alone)
        for key, result in results.items():
            if key[0] == "attribute":
                assert _strip(result) == _strip(alone[key]), key  # serialised on the model: bit for bit
            else:
                assert _close(result, alone[key]), key
                assert result["image"] == alone[key]["image"]
                assert [p["index"] for p in result["predictions"]] == [p["index"] for p in alone[key]["predictions"]]
        # The analyses really ran side by side: some shared a batched forward.
        assert max(explorer.batcher.batch_sizes) > 1, explorer.batcher.batch_sizes
        assert sum(explorer.batcher.batch_sizes) == CLIENTS
        assert hook_count(explorer.registry.get("resnet18").model) == 0
        setup.close()


@pytest.mark.slow
def test_a_full_queue_says_busy_instead_of_hanging(examples):
    with running_app("resnet18", build={"queue_size": 2}) as (url, _):
        outcomes: list[tuple[str, float]] = []
        start = threading.Barrier(10)

        def visitor() -> None:
            client = Client(url, verbose=False)
            start.wait()
            began = time.perf_counter()
            try:
                client.predict(
                    handle_file(str(examples[0])), "resnet18", "integrated_gradients", "", "C5", api_name="/attribute"
                )
                outcomes.append(("ok", time.perf_counter() - began))
            except Exception as exc:  # the busy message is what we check
                outcomes.append((str(exc), time.perf_counter() - began))

        threads = [threading.Thread(target=visitor) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        assert len(outcomes) == 10, "a client hung"
        busy = [(message, seconds) for message, seconds in outcomes if message != "ok"]
        served = [seconds for message, seconds in outcomes if message == "ok"]
        assert served and busy
        assert all(message == "Queue is full! Please try again." for message, _ in busy), busy
        assert max(seconds for _, seconds in busy) < 10  # told at once, not after waiting in line
        result = Client(url, verbose=False).predict(handle_file(str(examples[1])), "resnet18", api_name="/analyze")
        assert result["arch"] == "resnet18"
