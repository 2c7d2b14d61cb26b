"""How a long computation is stopped from outside: its progress callback raises :class:`Cancelled`.

Library functions that take a ``progress`` callback call it between their slices of work and
clean up in ``finally``; the app's Cancel button sets a flag that the next call turns into this
exception, so the computation ends at its next slice and gives the model back.

The flag is cleared when the button that starts a run is pressed (before the run waits in the
queue), not when the run starts: a Cancel pressed while the run still waits must stop it too.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["Cancelled", "cancellable"]


class Cancelled(Exception):
    """The visitor (or the server) stopped a long computation before it finished."""


@contextmanager
def cancellable(flag: threading.Event, message: str) -> Iterator[Callable[[], None]]:
    """Yield a check that raises :class:`Cancelled` (``message``) once ``flag`` is set.

    A Cancel that stopped this run is used up: the flag is cleared on the way out.
    """

    def stop_if_cancelled() -> None:
        if flag.is_set():
            raise Cancelled(message)

    try:
        yield stop_if_cancelled
    except Cancelled:
        flag.clear()
        raise
