"""Attributions and lesions against plain forward/backward passes, on this CPU.

    python bench/bench_explain.py [--rounds 7] [--arch resnet50]

Ratios (median of per-round ratios; contenders run in turn each round, in one process):
- Grad-CAM (one stage) and the C2-C5 ladder vs one bare forward (targets <= 3x, <= 3.5x);
- Integrated Gradients at 32 steps vs 32 forward+backward passes run back to back without
  Captum (target <= 1.1x);
- the lesion sweep (every block removed in turn) vs one bare forward (target <= 10x).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import interleaved, machine, report  # noqa: E402
from resnet_viz import attribute, lesion, load_model  # noqa: E402
from resnet_viz.model.runtime import image_input  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"# bench_explain: {args.arch}, batch 1, 224x224, CPU\n# {machine()}")
    model = load_model(args.arch, "random", "cpu")
    x = image_input(model, PHOTO)
    with torch.inference_mode():
        target = int(model(x)[0].argmax())

    def bare_forward():
        with torch.inference_mode():
            model(x)

    times = interleaved(
        {
            "bare forward": bare_forward,
            "gradcam C5": lambda: attribute(model, PHOTO, "gradcam", stage="C5"),
            "gradcam C2": lambda: attribute(model, PHOTO, "gradcam", stage="C2"),
            "gradcam_ladder C2-C5": lambda: attribute(model, PHOTO, "gradcam_ladder"),
            "lesion sweep": lambda: lesion(model, PHOTO),
        },
        args.rounds,
        warmup=2,
    )
    report(
        "Grad-CAM and lesions vs one forward",
        times,
        "bare forward",
        {"gradcam C5": 3.0, "gradcam C2": 3.0, "gradcam_ladder C2-C5": 3.5, "lesion sweep": 10.0},
    )

    steps = 32

    def plain_forward_backward():
        for _ in range(steps):
            inp = x.detach().clone().requires_grad_()
            torch.autograd.grad(model(inp)[0, target], inp)

    times = interleaved(
        {
            f"{steps} forward+backward, no Captum": plain_forward_backward,
            f"integrated_gradients, {steps} steps": lambda: attribute(model, PHOTO, "integrated_gradients", steps=steps),
        },
        max(3, args.rounds // 2),
        warmup=1,
    )
    report("Integrated Gradients", times, f"{steps} forward+backward, no Captum", {f"integrated_gradients, {steps} steps": 1.1})


if __name__ == "__main__":
    main()
