"""Feature visualisation on this CPU: what one step costs, and how long one channel takes.

    python -m bench.bench_feature_vis [--arch resnet50] [--stages C2,C4,C5] [--size 128] [--rounds 30]
                                         [--full-steps 256] [--table]

1. For each stage, one optimisation step (Fourier image, random view, normalise, the truncated
   network forward and backward, Adam) against a bare forward + backward of the same truncated
   network at the same size (batch 1, an input that requires grad, the weights frozen as in the
   app), run in turn round after round in one process. Target: ratio <= 1.2. A third contender,
   the step's own work without the network, says where any overhead goes.
2. The wall time of ``visualize_channel`` for one C4 channel of the arch at ``--size`` px and
   ``--full-steps`` steps: what a teacher waits for, so an absolute time on purpose.
3. With ``--table``: the median step of every arch and stage, times ``--full-steps``, the
   expected time per channel for the UI (extrapolated, and said so; absolute, like 2).
Random weights: the time does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import interleaved, load_average, machine, median_ms, ratio_rows, report
from resnet_viz import ARCHS, load_model, visualize_channel
from resnet_viz.explain.feature_vis import ChannelOptimizer, Recipe, stage_forward
from resnet_viz.model.runtime import as_model_input

CHANNEL = 1


def step_contenders(model, stage: str, size: int) -> dict:
    run = ChannelOptimizer(model, stage, CHANNEL, size=size, seed=0, recipe=Recipe())
    forward = stage_forward(model, stage)
    x = as_model_input(model, torch.randn(1, 3, size, size)).requires_grad_()

    def bare() -> None:
        x.grad = None
        forward(x)[:, CHANNEL].mean().backward()

    def image_work_only() -> None:
        # Everything a step does except the network: the image, the random view, normalising,
        # the layout change, their backward (from a stand-in loss) and Adam.
        run.optimizer.zero_grad(set_to_none=True)
        run.network_input(run.random_view()).mean().backward()
        run.optimizer.step()

    with torch.enable_grad():
        return {
            "bare forward + backward (input grad)": bare,
            "one optimisation step": run.step,
            "the step without the network": image_work_only,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50", choices=list(ARCHS))
    parser.add_argument("--stages", default="C2,C4,C5")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--full-steps", type=int, default=256)
    parser.add_argument("--table", action="store_true", help="extrapolated time per channel, every arch and stage")
    args = parser.parse_args()
    print(f"# bench_feature_vis: {args.arch}, batch 1, {args.size}x{args.size}, CPU\n# {machine()}")
    print(f"# at start: {load_average()} (other programs share these cores)")

    model = load_model(args.arch, "random", "cpu")
    for stage in args.stages.split(","):
        times = interleaved(step_contenders(model, stage, args.size), args.rounds)
        report(
            f"{args.arch} {stage}: one step vs the truncated network's forward + backward",
            ratio_rows(times, "bare forward + backward (input grad)", {"one optimisation step": 1.20}),
        )

    start = time.perf_counter()
    result = visualize_channel(model, "C4", CHANNEL, size=args.size, steps=args.full_steps)
    wall = time.perf_counter() - start
    report(
        f"one channel: {args.arch} C4 channel {CHANNEL}, {args.size} px, {args.full_steps} steps",
        [{"wall": f"{wall:.1f} s", "per step": f"{result.timing_ms['per_step']:.1f} ms",
          "objective": f"{result.objective[0]:.3f} -> {result.objective[-1]:.3f}",
          "on the final image": f"{result.final_activation:.3f}"}],
        absolute="what a teacher waits for one channel",
    )
    if args.table:
        rows = []
        for arch in ARCHS:
            other = model if arch == args.arch else load_model(arch, "random", "cpu")
            row = {"arch": arch}
            for stage in ("C1", "C2", "C3", "C4", "C5"):
                run = ChannelOptimizer(other, stage, CHANNEL, size=args.size, seed=0, recipe=Recipe())
                samples = interleaved({"step": run.step}, rounds=8, warmup=2)["step"]
                row[stage] = f"{median_ms(samples) * args.full_steps / 1000:.1f} s"
            rows.append(row)
            print(f"{arch}: done", flush=True)
            del other
        report(f"expected time per channel at {args.size} px, {args.full_steps} steps (median step x steps)", rows,
               absolute="what a teacher waits, extrapolated from 8 steps per cell")


if __name__ == "__main__":
    main()
