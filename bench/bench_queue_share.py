"""One session floods the queue; how long does another visitor's analysis wait? Before and after.

    python bench/bench_queue_share.py [--arch resnet18] [--rounds 3] [--before af639b6]

Two apps side by side with `--weights random`: the code at ``--before`` (a temporary git worktree;
by default the commit before each session got a share of the queue) and the working tree. In each
round, for each app in turn, session A (raw HTTP, as a hostile tab would) joins 40 feature
visualisations and 40 analyses as fast as it can; 1 s later session B asks for one analysis. It
reports how long B waited, or why B was refused, and how A's joins were answered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.conftest  # noqa: E402, F401  (first: tests.app_server alone is a circular import)
from bench.bench_app import PHOTOS, _free_port, _wait_for  # noqa: E402
from bench.common import machine  # noqa: E402
from tests.app_server import RestClient  # noqa: E402
from tests.queue_client import QueueClient, default_data  # noqa: E402


def start(code: Path, arch: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--arch", arch, "--weights", "random", "--device", "cpu", "--port", str(port)],
        cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}"


def one_round(url: str, arch: str) -> tuple[float | None, str, Counter]:
    """(seconds B waited or None, B's refusal, A's join answers by HTTP status)."""
    rest = RestClient(url)
    config = rest.http.get("/config").json()
    events = {dep["api_name"]: dep for dep in config["dependencies"] if dep.get("api_name")}

    def data(name: str, *values) -> list:
        values_ = default_data(config, events[name])
        values_[: len(values)] = values
        return values_

    photo = rest.upload(PHOTOS[0])
    a = QueueClient(url, f"flooder-{uuid.uuid4().hex[:8]}")
    a.run(events["on_load"]["id"], data("on_load", arch))
    answers = Counter(a.join(events["on_compute"]["id"], data("on_compute", "C4", n)).status_code for n in range(40))
    answers += Counter(a.join(events["analyze"]["id"], data("analyze", photo, arch)).status_code for _ in range(40))
    time.sleep(1.0)
    b = QueueClient(url, f"visitor-{uuid.uuid4().hex[:8]}")
    began = time.perf_counter()
    joined = b.join(events["analyze"]["id"], data("analyze", photo, arch))
    if joined.status_code != 200:
        waited, refusal = None, f"HTTP {joined.status_code}: {joined.json().get('detail')}"
    else:
        b.results([joined.json()["event_id"]], timeout=900)
        waited, refusal = time.perf_counter() - began, ""
    for client in (a, b):
        client.close()
    rest.close()
    return waited, refusal, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default="af639b6", help="git commit of the 'before' app")
    args = parser.parse_args()
    print(f"# bench_queue_share: one session joins 40 feature visualisations + 40 analyses; another asks for one "
          f"analysis; {args.arch}, random weights, CPU")
    print(f"# {machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="resnet-viz-before-") as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        codes = {f"before ({args.before})": before, "after (this tree)": ROOT}
        try:
            results: dict[str, list] = {name: [] for name in codes}
            for _ in range(args.rounds):
                for name, code in codes.items():  # in turn; one app at a time, started afresh for each round,
                    server, url = start(code, args.arch)  # so the flood's leftover jobs never slow the other
                    try:
                        _wait_for(url)
                        results[name].append(one_round(url, args.arch))
                    finally:
                        server.terminate()
                        server.wait(timeout=30)
            for name, rounds in results.items():
                waits = [w for w, _, _ in rounds if w is not None]
                refusals = [r for _, r, _ in rounds if r]
                joins = sum((c for _, _, c in rounds), Counter())
                median = f"{statistics.median(waits):.2f} s" if waits else "-"
                print(f"{name:<22} B waited: median {median} ({', '.join(f'{w:.2f}' for w in waits) or 'never served'}); "
                      f"B refused {len(refusals)} of {len(rounds)}{': ' + refusals[0] if refusals else ''}; "
                      f"A's joins by HTTP status: {dict(sorted(joins.items()))}")
            print(f"# load average {os.getloadavg()[0]:.1f} at the end")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
