"""The GPU path, where CUDA exists: NCHW vs channels-last memory in float32 and under bf16/fp16
autocast, what ``load_model``'s measured choice picks for each, and analyze() per image.

    python bench/bench_gpu.py [--arch resnet50] [--rounds 50]

Prints, for batch 1 and batch 32, the median forward time of each setting and its speed-up over
float32 NCHW, the layout ``layout="auto"`` chose per precision (with its own batch-1 timings), then
analyze() per image in float32 and bf16 as loaded with "auto".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet_viz import analyze, load_model  # noqa: E402
from resnet_viz.model.runtime import as_model_input, autocast  # noqa: E402

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
    settings = {
        f"{precision} {layout}": load_model(args.arch, "random", "cuda", precision=precision, layout=layout)
        for precision in ("fp32", "bf16", "fp16")
        for layout in ("nchw", "channels-last")
    }
    for batch in (1, 32):
        x = torch.randn(batch, 3, 224, 224, device="cuda")
        base = None
        for name, model in settings.items():
            inp = as_model_input(model, x)

            def forward(model=model, inp=inp):
                with torch.inference_mode(), autocast(model):
                    model(inp)

            seconds = timed(forward, args.rounds)
            base = base or seconds
            print(f"batch {batch:>2}  {name:<24} {1000 * seconds:8.2f} ms   speed-up {base / seconds:5.2f}x")
    chosen = {}
    for precision in ("fp32", "bf16", "fp16"):
        start = time.perf_counter()
        model = chosen[precision] = load_model(args.arch, "random", "cuda", precision=precision)
        took = time.perf_counter() - start
        r = model.meta.runtime
        print(
            f"auto, {precision}: {r.layout} (NCHW {r.forward_ms['nchw']:.2f} ms, channels-last "
            f"{r.forward_ms['channels-last']:.2f} ms at batch 1); load_model took {took:.2f} s"
        )
    for precision in ("fp32", "bf16"):
        model = chosen[precision]
        ms = 1000 * timed(lambda model=model: analyze(model, PHOTO), args.rounds)
        print(f"analyze()  {precision}, {model.meta.runtime.layout:<14} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
