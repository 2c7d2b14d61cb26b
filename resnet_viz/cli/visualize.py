"""``python -m resnet_viz visualize``: feature visualisations of a stage's channels, as PNG files.

Output names are chosen here, never taken from the command line: ``C4-channel-0007.png`` per
channel (the stage name from the model's table, the channel as a number) and
``C4-objectives.json`` with the settings and every channel's objective curve, rewritten after
each channel so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from ..explain.feature_vis import StepInfo, visualize_channel
from ..model.resnet import StageInfo, build_model
from ..model.weights import WeightsError, load_model
from .options import PROG, add_model_options, error, non_negative_int, positive_int
from .progress import ProgressBar

__all__ = ["add_visualize_command", "parse_channels"]


def parse_channels(text: str, count: int, stage: str = "the stage") -> list[int]:
    """"0-15", "3", "1,5,9" or a mix ("0-3,8") -> sorted distinct channels, each in 0..count-1."""
    valid = f"{stage} has {count} channels: use numbers in 0-{count - 1}, like 0-15, 3 or 1,5,9"
    channels: set[int] = set()
    for part in text.split(","):
        bounds = part.strip().split("-")
        if len(bounds) > 2 or not all(b.strip().isascii() and b.strip().isdigit() for b in bounds):
            raise ValueError(f"cannot read channels {text!r}; {valid}")
        first, last = int(bounds[0]), int(bounds[-1])
        if first > last:
            raise ValueError(f"channel range {part.strip()!r} runs backwards; {valid}")
        if last >= count:
            raise ValueError(f"channel {last} is out of range; {valid}")
        channels.update(range(first, last + 1))
    return sorted(channels)


def fail(message: str) -> int:
    return error(message, "visualize")


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)  # readers never see half a file


def _stage_table(arch: str) -> tuple[StageInfo, ...]:
    with torch.device("meta"):  # the table without allocating the weights
        return build_model(arch).stages


def _visualize_command(args: argparse.Namespace) -> int:
    stages = {s.name: s for s in _stage_table(args.arch)}
    if args.stage not in stages:
        return fail(f"unknown stage {args.stage!r}; choose one of {', '.join(stages)}")
    stage = stages[args.stage]
    try:
        channels = parse_channels(args.channels, stage.channels, f"{stage.name} of {args.arch}")
    except ValueError as exc:
        return fail(str(exc))
    if args.size < 16:
        return fail(f"size {args.size} is too small; use at least 16 pixels")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"cannot use {str(out)!r} as the output folder ({exc.strerror or exc})")
    try:
        model = load_model(args.arch, args.weights, args.device)
    except (WeightsError, ValueError) as exc:
        return fail(str(exc))

    summary = {
        "arch": args.arch,
        "weights": model.meta.weights,
        "stage": stage.name,
        "size": args.size,
        "steps": args.steps,
        "seed": args.seed,
        "device": str(next(model.parameters()).device),
        "channels": [],
    }
    json_path = out / f"{stage.name}-objectives.json"
    bar, total = ProgressBar(every_s=None), len(channels)  # off a terminal: a line per channel

    def on_step(info: StepInfo, index: int, label: str) -> None:
        bar.update(
            (index + info.step / info.steps) / total,
            f"{index + 1}/{total} {label} step {info.step}/{info.steps} objective {info.objective:8.3f}",
        )

    try:
        for index, channel in enumerate(channels):
            label = f"{stage.name} channel {channel}"
            result = visualize_channel(
                model,
                stage.name,
                channel,
                size=args.size,
                steps=args.steps,
                seed=args.seed,
                on_step=lambda info, index=index, label=label: on_step(info, index, label),
            )
            name = f"{stage.name}-channel-{channel:04d}.png"
            result.image.save(out / name)
            record = result.to_json()
            summary["recipe"] = record.pop("recipe")
            for key in ("arch", "weights", "stage", "size", "steps", "seed", "device"):
                record.pop(key)
            summary["channels"].append({"file": name, **record})
            _write_json(json_path, summary)
            seconds = result.timing_ms["total"] / 1000
            bar.print(f"{index + 1}/{total} {label}: objective {result.final_activation:.3f} in {seconds:.1f}s")
    except KeyboardInterrupt:
        bar.close()
        print(f"{PROG} visualize: interrupted; {len(summary['channels'])} channel(s) written to {out}", file=sys.stderr)
        return 130
    bar.close()
    print(f"{len(channels)} image(s) and {json_path.name} written to {out}")
    return 0




def add_visualize_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("visualize", help="feature visualisations: the image each channel responds to most")
    add_model_options(run, precision=False)
    run.add_argument("--stage", required=True, help="C1 .. C5")
    run.add_argument("--channels", required=True, help="which channels: 0-15, 3, 1,5,9 or a mix like 0-3,8")
    run.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files and the JSON")
    run.add_argument("--size", type=positive_int, default=128, help="image size in pixels (default 128)")
    run.add_argument("--steps", type=positive_int, default=256, help="optimisation steps (default 256)")
    run.add_argument("--seed", type=non_negative_int, default=0)
    run.set_defaults(handler=_visualize_command)

