"""A real class on the explorer: `python app.py` against `python -m resnet_viz serve` (Ray Serve).

    python -m bench.bench_class [--students 30] [--sizes 5,10,20,30] [--arch resnet18] [--setups app,serve]
                                [--model-replicas 2] [--slow-replicas 1] [--code DIR] [--burst-class N] [--json OUT]

N students, each in their own gradio_client session (see bench/classroom.py for what each action
is as the page's events): open the page, upload a photo of their own, switch stages twice, one
Grad-CAM; every fifth student then runs an occlusion or a feature visualisation, in turn. Think
times (1-4 s) and arrivals (over a 10 s ramp) are seeded, so student i does the same in every run
and against every setup; each answer is checked against the student's photo ("mixed").

For each setup in turn (never both at once: they would share the 2 cores), one server is started
and measured in this order:

1. a ramp over class sizes (``--sizes``, plus ``--students``): per class, the p50/p95 of each kind
   of request, failures, mixed answers and throughput. A class is *held* when the p95 of the short
   requests (page open, upload/analyse, stage switch, Grad-CAM) is <= 3 s with no failure and no
   mixed answer; the ramp stops growing at the first class not held (the ``--students`` class is
   still run, for the per-kind table);
2. a slow burst: in the largest class held (at least 10 students; ``--burst-class``), 5 students
   open the page, upload, and once all 5 are ready start occlusions and feature visualisations at
   the same moment while the others do short requests; the p95 of the short requests that started
   during the burst;
3. one model replica's throughput: one client calling /analyze back to back (one request in
   flight, so one replica works at a time): analyses per second.

Defaults to ResNet-18 with random weights (the same computation as ImageNet weights), so that a
class of 30 fits this project's 2-core CPU; where Ray Serve runs, Ray's GCS, raylet and Serve
controller and the Gradio page replica share those cores with the model replicas and with this
script's students: one machine is the worst case for Ray.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from bench.classroom import KINDS, SHORT, Plan, Record, make_photos, plans, run_class
from bench.common import interleaved, load_average, machine, percentile, report
from bench.served_app import ROOT, AppClient, start_app, start_serve, stop_app, stop_serve, wait_for

P95_LIMIT_S = 3.0
BURST = ("occlusion", "feature vis", "occlusion", "feature vis", "occlusion")  # the 5 burst students' methods
BURST_MIN_CLASS = 10
TARGET_SHARE = 0.8  # serve must hold at least this share of the class app.py holds


# --- statistics (tests/test_bench_class.py) ---------------------------------------------------------

def short_p95(records: Sequence[Record], since: float | None = None) -> float | None:
    """The p95 of the successful short requests (those started at ``since`` or later); None if none."""
    times = [r.seconds for r in records if r.kind in SHORT and r.ok and (since is None or r.started >= since)]
    return percentile(times, 95) if times else None


def held(records: Sequence[Record], limit_s: float = P95_LIMIT_S) -> tuple[bool, str]:
    """(does the class pass: short p95 <= limit, no failure, no mixed answer; why not, in words)."""
    failures = sum(not r.ok for r in records)
    mixed = sum(r.mixed for r in records)
    p95 = short_p95(records)
    reasons = []
    if failures:
        reasons.append(f"{failures} failed")
    if mixed:
        reasons.append(f"{mixed} mixed")
    if p95 is None or p95 > limit_s:
        reasons.append("no short request succeeded" if p95 is None else f"short p95 {p95:.2f} s > {limit_s:.0f} s")
    return not reasons, "; ".join(reasons)


def ramp_order(sizes: Sequence[int], students: int) -> list[int]:
    return sorted(set(sizes) | {students})


def largest_held(outcomes: Sequence[tuple[int, bool]]) -> int:
    """The largest class held before the first one that was not (0: not even the smallest)."""
    best = 0
    for size, ok in sorted(outcomes):
        if not ok:
            break
        best = size
    return best


def kind_rows(records: Sequence[Record], seconds: float) -> list[dict[str, Any]]:
    """Per kind of request: count, p50 and p95 of the successful ones, failures, mixed, completed per second."""
    rows = []
    for kind in KINDS:
        mine = [r for r in records if r.kind == kind]
        if not mine:
            continue
        times = [r.seconds for r in mine if r.ok]
        rows.append({
            "request": kind,
            "n": len(mine),
            "p50 s": f"{statistics.median(times):.2f}" if times else "-",
            "p95 s": f"{percentile(times, 95):.2f}" if times else "-",
            "failures": sum(not r.ok for r in mine),
            "mixed": sum(r.mixed for r in mine),
            "per s": f"{len(times) / seconds:.2f}",
        })
    return rows


def meets_share(serve: int, app: int, share: float = TARGET_SHARE) -> bool:
    """Does serve hold at least ``share`` of the class app.py holds? (app holding none: trivially.)"""
    return serve >= share * app


# --- the setups -----------------------------------------------------------------------------------------

class Setup:
    """One way of hosting the page: started, measured, stopped."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name, self.args = name, args
        replicas = ("--model-replicas", str(args.model_replicas), "--slow-replicas", str(args.slow_replicas))
        self.options = () if name == "app" else replicas
        self.command = ("python app.py" if name == "app" else "python -m resnet_viz serve") + \
            f" --arch {args.arch} --weights random" + (" --device cpu" if name == "app" else " " + " ".join(replicas))
        self.stopped = ""

    def start(self) -> tuple[Any, str]:
        os.environ["RESNET_VIZ_CACHE"] = tempfile.mkdtemp(prefix=f"bench-class-{self.name}-")  # no cached feature vis
        if self.name == "app":
            server, url = start_app(self.args.code, arch=self.args.arch)
        else:
            server, url = start_serve(self.args.code, *self.options, arch=self.args.arch, seconds=self.args.start_timeout)
        wait_for(url)
        return server, url

    def stop(self, server: Any) -> None:
        if self.name == "app":
            stop_app(server)
            return
        took, left = stop_serve(server)
        self.stopped = f"stopped {took:.1f} s after SIGTERM; {len(left)} processes of its group left behind"


def throughput(url: str, arch: str, photo: Path, seconds: float) -> dict[str, Any]:
    """One client calling /analyze back to back: analyses per second and the median latency."""
    client = AppClient(url)
    image = client.upload(photo)
    for _ in range(3):  # warm-up
        client.call("analyze", image, arch)
    times = []
    stop = time.perf_counter() + seconds
    began = time.perf_counter()
    while time.perf_counter() < stop:
        t = time.perf_counter()
        client.call("analyze", image, arch)
        times.append(time.perf_counter() - t)
    rate = len(times) / (time.perf_counter() - began)
    client.close()
    return {"analyses/s": rate, "median s": statistics.median(times), "n": len(times)}


def flow_cost(arch: str, photo: Path, rounds: int = 5) -> dict[str, float]:
    """Seconds of model work (in this process, no server) behind each thing a student asks for,
    medians of ``rounds`` (the slow ones once): what a replica spends on one student's flow."""
    from resnet_viz.explain.attribution import attribute
    from resnet_viz.explain.feature_vis import visualize_channel
    from resnet_viz.model.preprocess import load_image, working_side
    from resnet_viz.model.weights import load_model
    from resnet_viz.probe.analysis import analyze
    from resnet_viz.probe.gradient_flow import gradient_flow

    model = load_model(arch, weights="random", device="cpu")
    picture = load_image(photo, short_side=working_side(model.meta.transforms))
    times = interleaved({
        "analysis (upload)": lambda: analyze(model, picture, return_tensors=True),
        "Grad-CAM ladder C2-C5 (upload's chained Grad-CAM)": lambda: attribute(model, picture, "gradcam_ladder"),
        "gradient flow (upload's chained chart)": lambda: gradient_flow(model, picture),
        "Grad-CAM C4 (/attribute)": lambda: attribute(model, picture, "gradcam", stage="C4"),
    }, rounds=rounds, warmup=1)
    cost = {name: statistics.median(samples) for name, samples in times.items()}
    began = time.perf_counter()
    attribute(model, picture, "occlusion")  # the app's defaults
    cost["occlusion (slow)"] = time.perf_counter() - began
    began = time.perf_counter()
    visualize_channel(model, "C4", 0, size=128, steps=256, seed=0)
    cost["feature visualisation C4, 128 px, 256 steps (slow)"] = time.perf_counter() - began
    return cost


def burst_plans(size: int, seed: int, ramp_s: float) -> list[Plan]:
    """``size`` students: the first 5 open, upload, and at ``ramp_s`` all start a slow method; the
    others do their short requests only, arriving over the ramp as usual."""
    out = []
    for plan in plans(size, seed, ramp_s):
        if plan.student < len(BURST):
            out.append(replace(plan, arrival=plan.arrival / 4, slow=BURST[plan.student], burst_at=ramp_s, short=False))
        else:
            out.append(replace(plan, slow=None))
    return out


def measure(setup: Setup, photos, example, args: argparse.Namespace) -> dict[str, Any]:
    """Every scenario against one server of ``setup``."""
    result: dict[str, Any] = {"setup": setup.name, "command": setup.command, "classes": []}
    channels = itertools.count(0)  # each feature visualisation a channel nobody asked for before (no cache hit)
    began = time.perf_counter()
    server, url = setup.start()
    result["start s"] = time.perf_counter() - began
    print(f"# {setup.name}: {setup.command} ready at {url} after {result['start s']:.0f} s; {load_average()}", flush=True)
    try:
        run_class(url, args.arch, plans(1, args.seed, 0.0), photos, example, lambda: next(channels) % 256)  # warm-up
        stopped = False
        for size in ramp_order(args.sizes, args.students):
            if stopped and size != args.students:
                continue
            records, seconds = run_class(url, args.arch, plans(size, args.seed, args.ramp), photos, example,
                                         lambda: next(channels) % 256)
            ok, why = held(records)
            load = os.getloadavg()[0]
            result["classes"].append({"size": size, "held": ok, "why": why, "seconds": seconds, "load": load,
                                      "records": [asdict(r) for r in records]})
            p95 = short_p95(records)
            print(f"#   class of {size}: short p95 {p95 if p95 is None else round(p95, 2)} s, "
                  f"{'held' if ok else 'NOT held: ' + why}; {seconds:.0f} s; load {load:.1f}", flush=True)
            stopped = stopped or not ok
            time.sleep(3)  # the class's sessions end (their heartbeats stop) before the next one
        outcomes = [(c["size"], c["held"]) for c in result["classes"]]
        result["largest held"] = largest_held(outcomes)
        size = args.burst_class or min(args.students, max(BURST_MIN_CLASS, result["largest held"]))
        records, seconds = run_class(url, args.arch, burst_plans(size, args.seed, args.ramp), photos, example,
                                     lambda: next(channels) % 256)
        slow = [r for r in records if r.kind == "slow"]
        t0 = min((r.started for r in slow), default=args.ramp)  # the burst's start, in seconds after the class started
        result["burst"] = {"size": size, "seconds": seconds, "load": os.getloadavg()[0], "records": [asdict(r) for r in records],
                           "slow starts": sorted(round(r.started - t0, 2) for r in slow),
                           "short p95 during": short_p95(records, since=t0), "slow ok": sum(r.ok for r in slow)}
        print(f"#   slow burst in a class of {size}: short p95 during it {result['burst']['short p95 during']}", flush=True)
        time.sleep(3)
        result["throughput"] = {**throughput(url, args.arch, photos[0].path, args.loop_seconds), "load": os.getloadavg()[0]}
        print(f"#   one client loop: {result['throughput']['analyses/s']:.2f} analyses/s", flush=True)
    finally:
        setup.stop(server)
        result["stopped"] = setup.stopped
    return result


# --- the report ----------------------------------------------------------------------------------------

def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    for res in results:
        main = next((c for c in res["classes"] if c["size"] == args.students), None)
        if main is not None:
            records = [Record(**r) for r in main["records"]]
            report(f"{res['setup']}: a class of {args.students}, per kind of request ({res['command']})",
                   kind_rows(records, main["seconds"]),
                   notes=[f"{main['seconds']:.0f} s from the first arrival to the last answer; load average (1 min) "
                          f"{main['load']:.1f} at its end. Latencies of successful requests; 'per s': completed per second.",
                          *sorted({f"failure: {r.error}" for r in records if not r.ok})[:5]],
                   absolute="what a student waits")
    rows = []
    for res in results:
        for c in res["classes"]:
            p95 = short_p95([Record(**r) for r in c["records"]])
            rows.append({"setup": res["setup"], "class": c["size"], "short p95 s": "-" if p95 is None else f"{p95:.2f}",
                         "failures": sum(not r["ok"] for r in c["records"]), "mixed": sum(r["mixed"] for r in c["records"]),
                         "held": "yes" if c["held"] else "no: " + c["why"], "load (1 min)": f"{c['load']:.1f}"})
    report("the ramp: the largest class each setup holds (short p95 <= 3 s, no failure, no mixed)", rows,
           notes=[f"{res['setup']}: largest class held {res['largest held']}" for res in results],
           absolute="a student's wait is the criterion")
    rows = []
    for res in results:
        b = res["burst"]
        records = [Record(**r) for r in b["records"]]
        slow = [r.seconds for r in records if r.kind == "slow" and r.ok]
        during = b["short p95 during"]
        rows.append({"setup": res["setup"], "class": b["size"],
                     "short p95 during the burst s": "-" if during is None else f"{during:.2f}",
                     "short p95 whole class s": f"{short_p95(records) or 0:.2f}",
                     "failures": sum(not r.ok for r in records), "mixed": sum(r.mixed for r in records),
                     "slow done / 5": b["slow ok"], "slow p50 / max s": f"{statistics.median(slow):.1f} / {max(slow):.1f}" if slow else "-",
                     "target": f"< {P95_LIMIT_S:.0f} s", "verdict": "met" if during is not None and during < P95_LIMIT_S else "MISSED",
                     "load (1 min)": f"{b['load']:.1f}"})
    report("slow burst: 5 students start occlusions / feature visualisations at once", rows,
           notes=["'during the burst': short requests that started from the burst's start (the first slow request) on; "
                  "the 5 slow requests started within "
                  + ", ".join(f"{max(res['burst']['slow starts'] or [0]):.2f} s ({res['setup']})" for res in results)
                  + " of each other."],
           absolute="a student's wait during the burst")
    rows = [{"setup": res["setup"], "analyses/s": f"{res['throughput']['analyses/s']:.2f}",
             "median s": f"{res['throughput']['median s']:.3f}", "n": res["throughput"]["n"],
             "load (1 min)": f"{res['throughput']['load']:.1f}", "server start s": f"{res['start s']:.0f}",
             "stop": res.get("stopped", "")} for res in results]
    report("one model replica: /analyze from one client loop (one request in flight)", rows,
           absolute="a rate for the arithmetic of N replicas")
    by = {res["setup"]: res for res in results}
    if "app" in by and "serve" in by:
        app, serve = by["app"]["largest held"], by["serve"]["largest held"]
        during = by["serve"]["burst"]["short p95 during"]
        share = "not comparable: app.py held no class tried" if app == 0 else "met" if meets_share(serve, app) else "MISSED"
        report("targets", [
            {"target": f"serve holds >= {TARGET_SHARE:.0%} of app.py's class", "measured": f"serve {serve}, app.py {app}",
             "verdict": share},
            {"target": "slow burst of 5 leaves serve's short p95 < 3 s", "measured": "-" if during is None else f"{during:.2f} s",
             "verdict": "met" if during is not None and during < P95_LIMIT_S else "MISSED"},
        ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30, help="the class of the per-kind table (default 30)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[5, 10, 20, 30],
                        help="the ramp's class sizes, comma-separated (default 5,10,20,30)")
    parser.add_argument("--arch", default="resnet18", help="default resnet18: a class of 30 fits a 2-core CPU")
    parser.add_argument("--setups", type=lambda s: s.split(","), default=["app", "serve"], help="app, serve or both (in that order)")
    parser.add_argument("--model-replicas", type=int, default=2)
    parser.add_argument("--slow-replicas", type=int, default=1)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose app.py / resnet_viz serve is started")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which a class arrives (default 10)")
    parser.add_argument("--burst-class", type=int, help="the slow burst's class size (default: the largest class "
                        f"held, at least {BURST_MIN_CLASS}, at most --students)")
    parser.add_argument("--loop-seconds", type=float, default=15.0, help="the one-client /analyze loop (default 15)")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds resnet_viz serve may take to be ready")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every request's record and the summaries here")
    args = parser.parse_args(argv)
    unknown = set(args.setups) - {"app", "serve"}
    if unknown:
        parser.error(f"unknown setup(s) {sorted(unknown)}; choose app, serve")
    print(f"# bench_class: a class of students against {', '.join(args.setups)}; {args.arch}, random weights, CPU, "
          f"code {args.code}\n# {machine()}; at the start: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-class-photos-") as folder:
        began = time.perf_counter()
        count = max(ramp_order(args.sizes, args.students) + [args.burst_class or 0])
        photos, example = make_photos(count, args.arch, Path(folder), args.seed)
        print(f"# {len(photos)} photos and their expected answers in {time.perf_counter() - began:.0f} s", flush=True)
        cost = flow_cost(args.arch, photos[0].path)
        results, broken = [], []
        for name in args.setups:
            try:
                results.append(measure(Setup(name, args), photos, example, args))
            except RuntimeError as exc:  # a server that does not start: said, and the other setup still reported
                broken.append(f"{name}: {exc}")
                print(f"# {name} could not be measured: {exc}", flush=True)
    base = cost["analysis (upload)"]
    report("a student's model work, in this process (no server)",
           [{"what": name, "seconds": f"{seconds:.3f}", "in analyses": f"{seconds / base:.1f}"} for name, seconds in cost.items()],
           notes=["Medians of 5 (the slow ones once), one process, 2 torch threads: what a replica computes per request."],
           absolute="the unit of the replica arithmetic")
    print_report(results, args)
    for line in broken:
        print(f"NOT MEASURED: {line}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine(),
                                         "flow cost s": cost, "results": results, "not measured": broken}, indent=1))


if __name__ == "__main__":
    main()
