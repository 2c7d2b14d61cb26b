"""The trust measures against one bare torchvision forward, on this CPU.

    python -m bench.bench_trust [--rounds 2] [--arch resnet50] [--skip-all-methods]

Ratios (median of per-round ratios; contenders run in turn each round, in one process), against
one bare batch-1 torchvision forward in the model's memory layout, measured side by side:
- deletion + insertion for one Grad-CAM map, 28 steps each (target <= 45x);
- the full trust report for Grad-CAM: the 6-step cascade, deletion and insertion at 28 steps,
  ROAD at 9 percentiles, both baselines (target <= 200x).
Then, once, the "compare all methods" table: the full report for every method on one photo, its
wall time also counted in bare forwards timed just before and after (absolute on purpose: what a
visitor waits for the table). Random weights: the time does not depend on their values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision

from bench.common import interleaved, load_average, machine, ratio_rows, report
from resnet_viz import attribute, load_model, trust_report
from resnet_viz.model.runtime import image_input, memory_format
from resnet_viz.trust import faithfulness
from resnet_viz.trust.report import COMPARABLE_METHODS

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-all-methods", action="store_true")
    parser.add_argument("--only-all-methods", action="store_true", help="just the compare-all-methods table's time")
    parser.add_argument("--only-data-randomisation", action="store_true",
                        help="just the lab's live data randomisation test (train the pair, compare three methods)")
    args = parser.parse_args()
    if args.only_data_randomisation:
        _data_randomisation()
        return
    print(f"# bench_trust: {args.arch}, batch 1, 224x224, CPU\n# {machine()}\n# at start: {load_average()}")
    model = load_model(args.arch, "random", "cpu")
    layout = memory_format(model)
    print(f"# layout {model.meta.runtime.layout}")
    x = image_input(model, PHOTO)
    reference = torchvision.models.get_model(args.arch).eval().to(memory_format=layout)
    cam = attribute(model, x[0], "gradcam")["map"]

    def bare_forward():
        with torch.inference_mode():
            reference(x)

    if args.only_all_methods:
        _all_methods(model, x, bare_forward)
        return

    last = {}

    def full_report():
        last["report"] = trust_report(model, x[0], ["gradcam"])

    for _ in range(3):
        bare_forward()
    faithfulness(model, x[0], cam, baselines=(), road=False)  # warm: the contenders' first calls import and allocate

    times = interleaved(
        {
            "bare torchvision forward": bare_forward,
            "deletion + insertion, one map, 28 steps": lambda: faithfulness(model, x[0], cam, baselines=(), road=False),
            "full trust report, Grad-CAM": full_report,
        },
        args.rounds,
        warmup=0,
    )
    detail = last["report"]
    f = detail.methods["gradcam"].faithfulness
    report(
        "Trust measures vs one bare torchvision forward",
        ratio_rows(times, "bare torchvision forward",
                   {"deletion + insertion, one map, 28 steps": 45.0, "full trust report, Grad-CAM": 200.0}),
        notes=[f"last full report: {detail.timing_ms['total']:.0f} ms; cascade "
               f"{detail.methods['gradcam'].randomisation.timing_ms:.0f} ms, faithfulness {f.timing_ms:.0f} ms: "
               + ", ".join(f"{k} {v:.0f} ms" for k, v in f.phases_ms.items())],
    )
    if not args.skip_all_methods:
        _all_methods(model, x, bare_forward)


def _all_methods(model, x, bare_forward) -> None:
    """The compare-all-methods table once, with a bare forward timed just before and after."""
    forward_s = []
    for _ in range(3):
        start = time.perf_counter()
        bare_forward()
        forward_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    table = trust_report(model, x[0], list(COMPARABLE_METHODS))
    seconds = time.perf_counter() - start
    for _ in range(3):
        start = time.perf_counter()
        bare_forward()
        forward_s.append(time.perf_counter() - start)
    forward = sorted(forward_s)[len(forward_s) // 2]
    rows = [{"method": name, "full report": f"{ms / 1000:.1f} s"} for name, ms in table.timing_ms.items()]
    report(
        f"compare all methods ({len(COMPARABLE_METHODS)} methods, full report each)",
        rows,
        notes=[f"in all {seconds:.1f} s = {seconds / forward:.0f} bare forwards of {1000 * forward:.0f} ms "
               "(median of 3 just before and 3 just after)"],
        absolute="the table's wall time is what a visitor waits for it",
    )


def _data_randomisation() -> None:
    """The lab's live data randomisation test as a visitor starts it: both networks trained with the
    lab's live settings, then three methods compared on 16 scenes."""
    from resnet_viz.serve.trust_lab import DataRandomisationLab

    print(f"# bench_trust --only-data-randomisation, CPU, {torch.get_num_threads()} torch threads\n# {machine()}\n"
          f"# at start: {load_average()}")
    start = time.perf_counter()
    results = DataRandomisationLab().train()
    seconds = time.perf_counter() - start
    networks = next(iter(results.values())).networks
    rows = [{"part": f"train on {name} labels", "seconds": f"{net['seconds']:.1f}",
             "accuracy": f"train {100 * net['train_accuracy']:.1f}%, new scenes {100 * net['test_accuracy']:.1f}%"}
            for name, net in networks.items()]
    rows += [{"part": f"compare {name}", "seconds": f"{r.timing_ms / 1000:.1f}",
              "accuracy": f"mean rank correlation {sum(r.spearman_abs) / len(r.spearman_abs):.2f}: {r.verdict}"}
             for name, r in results.items()]
    report("the lab's live data randomisation test", rows, notes=[f"in all {seconds:.1f} s"],
           absolute="a visitor waits this long for the live test")


if __name__ == "__main__":
    main()
