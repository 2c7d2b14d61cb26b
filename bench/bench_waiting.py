"""How long a visitor's analysis waits while another visitor's occlusion runs: before and after.

    python -m bench.bench_waiting [--arch resnet50] [--rounds 3] [--before 07d5dbb]

It starts two apps side by side with `--weights random` (the same computation as ImageNet
weights): the code at ``--before`` (checked out into a temporary git worktree; by default the
commit before slow methods learned to give the model up between batches) and the working tree.
Both run the SAME occlusion: the old checkout's occlusion defaults (32 px windows every 16 px,
170 images in batches of 16) are replaced by today's before it starts, so the only difference
left is the gating, which is what this figure is about.

For each app in turn, round after round, client A asks /attribute for an occlusion and client B,
1 s later, asks /analyze; it reports how long B waited for its answer and how long A's occlusion
took, medians over the rounds, and the before/now ratio of each (medians of per-round ratios).
B's wait is an absolute time on purpose: the target (<= 3 s) is what a visitor waits.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import machine, report
from bench.served_app import PHOTOS, ROOT, AppClient, start_app, stop_app, wait_for
from resnet_viz.explain.methods import method_spec

TARGET_S = 3.0
# How the old checkout declares occlusion's defaults (resnet_viz/attribution.py, one line of METHODS).
OLD_OCCLUSION = re.compile(r'"occlusion": \{[^}]*\}')


def same_occlusion(checkout: Path) -> dict:
    """Give the old checkout today's occlusion settings; returns them."""
    options = dict(method_spec("occlusion").options)
    path = checkout / "resnet_viz" / "attribution.py"
    text, found = OLD_OCCLUSION.subn(f'"occlusion": {options!r}'.replace("'", '"'), path.read_text())
    if found != 1:
        raise SystemExit(f"bench_waiting: expected one occlusion entry in {path}, found {found}; choose another --before")
    path.write_text(text)
    return options


def one_round(url: str, arch: str) -> tuple[float, float]:
    """(seconds B's /analyze took, seconds A's occlusion took)."""
    a, b = AppClient(url), AppClient(url)
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
        options = same_occlusion(before)
        names = {"before": f"before ({args.before}, holds the model to the end)",
                 "now": "now (this tree, gives the model up between batches)"}
        servers = {"before": start_app(before, arch=args.arch), "now": start_app(ROOT, arch=args.arch)}
        try:
            for _, url in servers.values():
                wait_for(url)
            for _, url in servers.values():  # warm-up: one of each request
                one_round(url, args.arch)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():  # in turn, so a slow spell hits both
                    results[name].append(one_round(url, args.arch))
        finally:
            for server, _ in servers.values():
                stop_app(server)
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)

    def per_round(key: int) -> float:
        return statistics.median(b[key] / n[key] for b, n in zip(results["before"], results["now"]))

    rows = []
    for name, rounds in results.items():
        waits = [w for w, _ in rounds]
        wait = statistics.median(waits)
        rows.append({
            "app": names[name],
            "B's analysis waited (median)": f"{wait:.2f} s",
            "each round": ", ".join(f"{w:.2f}" for w in waits),
            "A's occlusion took (median)": f"{statistics.median(o for _, o in rounds):.2f} s",
            "target": f"<= {TARGET_S:.0f} s",
            "verdict": "met" if wait <= TARGET_S else "MISSED",
        })
    evaluations = method_spec("occlusion").evaluations(options)
    report(
        "a visitor's analysis behind another visitor's occlusion",
        rows,
        notes=[
            f"Both apps ran the same occlusion: {options} ({evaluations} images).",
            f"before / now, medians of per-round ratios: B waited {per_round(0):.1f}x as long; "
            f"A's occlusion took {per_round(1):.2f}x as long (the same images in both: where this is far from 1, "
            f"the occlusion's own cost differed too, not only the gating).",
        ],
        absolute="B's wait is what a visitor waits; the target is on it",
    )


if __name__ == "__main__":
    main()
