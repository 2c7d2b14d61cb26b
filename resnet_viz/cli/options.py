"""Argument types shared by the subcommands of ``python -m resnet_viz``.

argparse turns their ``ArgumentTypeError`` into one line naming the option, and exit status 2.
"""

from __future__ import annotations

import argparse

__all__ = ["non_negative_int", "positive_int", "whole_number"]


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
