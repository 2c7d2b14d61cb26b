"""``python -m resnet_viz analyze``: predictions, C1..C5 and every block's F(x) vs x for images,
printed as a readable page and optionally written as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..model.preprocess import ImageError
from ..model.weights import WeightsError, load_model
from ..probe.analysis import analyze
from .options import add_model_options, error, positive_int

__all__ = ["add_analyze_command", "format_summary"]


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
        return error(str(exc))
    results, failed = [], False
    for path in args.images:
        try:
            report = analyze(model, path, top_k=args.top_k)
        except ImageError as exc:
            # One line naming the file and the reason; the other images are still analysed.
            error(f"{path}: {exc.reason}")
            failed = True
            continue
        print(format_summary(path, report))
        results.append({"file": path, **report.to_json()})
    if args.json:
        payload = results if len(args.images) > 1 else (results[0] if results else None)
        if payload is not None:
            Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 2 if failed else 0


def add_analyze_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("analyze", help="predictions, C1..C5 and residual vs shortcut for images")
    run.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_options(run, layout=True)
    run.add_argument("--top-k", type=positive_int, default=5)
    run.add_argument("--json", metavar="OUT.json", help="also write the analysis (a list for several images)")
    run.set_defaults(handler=_analyze_command)
