"""Make docs/feature-vis.png, the README's feature visualisation grid: stages down, channels across.

    python docs/feature_vis_figure.py [--arch resnet18] [--weights random] [--channels 0-3] [--steps 256]

With ``--weights random`` (all this machine has: no internet, no ImageNet checkpoint) the picture
says so in its title: an untrained network's channels respond to its random filters, not to
anything learned. Run it with ``--weights imagenet`` where the checkpoint is cached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet_viz import load_model, visualize_channel  # noqa: E402
from resnet_viz.cli.main.visualize import parse_channels  # noqa: E402

GAP, LABEL, TITLE = 6, 16, 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--channels", default="0-3")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "feature-vis.png"))
    args = parser.parse_args()

    model = load_model(args.arch, args.weights, "cpu")
    stages = [s.name for s in model.stages]
    channels = parse_channels(args.channels, min(s.channels for s in model.stages))
    cell = args.size + GAP
    sheet = Image.new("RGB", (LABEL * 2 + cell * len(channels), TITLE + (cell + LABEL) * len(stages)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    trained = "untrained: RANDOM weights, so these show random filters, not learned features"
    title = f"{args.arch}, " + (trained if model.meta.weights == "random" else f"{model.meta.weights} weights")
    draw.text((4, 4), title, fill="black", font=font)
    note = f"{args.size} px, {args.steps} steps, seed 0; label: stage, channel, mean activation on it"
    draw.text((4, 20), note, fill="black", font=font)
    for row, stage in enumerate(stages):
        for col, channel in enumerate(channels):
            result = visualize_channel(model, stage, channel, size=args.size, steps=args.steps)
            x, y = LABEL * 2 + col * cell, TITLE + row * (cell + LABEL)
            draw.text((x, y), f"{stage} ch {channel}: {result.final_activation:.2f}", fill="black", font=font)
            sheet.paste(result.image, (x, y + LABEL))
            print(f"{stage} {channel}: {result.objective[0]:.2f} -> {result.final_activation:.2f}", flush=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
