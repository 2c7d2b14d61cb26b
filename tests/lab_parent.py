"""A minimal parent for the degradation lab, as the app holds it: start a long run, report the pids
of the run's process and of multiprocessing's helpers, then wait to be killed.

    python -m tests.lab_parent [--paused] [--context spawn|forkserver]

Prints one JSON line once the run trains: {"parent", "child", "helpers"}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time

from resnet_viz.degradation import DegradationConfig
from resnet_viz.serve.degradation_lab import DegradationLab

LONG = DegradationConfig(depths=(8,), steps=100_000, batch_size=8, log_every=2, eval_every=10, eval_size=20,
                         final_train_size=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paused", action="store_true", help="hold the run between two rounds, as the app does")
    parser.add_argument("--context", default="spawn")
    args = parser.parse_args()
    # This parent exists to be killed mid-run: neither the budget nor a missing heartbeat ends it first.
    lab = DegradationLab(context=args.context, max_cost=None, heartbeat_timeout_s=None)
    if not lab.start(LONG, owner="parent"):
        sys.exit("the run did not start")
    deadline = time.monotonic() + 120
    while lab.snapshot().state != "running":
        if time.monotonic() > deadline or not lab.snapshot().active:
            sys.exit(f"the run never trained: {lab.snapshot().state} {lab.snapshot().error}")
        time.sleep(0.05)
    if args.paused:
        lab.on_activity(True)  # what the app does while its models compute
    children = multiprocessing.active_children()
    run = [p.pid for p in children if p.name == "degradation-run"]
    helpers = [p.pid for p in children if p.name != "degradation-run"]
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)  # noqa: SLF001 (the helper to watch)
    if tracker:
        helpers.append(tracker)
    if args.context == "forkserver":
        from multiprocessing import forkserver

        server = getattr(forkserver._forkserver, "_forkserver_pid", None)  # noqa: SLF001
        if server:
            helpers.append(server)
    print(json.dumps({"parent": multiprocessing.current_process().pid, "child": run[0], "helpers": helpers}), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
