"""``python -m resnet_viz``: analyse images from the shell, fetch ImageNet weights or CIFAR-10 ahead
of time, index a folder, visualise channels, run the degradation experiment, or check how far
attribution maps can be trusted."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from .analysis import analyze
from .cli_args import positive_int
from .cli_trust import add_trust_command
from .cli_visualize import add_visualize_command
from .degradation_cli import add_degradation_parser, download_data
from .exemplars.command import add_index_command
from .model import ARCHS
from .preprocess import ImageError
from .runtime import LAYOUTS
from .weights import PRECISIONS, WeightsError, fetch_imagenet, load_model

__all__ = ["main", "format_summary"]

PROG = "python -m resnet_viz"


def format_summary(name: str, report: dict[str, Any]) -> str:
    """A readable page for one analysis: top-k, C1..C5 shapes, each block's F(x) vs x."""
    image = report["image"]
    lines = [
        f"{name} ({image['width']}x{image['height']}): {report['arch']}, {report['weights']} weights, "
        f"{report['device']}, {report['timing_ms']['total']:.0f} ms",
    ]
    runtime = report.get("runtime")
    if runtime:  # reports written before runtime existed (older JSON files) have none
        lines.append(
            f"  runtime: {runtime['device']}, {runtime['layout']} memory, "
            f"{runtime['threads']} threads, {runtime['dtype']}"
        )
    lines.append("  predictions:")
    lines += [f"    {p['rank']}. {p['label']:<32} {100 * p['probability']:6.2f}%" for p in report["predictions"]]
    lines.append("  stages (channels x height x width, stride):")
    lines += [
        f"    {s['name']}  {s['channels']:>4} x {s['height']:>3} x {s['width']:>3}  /{s['stride']:<2}  "
        f"mean {s['mean']:.3f}  zeros {100 * s['zero_fraction']:.0f}%"
        for s in report["stages"]
    ]
    lines.append("  blocks: H(x) = F(x) + x, |F| / |x| = residual rms / shortcut rms")
    lines += [
        f"    {b['name']:<10} {b['stage']}  {b['kind']:<11}  {b['residual_rms']:9.3f} / {b['shortcut_rms']:9.3f}"
        f" = {b['ratio']:6.3f}   cos {b['cosine']:+.2f}"
        for b in report["blocks"]
    ]
    return "\n".join(lines)


def _analyze_command(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.arch, args.weights, args.device, precision=args.precision, layout=args.layout)
    except (WeightsError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    results, failed = [], False
    for path in args.images:
        try:
            report = analyze(model, path, top_k=args.top_k)
        except ImageError as exc:
            # One line naming the file and the reason; the other images are still analysed.
            print(f"{PROG}: error: {path}: {exc.reason}", file=sys.stderr)
            failed = True
            continue
        print(format_summary(path, report))
        results.append({"file": path, **report})
    if args.json:
        payload = results if len(args.images) > 1 else (results[0] if results else None)
        if payload is not None:
            Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 2 if failed else 0


def _download_command(args: argparse.Namespace) -> int:
    if args.data:
        return download_data(args.data)
    archs = list(ARCHS) if args.all else (args.arch or ["resnet50"])
    for arch in archs:
        try:
            path = fetch_imagenet(arch, progress=not args.quiet)
        except WeightsError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 2
        print(f"{arch}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Look inside a pretrained ResNet.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("analyze", help="predictions, C1..C5 and residual vs shortcut for images")
    run.add_argument("images", nargs="+", metavar="IMAGE")
    run.add_argument("--arch", default="resnet50", choices=list(ARCHS))
    run.add_argument("--weights", default="imagenet", help="imagenet (default), random, or a checkpoint path")
    run.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps")
    run.add_argument("--precision", default="fp32", choices=list(PRECISIONS), help="bf16/fp16: CUDA autocast")
    run.add_argument(
        "--layout", default="auto", choices=list(LAYOUTS),
        help="memory layout: auto (time both at load and keep the faster, the default), nchw, channels-last",
    )
    run.add_argument("--top-k", type=positive_int, default=5)
    run.add_argument("--json", metavar="OUT.json", help="also write the analysis (a list for several images)")
    run.set_defaults(handler=_analyze_command)

    fetch = commands.add_parser("download", help="fetch ImageNet weights into torch's hub cache, or CIFAR-10")
    which = fetch.add_mutually_exclusive_group()
    which.add_argument("--arch", nargs="+", choices=list(ARCHS), help="default: resnet50")
    which.add_argument("--all", action="store_true", help="all five architectures")
    which.add_argument("--data", choices=["cifar10"], help="a data set for the degradation experiment instead")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=_download_command)

    add_index_command(commands)
    add_visualize_command(commands)
    add_degradation_parser(commands)
    add_trust_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with results
    return args.handler(args)
