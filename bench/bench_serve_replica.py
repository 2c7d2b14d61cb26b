"""One Ray Serve model replica's throughput alone: ``/analyze``'s work (``@serve.batch``) through a
DeploymentHandle, against the same analyses through the in-process ``AnalyzeBatcher`` (what
``python app.py`` runs), both with the same torch threads, measured in turn.

    flock /work/cpu.lock python -m bench.bench_serve_replica [--arch resnet50] [--seconds 10] [--clients 1 4 8]

Clients send decoded photos (as the page replica does after decoding an upload) back to back; the
replica's number is what N replicas on N GPUs or nodes multiply (each replica is independent).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Callable

import torch

from bench.common import latency_row, machine, report
from bench.served_app import PHOTOS
from resnet_viz.model.fingerprint import weights_sha256
from resnet_viz.model.preprocess import load_image, working_side
from resnet_viz.serve.batching import AnalyzeBatcher
from resnet_viz.serve.registry import ModelRegistry


def _drive(call: Callable[[int], object], clients: int, seconds: float) -> tuple[int, list[float]]:
    """``clients`` threads calling ``call(i)`` back to back for ``seconds``: (answers, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            call(n)
            with lock:
                latencies.append(time.perf_counter() - started)
            n += clients
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, default=2, help="torch threads, in the replica and in process")
    args = parser.parse_args()

    import ray
    from ray import serve

    from resnet_viz.serve.ray_app import runtime_env
    from resnet_viz.serve.ray_workers import ModelWorker

    torch.set_num_threads(args.threads)
    registry = ModelRegistry("random", "cpu", layout="channels-last")
    model = registry.get(args.arch).model
    sha = weights_sha256(model)
    side = working_side(model.meta.transforms)
    pictures = [load_image(p, short_side=side) for p in PHOTOS]
    rows = []

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    try:
        serve.start(proxy_location="Disabled")
        worker = serve.deployment(ModelWorker, name="Model").options(
            num_replicas=1, max_ongoing_requests=16, ray_actor_options={"num_cpus": 1}
        ).bind("random", "cpu", "fp32", "channels-last", 1, args.threads)
        handle = serve.run(worker, name="bench", route_prefix=None)
        handle.check.remote(args.arch, sha).result()  # loaded and checked before the clock starts
        for clients in args.clients:
            n, lat = _drive(lambda i: handle.analyze.remote((args.arch, sha, pictures[i % len(pictures)])).result(),
                            clients, args.seconds)
            rows.append({**latency_row(f"one Serve model replica, {clients} clients", lat), "analyses/s": n / args.seconds})
    finally:
        serve.shutdown()
        ray.shutdown()

    batcher = AnalyzeBatcher(registry.lease)
    for clients in args.clients:
        n, lat = _drive(lambda i: batcher.analyze(pictures[i % len(pictures)], args.arch), clients, args.seconds)
        rows.append({**latency_row(f"in process (app.py's batcher), {clients} clients", lat), "analyses/s": n / args.seconds})
    report(
        f"One model replica alone: {args.arch}, random weights, {args.threads} torch threads, {args.seconds:.0f} s per row",
        rows,
        notes=[machine(), "The replica runs in its own process (Ray worker); clients are threads of this process "
               "sending decoded photos through a DeploymentHandle, then calling the in-process batcher directly."],
        absolute="a replica's throughput is the unit the arithmetic for N replicas multiplies",
    )


if __name__ == "__main__":
    main()
