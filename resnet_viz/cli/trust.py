"""``python -m resnet_viz trust``: can I trust these maps? The model randomisation test, deletion,
insertion and ROAD for each method on each photo (see :mod:`resnet_viz.trust`).

Prints a table per photo; ``--json`` writes every number and the protocol (one object per image,
a list when several); ``--save-maps DIR`` writes each method's map, the exact ranking the scores
used, as ``DIR/<image stem>_<method>.npy`` (float32, the input's size). Any bad input is one
line on stderr and exit status 2; a bad image does not stop the others.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..model.preprocess import ImageError
from ..model.resnet import ARCHS
from ..model.weights import WeightsError, load_model
from ..trust.randomise import STEP_MODES
from ..trust.report import COMPARABLE_METHODS, TrustReport, trust_report
from .options import error, non_negative_int

__all__ = ["add_trust_command", "format_report"]


def _number(value: float | None) -> str:
    return "   -   " if value is None else f"{value:7.3f}"


def format_report(name: str, report: TrustReport) -> str:
    """A readable page: the class, then a row per method and per baseline."""
    t = report.target
    lines = [
        f"{name}: target {t['index']} ({t['label']}), probability {t['probability']:.3f}",
        f"  {'method':<24} {'randomisation test':<32} {'deletion':>8} {'insertion':>9} {'ROAD':>7}",
    ]
    for row in report.table():
        verdict = row["verdict"] or "-"
        lines.append(
            f"  {row['method']:<24} {verdict:<32} {_number(row['deletion_auc']):>8} "
            f"{_number(row['insertion_auc']):>9} {_number(row['road']):>7}"
        )
    lines.append("  (deletion AUC: lower is better; insertion AUC and ROAD: higher is better)")
    return "\n".join(lines)


def _methods(args: argparse.Namespace) -> list[str]:
    if args.all_methods:
        return list(COMPARABLE_METHODS)
    if not args.method:
        raise ValueError(f"name a method with --method (one of {', '.join(COMPARABLE_METHODS)}) or use --all-methods")
    for method in args.method:
        if method not in COMPARABLE_METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(COMPARABLE_METHODS)}")
    return list(dict.fromkeys(args.method))


def _trust_command(args: argparse.Namespace) -> int:
    try:
        methods = _methods(args)
    except ValueError as exc:
        return error(str(exc), "trust")
    if args.steps not in STEP_MODES:
        return error(f"unknown --steps {args.steps!r}; choose one of {', '.join(STEP_MODES)}", "trust")
    if args.arch not in ARCHS:
        return error(f"unknown --arch {args.arch!r}; choose one of {', '.join(ARCHS)}", "trust")
    maps_dir = Path(args.save_maps) if args.save_maps else None
    if maps_dir is not None:
        try:
            maps_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return error(f"cannot use {str(maps_dir)!r} as the folder for the maps ({exc.strerror or exc})", "trust")
    try:
        model = load_model(args.arch, args.weights, args.device)
    except (WeightsError, ValueError) as exc:
        return error(str(exc), "trust")
    target: Any = args.target  # an index or a label, read by resolve_target
    results, failed = [], False
    for path in args.images:
        try:
            report = trust_report(model, path, methods, target=target, steps=args.steps, seed=args.seed)
        except ImageError as exc:
            error(f"{path}: {exc.reason}", "trust")
            failed = True
            continue
        except ValueError as exc:  # a target the model does not have: the same for every image
            return error(str(exc), "trust")
        print(format_report(path, report))
        if maps_dir is not None:
            for method, trust in report.methods.items():
                np.save(maps_dir / f"{Path(path).stem}_{method}.npy", trust.faithfulness.ranking_map.astype(np.float32))
        payload = report.to_json()
        results.append({"file": path, **{k: payload[k] for k in ("target", "protocol", "methods", "baselines")}})
    if args.json and results:
        Path(args.json).write_text(json.dumps(results if len(args.images) > 1 else results[0], indent=2) + "\n")
    return 2 if failed else 0


def add_trust_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("trust", help="can I trust these maps? randomisation test, deletion, insertion, ROAD")
    run.add_argument("images", nargs="+", metavar="IMAGE")
    run.add_argument("--method", action="append", metavar="M", help=f"repeatable; one of {', '.join(COMPARABLE_METHODS)}")
    run.add_argument("--all-methods", action="store_true", help="every method: the 'compare all methods' table")
    run.add_argument("--arch", default="resnet50", help=f"one of {', '.join(ARCHS)} (default resnet50)")
    run.add_argument("--weights", default="imagenet", help="imagenet (default), random, or a checkpoint path")
    run.add_argument("--target", help="class index or ImageNet label (default: the top-1 prediction)")
    run.add_argument("--steps", default="stages", help="stages (head, C5 .. C1; default) or blocks (one block at a time)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="re-initialisation, tie order, random baseline, ROAD noise")
    run.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps")
    run.add_argument("--json", metavar="OUT.json", help="every number and the protocol (a list for several images)")
    run.add_argument("--save-maps", metavar="DIR", help="each method's map as DIR/<image stem>_<method>.npy")
    run.set_defaults(handler=_trust_command)
