"""``python -m resnet_viz download``: ImageNet weights into torch's hub cache, or CIFAR-10 into ours,
ahead of time (for a classroom without internet)."""

from __future__ import annotations

import argparse

from ..degradation.data import DataError, fetch_cifar10
from ..model.resnet import ARCHS
from ..model.weights import WeightsError, fetch_imagenet
from .options import error

__all__ = ["add_download_command"]


def _download_data(name: str) -> int:
    """``download --data cifar10``: cache CIFAR-10 for ``degradation --data cifar10``."""
    try:
        folder = fetch_cifar10()
    except DataError as exc:
        return error(str(exc))
    print(f"{name}: {folder}")
    return 0


def _download_command(args: argparse.Namespace) -> int:
    if args.data:
        return _download_data(args.data)
    archs = list(ARCHS) if args.all else (args.arch or ["resnet50"])
    for arch in archs:
        try:
            path = fetch_imagenet(arch, progress=not args.quiet)
        except WeightsError as exc:
            return error(str(exc))
        print(f"{arch}: {path}")
    return 0


def add_download_command(commands: argparse._SubParsersAction) -> None:
    fetch = commands.add_parser("download", help="fetch ImageNet weights into torch's hub cache, or CIFAR-10")
    which = fetch.add_mutually_exclusive_group()
    which.add_argument("--arch", nargs="+", choices=list(ARCHS), help="default: resnet50")
    which.add_argument("--all", action="store_true", help="all five architectures")
    which.add_argument("--data", choices=["cifar10"], help="a data set for the degradation experiment instead")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=_download_command)
