"""The GPU path, where CUDA exists: NCHW vs channels-last memory in float32 and under bf16/fp16
autocast, what ``load_model``'s measured choice picks for each, and analyze() per image.

    python -m bench.bench_gpu [--arch resnet50] [--rounds 30] [--batches 1 8 32] [--device cuda]

It times what the app runs: CUDA's arithmetic switches as the app leaves them (it sets none, so
torch's defaults: cuDNN benchmark mode off, TF32 allowed for convolutions, not for matrix
products), printed at the top; float32 rows say "TF32 convolutions" when that switch is on, and an
"exact" float32 row (TF32 off) is timed beside them. For each batch, every setting runs in turn,
round after round (each call waits for the GPU), so a slow spell hits all alike; the table gives
each setting's median, its ratio to float32 NCHW (median of per-round ratios) and its spread
(interquartile range over the median): where two layouts differ by less than their spread, the
batch is too small to choose a layout from. Then the layout ``layout="auto"`` chose per precision
and the batch it timed (see resnet_viz.model.layout.GPU_TIMING_BATCH), and analyze() per image
(an absolute time on purpose: it is the app's latency on this GPU).

``--device cpu`` runs the float32 part on the CPU, to try the script where there is no GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch

from bench.common import interleaved, machine, median_ms, ratio, report
from resnet_viz import analyze, load_model
from resnet_viz.model.runtime import as_model_input, autocast, cuda_math, exact_float32

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"
LAYOUT_NAMES = {"nchw": "NCHW", "channels-last": "channels-last"}


def spread(samples: list[float]) -> float:
    """Interquartile range over the median: how much one setting's own timings wander."""
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def settings(models: dict[tuple[str, str], torch.nn.Module], batch: int, device: str, tf32: bool):
    """name -> (a forward of ``batch`` images that waits for the device, precision, layout)."""
    x = torch.randn(batch, 3, 224, 224, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    out: dict[str, tuple[Callable[[], None], str, str]] = {}
    variants = [("fp32", "fp32 (TF32 convolutions)" if tf32 else "fp32", contextlib.nullcontext)]
    if tf32:
        variants.append(("fp32", "fp32 exact (TF32 off)", exact_float32))
    variants += [(p, p, contextlib.nullcontext) for p in ("bf16", "fp16") if (p, "nchw") in models]
    for precision, label, math in variants:
        for layout in ("nchw", "channels-last"):
            model = models[precision, layout]
            inp = as_model_input(model, x)

            def forward(model=model, inp=inp, math=math) -> None:
                with math(), torch.inference_mode(), autocast(model):
                    model(inp)
                sync()

            out[f"{label}, {LAYOUT_NAMES[layout]}"] = (forward, label, layout)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu: no CUDA device here; run it on a machine with an NVIDIA GPU (or try --device cpu).")
    cuda = args.device == "cuda"
    name = torch.cuda.get_device_name() if cuda else "CPU"
    math = cuda_math()
    tf32 = cuda and math["tf32_convolutions"]
    print(f"# bench_gpu: {args.arch} on {name}\n# {machine()}")
    print("# CUDA arithmetic as the app runs it (it sets none of these; torch's defaults): "
          + ", ".join(f"{k} {'on' if v else 'off'}" for k, v in math.items()), flush=True)
    precisions = ("fp32", "bf16", "fp16") if cuda else ("fp32",)
    models = {(p, layout): load_model(args.arch, "random", args.device, precision=p, layout=layout)
              for p in precisions for layout in ("nchw", "channels-last")}

    faster: dict[tuple[int, str], str] = {}  # (batch, precision label) -> the faster layout, where beyond noise
    for batch in args.batches:
        contenders = settings(models, batch, args.device, tf32)
        times = interleaved({k: fn for k, (fn, _, _) in contenders.items()}, args.rounds, warmup=3)
        baseline = next(iter(times))
        rows, notes = [], []
        for key, samples in times.items():
            rows.append({"setting": key, "median ms": f"{median_ms(samples):.2f}",
                         f"ratio to {baseline}": f"{ratio(times, key, baseline):.2f}x",
                         "spread": f"{100 * spread(samples):.0f}%"})
        for label in dict.fromkeys(label for _, label, _ in contenders.values()):
            nchw, cl = times[f"{label}, NCHW"], times[f"{label}, channels-last"]
            gap = abs(statistics.median(nchw) - statistics.median(cl)) / min(statistics.median(nchw), statistics.median(cl))
            noise = max(spread(nchw), spread(cl))
            winner = "NCHW" if statistics.median(nchw) <= statistics.median(cl) else "channels-last"
            if gap > noise:
                faster[batch, label] = winner
            notes.append(f"{label}: {winner} faster by {100 * gap:.0f}% against a spread of {100 * noise:.0f}%"
                         f" -> {'beyond noise' if gap > noise else 'within noise: no layout to choose at this batch'}")
        report(f"batch {batch}: forward of {args.arch}, {args.rounds} rounds in turn", rows, notes=notes)

    rows = []
    for precision in precisions:
        runtime = load_model(args.arch, "random", args.device, precision=precision).meta.runtime
        label = "fp32 (TF32 convolutions)" if precision == "fp32" and tf32 else precision
        measured = faster.get((runtime.timed_batch, label))
        rows.append({
            "precision": label,
            "auto chose": runtime.layout,
            "timed at batch": runtime.timed_batch,
            "its NCHW / channels-last ms": " / ".join(f"{runtime.forward_ms[k]:.2f}" for k in ("nchw", "channels-last")),
            "faster in the table above": measured or "not beyond noise, or batch not in --batches",
        })
    report("layout='auto' per precision (load_model, as the app loads)", rows)

    auto = {p: load_model(args.arch, "random", args.device, precision=p) for p in precisions[:2]}
    times = interleaved({f"analyze() {p}, {m.meta.runtime.layout}": (lambda m=m: analyze(m, PHOTO))
                         for p, m in auto.items()}, args.rounds, warmup=3)
    baseline = next(iter(times))
    report("analyze() per image, as loaded with layout='auto'",
           [{"what": k, "median ms": f"{median_ms(v):.2f}", "ratio": f"{ratio(times, k, baseline):.2f}x"}
            for k, v in times.items()],
           absolute="analyze() per image is the app's latency on this device")


if __name__ == "__main__":
    main()
