"""The running app under load: 1, 4 and 8 clients calling /analyze at once, with and without
micro-batching.

    python -m bench.bench_load [--arch resnet50] [--seconds 20]

It starts `python app.py --weights random` (the same computation as ImageNet weights) twice, with
and without --batching, uploads the example photos once, then lets N client threads call
/analyze back to back for --seconds against each app in turn, and reports the median and p95
latency, the requests per second each app completed, and their ratio (the figure that counts:
both apps ran in turn on the same machine; the latencies are absolute, what N visitors wait).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from bench.common import machine, percentile, report
from bench.served_app import PHOTOS, ROOT, AppClient, start_app, stop_app, wait_for


def load(url: str, arch: str, clients: int, seconds: float) -> tuple[list[float], float]:
    setup = AppClient(url)
    uploads = [setup.upload(p) for p in PHOTOS]
    for upload in uploads:  # warm-up: every photo once
        setup.call("analyze", upload, arch)
    setup.close()
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    start = threading.Barrier(clients)

    def client(k: int) -> None:
        rest = AppClient(url)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"# bench_load: /analyze, {args.arch}, random weights, CPU\n# {machine()}")
    # Both apps run side by side (an idle app costs nothing) and are measured in turn for each
    # number of clients, so a slow spell of the machine does not land on one setting only.
    servers = {batching: start_app(ROOT, "--batching" if batching else "--no-batching", arch=args.arch)
               for batching in (False, True)}
    rows = []
    try:
        for _, url in servers.values():
            wait_for(url)
        for clients in (1, 4, 8):
            rates = {}
            for batching, (_, url) in servers.items():
                latencies, rates[batching] = load(url, args.arch, clients, args.seconds)
                rows.append({
                    "clients": clients,
                    "batching": "on" if batching else "off",
                    "median ms": f"{1000 * statistics.median(latencies):.0f}",
                    "p95 ms": f"{1000 * percentile(latencies, 95):.0f}",
                    "requests/s": f"{rates[batching]:.2f}",
                    "requests": len(latencies),
                })
                print(f"{clients} clients, batching {rows[-1]['batching']}: {rows[-1]['requests/s']} requests/s",
                      flush=True)
            rows[-1]["with / without batching"] = f"{rates[True] / rates[False]:.2f}x"
    finally:
        for server, _ in servers.values():
            stop_app(server)
    report("/analyze under load: N clients back to back", rows,
           notes=["with / without batching: requests per second of the two apps, measured in turn."],
           absolute="the latencies are what N visitors wait; the throughput ratio is the comparison")


if __name__ == "__main__":
    main()
