"""One session floods the queue; how long does another visitor's analysis wait? Before and after.

    python -m bench.bench_queue_share [--arch resnet18] [--rounds 3] [--before af639b6]

Two apps side by side with `--weights random`: the code at ``--before`` (a temporary git worktree;
by default the commit before each session got a share of the queue) and the working tree. In each
round, for each app in turn, session A (raw HTTP, as a hostile tab would) joins 40 feature
visualisations and 40 analyses as fast as it can; 1 s later session B asks for one analysis. It
reports how long B waited, or why B was refused, and how A's joins were answered. B's wait is an
absolute time on purpose: it is what a visitor behind a flood waits.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.common import load_average, machine, report
from bench.served_app import PHOTOS, ROOT, AppClient, QueueSession, default_data, start_app, stop_app, wait_for


def one_round(url: str, arch: str) -> tuple[float | None, str, Counter]:
    """(seconds B waited or None, B's refusal, A's join answers by HTTP status)."""
    rest = AppClient(url)
    config = rest.http.get("/config").json()
    events = {dep["api_name"]: dep for dep in config["dependencies"] if dep.get("api_name")}

    def data(name: str, *values) -> list:
        values_ = default_data(config, events[name])
        values_[: len(values)] = values
        return values_

    photo = rest.upload(PHOTOS[0])
    a = QueueSession(url, f"flooder-{uuid.uuid4().hex[:8]}")
    loaded = a.join(events["on_load"]["id"], data("on_load", arch))
    assert loaded.status_code == 200, (loaded.status_code, loaded.text)
    a.wait(loaded.json()["event_id"])
    answers = Counter(a.join(events["on_compute"]["id"], data("on_compute", "C4", n)).status_code for n in range(40))
    answers += Counter(a.join(events["analyze"]["id"], data("analyze", photo, arch)).status_code for _ in range(40))
    time.sleep(1.0)
    b = QueueSession(url, f"visitor-{uuid.uuid4().hex[:8]}")
    began = time.perf_counter()
    joined = b.join(events["analyze"]["id"], data("analyze", photo, arch))
    if joined.status_code != 200:
        waited, refusal = None, f"HTTP {joined.status_code}: {joined.json().get('detail')}"
    else:
        b.wait(joined.json()["event_id"], timeout=900)
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
    print(f"# {machine()}; at the start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="resnet-viz-before-") as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        codes = {f"before ({args.before})": before, "after (this tree)": ROOT}
        try:
            results: dict[str, list] = {name: [] for name in codes}
            for _ in range(args.rounds):
                for name, code in codes.items():  # in turn; one app at a time, started afresh for each round,
                    server, url = start_app(code, arch=args.arch)  # so the flood's leftover jobs never slow the other
                    try:
                        wait_for(url)
                        results[name].append(one_round(url, args.arch))
                    finally:
                        stop_app(server)
            rows = []
            for name, rounds in results.items():
                waits = [w for w, _, _ in rounds if w is not None]
                refusals = [r for _, r, _ in rounds if r]
                joins = sum((c for _, _, c in rounds), Counter())
                rows.append({
                    "app": name,
                    "B waited (median)": f"{statistics.median(waits):.2f} s" if waits else "-",
                    "each round": ", ".join(f"{w:.2f}" for w in waits) or "never served",
                    "B refused": f"{len(refusals)} of {len(rounds)}{': ' + refusals[0] if refusals else ''}",
                    "A's joins by HTTP status": str(dict(sorted(joins.items()))),
                })
            report("another session's analysis behind one session's flood", rows,
                   absolute="B's wait is what a visitor behind a flood waits")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
