"""How long a visitor's analysis waits while another visitor's occlusion runs: before and after.

    python bench/bench_waiting.py [--arch resnet50] [--rounds 3] [--before 07d5dbb]

It starts two apps side by side with `--weights random` (the same computation as ImageNet
weights): the code at ``--before`` (checked out into a temporary git worktree; by default the
commit before slow methods learned to pause) and the working tree. For each app in turn, client A
asks /attribute for an occlusion and client B, 1 s later, asks /analyze; it reports how long B
waited for its answer and how long A's occlusion took, medians over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import PHOTOS, _free_port, _wait_for  # noqa: E402
from bench.common import machine  # noqa: E402
from tests.app_server import RestClient  # noqa: E402


def start(code: Path, arch: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--arch", arch, "--weights", "random", "--device", "cpu", "--port", str(port)],
        cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return server, f"http://127.0.0.1:{port}/"


def one_round(url: str, arch: str) -> tuple[float, float]:
    """(seconds B's /analyze took, seconds A's occlusion took)."""
    a, b = RestClient(url), RestClient(url)
    photo_a, photo_b = a.upload(PHOTOS[0]), b.upload(PHOTOS[1])
    occlusion: list[float] = []

    def client_a() -> None:
        began = time.perf_counter()
        a.call("attribute", photo_a, arch, "occlusion", "", "C5")
        occlusion.append(time.perf_counter() - began)

    thread = threading.Thread(target=client_a)
    thread.start()
    time.sleep(1.0)
    began = time.perf_counter()
    b.call("analyze", photo_b, arch)
    waited = time.perf_counter() - began
    thread.join()
    a.close()
    b.close()
    return waited, occlusion[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default="07d5dbb", help="git commit of the 'before' app")
    args = parser.parse_args()
    print(f"# bench_waiting: /analyze 1 s into another client's occlusion, {args.arch}, random weights, CPU")
    print(f"# {machine()}")
    with tempfile.TemporaryDirectory(prefix="resnet-viz-before-") as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        servers = {f"before ({args.before})": start(before, args.arch), "after (this tree)": start(ROOT, args.arch)}
        try:
            for _, url in servers.values():
                _wait_for(url)
            for _, url in servers.values():  # warm-up: one of each request
                one_round(url, args.arch)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():  # in turn, so a slow spell hits both
                    results[name].append(one_round(url, args.arch))
            print(f"{'app':<22} {'analyze waited (median, all)':<40} {'occlusion took (median)':>24}")
            for name, rounds in results.items():
                waits = [w for w, _ in rounds]
                print(f"{name:<22} {statistics.median(waits):6.2f} s  {', '.join(f'{w:.2f}' for w in waits):<30} "
                      f"{statistics.median(o for _, o in rounds):20.2f} s")
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait(timeout=30)
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
