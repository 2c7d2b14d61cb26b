"""Attributions and lesions against plain forward/backward passes, on this CPU.

    python -m bench.bench_explain [--rounds 7] [--arch resnet50]

Ratios (median of per-round ratios; contenders run in turn each round, in one process):
- Grad-CAM (one stage) and the C2-C5 ladder vs one bare forward (targets <= 3x, <= 3.5x);
- Integrated Gradients at 32 steps vs the same 32 path images pushed through forward+backward
  without Captum, in the same batches as Captum's (``internal_batch_size``, 8 by default; target
  <= 1.1x). IG's figure also pays for the clean image's forward (it names the target) and the two
  forwards of the convergence delta, f(x) and f(baseline): 3 batch-1 forwards, a few percent;
- the lesion sweep (every block removed in turn) vs one bare forward (target <= 10x).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bench.common import interleaved, machine, ratio_rows, report
from resnet_viz import attribute, lesion, load_model
from resnet_viz.explain.methods import method_spec
from resnet_viz.model.runtime import image_input, memory_format

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
        ratio_rows(times, "bare forward", {"gradcam C5": 3.0, "gradcam C2": 3.0, "gradcam_ladder C2-C5": 3.5,
                                           "lesion sweep": 10.0}),
    )

    options = method_spec("integrated_gradients").options
    steps, batch = options["steps"], options["internal_batch_size"]
    alphas = torch.linspace(0, 1, steps)  # the straight path from a baseline (0 here) to the image

    def plain_forward_backward():
        for start in range(0, steps, batch):
            scale = alphas[start : start + batch].view(-1, 1, 1, 1)
            path = (scale * x.detach()).contiguous(memory_format=memory_format(model)).requires_grad_()
            torch.autograd.grad(model(path)[:, target].sum(), path)

    baseline = f"{steps} forward+backward in batches of {batch}, no Captum"
    times = interleaved(
        {
            baseline: plain_forward_backward,
            f"integrated_gradients, {steps} steps": lambda: attribute(model, PHOTO, "integrated_gradients"),
        },
        max(3, args.rounds // 2),
        warmup=1,
    )
    report("Integrated Gradients", ratio_rows(times, baseline, {f"integrated_gradients, {steps} steps": 1.1}))


if __name__ == "__main__":
    main()
