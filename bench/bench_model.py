"""Our ResNet vs torchvision's, and analyze() vs a bare torchvision forward, on this CPU.

    python -m bench.bench_model [--rounds 50] [--arch resnet50]

Each comparison runs its contenders in turn, round after round, in one process, and prints
medians and their ratios (absolute times on a shared machine are noise; ratios are not).

The baseline is torchvision in the faster of its two memory layouts, NCHW or channels-last (the
one a torchvision user would pick on this machine), and ours runs as ``load_model`` chose. Two
readings of "the faster": the layout with the lower median over the run, each round's ratio
taken to that layout's time in the round (the headline); and, stricter, each round's faster of
the two (a minimum of two noisy timings, so biased low when the layouts are close).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image

from bench.common import interleaved, machine, ratio, ratio_rows, report, verdict
from resnet_viz import analyze, load_model
from resnet_viz.model.runtime import MEMORY_FORMATS

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"
OTHER = {"nchw": "channels-last", "channels-last": "nchw"}


def with_baselines(times: dict[str, list[float]], nchw: str, channels_last: str) -> tuple[dict[str, list[float]], str]:
    """``times`` plus the two baselines built from torchvision's two layouts; returns the headline's name."""
    faster = min((nchw, channels_last), key=lambda name: statistics.median(times[name]))
    headline = f"baseline: {faster}"
    return {
        headline: times[faster],
        "baseline: per-round faster torchvision layout": [min(a, b) for a, b in zip(times[nchw], times[channels_last])],
        **times,
    }, headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(f"# bench_model: {args.arch}, batch 1, 224x224, CPU\n# {machine()}")

    start = time.perf_counter()
    ours = load_model(args.arch, "random", "cpu")  # as the app runs it: the layout measured faster here
    loaded_s = time.perf_counter() - start
    runtime = ours.meta.runtime
    chosen, other = runtime.layout, OTHER[runtime.layout]
    print(
        f"# load_model chose {chosen} (its timing: NCHW {runtime.forward_ms['nchw']:.1f} ms, channels-last "
        f"{runtime.forward_ms['channels-last']:.1f} ms); load_model took {loaded_s:.2f} s; {runtime.threads} threads"
    )
    ours_other = copy.deepcopy(ours).to(memory_format=MEMORY_FORMATS[other])
    reference = torchvision.models.get_model(args.arch).eval()
    reference.load_state_dict(ours.state_dict())
    reference_cl = copy.deepcopy(reference).to(memory_format=torch.channels_last)
    transforms = torchvision.models.get_model_weights(args.arch).DEFAULT.transforms()
    x = transforms(Image.open(PHOTO).convert("RGB")).unsqueeze(0)
    inputs = {name: x.contiguous(memory_format=fmt) for name, fmt in MEMORY_FORMATS.items()}

    def forward(model, batch):
        with torch.inference_mode():
            model(batch)

    tv_nchw, tv_cl = "torchvision forward (NCHW)", "torchvision forward, channels-last"
    times = interleaved(
        {
            tv_nchw: lambda: forward(reference, inputs["nchw"]),
            tv_cl: lambda: forward(reference_cl, inputs["channels-last"]),
            f"resnet_viz forward as loaded ({chosen})": lambda: forward(ours, inputs[chosen]),
            f"resnet_viz forward, other layout ({other})": lambda: forward(ours_other, inputs[other]),
        },
        args.rounds,
    )
    times, baseline = with_baselines(times, tv_nchw, tv_cl)
    same = {chosen: f"resnet_viz forward as loaded ({chosen})", other: f"resnet_viz forward, other layout ({other})"}
    same_nchw, same_cl = ratio(times, same["nchw"], tv_nchw), ratio(times, same["channels-last"], tv_cl)
    report("forward pass", ratio_rows(times, baseline), notes=[
        f"resnet_viz vs torchvision in the same layout: NCHW {same_nchw:.2f}x (target <= 1.05x: "
        f"{verdict(same_nchw, 1.05)}), channels-last {same_cl:.2f}x",
    ])

    def bare(model, layout):
        batch = transforms(Image.open(PHOTO).convert("RGB")).unsqueeze(0).contiguous(memory_format=layout)
        with torch.inference_mode():
            model(batch).softmax(-1).topk(5)

    bare_nchw, bare_cl = "preprocess + torchvision forward (NCHW)", "preprocess + torchvision channels-last forward"
    times = interleaved(
        {
            bare_nchw: lambda: bare(reference, torch.contiguous_format),
            bare_cl: lambda: bare(reference_cl, torch.channels_last),
            "analyze()": lambda: analyze(ours, PHOTO),
        },
        args.rounds,
    )
    times, baseline = with_baselines(times, bare_nchw, bare_cl)
    strict = ratio(times, "analyze()", "baseline: per-round faster torchvision layout")
    report("one-pass analysis", ratio_rows(times, baseline, {"analyze()": 1.15}), notes=[
        f"analyze() vs the per-round faster torchvision layout (stricter): {strict:.2f}x ({verdict(strict, 1.15)})",
    ])


if __name__ == "__main__":
    main()
