"""What every benchmark script shares: a line about the machine, interleaved timing, and one report.

Every script prints its results through :func:`report`: a titled Markdown table (so a result can go
into the README as it is), the notes that say how to read it, and the load average when it was
printed, since the machine these figures come from is shared with other work. Rows are plain
dicts; the helpers below build the usual kinds: :func:`ratio_rows` for contenders timed in turn,
:func:`latency_row` for a latency's median and p95.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch

__all__ = [
    "interleaved",
    "latency_row",
    "load_average",
    "machine",
    "median_ms",
    "percentile",
    "ratio",
    "ratio_rows",
    "report",
    "verdict",
]


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


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how many programs wanted the cores meanwhile."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} cores"


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


def median_ms(samples: Iterable[float]) -> float:
    return 1000 * statistics.median(samples)


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100): a value that was measured, never interpolated."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def ratio(times: Mapping[str, Sequence[float]], name: str, baseline: str) -> float:
    """The median of per-round ratios: each round's contenders ran back to back, so a slow spell
    of the machine cancels out instead of landing on whichever ran during it."""
    return statistics.median(s / b for s, b in zip(times[name], times[baseline]))


def verdict(value: float, target: float, *, at_least: bool = False) -> str:
    """"met" or "MISSED": a figure one hundredth over its target is missed, not rounded into it."""
    met = value >= target if at_least else value <= target
    return "met" if met else "MISSED"


def ratio_rows(
    times: Mapping[str, Sequence[float]], baseline: str, targets: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """One row per contender: its median, its ratio to ``baseline`` (the median of per-round
    ratios) and, where it has one, its target (an upper bound on the ratio) and whether it was met."""
    targets = targets or {}
    rows = []
    for name, samples in times.items():
        r = ratio(times, name, baseline)
        target = targets.get(name)
        # Three decimals where two would print the target itself: "1.10x MISSED" against <= 1.10x reads wrong.
        shown = f"{r:.3f}x" if target is not None and f"{r:.2f}" == f"{target:.2f}" else f"{r:.2f}x"
        rows.append({
            "what": f"{name} (baseline)" if name == baseline and "baseline" not in name else name,
            "median ms": f"{median_ms(samples):.1f}",
            "ratio": shown,
            "target": "" if target is None else f"<= {target:.2f}x",
            "verdict": "" if target is None else verdict(r, target),
        })
    return rows


def latency_row(what: str, samples: Sequence[float], target_s: float | None = None) -> dict[str, Any]:
    """A latency's median and p95 in ms (from seconds), its count, and its target on the median."""
    median = statistics.median(samples)
    return {
        "what": what,
        "median ms": f"{1000 * median:.0f}",
        "p95 ms": f"{1000 * percentile(samples, 95):.0f}",
        "n": len(samples),
        "target": "" if target_s is None else f"<= {1000 * target_s:.0f} ms",
        "verdict": "" if target_s is None else verdict(median, target_s),
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def report(
    title: str, rows: Sequence[Mapping[str, Any]], *, notes: Sequence[str] = (), absolute: str | None = None
) -> list[str]:
    """Print ``rows`` as a Markdown table under ``## title``, then the notes and the load average.

    The columns are the keys of the rows, in the order they first appear (a row may leave one
    out: an empty cell). ``absolute`` says why this table's absolute times are the point (a
    visitor's latency, a start-up cost) rather than ratios of contenders run in turn; it is
    printed, so nobody reads such a time as a property of the code alone.
    """
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_cell(row.get(key)) for key in columns] for row in rows]
    widths = [max([len(key)] + [len(line[i]) for line in cells]) for i, key in enumerate(columns)]
    lines = [f"## {title}"]
    if columns:
        lines.append("| " + " | ".join(key.ljust(w) for key, w in zip(columns, widths)) + " |")
        lines.append("| " + " | ".join("-" * w for w in widths) + " |")
        lines += ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in cells]
    lines += list(notes)
    if absolute:
        lines.append(f"Absolute times are the point here ({absolute}): they depend on this machine and its load.")
    lines.append(f"({load_average()})")
    print("\n".join(lines), flush=True)
    return lines
