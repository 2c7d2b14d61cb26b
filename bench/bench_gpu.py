"""The GPU path, where CUDA exists: channels-last memory and bf16/fp16 autocast against a plain
float32 NCHW model.

    python bench/bench_gpu.py [--arch resnet50] [--rounds 50]

Prints, for batch 1 and batch 32, the median forward time of each setting and its speed-up over
float32 NCHW, then analyze() per image in float32 and bf16.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet_viz import analyze, load_model  # noqa: E402
from resnet_viz.runtime import autocast  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"


def timed(fn, rounds: int) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device here; run it on a machine with an NVIDIA GPU.")
    print(f"# bench_gpu: {args.arch} on {torch.cuda.get_device_name()}, torch {torch.__version__}")
    torch.backends.cudnn.benchmark = True
    channels_last = load_model(args.arch, "random", "cuda")
    nchw = copy.deepcopy(channels_last).to(memory_format=torch.contiguous_format)
    settings = {
        "fp32 NCHW": (nchw, torch.contiguous_format),
        "fp32 channels-last": (channels_last, torch.channels_last),
        "bf16 autocast, channels-last": (load_model(args.arch, "random", "cuda", precision="bf16"), torch.channels_last),
        "fp16 autocast, channels-last": (load_model(args.arch, "random", "cuda", precision="fp16"), torch.channels_last),
    }
    for batch in (1, 32):
        x = torch.randn(batch, 3, 224, 224, device="cuda")
        base = None
        for name, (model, layout) in settings.items():
            inp = x.contiguous(memory_format=layout)

            def forward(model=model, inp=inp):
                with torch.inference_mode(), autocast(model):
                    model(inp)

            seconds = timed(forward, args.rounds)
            base = base or seconds
            print(f"batch {batch:>2}  {name:<30} {1000 * seconds:8.2f} ms   speed-up {base / seconds:5.2f}x")
    for name in ("fp32 channels-last", "bf16 autocast, channels-last"):
        model = settings[name][0]
        print(f"analyze()  {name:<30} {1000 * timed(lambda model=model: analyze(model, PHOTO), args.rounds):8.2f} ms")


if __name__ == "__main__":
    main()
