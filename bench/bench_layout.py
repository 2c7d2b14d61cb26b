"""What choosing the memory layout at load time costs: load_model in fresh processes.

    python -m bench.bench_layout [--arch resnet50] [--rounds 5] [--weights random]

Each round starts one process per setting (layout "auto", "nchw", "channels-last", in turn) that
times ``load_model`` and then the first forward, as a server's start-up and first request. A fresh
process is the honest case: inside one process, oneDNN keeps the kernels it built for a shape, and
``load_model`` reuses an earlier layout decision for the same model. The extra start-up is auto's
load time minus the load time of the layout it chose, asked for directly; with "auto" the first
forward is already warm, so load + first forward is the fairer total. The settings run in turn,
round after round, each in a fresh process (not in one process: the point is a process's start-up),
and the extra start-up is an absolute time on purpose: it is what a server's start costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import machine, report

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
import torch
from resnet_viz import load_model
from resnet_viz.model.runtime import as_model_input
arch, weights, layout = sys.argv[1:4]
start = time.perf_counter()
model = load_model(arch, weights, "cpu", layout=layout, progress=False)
loaded = time.perf_counter()
with torch.inference_mode():
    model(as_model_input(model, torch.randn(1, 3, 224, 224)))
first = time.perf_counter()
r = model.meta.runtime
print(json.dumps({"load": loaded - start, "first": first - loaded, "layout": r.layout, "forward_ms": r.forward_ms}))
"""


def run(arch: str, weights: str, layout: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, arch, weights, layout], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--weights", default="random", help="random (default) or imagenet (must be cached)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"# bench_layout: {args.arch}, {args.weights} weights, a fresh process per load\n# {machine()}")
    rows: dict[str, list[dict]] = {"auto": [], "nchw": [], "channels-last": []}
    extra, extra_total = [], []
    for _ in range(args.rounds):
        for layout in rows:
            rows[layout].append(run(args.arch, args.weights, layout))
        auto = rows["auto"][-1]
        asked = rows[auto["layout"]][-1]
        extra.append(auto["load"] - asked["load"])
        extra_total.append(auto["load"] + auto["first"] - asked["load"] - asked["first"])
    table = []
    for layout, samples in rows.items():
        table.append({
            "layout": layout,
            "load_model, median": f"{statistics.median(s['load'] for s in samples):.2f} s",
            "first forward, median": f"{1000 * statistics.median(s['first'] for s in samples):.1f} ms",
        })
    choices = [s["layout"] for s in rows["auto"]]
    timings = [f"{s['forward_ms']['nchw']:.0f}/{s['forward_ms']['channels-last']:.0f}" for s in rows["auto"]]
    report(f"{args.arch}: load_model in a fresh process, {args.rounds} rounds", table, notes=[
        f"auto chose: {', '.join(choices)} (NCHW/channels-last ms per round: {', '.join(timings)})",
        f"extra start-up of auto: load_model {statistics.median(extra):+.2f} s "
        f"(range {min(extra):+.2f} to {max(extra):+.2f}); load + first forward {statistics.median(extra_total):+.2f} s "
        f"(range {min(extra_total):+.2f} to {max(extra_total):+.2f}); target < 1 s: "
        f"{'met' if statistics.median(extra) < 1 else 'MISSED'}",
    ], absolute="the extra start-up is what a server's start costs")


if __name__ == "__main__":
    main()
