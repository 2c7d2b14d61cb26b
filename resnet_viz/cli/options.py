"""What the subcommands of ``python -m resnet_viz`` share: the model options, declared once, and
argument types (argparse turns their ``ArgumentTypeError`` into one line naming the option, and
exit status 2).
"""

from __future__ import annotations

import argparse
import sys

from ..model.resnet import ARCHS
from ..model.runtime import LAYOUTS
from ..model.weights import PRECISIONS

__all__ = ["PROG", "add_device_option", "error", "add_model_options", "non_negative_int", "positive_int", "whole_number"]

PROG = "python -m resnet_viz"


def error(message: str, command: str | None = None) -> int:
    """One line on stderr naming the program (and the command); returns exit status 2."""
    print(f"{PROG}{' ' + command if command else ''}: error: {message}", file=sys.stderr)
    return 2


def whole_number(text: str, minimum: int) -> int:
    """``text`` as an int of at least ``minimum``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return whole_number(text, 0)


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps")


def add_model_options(parser: argparse.ArgumentParser, *, precision: bool = True, layout: bool = False) -> None:
    """--arch, --weights, --device and (where the command has them) --precision and --layout."""
    parser.add_argument("--arch", default="resnet50", choices=list(ARCHS))
    parser.add_argument("--weights", default="imagenet", help="imagenet (default), random, or a checkpoint path")
    add_device_option(parser)
    if precision:
        parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS), help="bf16/fp16: CUDA autocast")
    if layout:
        parser.add_argument(
            "--layout", default="auto", choices=list(LAYOUTS),
            help="memory layout: auto (time both at load and keep the faster, the default), nchw, channels-last",
        )
