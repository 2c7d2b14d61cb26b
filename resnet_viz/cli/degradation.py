"""``python -m resnet_viz degradation``: train plain and residual CIFAR networks side by side.

    python -m resnet_viz degradation [--preset default|deeper] [--data offline] [--depths 20 32] [--steps 900] \\
        [--seed 0] --json out.json --plot out.png [--batch-size 32] [--device auto] [--threads 1]

``--preset`` picks the lab's runs (:mod:`resnet_viz.degradation.presets`): the default one, or
"deeper" (plain-56 barely leaving chance next to ResNet-56); ``--depths`` and ``--steps`` override it.

A progress bar goes to stderr; the result (:meth:`DegradationResult.to_json` plus the command
line) to ``--json`` and the curves (:func:`degradation_chart`) to ``--plot``. User mistakes exit
with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..degradation.data import DATASETS, DataError
from ..degradation.experiment import DegradationConfig, DegradationResult, degradation_experiment
from ..degradation.presets import PRESETS, first_to_last_ratio
from .options import add_device_option, error, positive_int
from .progress import ProgressBar

__all__ = ["add_degradation_command"]


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"depth {text!r} is not a whole number") from None
    if value < 8 or (value - 2) % 6:
        raise argparse.ArgumentTypeError(f"depth {value} is not 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...)")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"milestones are fractions of the steps in (0, 1), got {value}")
    return value


def _show(bar: ProgressBar, fraction: float, partial: DegradationResult) -> None:
    errors = "  ".join(f"{n.name} {100 * n.train_error[-1]:4.1f}%" for n in partial.networks if n.train_error)
    bar.update(fraction, f"step {partial.step}/{partial.config.steps}  {errors}")


def _gradients_path(plot: str) -> Path:
    """Beside ``--plot OUT.png``: OUT-gradients.png."""
    path = Path(plot)
    return path.with_name(f"{path.stem}-gradients{path.suffix or '.png'}")


def _degradation_command(args: argparse.Namespace) -> int:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config: dict[str, Any] = {
        k: getattr(args, k)
        for k in ("shortcut", "lr", "log_every", "eval_every", "eval_size", "warmup_depth")
        if getattr(args, k) is not None
    }
    if args.milestones is not None:
        config["milestones"] = tuple(args.milestones)
    for path in (args.json, args.plot):  # checked before the run, not after minutes of training
        if path and Path(path).is_dir():
            return error(f"{path} is a folder; give a file name")
        if path and not Path(path).parent.is_dir():
            return error(f"{path}: folder {str(Path(path).parent)!r} does not exist")
    preset = PRESETS[args.preset].config
    start = time.time()
    bar = None if args.quiet else ProgressBar()
    try:
        result = degradation_experiment(
            depths=tuple(args.depths if args.depths is not None else preset.depths),
            data=args.data,
            steps=args.steps if args.steps is not None else preset.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            device=args.device,
            progress=None if bar is None else partial(_show, bar),
            **config,
        )
    except (DataError, ValueError) as exc:
        return error(str(exc))
    finally:
        if bar is not None:
            bar.close()
    for net in result.networks:
        print(
            f"{net.name:<10} {net.parameters:>9,} parameters  final training error {100 * net.final_train_error:5.1f}%"
            f"  test error {100 * net.final_test_error:5.1f}%  first/last layer gradient at start "
            f"{first_to_last_ratio(net):,.1f}x  ({net.seconds:.0f} s)"
        )
    if args.json:
        payload = {
            "command": shlex.join(["python", "-m", "resnet_viz", *args.argv]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(start)),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            **result.to_json(),
        }
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
    if args.plot:
        from ..degradation.chart import degradation_chart, gradient_chart
        from ..draw.charts import figure_to_image

        figure_to_image(degradation_chart(result, show_test=True), dpi=120).save(args.plot, format="PNG")
        gradients = _gradients_path(args.plot)
        figure_to_image(gradient_chart(result), dpi=120).save(gradients, format="PNG")
        print(f"curves: {args.plot}; gradients at initialisation: {gradients}")
    return 0


def add_degradation_command(commands: Any) -> None:
    """The ``degradation`` subcommand, added to the main parser's subparsers."""
    d = DegradationConfig
    run = commands.add_parser(
        "degradation",
        help="train plain and residual networks side by side (He et al. 2016, Fig. 6)",
        description="Train plain-d and ResNet-d for each depth d on the same batches and compare training error.",
    )
    deeper = PRESETS["deeper"].config
    deep = max(deeper.depths)
    run.add_argument("--preset", default="default", choices=list(PRESETS),
                     help=f"default: depths {' '.join(map(str, d.depths))}, {d.steps} steps (the paper's Fig. 6 in "
                     f"shape); deeper: depths {' '.join(map(str, deeper.depths))}, {deeper.steps} steps (plain-{deep} "
                     "barely leaves chance next to its ResNet)")
    run.add_argument("--data", default=d.data, choices=list(DATASETS), help="offline: generated oriented gratings, 8x8, no download (default)")
    run.add_argument("--depths", nargs="+", type=_depth, metavar="D", help="6n + 2 each (default: the preset's)")
    run.add_argument("--steps", type=positive_int, help="SGD steps per network (default: the preset's)")
    run.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    run.add_argument("--seed", type=int, default=0)
    add_device_option(run)
    run.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    run.add_argument("--shortcut", choices=["A", "B"], help="A: zero-padding (default), B: projection")
    run.add_argument("--lr", type=float, help=f"base learning rate (default {d.lr}; the paper: 0.1 at batch 128)")
    run.add_argument("--milestones", type=_fraction, nargs="*", metavar="F",
                     help=f"lr / 10 at these fractions of the steps (default {' '.join(map(str, d.milestones))})")
    run.add_argument("--warmup-depth", type=positive_int,
                     help=f"nets this deep start at lr / 10 until 80%% training error (default {d.warmup_depth})")
    run.add_argument("--log-every", type=positive_int, help=f"steps between points (default {d.log_every})")
    run.add_argument("--eval-every", type=positive_int, help=f"steps between test evaluations (default {d.eval_every})")
    run.add_argument("--eval-size", type=positive_int, help=f"test images per evaluation (default {d.eval_size})")
    run.add_argument("--json", metavar="OUT.json", help="write the curves and the command")
    run.add_argument("--plot", metavar="OUT.png", help="draw the training-error curves")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_degradation_command)
