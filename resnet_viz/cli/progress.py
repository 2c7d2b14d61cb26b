"""The command line's one progress bar, on stderr.

On a terminal one line is redrawn in place (at most ten times a second); written to a file or a
pipe, it prints a line every ``every_s`` seconds, when the phase changes and at the end, so a log
stays readable (``every_s=None``: nothing between the lines that stay). Lines that must stay (a
channel finished) go through :meth:`ProgressBar.print`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    WIDTH = 30
    REDRAW_S = 0.1  # a terminal line redrawn faster than this only flickers

    def __init__(self, stream: TextIO | None = None, every_s: float | None = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()
        self._last = float("-inf")
        self._phase: object = None
        self._drawn = False

    def _times(self, fraction: float) -> str:
        elapsed = time.perf_counter() - self.start
        left = f", ~{elapsed / fraction * (1 - fraction):.0f} s left" if 0 < fraction < 1 else ""
        return f"{elapsed:.0f} s{left}"

    def update(self, fraction: float, text: str = "", *, phase: object = None) -> None:
        """Show ``fraction`` (0..1) of the work done and ``text`` about it."""
        now = time.perf_counter()
        fraction = min(max(fraction, 0.0), 1.0)
        new_phase, self._phase = phase != self._phase, phase
        if self.tty:
            if now - self._last < self.REDRAW_S and fraction < 1 and not new_phase:
                return
            filled = int(self.WIDTH * fraction)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r\033[K[{bar}] {100 * fraction:5.1f}%  {text}  ({self._times(fraction)})")
            self._drawn = True
        elif self.every_s is not None and (now - self._last >= self.every_s or new_phase or fraction >= 1):
            self.stream.write(f"{100 * fraction:5.1f}%  {text}  ({self._times(fraction)})\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def print(self, line: str) -> None:
        """A line that stays, above the bar."""
        self.stream.write(("\r\033[K" if self._drawn else "") + line + "\n")
        self._drawn = False
        self._last = float("-inf")  # the bar comes back at its next update
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
