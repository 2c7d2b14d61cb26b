"""The explorer on Ray Serve (``resnet_viz.serve.ray_app``): one local 2-CPU Ray for the module,
the application deployed in it (page replica, two model replicas, one slow replica; ResNet-18,
random weights), driven over HTTP like the in-process app it is compared with.

Floats are compared closely, not bit for bit: each replica runs torch on one thread (its share of
the two cores), and random weights' BatchNorm statistics and a convolution's sums depend in their
last bits on the thread count (as in test_index_ray.py); labels, indices, names and shapes are exact.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from bench.served_app import free_port, wait_for  # noqa: E402
from resnet_viz.explain.attribution import attribution_json  # noqa: E402
from resnet_viz.i18n import UserError, tr  # noqa: E402
from resnet_viz.serve.ray_app import RemoteExplorer, ServeOptions, build_app, runtime_env  # noqa: E402
from resnet_viz.ui.ray_page import PageIngress  # noqa: E402

from .app_server import RestClient, running_app  # noqa: E402
from .support import EXAMPLES, TEST_LAYOUT, random_registry  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ARCH = "resnet18"
RTOL, ATOL = 1e-4, 1e-5


def assert_same(served, local, where="result"):
    """The same JSON, floats within RTOL/ATOL; timings and the thread count are the server's own."""
    if isinstance(local, dict):
        assert isinstance(served, dict) and served.keys() == local.keys(), where
        for key in local:
            if key == "timing_ms" or (key == "threads" and where.endswith("runtime")):
                continue
            assert_same(served[key], local[key], f"{where}.{key}")
    elif isinstance(local, list) and local and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in np.ravel(np.asarray(local, dtype=object))):
        a, b = np.asarray(served, dtype=float), np.asarray(local, dtype=float)
        assert a.shape == b.shape, where
        scale = max(1.0, float(np.abs(b).max()))  # maps: close to their own range
        assert np.allclose(a, b, rtol=RTOL, atol=ATOL * scale), (where, float(np.abs(a - b).max()))
    elif isinstance(local, list):
        assert isinstance(served, list) and len(served) == len(local), where
        for i, (s, v) in enumerate(zip(served, local)):
            assert_same(s, v, f"{where}[{i}]")
    elif isinstance(local, float):
        assert served == pytest.approx(local, rel=RTOL, abs=ATOL), where
    else:
        assert served == local, where


@pytest.fixture(scope="module")
def served():
    """(url, options): the application on a local 2-CPU Ray, started once for the module."""
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    try:
        serve.start(proxy_location="Disabled")
        options = ServeOptions(arch=ARCH, weights="random", device="cpu", layout=TEST_LAYOUT, port=free_port(),
                               model_replicas=2, slow_replicas=1)
        serve.run(build_app(options, PageIngress), name="resnet-viz", route_prefix=None)
        url = f"http://127.0.0.1:{options.port}"
        wait_for(url + "/", 120)
        yield url, options
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def reference():
    """The in-process app (python app.py's code path) with the same model, for comparison."""
    with running_app(ARCH) as (url, _):
        yield url


def _photos(tmp_path_factory, n: int) -> list:
    """``n`` distinct photos: the examples, then their mirror images."""
    from PIL import Image, ImageOps

    folder = tmp_path_factory.mktemp("photos")
    photos = list(EXAMPLES)
    for path in EXAMPLES:
        if len(photos) >= n:
            break
        mirrored = folder / f"mirrored-{path.stem}.png"
        ImageOps.mirror(Image.open(path).convert("RGB")).save(mirrored)
        photos.append(mirrored)
    return photos[:n]


def _analyze(url: str, photo) -> dict:
    client = RestClient(url)
    try:
        return client.call("analyze", client.upload(photo), ARCH)[0]
    finally:
        client.close()


def test_the_served_endpoints_answer_as_the_in_process_app(served, reference):
    url, _ = served
    here, there = RestClient(reference), RestClient(url)
    try:
        for photo in EXAMPLES:  # every example photo through /analyze (batched on the model replicas)
            assert_same(there.call("analyze", there.upload(photo), ARCH)[0],
                        here.call("analyze", here.upload(photo), ARCH)[0], f"{photo.name} /analyze")
        photo = EXAMPLES[0]
        a, b = there.upload(photo), here.upload(photo)
        calls = [
            ("attribute", ARCH, "gradcam", "", "C4"),
            ("attribute", ARCH, "saliency", "3", ""),
            ("attribute", ARCH, "smoothgrad", "", ""),  # a slow method: the slow replica, streamed
            ("gradient_flow", ARCH, ""),
            ("lesion", ARCH, ""),
            ("lesion", ARCH, '{"C4": 0.5}'),
        ]
        for name, *args in calls:
            assert_same(there.call(name, a, *args)[0], here.call(name, b, *args)[0], f"/{name} {args}")
        with pytest.raises(RuntimeError, match="neither a stage"):  # a refused value, said as in process
            there.call("lesion", a, ARCH, '{"C9": 1}')
    finally:
        here.close()
        there.close()


def test_eight_concurrent_clients_each_get_their_own_photo(served, reference, tmp_path_factory):
    url, _ = served
    photos = _photos(tmp_path_factory, 8)
    expected = {str(p): _analyze(reference, p)["predictions"] for p in photos}
    assert len({str([p["index"] for p in e]) for e in expected.values()}) >= 4  # the photos are told apart

    def client(photo) -> list[bool]:
        c = RestClient(url)
        try:
            ref = c.upload(photo)
            answers = [c.call("analyze", ref, ARCH)[0]["predictions"] for _ in range(3)]
        finally:
            c.close()
        for answer in answers:
            assert_same(answer, expected[str(photo)], f"{photo.name}")
        return answers

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, photos))


def _model_replicas() -> list[str]:
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == "serve" and a["name"].startswith("SERVE_REPLICA::resnet-viz#Model#")]


def test_a_model_replica_killed_mid_burst_costs_no_wrong_answer(served, reference, tmp_path_factory):
    url, _ = served
    photos = _photos(tmp_path_factory, 8)
    expected = {str(p): _analyze(reference, p)["predictions"] for p in photos}
    replicas = _model_replicas()
    assert len(replicas) == 2
    restarted = tr("error_restarted")
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(photo) -> None:
        c = RestClient(url)
        try:
            ref = c.upload(photo)
            for _ in range(4):
                try:
                    answer = c.call("analyze", ref, ARCH)[0]["predictions"]
                except RuntimeError as exc:
                    assert str(exc) == restarted, str(exc)  # the one message a lost request may end with
                    outcome = "restarted"
                else:
                    assert_same(answer, expected[str(photo)], photo.name)  # never another visitor's answer
                    outcome = "ok"
                with lock:
                    outcomes.append(outcome)
        finally:
            c.close()

    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(client, photo) for photo in photos]
        while len(outcomes) < 4:  # the burst is under way
            time.sleep(0.05)
        ray.kill(ray.get_actor(replicas[0], namespace="serve"))
        at_kill = len(outcomes)
        for future in running:
            future.result()
    assert at_kill < 32, "the burst ended before the replica was killed"
    assert len(outcomes) == 32 and outcomes.count("ok") >= 24, outcomes

    deadline = time.monotonic() + 120  # Serve starts a new replica in the dead one's place
    while time.monotonic() < deadline and (replicas[0] in _model_replicas() or len(_model_replicas()) < 2):
        time.sleep(0.5)
    assert replicas[0] not in _model_replicas() and len(_model_replicas()) == 2
    for photo in photos[:2]:  # and the page works as before
        assert_same(_analyze(url, photo)["predictions"], expected[str(photo)], photo.name)


def test_requests_beyond_the_queue_are_told_the_class_is_busy(served):
    @serve.deployment(max_ongoing_requests=1, max_queued_requests=1, ray_actor_options={"num_cpus": 0})
    def busy(seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    handle = serve.run(busy.bind(), name="busy", route_prefix=None)
    explorer = RemoteExplorer(random_registry(), handle, handle)
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(explorer._call, lambda: handle.remote(3.0))
            time.sleep(1.0)
            second = pool.submit(explorer._call, lambda: handle.remote(0.0))  # waits: the one queued place
            time.sleep(0.5)
            with pytest.raises(UserError) as refused:
                explorer._call(lambda: handle.remote(0.0))
            assert first.result() == "done" and second.result() == "done"
    finally:
        serve.delete("busy")
        explorer.close()
    assert refused.value.key == "error_busy"
    assert refused.value.text("en") == "The class is busy: 1 requests ahead of you. Please try again in a moment."
    assert refused.value.text("ko").startswith("지금 반 전체가 사용 중입니다. 앞에 1개의 요청이")


def test_the_page_s_model_work_runs_on_the_replicas_as_in_process(served, tmp_path):
    """The page's own paths (a session's analysis, the ladder, gradient flow, a slow method with its
    progress, a feature visualisation with previews, the trust check), through the page's
    RemoteExplorer against the served replicas, and through the in-process Explorer."""
    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.feature_cache import FeatureVisCache

    model = serve.get_deployment_handle("Model", app_name="resnet-viz")
    slow = serve.get_deployment_handle("Slow", app_name="resnet-viz")
    settings = dict(feature_vis={"size": 32, "steps": 8, "seed": 0},
                    trust={"steps": "stages", "curve_steps": 4, "road": False, "seed": 0})
    remote = RemoteExplorer(random_registry(), model, slow, feature_cache=FeatureVisCache(tmp_path / "r"), **settings)
    local = Explorer(random_registry(), feature_cache=FeatureVisCache(tmp_path / "l"), **settings)
    try:
        photo = str(EXAMPLES[1])
        there, here = remote.analyze(photo, ARCH, "visitor-a"), local.analyze(photo, ARCH, "visitor-a")
        assert_same(there.report.to_json(), here.report.to_json(), "report")
        for name, t in here.analysis.stages.items():
            assert there.analysis.stages[name].dtype == t.dtype
            assert np.allclose(there.analysis.stages[name].float(), t.float(), rtol=1e-2, atol=1e-2), name
        assert_same(attribution_json(remote.ladder(there)), attribution_json(local.ladder(here)), "ladder")
        assert_same(remote.gradient_flow(there).to_json(), local.gradient_flow(here).to_json(), "gradient flow")
        fractions: list[float] = []
        assert_same(attribution_json(remote.explain(there, "occlusion", progress=fractions.append)),
                    attribution_json(local.explain(here, "occlusion")), "occlusion")
        assert fractions and fractions == sorted(fractions) and fractions[-1] <= 1.0  # streamed while it ran
        previews: list[int] = []
        image, meta = remote.visualize(there, "C3", 5, on_preview=lambda step, steps, picture: previews.append(step),
                                       previews=4)
        local_image, local_meta = local.visualize(here, "C3", 5)
        assert image.size == local_image.size and previews == [2, 4, 6]
        assert meta["final_activation"] == pytest.approx(local_meta["final_activation"], rel=1e-3, abs=1e-4)
        assert remote.visualize(there, "C3", 5)[1] == meta  # now from the page's cache
        checked = remote.trust(there, "gradcam").to_json()
        assert_same(checked, local.trust(here, "gradcam").to_json(), "trust")
    finally:
        remote.close()
        local.close()


def test_cancel_stops_a_slow_run_on_its_replica(served, tmp_path):
    """Cancel ends the visitor's run at once and frees the slow replica: a long feature visualisation
    cancelled after its first step does not keep the next one waiting."""
    from resnet_viz.serve.cancel import Cancelled
    from resnet_viz.serve.feature_cache import FeatureVisCache

    model = serve.get_deployment_handle("Model", app_name="resnet-viz")
    slow = serve.get_deployment_handle("Slow", app_name="resnet-viz")
    long = RemoteExplorer(random_registry(), model, slow, feature_cache=FeatureVisCache(tmp_path / "a"),
                          feature_vis={"size": 64, "steps": 100_000, "seed": 0})
    short = RemoteExplorer(random_registry(), model, slow, feature_cache=FeatureVisCache(tmp_path / "b"),
                           feature_vis={"size": 32, "steps": 4, "seed": 0})
    try:
        session = long.analyze(str(EXAMPLES[0]), ARCH, "visitor-b")
        with pytest.raises(Cancelled):
            long.visualize(session, "C2", 1, progress=lambda fraction: session.cancel.set())
        started = time.monotonic()
        short.visualize(short.analyze(str(EXAMPLES[0]), ARCH, "visitor-c"), "C2", 1)
        assert time.monotonic() - started < 60  # 100,000 steps would take many minutes
    finally:
        long.close()
        short.close()


def test_the_degradation_lab_trains_from_a_ray_worker(served):
    """The page replica is a Ray worker process: the lab's "spawn" child starts and trains from one
    (spawn re-imports the parent's main module, which there is Ray's worker script)."""

    @ray.remote(num_cpus=0)
    def tiny_run_in_a_worker() -> tuple[str, str | None]:
        import time as clock

        from resnet_viz.degradation.experiment import DegradationConfig
        from resnet_viz.serve.degradation_lab import DegradationLab

        lab = DegradationLab(heartbeat_timeout_s=None)
        try:
            lab.start(DegradationConfig(depths=(8,), steps=20, batch_size=8, log_every=2, eval_every=10, eval_size=20,
                                        final_train_size=20), "visitor")
            deadline = clock.monotonic() + 150
            while clock.monotonic() < deadline:
                snap = lab.snapshot()
                if snap is not None and not snap.active:
                    return snap.state, snap.error
                clock.sleep(0.2)
            return "timeout", None
        finally:
            lab.close()

    assert ray.get(tiny_run_in_a_worker.remote(), timeout=200) == ("finished", None)
