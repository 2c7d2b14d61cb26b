"""The degradation lab's live run as the app will drive it, and what it costs the app's visitors.

    flock /work/cpu.lock python -m bench.bench_degradation [--threads 1 2] [--context spawn] [--preset default]
        [--analyze-rounds 8] [--skip-live] [--skip-analyze] [--skip-app]

1. Live run: a preset's experiment (default: four networks, offline data) in a DegradationRunner's own
   process, polled every 50 ms like the app's timer; prints the time to the first point, the
   gaps between points (a point = one new logged step for all four networks at once) and the
   total, once per torch thread count.
2. Analyze during a run: ``resnet_viz.analyze`` on ResNet-50 (random weights, one example photo)
   in this process, idle, while a run trains, and while a run trains but is paused around each
   analysis (pause, analyze, resume: what the app does for a short request), interleaved.
3. The app's /analyze during a run: the app itself (app.build_demo, ResNet-50 with random weights)
   launched in this process and called over HTTP with gradio_client while the lab's run (started
   through the explorer's DegradationLab, as the Start button does) trains; each round times one
   call with the lab's pause switched off (``yield_to_app = False``) and one with it on (the app's
   behaviour: the registry's activity listener holds the run while the model computes), in
   alternating order, plus calls with no run at all.
1 is an absolute time on purpose (the live run's budget: at most 3 minutes, a point at least every
2 s); 2 and 3 compare each setting with the idle median (x of idle).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from bench.common import machine, report
from resnet_viz import DegradationConfig, DegradationRunner, analyze, load_model
from resnet_viz.degradation.presets import PRESETS

PHOTO = sorted((Path(__file__).resolve().parent.parent / "assets").glob("*.jpg"))[0]


def live_run(threads: int, context: str, config: DegradationConfig) -> dict:
    runner = DegradationRunner(threads=threads, context=context)
    start = time.perf_counter()
    assert runner.start(config)
    arrivals: list[float] = []
    points = 0
    while True:
        snap = runner.snapshot()
        now = time.perf_counter() - start
        if snap.result is not None and snap.result.points > points:
            points = snap.result.points
            arrivals.append(now)
        if not snap.active:
            break
        time.sleep(0.05)
    total = time.perf_counter() - start
    assert snap.state == "finished", snap.error
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    nets = {n.name: n for n in snap.result.networks}
    return {
        "threads": threads,
        "total_s": total,
        "first_point_s": arrivals[0],
        "points": points,
        "gap_median_s": statistics.median(gaps),
        "gap_p90_s": sorted(gaps)[int(0.9 * len(gaps))],
        "gap_max_s": max(gaps),
        "final_train_error": {k: v.final_train_error for k, v in nets.items()},
    }


def analyze_during_run(rounds: int, context: str) -> dict[str, list[float]]:
    torch.set_num_threads(2)  # the app's own setting on this machine
    model = load_model("resnet50", weights="random", device="cpu")
    for _ in range(3):
        analyze(model, PHOTO)
    times: dict[str, list[float]] = {"idle": [], "during run": [], "during run, paused": []}

    def timed(key: str) -> None:
        tic = time.perf_counter()
        analyze(model, PHOTO)
        times[key].append(time.perf_counter() - tic)

    for _ in range(rounds):
        timed("idle")
    runner = DegradationRunner(threads=1, context=context)
    runner.start(DegradationConfig(steps=100_000))
    while not (runner.snapshot().result and runner.snapshot().result.points >= 1):
        time.sleep(0.1)
    try:
        for _ in range(rounds):
            timed("during run")
            runner.pause()
            timed("during run, paused")
            runner.resume()
            time.sleep(1.0)  # let the run get going again between measurements
    finally:
        runner.cancel()
    return times


def app_analyze_during_run(rounds: int) -> tuple[dict[str, list[float]], dict]:
    """Wall seconds of the app's /analyze (HTTP, gradio_client) idle, during a run not paused, and
    during a run paused by the app's own activity listener."""
    from gradio_client import Client, handle_file

    import app
    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.registry import ModelRegistry

    explorer = Explorer(ModelRegistry("random", "cpu"))
    demo = app.build_demo("resnet50", explorer=explorer)
    _, url, _ = demo.launch(prevent_thread_lock=True, **{**app.launch_kwargs(port=None), "quiet": True})
    lab = explorer.degradation
    # A background run that outlasts the measurement and has no page to send heartbeats.
    lab.max_cost, lab.heartbeat_timeout_s = None, None
    times: dict[str, list[float]] = {"idle": [], "during run, not paused": [], "during run, paused (the app)": []}
    try:
        client = Client(url, verbose=False)
        photo = handle_file(str(PHOTO))

        def timed(key: str) -> None:
            tic = time.perf_counter()
            client.predict(photo, "resnet50", api_name="/analyze")
            times[key].append(time.perf_counter() - tic)

        for _ in range(3):  # load the model, warm the caches
            timed("idle")
        times["idle"].clear()
        for _ in range(rounds):
            timed("idle")
        assert lab.start(DegradationConfig(steps=100_000), owner="bench")
        while not (lab.snapshot().result and lab.snapshot().result.points >= 1):
            time.sleep(0.1)
        pauses, step = lab.pauses, lab.snapshot().result.step
        tic = time.perf_counter()
        for i in range(rounds):
            order = [False, True] if i % 2 == 0 else [True, False]
            for paused in order:
                lab.yield_to_app = paused
                timed("during run, paused (the app)" if paused else "during run, not paused")
                time.sleep(1.0)  # let the run get going again between measurements
        run = {
            "pauses": lab.pauses - pauses,
            "steps_per_s": (lab.snapshot().result.step - step) / (time.perf_counter() - tic),
        }
    finally:
        lab.yield_to_app = True
        lab.cancel("bench")
        demo.close()
    return times, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--context", default="spawn", choices=["spawn", "forkserver"])
    parser.add_argument("--preset", default="default", choices=list(PRESETS), help="the live run's preset")
    parser.add_argument("--analyze-rounds", type=int, default=8)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-analyze", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    args = parser.parse_args()
    print(f"# {machine()}; runner context {args.context}", flush=True)
    if not args.skip_live:
        config = PRESETS[args.preset].config
        rows = []
        for threads in args.threads:
            r = live_run(threads, args.context, config)
            rows.append({
                "threads": r["threads"], "total": f"{r['total_s']:.1f} s", "first point": f"{r['first_point_s']:.1f} s",
                "points": r["points"], "gap median": f"{r['gap_median_s']:.2f} s", "gap p90": f"{r['gap_p90_s']:.2f} s",
                "gap max": f"{r['gap_max_s']:.2f} s",
                "final training error": ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["final_train_error"].items()),
            })
        report(f"live run: the {args.preset} preset (depths {config.depths}, {config.steps} steps; offline data)", rows,
               absolute="the live run's budget: at most 4 minutes, a point at least every 2 s")

    def x_of_idle(times: dict[str, list[float]]) -> list[dict]:
        idle = statistics.median(times["idle"])
        return [{"setting": key, "median": f"{1000 * statistics.median(samples):.0f} ms",
                 "max": f"{1000 * max(samples):.0f} ms", "x of idle": f"{statistics.median(samples) / idle:.2f}"}
                for key, samples in times.items()]

    if not args.skip_analyze:
        times = analyze_during_run(args.analyze_rounds, args.context)
        report("analyze(resnet50, random weights) in the app process, run with 1 thread", x_of_idle(times))

    if not args.skip_app:
        times, run = app_analyze_during_run(args.analyze_rounds)
        report("the app's /analyze (resnet50, random weights, HTTP) while the lab's run trains (1 thread)",
               x_of_idle(times), notes=[f"the run meanwhile: {run['steps_per_s']:.1f} steps/s, "
                                        f"held {run['pauses']} times by the app's listener"])

if __name__ == "__main__":
    main()
