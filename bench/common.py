"""Helpers for the benchmark scripts: interleaved timing, medians, a line about the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"Python {platform.python_version()}"
    )


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per call for each function, run in turn round after round, so drift hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def report(title: str, times: dict[str, list[float]], baseline: str, targets: dict[str, float]) -> list[str]:
    """Print each function's median and its ratio to the baseline, against its target.

    The ratio is the median of per-round ratios: each round's contenders ran back to back, so a
    slow spell of the machine cancels out instead of landing on whichever ran during it.
    """
    lines = [f"## {title}"]
    for name, samples in times.items():
        ratio = statistics.median(s / b for s, b in zip(samples, times[baseline]))
        target = targets.get(name)
        verdict = "" if target is None else f"  target <= {target:.2f}: {'met' if ratio <= target else 'MISSED'}"
        lines.append(f"{name:<48} median {median_ms(samples):8.1f} ms   ratio {ratio:5.2f}{verdict}")
    print("\n".join(lines), flush=True)
    return lines
