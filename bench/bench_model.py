"""Our ResNet-50 vs torchvision's, and analyze() vs a bare torchvision forward, on this CPU.

    python bench/bench_model.py [--rounds 30] [--arch resnet50]

Each comparison runs its contenders in turn, round after round, in one process, and prints
medians and their ratios (absolute times on a shared machine are noise; ratios are not).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torchvision
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import interleaved, machine, report  # noqa: E402
from resnet_viz import analyze, load_model  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "assets" / "chelsea.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(f"# bench_model: {args.arch}, batch 1, 224x224, CPU\n# {machine()}")

    ours = load_model(args.arch, "random", "cpu")  # as the app runs it: channels-last memory
    ours_nchw = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)
    reference = torchvision.models.get_model(args.arch).eval()
    reference.load_state_dict(ours.state_dict())
    reference_cl = copy.deepcopy(reference).to(memory_format=torch.channels_last)
    transforms = torchvision.models.get_model_weights(args.arch).DEFAULT.transforms()
    x = transforms(Image.open(PHOTO).convert("RGB")).unsqueeze(0)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def forward(model, batch):
        with torch.inference_mode():
            model(batch)

    times = interleaved(
        {
            "torchvision forward (NCHW)": lambda: forward(reference, x),
            "resnet_viz forward, same layout (NCHW)": lambda: forward(ours_nchw, x),
            "resnet_viz forward as loaded (channels-last)": lambda: forward(ours, x_cl),
            "torchvision forward, channels-last": lambda: forward(reference_cl, x_cl),
        },
        args.rounds,
    )
    report("forward pass", times, "torchvision forward (NCHW)", {"resnet_viz forward, same layout (NCHW)": 1.05})

    def bare(model, layout):
        batch = transforms(Image.open(PHOTO).convert("RGB")).unsqueeze(0).contiguous(memory_format=layout)
        with torch.inference_mode():
            model(batch).softmax(-1).topk(5)

    times = interleaved(
        {
            "preprocess + torchvision forward": lambda: bare(reference, torch.contiguous_format),
            "analyze()": lambda: analyze(ours, PHOTO),
            "preprocess + torchvision channels-last forward": lambda: bare(reference_cl, torch.channels_last),
        },
        args.rounds,
    )
    report("one-pass analysis", times, "preprocess + torchvision forward", {"analyze()": 1.20})


if __name__ == "__main__":
    main()
