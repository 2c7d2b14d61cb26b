"""The running app under load: 1, 4 and 8 clients calling /analyze at once, with and without
micro-batching.

    python bench/bench_load.py [--arch resnet50] [--seconds 20]

It starts `python app.py --weights random` (the same computation as ImageNet weights) twice, with
and without --batching, uploads the example photos once, then lets N client threads call
/analyze back to back for --seconds against each app in turn, and reports the median and p95
latency, the requests per second each app completed, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import PHOTOS, _free_port, _wait_for  # noqa: E402
from bench.common import machine  # noqa: E402
from tests.app_server import RestClient  # noqa: E402


def load(url: str, arch: str, clients: int, seconds: float) -> tuple[list[float], float]:
    setup = RestClient(url)
    uploads = [setup.upload(p) for p in PHOTOS]
    for upload in uploads:  # warm-up: every photo once
        setup.call("analyze", upload, arch)
    setup.close()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    start = threading.Barrier(clients)

    def client(k: int) -> None:
        rest = RestClient(url)
        start.wait()
        i = k
        while time.perf_counter() < stop:
            began = time.perf_counter()
            rest.call("analyze", uploads[i % len(uploads)], arch)
            latencies.append(time.perf_counter() - began)
            i += 1
        rest.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, len(latencies) / (time.perf_counter() - began)


def start_server(arch: str, batching: bool) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--arch", arch, "--weights", "random", "--device", "cpu",
         "--port", str(port), "--batching" if batching else "--no-batching"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"# bench_load: /analyze, {args.arch}, random weights, CPU\n# {machine()}")
    # Both apps run side by side (an idle app costs nothing) and are measured in turn for each
    # number of clients, so a slow spell of the machine does not land on one setting only.
    servers = {batching: start_server(args.arch, batching) for batching in (False, True)}
    try:
        for _, url in servers.values():
            _wait_for(url)
        print(f"{'clients':>7} {'batching':<9} {'median ms':>10} {'p95 ms':>8} {'req/s':>7} {'requests':>9}")
        for clients in (1, 4, 8):
            rates = {}
            for batching, (_, url) in servers.items():
                latencies, rates[batching] = load(url, args.arch, clients, args.seconds)
                p95 = sorted(latencies)[max(0, int(round(0.95 * len(latencies))) - 1)]
                print(
                    f"{clients:>7} {'on' if batching else 'off':<9} {1000 * statistics.median(latencies):>10.0f} "
                    f"{1000 * p95:>8.0f} {rates[batching]:>7.2f} {len(latencies):>9}",
                    flush=True,
                )
            print(f"{clients:>7} throughput with batching / without: {rates[True] / rates[False]:.2f}x", flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
