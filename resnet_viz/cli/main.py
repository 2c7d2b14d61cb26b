"""``python -m resnet_viz``: analyse images from the shell, fetch ImageNet weights or CIFAR-10 ahead
of time, index a folder, visualise channels, run the degradation experiment, or ask whether
attribution maps can be trusted, or serve the explorer on Ray. Each command is
its own module in this folder; this one builds the parser and runs the chosen command."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from .analyze import add_analyze_command
from .degradation import add_degradation_command
from .download import add_download_command
from .index import add_index_command
from .options import PROG
from .serve import add_serve_command
from .trust import add_trust_command
from .visualize import add_visualize_command

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Look inside a pretrained ResNet.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (add_analyze_command, add_download_command, add_index_command, add_visualize_command, add_degradation_command, add_trust_command, add_serve_command):
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with results
    return args.handler(args)
